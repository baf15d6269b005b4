namespace Imle

open System

/// Exact quantities of a constrained exponential family p(z; θ) ∝ exp(⟨z, θ⟩/τ) (paper Eq. 3) by enumerating its
/// states: log-partition, probabilities, marginals μ(θ) = E[z], exact samples, expected losses and the exact gradient
/// ∇θ E_p[ℓ(z)]. Scores θ are in the maximisation convention; the `...Of` functions take weights in a `Problem`'s own
/// sense. Cost is linear in the number of states, so these are for small problems (tests, references, the
/// score-function estimator); k-subsets of any size have a dynamic programme in `KSubset`.
[<RequireQualifiedAccess>]
module Exact =

    /// Validates τ, the states and θ (non-empty, equal lengths, finite θ) and returns the scaled scores ⟨z, θ⟩/τ.
    let private scaledScores (tau: float) (states: float[][]) (theta: float[]) : float[] =
        Validate.positive "tau" tau
        Validate.nonEmpty "states" states

        Validate.allFinite "theta" theta
        let n = theta.Length
        let scores = Array.zeroCreate states.Length

        for s in 0 .. states.Length - 1 do
            let z = states.[s]

            if isNull z then
                invalidArg "states" (sprintf "states[%d] is null." s)

            if z.Length <> n then
                invalidArg
                    "states"
                    (sprintf
                        "states[%d] has length %d but theta has length %d; every state must have one entry per score."
                        s
                        z.Length
                        n)

            let mutable acc = 0.0

            for j in 0 .. n - 1 do
                acc <- acc + z.[j] * theta.[j]

            if not (Validate.isFinite acc) then
                invalidArg
                    "states"
                    (sprintf "states[%d] gives a non-finite weight <z, theta> = %g; states must be finite." s acc)

            scores.[s] <- acc / tau

        scores

    /// Numerically stable log Σ exp(x).
    let private logSumExp (xs: float[]) =
        let mx = Array.max xs
        let mutable acc = 0.0

        for x in xs do
            acc <- acc + exp (x - mx)

        mx + log acc

    /// Probabilities from scaled scores (each exp(x − log Z)), in the order of the states.
    let private probs (scores: float[]) =
        let logZ = logSumExp scores
        scores |> Array.map (fun x -> exp (x - logZ))

    /// Evaluates the loss on every state, insisting on finite values.
    let private lossValues (states: float[][]) (loss: float[] -> float) =
        if obj.ReferenceEquals(loss, null) then
            nullArg "loss"

        states
        |> Array.mapi (fun s z ->
            let v = loss (Array.copy z)

            if not (Validate.isFinite v) then
                invalidOp (
                    sprintf
                        "The loss returned a non-finite value %g on states[%d]; exact quantities need a finite loss."
                        v
                        s
                )

            v)

    /// log Z(θ) = log Σ_{z ∈ states} exp(⟨z, θ⟩/τ), computed with the log-sum-exp shift so that large |θ|/τ stays finite.
    /// Raises ArgumentException naming `tau` (τ must be finite and > 0), `states` (empty, or a state whose length differs
    /// from θ's) or `theta` (non-finite entries).
    let logPartition (tau: float) (states: float[][]) (theta: float[]) : float =
        logSumExp (scaledScores tau states theta)

    /// p(z; θ) = exp(⟨z, θ⟩/τ − log Z(θ)) for every state, in the order of `states` (they sum to 1).
    let probabilities (tau: float) (states: float[][]) (theta: float[]) : float[] =
        probs (scaledScores tau states theta)

    /// The marginals μ(θ) = E_p[z] = Σ_z p(z; θ) z (one entry per coordinate of θ).
    let marginals (tau: float) (states: float[][]) (theta: float[]) : float[] =
        let p = probabilities tau states theta
        let mu = Array.zeroCreate theta.Length

        for s in 0 .. states.Length - 1 do
            let z = states.[s]

            for j in 0 .. mu.Length - 1 do
                mu.[j] <- mu.[j] + p.[s] * z.[j]

        mu

    /// One exact draw z ~ p(z; θ) by inverting the cumulative distribution with a single uniform from `rng`.
    /// Returns a copy of the chosen state (mutating it does not affect `states`).
    let sample (tau: float) (states: float[][]) (rng: Random) (theta: float[]) : float[] =
        let p = probabilities tau states theta
        Validate.notNull "rng" rng
        let u = rng.NextDouble()
        let mutable cumulative = 0.0
        let mutable chosen = -1
        let mutable s = 0

        while chosen < 0 && s < p.Length do
            cumulative <- cumulative + p.[s]

            if u < cumulative then
                chosen <- s

            s <- s + 1

        if chosen < 0 then
            // Rounding left the cumulative sum just below u: take the last state with positive probability.
            chosen <- Array.findIndexBack (fun x -> x > 0.0) p

        Array.copy states.[chosen]

    /// E_p[ℓ(z)] = Σ_z p(z; θ) ℓ(z). The loss must be finite on every state (InvalidOperationException otherwise).
    let expectedLoss (tau: float) (states: float[][]) (theta: float[]) (loss: float[] -> float) : float =
        let p = probabilities tau states theta
        let l = lossValues states loss
        Array.fold2 (fun acc pz lz -> acc + pz * lz) 0.0 p l

    /// The exact gradient ∇θ E_p[ℓ(z)] = (1/τ) Σ_z p(z; θ) ℓ(z) (z − μ(θ)) (the covariance of ℓ and z over τ).
    /// The loss is centred at its mean before summing, which leaves the value unchanged and reduces cancellation.
    let gradient (tau: float) (states: float[][]) (theta: float[]) (loss: float[] -> float) : float[] =
        let p = probabilities tau states theta
        let l = lossValues states loss
        let n = theta.Length
        let mu = Array.zeroCreate n
        let mutable meanLoss = 0.0

        for s in 0 .. states.Length - 1 do
            meanLoss <- meanLoss + p.[s] * l.[s]
            let z = states.[s]

            for j in 0 .. n - 1 do
                mu.[j] <- mu.[j] + p.[s] * z.[j]

        let g = Array.zeroCreate n

        for s in 0 .. states.Length - 1 do
            let w = p.[s] * (l.[s] - meanLoss)
            let z = states.[s]

            for j in 0 .. n - 1 do
                g.[j] <- g.[j] + w * (z.[j] - mu.[j])

        for j in 0 .. n - 1 do
            g.[j] <- g.[j] / tau

        g

    /// The enumerated states of a problem and its scores θ for `weights` in the problem's sense (θ = −c for Minimise).
    let private statesAndScores (problem: Problem) (weights: float[]) =
        if obj.ReferenceEquals(problem, null) then
            nullArg "problem"

        Validate.length "weights" problem.Size weights
        Validate.allFinite "weights" weights
        Problem.states problem, Problem.toScores problem weights

    /// log Z(θ) of a problem's exponential family at `weights` in the problem's own sense (θ = −c for Minimise). The
    /// problem must be enumerable (`Problem.states`).
    let logPartitionOf (problem: Problem) (tau: float) (weights: float[]) : float =
        let states, theta = statesAndScores problem weights
        logPartition tau states theta

    /// μ = E_p[z] of a problem's exponential family at `weights` in the problem's own sense (scores for Maximise,
    /// costs for Minimise, where θ = −c). The problem must be enumerable (`Problem.states`).
    let marginalsOf (problem: Problem) (tau: float) (weights: float[]) : float[] =
        let states, theta = statesAndScores problem weights
        marginals tau states theta

    /// E_p[ℓ(z)] of a problem's exponential family at `weights` in the problem's own sense.
    let expectedLossOf (problem: Problem) (tau: float) (weights: float[]) (loss: float[] -> float) : float =
        let states, theta = statesAndScores problem weights
        expectedLoss tau states theta loss

    /// The exact gradient of E_p[ℓ(z)] with respect to `weights` in the problem's own sense: ∇θ for Maximise, and
    /// −∇θ for Minimise (θ = −c, so ∇c = −∇θ).
    let gradientOf (problem: Problem) (tau: float) (weights: float[]) (loss: float[] -> float) : float[] =
        let states, theta = statesAndScores problem weights
        Problem.ofScores problem (gradient tau states theta loss)

    /// One exact draw from a problem's exponential family at `weights` in the problem's own sense.
    let sampleOf (problem: Problem) (tau: float) (rng: Random) (weights: float[]) : float[] =
        let states, theta = statesAndScores problem weights
        sample tau states rng theta
