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
    member this.WithTemperatures(inputTemperature: float, targetTemperature: float) =
        { this with
            InputTemperature = inputTemperature
            TargetTemperature = targetTemperature }

    /// With the symmetric (central-difference) variant switched on or off.
    member this.WithSymmetric(symmetric: bool) = { this with Symmetric = symmetric }
    /// With the given scaling.
    member this.WithScaling(scaling: Scaling) = { this with Scaling = scaling }

/// The control variate of a Monte Carlo gradient estimate over S samples.
type ControlVariate =
    /// The plain estimate.
    | NoControlVariate
    /// A leave-one-out baseline (PyEPO's and InferOpt's `variance_reduction`): sample s is weighted by
    /// yₛ − ȳ₋ₛ = (yₛ − ȳ)·S/(S − 1), ȳ₋ₛ the mean of the other S − 1 samples. Independent of sample s's noise, so the
    /// mean gradient is the plain one's and the variance smaller; needs S ≥ 2.
    | LeaveOneOut

/// The one definition of the control-variate rule; the TorchSharp backend mirrors it on tensors (`Calls.leaveOneOut`,
/// tested for parity).
[<RequireQualifiedAccess>]
module ControlVariate =

    /// The samples the estimate weights: yₛ itself, or yₛ − ȳ₋ₛ = (yₛ − ȳ)·S/(S − 1) for the leave-one-out baseline.
    let apply (controlVariate: ControlVariate) (samples: float[][]) : float[][] =
        match controlVariate with
        | NoControlVariate -> samples
        | LeaveOneOut ->
            let s = float samples.Length
            let m = samples.[0].Length
            let mean = Array.init m (fun i -> samples |> Array.averageBy (fun y -> y.[i]))
            samples |> Array.map (Array.mapi (fun i y -> (y - mean.[i]) * (s / (s - 1.0))))

    /// A short description for reports.
    let describe (controlVariate: ControlVariate) : string =
        match controlVariate with
        | NoControlVariate -> ""
        | LeaveOneOut -> ", leave-one-out"

/// How a perturbed optimizer perturbs the weights.
type Perturbation =
    /// Additive noise on the scores: MAP(θ + ε), ε Normal(0, σ²) or Gumbel(0, τ) (Berthet et al. 2020).
    | Additive of noise: Noise
    /// Multiplicative log-normal noise on the weights in the problem's own sense: MAP(w ⊙ exp(σZ − σ²/2)), Z ~ N(0, I)
    /// (Dalle et al. 2022; PyEPO's `perturbedOptMul`). Keeps every weight's sign (for solvers that need costs of one
    /// sign, PyEPO#7); the weights must be non-zero (the Jacobian divides by them).
    | Multiplicative of sigma: float

/// Options of a perturbed optimizer (and of the Fenchel–Young loss built on it).
type PerturbedOptions =
    {
        /// Additive or multiplicative noise.
        Perturbation: Perturbation
        /// The number of samples S.
        Samples: int
        /// The control variate of the backward pass (Fenchel–Young ignores it: its gradient has no Monte Carlo weight).
        ControlVariate: ControlVariate
    }

    /// Additive noise (Normal or Gumbel), S samples, no control variate.
    static member Create(noise: Noise, samples: int) =
        { Perturbation = Additive noise
          Samples = samples
          ControlVariate = NoControlVariate }

    /// Multiplicative log-normal noise exp(σZ − σ²/2), S samples, no control variate.
    static member CreateMultiplicative(sigma: float, samples: int) =
        { Perturbation = Multiplicative sigma
          Samples = samples
          ControlVariate = NoControlVariate }

    /// With the given control variate.
    member this.WithControlVariate(controlVariate: ControlVariate) =
        { this with
            ControlVariate = controlVariate }

/// Functions over perturbed-optimizer options.
[<RequireQualifiedAccess>]
module PerturbedOptions =

    /// σ of the additive noise (Normal σ or Gumbel τ), whose standardised density the backward pass differentiates
    /// (Berthet et al.: ∇ν(Z) = Z for Normal, 1 − e^(−Z) for Gumbel); refuses any other noise. Both backends use it.
    let internal additiveScale (noise: Noise) : float =
        match noise with
        | Normal sigma -> sigma
        | Gumbel tau -> tau
        | other ->
            invalidArg
                "noise"
                (sprintf "Perturbed optimizers need Normal or Gumbel noise; got %s." (Noise.describe other))

    /// Checks σ > 0, Normal or Gumbel noise for additive perturbations, S ≥ 1 (S ≥ 2 with the leave-one-out control
    /// variate); returns the options.
    let validate (options: PerturbedOptions) : PerturbedOptions =
        match options.Perturbation with
        | Additive noise -> Noise.validate noise |> additiveScale |> ignore
        | Multiplicative sigma -> Validate.positive "sigma" sigma

        match options.ControlVariate with
        | NoControlVariate -> Validate.intAtLeast "samples" 1 options.Samples
        | LeaveOneOut -> Validate.intAtLeast "samples" 2 options.Samples

        options

    /// The noise the forward pass draws: the additive noise, or the standard normal Z of the multiplicative factor.
    let noise (options: PerturbedOptions) : Noise =
        match options.Perturbation with
        | Additive noise -> noise
        | Multiplicative _ -> Normal 1.0

    /// A short description for reports.
    let describe (options: PerturbedOptions) : string =
        let perturbation =
            match options.Perturbation with
            | Additive noise -> Noise.describe noise
            | Multiplicative sigma -> sprintf "multiplicative σ=%g" sigma

        sprintf "%s, S=%d%s" perturbation options.Samples (ControlVariate.describe options.ControlVariate)

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
    /// Perturbed optimizers: ȳ = E[MAP(θ + ε)] (additive, Berthet et al. 2020) or E[MAP(w ⊙ exp(σZ − σ²/2))]
    /// (multiplicative, Dalle et al. 2022), S samples, with an optional control variate.
    | Perturbed of PerturbedOptions
    /// Score function (REINFORCE) with exact samples at τ = 1 and the reward ⟨dL/dz, z⟩, with a leave-one-out baseline
    /// when S > 1; needs an enumerable problem or a k-subset.
    | ScoreFunction of samples: int
    /// Gumbel-softmax (Jang et al. 2017) for categorical problems, temperature τ.
    | GumbelSoftmax of tau: float
    /// A relaxed top-k (SoftSub, Xie and Ermon 2019 / L2X) for k-subsets, temperature τ.
    | RelaxedTopK of tau: float
    /// SIMPLE (Ahmed et al., ICLR 2023) for k-subsets: forward an exact draw z ~ p(z; θ) ∝ exp(⟨z, θ⟩/τ), backward
    /// through the exact marginals, dL/dθ = J_μ(θ)·dL/dz (`KSubsetEstimators`).
    | Simple of tau: float
    /// SFESS (Wijk et al., ICLR 2025) for k-subsets: S ≥ 2 exact draws at temperature τ, backward the score-function
    /// estimator with the exact score (z − μ)/τ, the reward ⟨dL/dz, z⟩ and a leave-one-out baseline.
    | Sfess of tau: float * samples: int
    /// ReinMax (Liu et al., NeurIPS 2023) for categorical problems: forward an exact one-hot draw D ~ softmax(θ),
    /// backward the second-order straight-through rule 2·J(π½)·g − ½·J(π₀)·g with temperature τ (`ReinMax`).
    | ReinMax of tau: float
    /// The categorical straight-through estimator: forward an exact one-hot draw D ~ softmax(θ), backward J(π₀)·g,
    /// π₀ = softmax(θ) (ReinMax's first-order baseline).
    | SoftmaxStraightThrough
    /// The regularised Frank–Wolfe optimizer (PyEPO 2.2's RFWO; Dalle et al. 2022): a deterministic smooth solution
    /// argmax_{μ ∈ conv(C)} ⟨θ, μ⟩ − (λ/2)·‖μ‖² by Frank–Wolfe, differentiated on its active face (`FrankWolfe`).
    /// Any problem (only MAP calls).
    | RegularizedFrankWolfe of FrankWolfeOptions

/// Functions over estimators.
[<RequireQualifiedAccess>]
module Estimator =

    /// I-MLE with the given options.
    let imle (options: ImleOptions) = Imle options

    /// The additive perturbed optimizer with the given noise and S samples, no control variate.
    let perturbed (noise: Noise) (samples: int) =
        Perturbed(PerturbedOptions.Create(noise, samples))

    /// Checks every parameter (λ > 0, S ≥ 1, temperatures > 0, noise parameters); returns the estimator.
    let validate (estimator: Estimator) : Estimator =
        match estimator with
        | Imle o ->
            Noise.validate o.Noise |> ignore
            Validate.positive "inputTemperature" o.InputTemperature
            Validate.atLeast "targetTemperature" 0.0 o.TargetTemperature
            Target.validate o.Target |> ignore
            Validate.intAtLeast "samples" 1 o.Samples

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
        | Perturbed options -> PerturbedOptions.validate options |> ignore
        | ScoreFunction samples -> Validate.intAtLeast "samples" 1 samples
        | GumbelSoftmax tau -> Validate.positive "tau" tau
        | RelaxedTopK tau -> Validate.positive "tau" tau
        | Simple tau -> Validate.positive "tau" tau
        | Sfess(tau, samples) ->
            Validate.positive "tau" tau
            Validate.intAtLeast "samples" 2 samples
        | ReinMax tau -> Validate.positive "tau" tau
        | SoftmaxStraightThrough -> ()
        | RegularizedFrankWolfe options -> FrankWolfe.validate options |> ignore

        estimator

    /// The number of forward samples S an estimator draws (1 for those without samples).
    let sampleCount (estimator: Estimator) : int =
        match estimator with
        | Imle o -> o.Samples
        | Perturbed o -> o.Samples
        | ScoreFunction s -> s
        | Sfess(_, s) -> s
        | Simple _
        | ReinMax _
        | SoftmaxStraightThrough
        | RegularizedFrankWolfe _
        | Blackbox _
        | Identity _
        | StraightThrough _
        | GumbelSoftmax _
        | RelaxedTopK _ -> 1

    /// The noise of the perturb-and-MAP forward pass (ẑ = MAP(θ + ε), S draws of it) for the estimators that have one:
    /// I-MLE's noise, δ₀ for blackbox differentiation, the identity / straight-through noise, the perturbed optimizer's
    /// (the standard normal Z of a multiplicative one), the standard Gumbel noise of the relaxations. None for the
    /// estimators with exact samples (score function, SIMPLE, SFESS, ReinMax, the categorical straight-through) and
    /// for the deterministic regularised Frank–Wolfe. Both backends draw their forward noise from this one definition.
    let forwardNoise (estimator: Estimator) : Noise option =
        match estimator with
        | Imle o -> Some o.Noise
        | Blackbox _ -> Some Zero
        | Identity(_, n)
        | StraightThrough n -> Some n
        | Perturbed o -> Some(PerturbedOptions.noise o)
        | GumbelSoftmax _
        | RelaxedTopK _ -> Some(Gumbel 1.0)
        | ScoreFunction _
        | Simple _
        | Sfess _
        | ReinMax _
        | SoftmaxStraightThrough
        | RegularizedFrankWolfe _ -> None

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
        | Perturbed o -> sprintf "Perturbed[%s]" (PerturbedOptions.describe o)
        | ScoreFunction s -> sprintf "ScoreFunction(S=%d)" s
        | GumbelSoftmax t -> sprintf "GumbelSoftmax(τ=%g)" t
        | RelaxedTopK t -> sprintf "RelaxedTopK(τ=%g)" t
        | Simple t -> sprintf "SIMPLE(τ=%g)" t
        | Sfess(t, s) -> sprintf "SFESS(τ=%g, S=%d)" t s
        | ReinMax t -> sprintf "ReinMax(τ=%g)" t
        | SoftmaxStraightThrough -> "SoftmaxSTE"
        | RegularizedFrankWolfe o -> sprintf "RFWO(%s)" (FrankWolfe.describe o)

    /// The k of a k-subset problem for the estimators that need one (relaxed top-k, SIMPLE, SFESS), or None.
    /// Raises ArgumentException naming `estimator` when the problem is not a k-subset problem.
    let requireKind (problem: Problem) (estimator: Estimator) : int option =
        let refuse (what: string) (need: string) =
            invalidArg "estimator" (sprintf "%s needs a %s problem; got '%s'." what need problem.Name)

        match estimator, problem.Kind with
        | (RelaxedTopK _ | Simple _ | Sfess _), KSubsetKind k -> Some k
        | RelaxedTopK _, _ -> refuse "The relaxed top-k" "k-subset"
        | Simple _, _ -> refuse "SIMPLE" "k-subset"
        | Sfess _, _ -> refuse "SFESS" "k-subset"
        | (GumbelSoftmax _ | ReinMax _ | SoftmaxStraightThrough), CategoricalKind -> None
        | GumbelSoftmax _, _ -> refuse "Gumbel-softmax" "categorical"
        | ReinMax _, _ -> refuse "ReinMax" "categorical"
        | SoftmaxStraightThrough, _ -> refuse "The categorical straight-through" "categorical"
        | _ -> None
