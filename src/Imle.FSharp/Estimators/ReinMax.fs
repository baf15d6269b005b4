namespace Imle

open System

/// ReinMax (Liu et al., NeurIPS 2023, "Bridging discrete and backpropagation: straight-through and beyond"): the
/// second-order straight-through estimator for a categorical variable D ~ softmax(θ) (one-hot). Forward: an exact
/// one-hot draw D; backward, for g = dL/dD and temperature τ,
///   dL/dθ = 2·J(π½)·g − ½·J(π₀)·g,   π₀ = softmax(θ),  π½ = (softmax(θ/τ) + D)/2,  J(π) = diag(π) − ππᵀ,
/// Heun's method for the integral of ∇f along D − E[D] (Algorithm 2 of the paper); at τ = 1 its expected gradient is
/// exact for every loss quadratic in D. The first-order straight-through estimator is J(π₀)·g.
[<RequireQualifiedAccess>]
module ReinMax =

    /// softmax(θ/τ), stable (shifted by the maximum).
    let private softmax (tau: float) (theta: float[]) =
        let top = Array.max theta
        let e = theta |> Array.map (fun t -> exp ((t - top) / tau))
        let s = Array.sum e
        e |> Array.map (fun v -> v / s)

    /// J(π)·g = π ∘ g − π·⟨π, g⟩.
    let private softmaxJvp (pi: float[]) (g: float[]) =
        let dot = Array.fold2 (fun acc p v -> acc + p * v) 0.0 pi g
        Array.map2 (fun p v -> p * (v - dot)) pi g

    let private checkTheta (theta: float[]) =
        Validate.nonEmpty "theta" theta

        Validate.allFinite "theta" theta

    let private checkCotangent (theta: float[]) (g: float[]) =
        Validate.notNull "g" g
        Validate.length "g" theta.Length g
        Validate.allFinite "g" g

    /// The category probabilities π₀ = softmax(θ). Raises ArgumentException naming `theta` (non-empty, finite).
    let probabilities (theta: float[]) : float[] =
        checkTheta theta
        softmax 1.0 theta

    /// One exact draw D ~ softmax(θ) as a one-hot vector of length m (one uniform from `rng`).
    let sample (rng: Random) (theta: float[]) : float[] =
        Validate.notNull "rng" rng

        let pi = probabilities theta
        let u = rng.NextDouble()
        let mutable acc = 0.0
        let mutable chosen = pi.Length - 1
        let mutable i = 0

        while i < pi.Length do
            acc <- acc + pi.[i]

            if u < acc then
                chosen <- i
                i <- pi.Length
            else
                i <- i + 1

        Array.init pi.Length (fun j -> if j = chosen then 1.0 else 0.0)

    /// ReinMax's backward pass: dL/dθ = 2·J(π½)·g − ½·J(π₀)·g for the draw D (one-hot) and g = dL/dD. Raises
    /// ArgumentException naming `tau` (finite, > 0), `theta`, `d` (length m, one-hot) or `g` (length m, finite).
    let backward (tau: float) (theta: float[]) (d: float[]) (g: float[]) : float[] =
        Validate.positive "tau" tau
        checkTheta theta
        Validate.notNull "d" d
        Validate.length "d" theta.Length d
        Validate.binary "d" d

        if Array.sum d <> 1.0 then
            invalidArg "d" (sprintf "d must be one-hot (exactly one 1); got %g ones." (Array.sum d))

        checkCotangent theta g
        let pi0 = softmax 1.0 theta
        let half = Array.map2 (fun p di -> 0.5 * (p + di)) (softmax tau theta) d
        let second = softmaxJvp half g
        let first = softmaxJvp pi0 g
        Array.map2 (fun a b -> 2.0 * a - 0.5 * b) second first

    /// The first-order straight-through backward pass for D ~ softmax(θ): dL/dθ = J(π₀)·g (D̂ = D − sg(π₀) + π₀).
    /// Raises ArgumentException naming `theta` or `g`.
    let straightThroughBackward (theta: float[]) (g: float[]) : float[] =
        checkTheta theta
        checkCotangent theta g
        softmaxJvp (softmax 1.0 theta) g

    /// The exact expectation over D ~ softmax(θ) of a backward pass `backwardOf d (∇f(d))`, by enumerating the m
    /// categories (for comparing estimators' expected gradients with ∇θ E[f(D)] on small cases).
    let expectedBackward
        (theta: float[])
        (lossGradient: float[] -> float[])
        (backwardOf: float[] -> float[] -> float[])
        =
        let pi = probabilities theta

        if obj.ReferenceEquals(lossGradient, null) then
            nullArg "lossGradient"

        if obj.ReferenceEquals(backwardOf, null) then
            nullArg "backwardOf"

        let m = theta.Length
        let result = Array.zeroCreate m

        for c in 0 .. m - 1 do
            let d = Array.init m (fun j -> if j = c then 1.0 else 0.0)
            let g = backwardOf d (lossGradient d)

            for i in 0 .. m - 1 do
                result.[i] <- result.[i] + pi.[c] * g.[i]

        result

    /// The exact gradient ∇θ E_{D ~ softmax(θ)}[f(D)] = Σ_c f(e_c)·∇π₀_c = J(π₀)·(f(e_1), …, f(e_m)).
    let exactGradient (theta: float[]) (f: float[] -> float) : float[] =
        let pi = probabilities theta

        if obj.ReferenceEquals(f, null) then
            nullArg "f"

        let values =
            Array.init theta.Length (fun c -> f (Array.init theta.Length (fun j -> if j = c then 1.0 else 0.0)))

        softmaxJvp pi values
