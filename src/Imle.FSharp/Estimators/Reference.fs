namespace Imle

open System

/// What the forward pass saves for the backward pass (Algorithm 1: θ, ε and ẑ). One entry per sample in
/// `Noise` and `States`.
type ForwardPass =
    {
        /// The weights as given, in the problem's own sense (scores or costs).
        Weights: float[]
        /// θ in maximisation terms (θ = −c for minimisation problems).
        Scores: float[]
        /// The noise ε drawn for each sample (unscaled by the input/target temperatures).
        Noise: float[][]
        /// The forward states ẑ, one per sample.
        States: float[][]
    }

    /// The mean of the forward states (the output of a layer that returns the sample mean).
    member this.Mean =
        let m = this.Weights.Length
        let s = float this.States.Length
        Array.init m (fun i -> this.States |> Array.sumBy (fun z -> z.[i]) |> fun total -> total / s)

/// The reference estimators over plain arrays, one case for every estimator of the catalogue (`Estimator`): the
/// ground truth the TorchSharp backend is tested against.
/// Every gradient is returned w.r.t. the weights in the problem's own sense (for minimisation problems the
/// gradient w.r.t. the costs c = −θ, so the sign convention is handled here, not by the caller).
[<RequireQualifiedAccess>]
module Reference =

    let private add (a: float[]) (b: float[]) (scale: float) =
        Array.map2 (fun x y -> x + scale * y) a b

    let private forwardNoise (estimator: Estimator) =
        match Estimator.forwardNoise estimator, estimator with
        | Some noise, Imle o -> noise, o.InputTemperature
        | Some noise, _ -> noise, 1.0
        | None, _ ->
            invalidArg
                "estimator"
                (sprintf
                    "%s draws exact samples, not noise: use Reference.forwardWithStates (or Reference.forward)."
                    (Estimator.describe estimator))

    /// The noise the estimator's forward pass perturbs with (δ₀ for blackbox differentiation, the standard normal Z of
    /// a multiplicative perturbed optimizer, standard Gumbel noise for the relaxations).
    let forwardNoiseOf (estimator: Estimator) : Noise = fst (forwardNoise estimator)

    /// The k of a k-subset problem, for the relaxed top-k, SIMPLE and SFESS.
    let private subsetSize (problem: Problem) (estimator: Estimator) =
        match Estimator.requireKind problem estimator with
        | Some k -> k
        | None -> invalidArg "estimator" (sprintf "%s needs a k-subset problem." (Estimator.describe estimator))

    let private checkWeights (problem: Problem) (estimator: Estimator) (weights: float[]) =
        Estimator.validate estimator |> ignore

        Estimator.requireKind problem estimator |> ignore
        Validate.length "weights" problem.Size weights
        Validate.allFinite "weights" weights

        match estimator with
        | Perturbed { Perturbation = Multiplicative _ } when Array.contains 0.0 weights ->
            invalidArg
                "weights"
                "weights must be non-zero for a multiplicative perturbation (its sign is kept and its Jacobian divides by the weight)."
        | _ -> ()

    /// One forward state for noise e: MAP(θ + τ·e), MAP(w ⊙ exp(σe − σ²/2)) in the problem's own sense, or a relaxation.
    let private forwardState
        (problem: Problem)
        (estimator: Estimator)
        (weights: float[])
        (theta: float[])
        (e: float[])
        =
        match estimator with
        | Perturbed { Perturbation = Multiplicative sigma } ->
            Problem.solve problem (Array.map2 (fun w z -> w * exp (z * sigma + -0.5 * sigma * sigma)) weights e)
        | GumbelSoftmax tau -> RelaxedReference.gumbelSoftmax tau theta e
        | RelaxedTopK tau -> RelaxedReference.topK (subsetSize problem estimator) tau theta e
        | _ -> Problem.solveScores problem (add theta e (snd (forwardNoise estimator)))

    /// The forward pass with given noise ε (one array per sample, drawn from `forwardNoiseOf estimator`):
    /// ẑ = MAP(θ + τ_in·ε) for each sample (the multiplicative perturbation and the relaxations as their cases say).
    /// Used by parity tests that share ε with the TorchSharp backend.
    let forwardWithNoise (problem: Problem) (estimator: Estimator) (eps: float[][]) (weights: float[]) : ForwardPass =
        checkWeights problem estimator weights
        Validate.length "eps" (Estimator.sampleCount estimator) eps

        eps
        |> Array.iteri (fun i e ->
            Validate.length (sprintf "eps[%d]" i) problem.Size e
            Validate.allFinite (sprintf "eps[%d]" i) e)

        let theta = Problem.toScores problem weights

        { Weights = Array.copy weights
          Scores = theta
          Noise = Array.map Array.copy eps
          States = eps |> Array.map (forwardState problem estimator weights theta) }

    /// The forward pass of the score function with given exact samples (one state per sample).
    let forwardWithStates
        (problem: Problem)
        (estimator: Estimator)
        (states: float[][])
        (weights: float[])
        : ForwardPass =
        checkWeights problem estimator weights
        Validate.length "states" (Estimator.sampleCount estimator) states

        states
        |> Array.iteri (fun i z -> Validate.length (sprintf "states[%d]" i) problem.Size z)

        { Weights = Array.copy weights
          Scores = Problem.toScores problem weights
          Noise = states |> Array.map (fun _ -> [||])
          States = Array.map Array.copy states }

    /// The forward pass: draws ε (fresh per sample, from `rng`) and computes the forward states; the estimators with
    /// exact samples draw them instead (the score function at τ = 1, SIMPLE and SFESS from the k-subset distribution at
    /// their τ, ReinMax and the categorical straight-through from softmax(θ)); the regularised Frank–Wolfe state is
    /// deterministic.
    let forward (problem: Problem) (estimator: Estimator) (rng: Random) (weights: float[]) : ForwardPass =
        Estimator.validate estimator |> ignore

        Validate.notNull "rng" rng

        let samples = Estimator.sampleCount estimator

        let exact (draw: float[] -> float[]) =
            checkWeights problem estimator weights
            let theta = Problem.toScores problem weights
            let states = Array.init samples (fun _ -> draw theta)
            forwardWithStates problem estimator states weights

        match estimator with
        | ScoreFunction _ -> exact (fun _ -> Exact.sampleOf problem 1.0 rng weights)
        | Simple tau
        | Sfess(tau, _) -> exact (KSubset.sample tau (subsetSize problem estimator) rng)
        | ReinMax _
        | SoftmaxStraightThrough -> exact (ReinMax.sample rng)
        | RegularizedFrankWolfe o -> exact (fun _ -> (FrankWolfe.solve problem o weights).Solution)
        | _ ->
            let noise = forwardNoiseOf estimator
            let eps = Array.init samples (fun _ -> Noise.sample noise rng problem.Size)
            forwardWithNoise problem estimator eps weights

    let private toWeightGradient (problem: Problem) (gradTheta: float[]) = Problem.ofScores problem gradTheta

    let private project (projection: Projection) (g: float[]) =
        match projection with
        | NoProjection -> Array.copy g
        | MeanCentre ->
            let mean = Array.average g
            Array.map (fun x -> x - mean) g
        | Standardise ->
            let mean = Array.average g
            let sd = sqrt (Array.averageBy (fun x -> (x - mean) * (x - mean)) g)

            if sd = 0.0 then
                Array.map (fun x -> x - mean) g
            else
                Array.map (fun x -> (x - mean) / sd) g

    /// I-MLE's per-sample differences z − MAP(θ' + τ_t·ε) (or ½(MAP(θ + λ·dL/dz + τ_t·ε) − MAP(θ − λ·dL/dz + τ_t·ε)) for
    /// the symmetric variant), before any scaling, with the forward pass's ε.
    let private imleDifferences
        (problem: Problem)
        (o: ImleOptions)
        (pass: ForwardPass)
        (dyOf: int -> float[])
        (lambda: float)
        =
        let theta = pass.Scores

        Array.init pass.States.Length (fun s ->
            let dy = dyOf s

            let perturbed direction =
                let target = Target.build o.Target lambda direction theta dy
                Problem.solveScores problem (add target pass.Noise.[s] o.TargetTemperature)

            if o.Symmetric then
                Array.map2 (fun a b -> 0.5 * (a - b)) (perturbed -1.0) (perturbed 1.0)
            else
                Array.map2 (-) pass.States.[s] (perturbed 1.0))

    let private checkGradients (problem: Problem) (pass: ForwardPass) (gradients: float[][]) =
        Validate.notNull "gradients" gradients
        let samples = pass.States.Length

        if gradients.Length <> 1 && gradients.Length <> samples then
            invalidArg "gradients" (sprintf "gradients must hold 1 or S = %d vectors; got %d." samples gradients.Length)

        gradients
        |> Array.iteri (fun i g ->
            Validate.length (sprintf "gradients[%d]" i) problem.Size g
            Validate.allFinite (sprintf "gradients[%d]" i) g)

        fun s ->
            if gradients.Length = 1 then
                gradients.[0]
            else
                gradients.[s]

    let private mean (size: int) (vs: float[][]) =
        Array.init size (fun i -> vs |> Array.averageBy (fun v -> v.[i]))

    /// The I-MLE estimate dL/dθ and the adaptive state after it. λ comes from the target (for the adaptive target: from
    /// `adaptive`, with ‖θ‖ of the instance and ‖dL/dz‖ over all S samples, as torch-adaptive-imle computes them); the
    /// differences are divided by λ when the options say so and λ > 0.
    let private imle
        (problem: Problem)
        (o: ImleOptions)
        (adaptive: AdaptiveState option)
        (pass: ForwardPass)
        (dyOf: int -> float[])
        =
        let samples = pass.States.Length

        let gradientNorm =
            sqrt (
                Seq.sum (
                    seq {
                        for s in 0 .. samples - 1 do
                            for g in dyOf s -> g * g
                    }
                )
            )

        let lambda =
            Target.lambdaFor o.Target adaptive (Target.norm pass.Scores) gradientNorm

        let diffs = imleDifferences problem o pass dyOf lambda

        let next =
            match o.Target, adaptive with
            | Adaptive settings, Some state ->
                let nonZero =
                    diffs |> Array.averageBy (Array.sumBy (fun x -> if x <> 0.0 then 1.0 else 0.0))

                Some(AdaptiveLambda.update settings state nonZero)
            | _ -> adaptive

        let scale =
            match o.Scaling with
            | DivideByLambda when lambda > 0.0 -> 1.0 / lambda
            | _ -> 1.0

        mean problem.Size diffs |> Array.map (fun d -> d * scale), next

    /// The perturbed optimizer's Jacobian-vector product in maximisation terms (the multiplicative one's is taken in the
    /// problem's own sense and mapped back, so the caller maps every case the same way): additive (Berthet et al.)
    /// (1/S)·Σ ⟨yₛ, v⟩·∇ν(εₛ/σ)/σ with ∇ν(Z) = Z (Normal) or 1 − e^(−Z) (Gumbel); multiplicative (Dalle et al.)
    /// (1/S)·Σ ⟨yₛ, v⟩·Zₛ ⊘ (σ·w); yₛ replaced by the control variate's yₛ − ȳ₋ₛ when it is on.
    let private perturbed (problem: Problem) (o: PerturbedOptions) (pass: ForwardPass) (dyOf: int -> float[]) =
        let samples = pass.States.Length
        let ys = ControlVariate.apply o.ControlVariate pass.States

        let dot s =
            Array.fold2 (fun acc y v -> acc + y * v) 0.0 ys.[s] (dyOf s)

        match o.Perturbation with
        | Additive noise ->
            let sigma = PerturbedOptions.additiveScale noise

            let gradNu =
                match noise with
                | Gumbel _ -> fun z -> 1.0 - exp (-z)
                | _ -> id

            mean
                problem.Size
                (Array.init samples (fun s ->
                    let d = dot s
                    pass.Noise.[s] |> Array.map (fun e -> d * gradNu (e / sigma) / sigma)))
        | Multiplicative sigma ->
            mean
                problem.Size
                (Array.init samples (fun s ->
                    let d = dot s
                    Array.map2 (fun z w -> d * z / (w * sigma)) pass.Noise.[s] pass.Weights))
            |> toWeightGradient problem

    let private backwardCore
        (problem: Problem)
        (estimator: Estimator)
        (adaptive: AdaptiveState option)
        (pass: ForwardPass)
        (gradients: float[][])
        =
        let dyOf = checkGradients problem pass gradients
        let samples = pass.States.Length

        if pass.Weights.Length <> problem.Size then
            invalidArg
                "pass"
                (sprintf
                    "the forward pass was made for %d weights; the problem has %d."
                    pass.Weights.Length
                    problem.Size)

        let gradTheta, next =
            match estimator with
            | Imle o -> imle problem o adaptive pass dyOf
            | Blackbox lambda ->
                // Footnote 10 of the paper: blackbox differentiation is I-MLE with δ₀ noise and the PID target.
                imle problem (ImleOptions.Blackbox lambda) None pass dyOf
            | Identity(projection, _) ->
                mean problem.Size (Array.init samples (fun s -> project projection (dyOf s))), adaptive
            | StraightThrough _ -> mean problem.Size (Array.init samples dyOf), adaptive
            | Perturbed o -> perturbed problem o pass dyOf, adaptive
            | ScoreFunction _ ->
                // REINFORCE at τ = 1 with the reward ⟨dL/dz, z⟩ and a leave-one-out baseline over the S samples:
                // (1/S)·Σ (rₛ − r̄₋ₛ)(zₛ − μ(θ)).
                let rewards =
                    Array.init samples (fun s -> Array.fold2 (fun acc z v -> acc + z * v) 0.0 pass.States.[s] (dyOf s))

                let total = Array.sum rewards
                let mu = Exact.marginalsOf problem 1.0 pass.Weights

                mean
                    problem.Size
                    (Array.init samples (fun s ->
                        let baseline =
                            if samples > 1 then
                                (total - rewards.[s]) / float (samples - 1)
                            else
                                0.0

                        Array.map2 (fun z u -> (rewards.[s] - baseline) * (z - u)) pass.States.[s] mu)),
                adaptive
            | GumbelSoftmax tau ->
                RelaxedReference.gumbelSoftmaxBackward tau pass.Scores pass.Noise.[0] (dyOf 0), adaptive
            | RelaxedTopK tau ->
                RelaxedReference.topKBackward (subsetSize problem estimator) tau pass.Scores pass.Noise.[0] (dyOf 0),
                adaptive
            | Simple tau ->
                KSubsetEstimators.simpleBackward tau (subsetSize problem estimator) pass.Scores (dyOf 0), adaptive
            | Sfess(tau, _) ->
                let rewards =
                    Array.init samples (fun s -> Array.fold2 (fun acc z v -> acc + z * v) 0.0 pass.States.[s] (dyOf s))

                KSubsetEstimators.sfessOf tau (subsetSize problem estimator) pass.Scores pass.States rewards, adaptive
            | ReinMax tau -> ReinMax.backward tau pass.Scores pass.States.[0] (dyOf 0), adaptive
            | SoftmaxStraightThrough -> ReinMax.straightThroughBackward pass.Scores (dyOf 0), adaptive
            | RegularizedFrankWolfe o ->
                let result =
                    pass.Scores
                    |> Array.map (fun t -> t / o.Lambda)
                    |> FrankWolfe.solveTarget problem o

                FrankWolfe.backwardScores o result (dyOf 0), adaptive

        toWeightGradient problem gradTheta, next

    let private isAdaptive (estimator: Estimator) =
        match estimator with
        | Imle { Target = Adaptive _ } -> true
        | _ -> false

    /// The backward pass: dL/dz → dL/dw. `gradients` holds dL/dz for each sample, or a single vector used for every
    /// sample (a layer that returns the sample mean passes its upstream gradient as is: the estimate is the mean of
    /// the per-sample estimates). I-MLE reuses the forward pass's ε (Algorithm 1). An adaptive target keeps state
    /// between passes: use `backwardAdaptive`.
    let backward (problem: Problem) (estimator: Estimator) (pass: ForwardPass) (gradients: float[][]) : float[] =
        if isAdaptive estimator then
            invalidArg
                "estimator"
                "An adaptive-λ target (AIMLE) carries β from one backward pass to the next: use Reference.backwardAdaptive with its state."

        fst (backwardCore problem estimator None pass gradients)

    /// The backward pass of an estimator with an adaptive-λ target (AIMLE): takes the state before this pass and returns
    /// dL/dw with the state after it (β moved once per pass, as torch-adaptive-imle does).
    let backwardAdaptive
        (problem: Problem)
        (estimator: Estimator)
        (state: AdaptiveState)
        (pass: ForwardPass)
        (gradients: float[][])
        : float[] * AdaptiveState =
        if not (isAdaptive estimator) then
            invalidArg
                "estimator"
                (sprintf
                    "backwardAdaptive needs an I-MLE estimator with an adaptive target; got %s."
                    (Estimator.describe estimator))

        match backwardCore problem estimator (Some state) pass gradients with
        | g, Some next -> g, next
        | g, None -> g, state

    /// Forward and backward in one call for a loss with a known gradient at the output: returns the forward pass and
    /// dL/dw, where dL/dz = `lossGradient ẑ` for each sample.
    let estimate
        (problem: Problem)
        (estimator: Estimator)
        (rng: Random)
        (weights: float[])
        (lossGradient: float[] -> float[])
        =
        let pass = forward problem estimator rng weights
        let grads = pass.States |> Array.map lossGradient
        pass, backward problem estimator pass grads

    /// The score-function (REINFORCE) estimate (1/S)·Σ ℓ(zₛ)·∇θ log p(zₛ; θ) = (1/S)·Σ ℓ(zₛ)(zₛ − μ(θ))/τ with exact
    /// samples at temperature τ, and a leave-one-out baseline when S > 1 (still unbiased). Needs an enumerable
    /// problem. Returns the gradient w.r.t. the weights in the problem's sense.
    let scoreFunction
        (problem: Problem)
        (tau: float)
        (samples: int)
        (rng: Random)
        (weights: float[])
        (loss: float[] -> float)
        : float[] =
        Validate.positive "tau" tau
        Validate.intAtLeast "samples (S)" 1 samples
        Validate.length "weights" problem.Size weights
        Validate.allFinite "weights" weights
        let theta = Problem.toScores problem weights
        let states = Problem.states problem
        let mu = Exact.marginals tau states theta
        let zs = Array.init samples (fun _ -> Exact.sample tau states rng theta)
        let ls = zs |> Array.map loss
        let total = Array.sum ls
        let g = Array.zeroCreate problem.Size

        for s in 0 .. samples - 1 do
            let baseline =
                if samples > 1 then
                    (total - ls.[s]) / float (samples - 1)
                else
                    0.0

            let w = (ls.[s] - baseline) / tau / float samples

            for i in 0 .. g.Length - 1 do
                g.[i] <- g.[i] + w * (zs.[s].[i] - mu.[i])

        toWeightGradient problem g
