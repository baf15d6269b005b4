namespace Imle

open System

/// A perturbation distribution ρ(ε) for perturb-and-MAP (paper Sec. 3.2). Values, not samplers:
/// `Noise.sample` interprets them with an explicit RNG.
type Noise =
    /// δ₀: no perturbation (ε = 0). I-MLE with this noise and a PID target is blackbox differentiation.
    | Zero
    /// Gumbel(0, τ) i.i.d. per coordinate.
    | Gumbel of tau: float
    /// Sum-of-Gamma noise exactly as Eq. 13:
    /// SoG(κ, τ, s) = (τ/κ) · (Σ_{i=1..s} Gamma(shape 1/κ, scale κ/i) − log s).
    /// The sum of κ i.i.d. draws approaches Gumbel(0, τ) as s grows (Lemma 1).
    | SumOfGamma of kappa: float * tau: float * terms: int
    /// Sum-of-Gamma with the finite-s correction measured in docs/notes/sum-of-gamma.md: the −log s term is
    /// replaced by −(H_s − γ) (exact mean) and one Normal draw of variance κ·(π²/6 − Σ_{i≤s} 1/i²) stands in for the
    /// omitted terms i &gt; s. Closer to Lemma 1 at small s than Eq. 13 as written; not part of the paper.
    | SumOfGammaCorrected of kappa: float * tau: float * terms: int
    /// Normal(0, σ²) i.i.d. per coordinate (perturbed optimizers, Berthet et al.).
    | Normal of sigma: float
    /// A user's per-coordinate sampler; it must draw only from the RNG it is given.
    | Custom of name: string * sample: (Random -> float)

/// Functions over `Noise` values: validation, description, sampling.
[<RequireQualifiedAccess>]
module Noise =

    /// The Euler–Mascheroni constant γ (internal: used by the corrected Sum-of-Gamma noise here and in TensorNoise).
    let internal eulerGamma = 0.57721566490153286060651209

    /// The standard Gumbel(0, 1) noise.
    let gumbel = Gumbel 1.0

    /// Sum-of-Gamma noise for k-subset-like problems with the paper's defaults (τ = 1, s = 10).
    let sumOfGamma (kappa: float) = SumOfGamma(kappa, 1.0, 10)

    /// Checks the parameters (κ ≥ 1, τ > 0, s ≥ 1, σ > 0) and returns the noise unchanged; raises an
    /// ArgumentException naming the parameter otherwise.
    let validate (noise: Noise) : Noise =
        match noise with
        | Zero -> ()
        | Gumbel tau -> Validate.positive "tau" tau
        | SumOfGamma(kappa, tau, terms)
        | SumOfGammaCorrected(kappa, tau, terms) ->
            Validate.atLeast "kappa" 1.0 kappa
            Validate.positive "tau" tau
            Validate.intAtLeast "terms" 1 terms
        | Normal sigma -> Validate.positive "sigma" sigma
        | Custom(name, sample) -> Validate.customCase "noise" name "sample" (box sample)

        noise

    /// A short human-readable description, e.g. "SoG(κ=5, τ=1, s=10)".
    let describe (noise: Noise) : string =
        match noise with
        | Zero -> "none (δ₀)"
        | Gumbel tau -> sprintf "Gumbel(τ=%g)" tau
        | SumOfGamma(k, t, s) -> sprintf "SoG(κ=%g, τ=%g, s=%d)" k t s
        | SumOfGammaCorrected(k, t, s) -> sprintf "SoG-corrected(κ=%g, τ=%g, s=%d)" k t s
        | Normal sigma -> sprintf "Normal(σ=%g)" sigma
        | Custom(name, _) -> name

    /// The harmonic number H_s = Σ_{i=1..s} 1/i (internal, as `eulerGamma`).
    let internal harmonic (s: int) =
        Seq.sum (seq { for i in 1..s -> 1.0 / float i })

    /// Σ_{i=1..s} 1/i².
    let private inverseSquares (s: int) =
        Seq.sum (seq { for i in 1..s -> 1.0 / (float i * float i) })

    /// One Sum-of-Gamma draw before the −log s / mean shift and the τ/κ scale: Σ_{i=1..s} Gamma(1/κ, κ/i).
    let private gammaSum (kappa: float) (terms: int) (rng: Random) =
        let mutable acc = 0.0

        for i in 1..terms do
            acc <- acc + Sampling.gamma (1.0 / kappa) (kappa / float i) rng

        acc

    /// Fills `into` with i.i.d. draws of the noise. Validates the noise first.
    let sampleInto (noise: Noise) (rng: Random) (into: float[]) : unit =
        validate noise |> ignore
        Validate.notNull "into" into

        match noise with
        | Zero -> Array.fill into 0 into.Length 0.0
        | Gumbel tau ->
            for j in 0 .. into.Length - 1 do
                into.[j] <- Sampling.gumbel tau rng
        | Normal sigma ->
            for j in 0 .. into.Length - 1 do
                into.[j] <- sigma * Sampling.standardNormal rng
        | SumOfGamma(kappa, tau, terms) ->
            let shift = log (float terms)

            for j in 0 .. into.Length - 1 do
                into.[j] <- tau / kappa * (gammaSum kappa terms rng - shift)
        | SumOfGammaCorrected(kappa, tau, terms) ->
            let shift = harmonic terms - eulerGamma

            let tailSd =
                sqrt (max 0.0 (kappa * (Math.PI * Math.PI / 6.0 - inverseSquares terms)))

            for j in 0 .. into.Length - 1 do
                let tail = tailSd * Sampling.standardNormal rng
                into.[j] <- tau / kappa * (gammaSum kappa terms rng - shift + tail)
        | Custom(name, sample) ->
            for j in 0 .. into.Length - 1 do
                let v = sample rng

                if not (Validate.isFinite v) then
                    invalidOp (sprintf "Custom noise '%s' returned a non-finite value %g." name v)

                into.[j] <- v

    /// `count` i.i.d. draws of the noise, as a new array.
    let sample (noise: Noise) (rng: Random) (count: int) : float[] =
        Validate.intAtLeast "count" 0 count
        let a = Array.zeroCreate count
        sampleInto noise rng a
        a
