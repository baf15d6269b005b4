namespace Imle

/// How the I-MLE estimate is scaled.
type Scaling =
    /// Divide z − z' by λ, as Eq. 12 says (the default; torch-imle does not, which users asked about: torch-imle#3).
    | DivideByLambda
    /// Return z − z' as Algorithm 1 writes it (λ folded into the learning rate).
    | Unscaled

/// The projection applied to dL/dz by the identity-with-projection estimator (Sahoo et al., ICLR 2023).
type Projection =
    /// Pass dL/dz through unchanged.
    | NoProjection
    /// Subtract the mean of dL/dz (for solutions of fixed size, e.g. k-subsets).
    | MeanCentre
    /// Subtract the mean and divide by the standard deviation.
    | Standardise

/// Options of the I-MLE estimator (Eq. 9, Algorithm 1).
type ImleOptions =
    {
        /// The perturbation ρ(ε) used for both the forward sample and the target sample (the same ε).
        Noise: Noise
        /// Multiplier of ε in the forward pass: z = MAP(θ + τ_in·ε).
        InputTemperature: float
        /// Multiplier of ε in the backward pass: z' = MAP(θ' + τ_t·ε); 0 gives a noiseless target z' = MAP(θ') while
        /// the forward sample stays perturbed (tf-imle's `perturb_w_prime=False`, its Warcraft MAP-MAP runs).
        TargetTemperature: float
        /// The target distribution q(z; θ').
        Target: Target
        /// The number of samples S.
        Samples: int
        /// Whether the estimate is divided by λ.
        Scaling: Scaling
        /// The central-difference variant: (MAP(θ + λ·dL/dz + ε) − MAP(θ − λ·dL/dz + ε)) / 2 (PID/adaptive targets only).
        Symmetric: bool
    }

    /// I-MLE with Sum-of-Gamma noise SoG(κ, 1, 10), PID λ, one sample, divided by λ.
    static member Create(kappa: float, lambda: float) =
        { Noise = SumOfGamma(kappa, 1.0, 10)
          InputTemperature = 1.0
          TargetTemperature = 1.0
          Target = Pid lambda
          Samples = 1
          Scaling = DivideByLambda
          Symmetric = false }

    /// Blackbox differentiation (Pogančić et al. 2020) as I-MLE, by the paper's footnote 10: no noise (δ₀), the PID
    /// target θ' = θ − λ·dL/dz, one sample, divided by λ. The one definition both backends use for `Blackbox λ`.
    static member Blackbox(lambda: float) =
        { ImleOptions.Create(1.0, lambda) with
            Noise = Zero }

    /// With another noise.
    member this.WithNoise(noise: Noise) = { this with Noise = noise }
    /// With another target.
    member this.WithTarget(target: Target) = { this with Target = target }
    /// With S samples.
    member this.WithSamples(samples: int) = { this with Samples = samples }

    /// With the given input and target temperatures.
    member this.WithTemperatures(input: float, target: float) =
        { this with
            InputTemperature = input
            TargetTemperature = target }

    /// With the symmetric (central-difference) variant switched on or off.
    member this.WithSymmetric(symmetric: bool) = { this with Symmetric = symmetric }
    /// With the given scaling.
    member this.WithScaling(scaling: Scaling) = { this with Scaling = scaling }

/// The gradient estimators for discrete layers: a forward that returns MAP states (or their mean) and a backward
/// that maps dL/dz to dL/dθ.
type Estimator =
    /// Implicit MLE (Eq. 9).
    | Imle of ImleOptions
    /// Blackbox differentiation (Pogančić et al. 2020): z = MAP(w); backward with w' = w + λ·dL/dz (costs).
    | Blackbox of lambda: float
    /// Identity with projection (Sahoo et al. 2023): dL/dθ = P(dL/dz); optional noise in the forward pass against
    /// cost collapse.
    | Identity of projection: Projection * noise: Noise
    /// Straight-through: z = MAP(θ + ε), dL/dθ = dL/dz.
    | StraightThrough of noise: Noise
    /// Perturbed optimizers (Berthet et al. 2020): ȳ = E[MAP(θ + σZ)], Normal or Gumbel Z, S samples.
    | Perturbed of noise: Noise * samples: int
    /// Score function (REINFORCE) with exact samples; needs an enumerable problem or a k-subset.
    | ScoreFunction of samples: int
    /// Gumbel-softmax (Jang et al. 2017) for categorical problems, temperature τ.
    | GumbelSoftmax of tau: float
    /// A relaxed top-k (SoftSub, Xie and Ermon 2019 / L2X) for k-subsets, temperature τ.
    | RelaxedTopK of tau: float

/// Functions over estimators.
[<RequireQualifiedAccess>]
module Estimator =

    /// I-MLE with the given options.
    let imle (options: ImleOptions) = Imle options

    /// Checks every parameter (λ > 0, S ≥ 1, temperatures > 0, noise parameters); returns the estimator.
    let validate (estimator: Estimator) : Estimator =
        match estimator with
        | Imle o ->
            Noise.validate o.Noise |> ignore
            Validate.positive "InputTemperature" o.InputTemperature
            Validate.atLeast "TargetTemperature" 0.0 o.TargetTemperature
            Target.validate o.Target |> ignore
            Validate.intAtLeast "Samples (S)" 1 o.Samples

            if o.Symmetric then
                match o.Target with
                | Pid _
                | Adaptive _ -> ()
                | other ->
                    invalidArg
                        "Symmetric"
                        (sprintf "The symmetric variant needs a PID or adaptive target; got %s." (Target.describe other))
        | Blackbox lambda -> Validate.positive "lambda" lambda
        | Identity(_, noise) -> Noise.validate noise |> ignore
        | StraightThrough noise -> Noise.validate noise |> ignore
        | Perturbed(noise, samples) ->
            Noise.validate noise |> ignore

            match noise with
            | Normal _
            | Gumbel _ -> ()
            | other ->
                invalidArg
                    "noise"
                    (sprintf "Perturbed optimizers need Normal or Gumbel noise; got %s." (Noise.describe other))

            Validate.intAtLeast "samples (S)" 1 samples
        | ScoreFunction samples -> Validate.intAtLeast "samples (S)" 1 samples
        | GumbelSoftmax tau -> Validate.positive "tau" tau
        | RelaxedTopK tau -> Validate.positive "tau" tau

        estimator

    /// The number of forward samples S an estimator draws (1 for those without samples).
    let sampleCount (estimator: Estimator) : int =
        match estimator with
        | Imle o -> o.Samples
        | Perturbed(_, s) -> s
        | ScoreFunction s -> s
        | Blackbox _
        | Identity _
        | StraightThrough _
        | GumbelSoftmax _
        | RelaxedTopK _ -> 1

    /// The noise of the perturb-and-MAP forward pass (ẑ = MAP(θ + ε), S draws of it) for the estimators that have one:
    /// I-MLE's noise, δ₀ for blackbox differentiation, the identity / straight-through / perturbed-optimizer noise.
    /// None for the score function (exact samples) and the relaxations (their own Gumbel draws). Both backends draw
    /// their forward noise from this one definition.
    let forwardNoise (estimator: Estimator) : Noise option =
        match estimator with
        | Imle o -> Some o.Noise
        | Blackbox _ -> Some Zero
        | Identity(_, n)
        | StraightThrough n
        | Perturbed(n, _) -> Some n
        | ScoreFunction _
        | GumbelSoftmax _
        | RelaxedTopK _ -> None

    /// A short description for reports.
    let describe (estimator: Estimator) : string =
        match estimator with
        | Imle o ->
            sprintf
                "I-MLE[%s, %s, S=%d%s%s]"
                (Noise.describe o.Noise)
                (Target.describe o.Target)
                o.Samples
                (if o.Symmetric then ", symmetric" else "")
                (if o.Scaling = Unscaled then ", unscaled" else "")
        | Blackbox lambda -> sprintf "Blackbox(λ=%g)" lambda
        | Identity(p, n) -> sprintf "Identity[%A, %s]" p (Noise.describe n)
        | StraightThrough n -> sprintf "STE[%s]" (Noise.describe n)
        | Perturbed(n, s) -> sprintf "Perturbed[%s, S=%d]" (Noise.describe n) s
        | ScoreFunction s -> sprintf "ScoreFunction(S=%d)" s
        | GumbelSoftmax t -> sprintf "GumbelSoftmax(τ=%g)" t
        | RelaxedTopK t -> sprintf "RelaxedTopK(τ=%g)" t
