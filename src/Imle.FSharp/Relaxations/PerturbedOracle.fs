namespace Imle

open System

/// One evaluation of a perturbed oracle: the noise draws and the oracle's outputs, kept for the backward pass.
type PerturbedEvaluation =
    {
        /// θ, the scores the oracle was perturbed around.
        Theta: float[]
        /// σ, the noise scale.
        Sigma: float
        /// Z₁…Z_S ~ N(0, I), one per sample.
        Noise: float[][]
        /// yₛ = oracle(θ + σ·Zₛ), one per sample.
        Outputs: float[][]
        /// ȳ = (1/S)·Σₛ yₛ, the estimate of E[oracle(θ + σZ)].
        Mean: float[]
    }

/// A perturbed oracle (Berthet et al., NeurIPS 2020; InferOpt's `PerturbedAdditive`) over any user function
/// oracle: ℝ^m → ℝ^d, typically a MAP solver θ ↦ argmax_{y ∈ C} ⟨y, θ⟩ that is a black box: the smoothed map
/// ŷ(θ) = E_Z[oracle(θ + σZ)], Z ~ N(0, I), is differentiable whatever the oracle, with Jacobian
/// J(θ) = E[oracle(θ + σZ)·Zᵀ]/σ, estimated from the same S draws as the forward pass.
[<RequireQualifiedAccess>]
module PerturbedOracle =

    /// Checks a perturbed oracle's settings (both backends): the oracle non-null, σ finite and > 0, S ≥ 1.
    let checkOptions (oracle: float[] -> float[]) (sigma: float) (samples: int) =
        if obj.ReferenceEquals(oracle, null) then
            nullArg "oracle"

        Validate.positive "sigma" sigma
        Validate.intAtLeast "samples (S)" 1 samples

    /// Evaluates the oracle at θ + σ·Zₛ for S standard normal draws Zₛ from `rng`. Raises ArgumentException naming
    /// `sigma` (finite, > 0), `samples` (≥ 1), `theta` (non-empty, finite) or `oracle` (when its outputs are not
    /// finite or not all of one length).
    let evaluate
        (oracle: float[] -> float[])
        (sigma: float)
        (samples: int)
        (rng: Random)
        (theta: float[])
        : PerturbedEvaluation =
        checkOptions oracle sigma samples

        Validate.notNull "rng" rng

        Validate.nonEmpty "theta" theta

        Validate.allFinite "theta" theta
        let m = theta.Length

        let noise =
            Array.init samples (fun _ -> Array.init m (fun _ -> Sampling.standardNormal rng))

        let outputs =
            noise
            |> Array.map (fun z -> oracle (Array.map2 (fun t e -> t + sigma * e) theta z))

        if
            outputs
            |> Array.exists (fun y ->
                isNull y
                || y.Length <> outputs.[0].Length
                || not (Array.forall Double.IsFinite y))
        then
            invalidArg "oracle" "the oracle must return finite vectors of one length for every input."

        let d = outputs.[0].Length

        { Theta = Array.copy theta
          Sigma = sigma
          Noise = noise
          Outputs = outputs
          Mean = Array.init d (fun j -> outputs |> Array.averageBy (fun y -> y.[j])) }

    /// The vector–Jacobian product gᵀJ(θ) ≈ (1/S)·Σₛ ⟨yₛ, g⟩·Zₛ/σ from an evaluation's draws (unbiased for the smoothed
    /// map's). Raises ArgumentException naming `g` (one finite entry per output entry).
    let vjp (evaluation: PerturbedEvaluation) (g: float[]) : float[] =
        Validate.notNull "g" g
        Validate.length "g" evaluation.Mean.Length g
        Validate.allFinite "g" g
        let m = evaluation.Theta.Length
        let s = float evaluation.Noise.Length
        let result = Array.zeroCreate m

        for r in 0 .. evaluation.Noise.Length - 1 do
            let w =
                Array.fold2 (fun acc y v -> acc + y * v) 0.0 evaluation.Outputs.[r] g
                / (s * evaluation.Sigma)

            for i in 0 .. m - 1 do
                result.[i] <- result.[i] + w * evaluation.Noise.[r].[i]

        result

    /// The Fenchel–Young loss gradient ŷ(θ) − y for a target y (the perturbed oracle's own loss, when the oracle is a
    /// MAP over a linear objective, so outputs and θ have one length). Raises ArgumentException naming `target` (one
    /// finite entry per output entry) or `evaluation` (outputs of another length than θ).
    let fenchelYoungGradient (evaluation: PerturbedEvaluation) (target: float[]) : float[] =
        if evaluation.Mean.Length <> evaluation.Theta.Length then
            invalidArg
                "evaluation"
                (sprintf
                    "the Fenchel-Young loss needs outputs of θ's length %d; got %d."
                    evaluation.Theta.Length
                    evaluation.Mean.Length)

        Validate.notNull "target" target
        Validate.length "target" evaluation.Mean.Length target
        Validate.allFinite "target" target
        Array.map2 (-) evaluation.Mean target
