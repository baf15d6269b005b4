namespace Imle

open System

/// The k-subset gradient estimators after I-MLE, on the exact distribution p(z; θ) ∝ exp(⟨z, θ⟩/τ) over binary z
/// with exactly k ones (scores θ in the maximisation convention), built on the O(m·k) dynamic programme of `KSubset`:
///   SIMPLE (Ahmed et al., ICLR 2023): forward an exact sample z ~ p, backward g ↦ J_μ(θ)·g, the Jacobian of the exact
///     marginals μ(θ) = E_p[z] applied to the upstream gradient g = ∇f(z) (biased for a loss not affine in z, low
///     variance);
///   SFESS (Wijk et al., ICLR 2025): the score-function estimator with exact log-probabilities, whose score is
///     ∇θ log p(z) = (z − μ(θ))/τ, and a leave-one-out control variate over S ≥ 2 samples (unbiased for any loss).
[<RequireQualifiedAccess>]
module KSubsetEstimators =

    /// SIMPLE's forward pass: one exact draw z ~ p(z; θ) (a binary vector with exactly k ones), as `KSubset.sample`.
    /// Raises ArgumentException naming `tau` (finite, > 0), `k` (in [1, m]) or `theta` (non-empty, finite).
    let simpleSample (tau: float) (k: int) (rng: Random) (theta: float[]) : float[] = KSubset.sample tau k rng theta

    /// SIMPLE's backward pass: dL/dθ = J_μ(θ)ᵀ·g = J_μ(θ)·g (the Jacobian is the covariance over τ, symmetric) for the
    /// upstream gradient g = dL/dz, exact in O(m·k) (`KSubset.marginalsJvp`). Raises ArgumentException naming `tau`,
    /// `k`, `theta` or `g` (length m, finite).
    let simpleBackward (tau: float) (k: int) (theta: float[]) (g: float[]) : float[] =
        KSubset.marginalsJvp tau k theta g

    /// One SIMPLE gradient draw for a loss f with gradient `lossGradient` (z ↦ ∇f(z), length m): z ~ p(z; θ), then
    /// J_μ(θ)·∇f(z). Returns (z, dL/dθ). Raises ArgumentException as `simpleBackward`, or naming `lossGradient` when it
    /// returns a vector of the wrong length or a non-finite entry.
    let simple
        (tau: float)
        (k: int)
        (rng: Random)
        (theta: float[])
        (lossGradient: float[] -> float[])
        : float[] * float[] =
        Validate.notNull "rng" rng

        if obj.ReferenceEquals(lossGradient, null) then
            nullArg "lossGradient"

        let z = simpleSample tau k rng theta
        let g = lossGradient z

        if isNull g || g.Length <> theta.Length || not (Array.forall Double.IsFinite g) then
            invalidArg
                "lossGradient"
                (sprintf "lossGradient must return %d finite entries (one per entry of theta)." theta.Length)

        z, simpleBackward tau k theta g

    /// (z − μ)/τ after checking z (length m, binary, exactly k ones).
    let private scoreWith (tau: float) (k: int) (mu: float[]) (z: float[]) =
        Validate.notNull "z" z
        Validate.length "z" mu.Length z
        Validate.binary "z" z

        if Array.sum z <> float k then
            invalidArg "z" (sprintf "z must have exactly k = %d ones; got %g." k (Array.sum z))

        Array.map2 (fun zi mi -> (zi - mi) / tau) z mu

    /// The score ∇θ log p(z; θ) = (z − μ(θ))/τ of a binary z with exactly k ones (μ the exact marginals). Raises
    /// ArgumentException naming `tau`, `k`, `theta`, or `z` (length m, binary, exactly k ones).
    let score (tau: float) (k: int) (theta: float[]) (z: float[]) : float[] =
        scoreWith tau k (KSubset.marginals tau k theta) z

    /// The SFESS estimate from given draws zₛ (binary, k ones) and their losses f(zₛ), S ≥ 2:
    /// (1/S)·Σₛ (f(zₛ) − b₋ₛ)·(zₛ − μ(θ))/τ with the leave-one-out baseline b₋ₛ, the mean of f over the other S − 1
    /// draws. (With this baseline the μ terms cancel: the estimate equals (1/(S − 1))·Σₛ (f(zₛ) − f̄)·zₛ/τ.) Raises
    /// ArgumentException naming `tau`, `k`, `theta`, `zs` (S ≥ 2 draws of length m with k ones) or `values` (S finite
    /// numbers).
    let sfessOf (tau: float) (k: int) (theta: float[]) (zs: float[][]) (values: float[]) : float[] =
        let mu = KSubset.marginals tau k theta
        Validate.notNull "zs" zs
        Validate.notNull "values" values

        if zs.Length < 2 then
            invalidArg "zs" (sprintf "zs must hold at least 2 draws (S >= 2); got %d." zs.Length)

        Validate.length "values" zs.Length values
        Validate.allFinite "values" values
        let scores = zs |> Array.map (scoreWith tau k mu)
        let total = Array.sum values
        let s = float zs.Length
        let g = Array.zeroCreate theta.Length

        for r in 0 .. zs.Length - 1 do
            let advantage = values.[r] - (total - values.[r]) / (s - 1.0)

            for i in 0 .. g.Length - 1 do
                g.[i] <- g.[i] + advantage * scores.[r].[i] / s

        g

    /// One SFESS gradient draw for a black-box loss f: S exact samples z₁…z_S ~ p(z; θ), then `sfessOf` (the
    /// score-function estimator with the exact score and a leave-one-out baseline, unbiased for ∇θ E_p[f]). Evaluates
    /// f S times. Raises ArgumentException naming `tau`, `k`, `theta`, `samples` (≥ 2) or `f` (when it returns a
    /// non-finite value).
    let sfess (tau: float) (k: int) (samples: int) (rng: Random) (theta: float[]) (f: float[] -> float) : float[] =
        Validate.intAtLeast "samples (S)" 2 samples
        Validate.notNull "rng" rng

        if obj.ReferenceEquals(f, null) then
            nullArg "f"

        let zs = Array.init samples (fun _ -> KSubset.sample tau k rng theta)

        let values =
            zs
            |> Array.map (fun z ->
                let v = f z

                if not (Double.IsFinite v) then
                    invalidArg "f" (sprintf "f must return a finite value; got %g." v)

                v)

        sfessOf tau k theta zs values
