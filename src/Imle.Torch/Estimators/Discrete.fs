namespace Imle.Torch

open TorchSharp
open Imle

/// Options of a discrete call besides its problem, estimator, generator and weights.
type DiscreteOptions =
    {
        /// The mean over samples or all samples.
        Output: SampleOutput
        /// Threads for the CPU solver rows (≥ 1; results do not depend on it).
        Parallelism: int
        /// The adaptive-λ state an adaptive target (AIMLE) needs; None for every other estimator.
        Adaptive: AdaptiveLambdaCell option
    }

    /// Mean over samples, one solver thread per core, no adaptive state.
    static member Default =
        { Output = MeanOfSamples
          Parallelism = TensorSolve.defaultParallelism
          Adaptive = None }

/// The differentiable discrete layers as functions: each estimator's forward (MAP states, samples or their mean)
/// with its backward attached. Mirrors `Reference` (the array backend) estimator by estimator. Entry points validate
/// their arguments once; the autograd functions work on validated tensors.
[<RequireQualifiedAccess>]
module Discrete =

    /// MAP with the given solver threads, without noise or gradient, for weights validated by the caller. Like
    /// `Calls.create`, first rethrows an error a previous backward pass recorded.
    let internal mapValidated (parallelism: int) (problem: Problem) (weights: Tensor) : Tensor =
        BackwardErrors.throwIfAny ()
        use noGrad = torch.no_grad ()
        TensorSolve.solveValidated parallelism problem (weights.detach ())

    /// MAP without noise and without gradient: eval-mode output.
    let map (problem: Problem) (weights: Tensor) : Tensor =
        Shapes.batchDims "weights" problem weights |> ignore
        mapValidated TensorSolve.defaultParallelism problem weights

    /// Checks the options against the estimator (its adaptive state; parallelism ≥ 1).
    let private validateOptions (options: DiscreteOptions) (estimator: Estimator) =
        Validate.intAtLeast "Parallelism" 1 options.Parallelism

        match estimator, options.Adaptive with
        | Imle { Target = Adaptive settings }, Some cell when cell.Settings <> settings ->
            invalidArg "Adaptive" "the adaptive-λ state was made for other settings than the estimator's target."
        | Imle { Target = Adaptive _ }, None ->
            invalidArg
                "estimator"
                "An adaptive-λ target (AIMLE) keeps β between backward passes: use a DiscreteLayer (which owns that state) or pass one in DiscreteOptions.Adaptive."
        | _ -> ()

    /// The k of a k-subset problem for the estimators that need one (relaxed top-k, SIMPLE, SFESS).
    let private subsetSize (problem: Problem) (estimator: Estimator) =
        match Estimator.requireKind problem estimator with
        | Some k -> k
        | None -> invalidArg "estimator" (sprintf "%s needs a k-subset problem." (Estimator.describe estimator))

    /// Applies an estimator to weights [..batch, ...shape] in the problem's sense, with the estimator's backward pass
    /// attached. `options` says what comes back and how (`DiscreteOptions.Default`: the mean over the samples, shaped
    /// like the weights; `Output = AllSamples` for all samples; solver threads; the adaptive-λ state an AIMLE target
    /// needs, which a `DiscreteLayer` keeps for you). Noise is drawn from `generator` only. Every argument is checked
    /// on every call (the estimator's checks are a few comparisons, nothing beside a forward pass).
    let apply
        (options: DiscreteOptions)
        (problem: Problem)
        (estimator: Estimator)
        (generator: torch.Generator)
        (weights: Tensor)
        : Tensor =
        Estimator.validate estimator |> ignore
        validateOptions options estimator
        // The one forward every estimator and layer passes through: surfaces an earlier backward error.
        BackwardErrors.throwIfAny ()

        if isNull generator then
            nullArg "generator"

        let dims = Shapes.batchDims "weights" problem weights
        let b = Shapes.batchSize dims
        let m = int64 problem.Size

        let call details =
            Calls.create problem dims options.Parallelism details

        let eps () =
            match Estimator.forwardNoise estimator with
            | Some noise ->
                TensorNoise.sample
                    noise
                    generator
                    [| b; int64 (Estimator.sampleCount estimator); m |]
                    weights.dtype
                    weights.device
            | None -> invalidOp "unreachable: the estimator has no perturb-and-MAP forward pass"

        match estimator with
        | Imle o ->
            let adaptive =
                match o.Target with
                | Adaptive _ -> options.Adaptive
                | _ -> None

            let details =
                { Options = o
                  Eps = eps ()
                  Output = options.Output
                  Adaptive = adaptive }

            ImleFunction.apply (weights, call details)
        | Blackbox lambda ->
            let details =
                { Options = ImleOptions.Blackbox lambda
                  Eps = eps ()
                  Output = MeanOfSamples
                  Adaptive = None }

            ImleFunction.apply (weights, call details)
        | Identity(projection, _) -> IdentityFunction.apply (weights, call (projection, eps ()))
        | StraightThrough _ -> IdentityFunction.apply (weights, call (NoProjection, eps ()))
        | Perturbed({ Perturbation = Additive _ } as o) -> PerturbedFunction.apply (weights, call (o, eps ()))
        | Perturbed({ Perturbation = Multiplicative sigma } as o) ->
            MultiplicativeCalls.checkNonZero "weights" weights
            MultiplicativePerturbedFunction.apply (weights, call (o, sigma, eps ()))
        | ScoreFunction samples ->
            let zs = ExactTensor.sample problem 1.0 samples generator weights
            ScoreFunctionFunction.apply (weights, call 1.0, zs)
        | GumbelSoftmax tau ->
            Estimator.requireKind problem estimator |> ignore
            use theta = Shapes.toScores problem weights
            Relaxed.gumbelSoftmax tau generator theta
        | RelaxedTopK tau ->
            let k = subsetSize problem estimator
            use theta = (Shapes.toScores problem weights).reshape(b, m)
            (Relaxed.topK k tau generator theta).reshape(weights.shape)
        | Simple tau ->
            let k = subsetSize problem estimator
            use theta = (Shapes.toScores problem weights).reshape(b, m)
            use z = KSubsetTensor.simple tau k generator theta
            z.reshape (weights.shape)
        | Sfess(tau, samples) ->
            let k = subsetSize problem estimator
            use theta = (Shapes.toScores problem weights).reshape(b, m)
            use zs = KSubsetTensor.sfess tau k samples generator theta

            match options.Output with
            | MeanOfSamples -> zs.mean([| 1L |]).reshape(weights.shape)
            | AllSamples -> zs.reshape (Array.concat [ dims; [| int64 samples |]; Array.map int64 problem.Shape ])
        | ReinMax tau ->
            Estimator.requireKind problem estimator |> ignore
            use theta = (Shapes.toScores problem weights).reshape(b, m)
            use d = ReinMaxTensor.reinmax tau generator theta
            d.reshape (weights.shape)
        | SoftmaxStraightThrough ->
            Estimator.requireKind problem estimator |> ignore
            use theta = (Shapes.toScores problem weights).reshape(b, m)
            use d = ReinMaxTensor.straightThrough generator theta
            d.reshape (weights.shape)
        | RegularizedFrankWolfe o -> FrankWolfeTensor.apply problem o weights
