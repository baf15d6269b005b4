namespace Imle

open System

/// The settings of the adaptive-λ rule of AIMLE (Minervini et al., torch-adaptive-imle's `AdaptiveTargetDistribution`):
/// λ = β·‖θ‖/‖dL/dz‖, and after every backward pass β moves by `BetaStep` up when an exponential moving average
/// (decay `Decay`, starting at `InitialAverage`) of the number of non-zero gradient entries per sample is below
/// `TargetNonZero`, down otherwise (never below 0). A value: the changing β lives in an `AdaptiveState` owned by the
/// layer (or passed explicitly to the reference core), never in the estimator.
type AdaptiveLambda =
    {
        /// β before the first backward pass (reference: `initial_beta` = 1).
        InitialBeta: float
        /// The target number of non-zero gradient entries per sample (reference: `target_norm` = 1; 10 for its VAE).
        TargetNonZero: float
        /// The step by which β moves (reference: `beta_update_step` = 1e-4).
        BetaStep: float
        /// The decay of the moving average (reference: `grad_norm_decay_rate` = 0.9).
        Decay: float
        /// The moving average before the first backward pass (reference: `initial_grad_norm` = 1).
        InitialAverage: float
    }

    /// The reference's defaults: β₀ = 1, target 1, step 1e-4, decay 0.9, initial average 1.
    static member Default =
        { InitialBeta = 1.0
          TargetNonZero = 1.0
          BetaStep = 1e-4
          Decay = 0.9
          InitialAverage = 1.0 }

    /// With another initial β.
    member this.WithInitialBeta(beta: float) = { this with InitialBeta = beta }
    /// With another target number of non-zero gradient entries per sample.
    member this.WithTargetNonZero(target: float) = { this with TargetNonZero = target }

/// The changing part of the adaptive-λ rule: β and the moving average of non-zero gradient entries per sample.
type AdaptiveState =
    {
        /// The current β.
        Beta: float
        /// The moving average of the number of non-zero gradient entries per sample.
        AverageNonZero: float
    }

/// Functions of the adaptive-λ rule; the same rule for the reference core and the TorchSharp backend.
[<RequireQualifiedAccess>]
module AdaptiveLambda =

    /// Checks the settings (β₀ ≥ 0, target > 0, step > 0, decay in [0, 1), initial average ≥ 0); returns them.
    let validate (settings: AdaptiveLambda) : AdaptiveLambda =
        Validate.atLeast "InitialBeta" 0.0 settings.InitialBeta
        Validate.positive "TargetNonZero" settings.TargetNonZero
        Validate.positive "BetaStep" settings.BetaStep
        Validate.inHalfOpen "Decay" 0.0 1.0 settings.Decay
        Validate.atLeast "InitialAverage" 0.0 settings.InitialAverage
        settings

    /// The state before the first backward pass.
    let initial (settings: AdaptiveLambda) : AdaptiveState =
        { Beta = settings.InitialBeta
          AverageNonZero = settings.InitialAverage }

    /// λ = β·‖θ‖/‖dL/dz‖ from the norms of θ (each instance once, not repeated per sample) and of the upstream gradient
    /// over all samples; 0 when the gradient is zero.
    let lambda (state: AdaptiveState) (thetaNorm: float) (gradientNorm: float) : float =
        if gradientNorm <= 0.0 then
            0.0
        else
            state.Beta * thetaNorm / gradientNorm

    /// The state after a backward pass whose estimates had `nonZeroPerSample` non-zero entries per sample on average.
    let update (settings: AdaptiveLambda) (state: AdaptiveState) (nonZeroPerSample: float) : AdaptiveState =
        let average =
            settings.Decay * state.AverageNonZero
            + (1.0 - settings.Decay) * nonZeroPerSample

        let step =
            if average < settings.TargetNonZero then
                settings.BetaStep
            else
                -settings.BetaStep

        { Beta = max 0.0 (state.Beta + step)
          AverageNonZero = average }

/// The target distribution q(z; θ') of I-MLE, built in the backward pass from θ and the downstream gradient dL/dz.
type Target =
    /// Perturb-and-implicit-differentiation (Eq. 10): θ' = θ − λ·dL/dz.
    | Pid of lambda: float
    /// The combinatorial-optimisation target (Eq. 14): θ'ᵢ = θᵢ where (dL/dz)ᵢ = 0, −(dL/dz)ᵢ otherwise.
    | CombOpt
    /// PID with λ chosen by the AIMLE rule at every backward pass (see `AdaptiveLambda`); its β lives in the layer.
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
        | Adaptive settings -> AdaptiveLambda.validate settings |> ignore
        | CustomTarget(name, build) -> Validate.customCase "target" name "build" (box build)

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

    /// The λ the target uses, given the adaptive state (needed for `Adaptive` only) and the norms of θ and of dL/dz
    /// (1 for CombOpt and custom targets, which have none).
    let lambdaFor (target: Target) (adaptive: AdaptiveState option) (thetaNorm: float) (gradientNorm: float) : float =
        match target, adaptive with
        | Pid lambda, _ -> lambda
        | Adaptive _, Some state -> AdaptiveLambda.lambda state thetaNorm gradientNorm
        | Adaptive _, None ->
            invalidArg
                "adaptive"
                "An adaptive target needs its state (β and moving average): the layer keeps it, or pass it to the reference core."
        | CombOpt, _
        | CustomTarget _, _ -> 1.0

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
                invalidOp (
                    sprintf
                        "Custom target '%s' returned %s; expected an array of length %d."
                        name
                        (if isNull result then
                             "null"
                         else
                             sprintf "length %d" result.Length)
                        theta.Length
                )

            result
