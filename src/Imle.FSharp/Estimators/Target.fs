namespace Imle

open System

/// State of the adaptive-λ rule of AIMLE (Minervini et al., torch-adaptive-imle): λ = β·‖θ‖/‖dL/dz‖, and β moves by
/// a fixed step up when an exponential moving average of the number of non-zero gradient entries per sample is below
/// `TargetNorm`, down otherwise (never below 0). One instance per layer; it is updated in the backward pass.
/// Thread-safe: updates take a lock.
[<Sealed; AllowNullLiteral>]
type AdaptiveLambda(initialBeta: float, targetNorm: float, betaStep: float, decay: float) =
    do
        Validate.atLeast "initialBeta" 0.0 initialBeta
        Validate.positive "targetNorm" targetNorm
        Validate.positive "betaStep" betaStep
        if Double.IsNaN decay || decay < 0.0 || decay >= 1.0 then
            raise (ArgumentOutOfRangeException("decay", decay, sprintf "decay must lie in [0, 1); got %g." decay))
    let gate = obj ()
    let mutable beta = initialBeta
    let mutable average = 0.0

    /// The reference defaults: β₀ = 0, target norm 1, step 1e-4, decay 0.9.
    new() = AdaptiveLambda(0.0, 1.0, 1e-4, 0.9)

    /// The current β.
    member _.Beta = lock gate (fun () -> beta)
    /// The moving average of non-zero gradient entries per sample.
    member _.AverageNonZero = lock gate (fun () -> average)
    /// The target number of non-zero gradient entries per sample.
    member _.TargetNorm = targetNorm
    /// The β step.
    member _.BetaStep = betaStep
    /// The moving-average decay.
    member _.Decay = decay

    /// λ = β·‖θ‖/‖dL/dz‖ for the given norms (0 when the upstream gradient is zero).
    member _.Lambda(thetaNorm: float, gradientNorm: float) =
        let b = lock gate (fun () -> beta)
        if gradientNorm <= 0.0 then 0.0 else b * thetaNorm / gradientNorm

    /// Restores β and the moving average (resuming from a checkpoint).
    member _.Restore(savedBeta: float, savedAverage: float) =
        Validate.atLeast "savedBeta" 0.0 savedBeta
        Validate.atLeast "savedAverage" 0.0 savedAverage
        lock gate (fun () ->
            beta <- savedBeta
            average <- savedAverage)

    /// Records the mean number of non-zero gradient entries per sample of one backward pass and moves β.
    member _.Update(nonZeroPerSample: float) =
        lock gate (fun () ->
            average <- decay * average + (1.0 - decay) * nonZeroPerSample
            beta <- if average < targetNorm then beta + betaStep else max 0.0 (beta - betaStep))

/// The target distribution q(z; θ') of I-MLE, built in the backward pass from θ and the downstream gradient dL/dz.
type Target =
    /// Perturb-and-implicit-differentiation (Eq. 10): θ' = θ − λ·dL/dz.
    | Pid of lambda: float
    /// The combinatorial-optimisation target (Eq. 14): θ'ᵢ = θᵢ where (dL/dz)ᵢ = 0, −(dL/dz)ᵢ otherwise.
    | CombOpt
    /// PID with λ chosen by the AIMLE rule at every backward pass (see `AdaptiveLambda`).
    | Adaptive of AdaptiveLambda
    /// A user's target: (θ, dL/dz) → θ'.
    | CustomTarget of name: string * build: (float[] -> float[] -> float[])

/// Functions over targets.
[<RequireQualifiedAccess>]
module Target =

    /// Checks λ > 0 for `Pid`; returns the target unchanged.
    let validate (target: Target) : Target =
        match target with
        | Pid lambda -> Validate.positive "lambda" lambda
        | CombOpt -> ()
        | Adaptive state -> if isNull state then nullArg "state"
        | CustomTarget(name, build) ->
            if String.IsNullOrWhiteSpace name then invalidArg "name" "A custom target needs a non-empty name."
            if obj.ReferenceEquals(build, null) then nullArg "build"
        target

    /// A short description for reports.
    let describe (target: Target) : string =
        match target with
        | Pid lambda -> sprintf "PID(λ=%g)" lambda
        | CombOpt -> "CombOpt (Eq. 14)"
        | Adaptive _ -> "adaptive λ (AIMLE)"
        | CustomTarget(name, _) -> name

    /// Euclidean norm.
    let internal norm (v: float[]) = sqrt (Array.sumBy (fun x -> x * x) v)

    /// The λ the target uses for the given θ and dL/dz (1 for CombOpt and custom targets, which have none).
    let lambdaFor (target: Target) (theta: float[]) (gradient: float[]) : float =
        match target with
        | Pid lambda -> lambda
        | Adaptive state -> state.Lambda(norm theta, norm gradient)
        | CombOpt
        | CustomTarget _ -> 1.0

    /// θ' for scores θ and downstream gradient dL/dz, with the given λ (for Pid/Adaptive). `direction` = +1 gives
    /// θ − λ·dL/dz, −1 gives θ + λ·dL/dz (the other side of the symmetric variant).
    let build (target: Target) (lambda: float) (direction: float) (theta: float[]) (gradient: float[]) : float[] =
        match target with
        | Pid _
        | Adaptive _ -> Array.map2 (fun t g -> t - direction * lambda * g) theta gradient
        | CombOpt -> Array.map2 (fun t g -> if g = 0.0 then t else -g) theta gradient
        | CustomTarget(name, f) ->
            let result = f theta gradient
            if isNull result || result.Length <> theta.Length then
                invalidOp (sprintf "Custom target '%s' returned %s; expected an array of length %d." name
                               (if isNull result then "null" else sprintf "length %d" result.Length) theta.Length)
            result
