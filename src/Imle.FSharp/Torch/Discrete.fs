namespace Imle.Torch

open System
open TorchSharp
open Imle

/// The differentiable discrete layers as functions: each estimator's forward (MAP states, samples or their mean)
/// with its backward attached.
[<RequireQualifiedAccess>]
module Discrete =

    /// MAP without noise and without gradient: eval-mode output.
    let map (problem: Problem) (weights: Tensor) : Tensor =
        BackwardErrors.throwIfAny ()
        Shapes.batchDims "weights" problem weights |> ignore
        use noGrad = torch.no_grad()
        TensorSolve.solve problem (weights.detach())

    let private noiseTensor (noise: Noise) (generator: torch.Generator) (shape: int64[]) (like: Tensor) =
        TensorNoise.sample noise generator shape like.dtype like.device

    /// `apply` with the adaptive-λ state an adaptive target needs (None for every other estimator); the state is
    /// updated by the backward pass.
    let applyWithState (adaptive: AdaptiveLambdaCell option) (problem: Problem) (estimator: Estimator) (generator: torch.Generator) (meanOutput: bool) (weights: Tensor) : Tensor =
        BackwardErrors.throwIfAny ()
        match estimator, adaptive with
        | Imle { Target = Adaptive settings }, Some cell when cell.Settings <> settings ->
            invalidArg "adaptive" "the adaptive-λ state was made for other settings than the estimator's target."
        | Imle { Target = Adaptive _ }, None ->
            invalidArg "estimator" "An adaptive-λ target (AIMLE) keeps β between backward passes: use a DiscreteLayer (which owns that state) or Discrete.applyWithState."
        | _ -> ()
        Estimator.validate estimator |> ignore
        if isNull generator then nullArg "generator"
        let dims = Shapes.batchDims "weights" problem weights
        let b = Shapes.batchSize dims
        let m = int64 problem.Size
        match estimator with
        | Imle o ->
            let eps = noiseTensor o.Noise generator [| b; int64 o.Samples; m |] weights
            let cell = match o.Target with Adaptive _ -> adaptive | _ -> None
            ImleFunction.apply(weights, ({ Problem = problem; Options = o; Eps = eps; MeanOutput = meanOutput; BatchDims = dims; Adaptive = cell }: ImleCall))
        | Blackbox lambda ->
            let eps = torch.zeros([| b; 1L; m |], dtype = weights.dtype, device = weights.device)
            ImleFunction.apply(weights, ({ Problem = problem; Options = ImleOptions.Blackbox lambda; Eps = eps; MeanOutput = true; BatchDims = dims; Adaptive = None }: ImleCall))
        | Identity(projection, noise) ->
            use eps = noiseTensor noise generator weights.shape weights
            IdentityFunction.apply(weights, ({ Problem = problem; Projection = projection; Eps = eps; BatchDims = dims }: IdentityCall))
        | StraightThrough noise ->
            use eps = noiseTensor noise generator weights.shape weights
            IdentityFunction.apply(weights, ({ Problem = problem; Projection = NoProjection; Eps = eps; BatchDims = dims }: IdentityCall))
        | Perturbed(noise, samples) ->
            let eps = noiseTensor noise generator [| b; int64 samples; m |] weights
            PerturbedFunction.apply(weights, ({ Problem = problem; Noise = noise; Eps = eps; BatchDims = dims }: PerturbedCall))
        | ScoreFunction samples ->
            use theta = Shapes.toScores problem weights
            let zs = ExactTensor.sample problem 1.0 samples generator theta
            ScoreFunctionFunction.apply(weights, ({ Problem = problem; Tau = 1.0; BatchDims = dims }: ScoreFunctionCall), zs)
        | GumbelSoftmax tau ->
            match problem.Kind with
            | CategoricalKind -> ()
            | _ -> invalidArg "estimator" (sprintf "Gumbel-softmax needs a categorical problem; got '%s'." problem.Name)
            use theta = Shapes.toScores problem weights
            Relaxed.gumbelSoftmax tau generator theta
        | RelaxedTopK tau ->
            let k =
                match problem.Kind with
                | KSubsetKind k -> k
                | _ -> invalidArg "estimator" (sprintf "The relaxed top-k needs a k-subset problem; got '%s'." problem.Name)
            use theta = (Shapes.toScores problem weights).reshape(b, m)
            (Relaxed.topK k tau generator theta).reshape(weights.shape)

    /// Applies an estimator to weights [..batch, ...shape] in the problem's sense. `meanOutput` chooses between the
    /// mean over the S samples ([..batch, ...shape]) and all samples ([..batch, S, ...shape]) for I-MLE; perturbed
    /// optimizers and the score function always return the mean. Noise is drawn from `generator` only. An adaptive-λ
    /// target needs state: use a `DiscreteLayer` or `applyWithState`.
    let apply (problem: Problem) (estimator: Estimator) (generator: torch.Generator) (meanOutput: bool) (weights: Tensor) : Tensor =
        applyWithState None problem estimator generator meanOutput weights
