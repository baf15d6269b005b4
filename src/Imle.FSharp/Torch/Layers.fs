namespace Imle.Torch

open System
open TorchSharp
open Imle

/// A discrete layer as a TorchSharp module: weights in (scores or costs, per the problem's sense), states out, with the
/// chosen estimator's backward pass. In training mode it perturbs and samples; in eval mode it returns the MAP state
/// without noise (unless `noiseInEval`). Per-call state lives in the autograd context, so one layer may be used for
/// many forward passes before their backward passes; the layer's generator is shared, so concurrent use from several
/// threads is refused with an InvalidOperationException rather than silently racing.
type DiscreteLayer(problem: Problem, estimator: Estimator, generator: torch.Generator, meanOutput: bool, noiseInEval: bool, name: string) =
    inherit torch.nn.Module<Tensor, Tensor>(name)
    do
        Estimator.validate estimator |> ignore
        if isNull generator then nullArg "generator"
    let mutable busy = 0
    // The adaptive-λ state lives here, next to the generator: never in the estimator value.
    let adaptive =
        match estimator with
        | Imle { Target = Adaptive settings } -> Some(AdaptiveLambdaCell settings)
        | _ -> None

    /// A layer with its own generator seeded by `seed`, returning the mean over samples, MAP in eval mode.
    new(problem: Problem, estimator: Estimator, seed: int64) =
        new DiscreteLayer(problem, estimator, new torch.Generator(uint64 seed), true, false, "DiscreteLayer")

    /// The problem solved by this layer.
    member _.Problem = problem
    /// The estimator used in training mode.
    member _.Estimator = estimator
    /// The generator the noise is drawn from.
    member _.Generator = generator
    /// The layer's adaptive-λ state (β and moving average) when its estimator has an adaptive target.
    member _.Adaptive : AdaptiveLambdaCell option = adaptive

    /// Forward pass: weights [..batch, ...problem.Shape] → states.
    override this.forward(weights: Tensor) : Tensor =
        if Threading.Interlocked.Exchange(&busy, 1) = 1 then
            invalidOp "DiscreteLayer.forward was called from two threads at once; a layer's generator is not shared across threads. Use one layer per thread."
        try
            if this.training || noiseInEval then Discrete.applyWithState adaptive problem estimator generator meanOutput weights
            else Discrete.map problem weights
        finally
            busy <- 0

/// Ready-made layers.
[<RequireQualifiedAccess>]
module Layers =

    /// An I-MLE k-subset layer: scores [B, m] → k-hot states [B, m], SoG(k, τ, 10) noise, PID λ, mean over S samples.
    let kSubset (m: int) (k: int) (lambda: float) (samples: int) (seed: int64) : DiscreteLayer =
        let problem = Problem.kSubset m k
        let options = { ImleOptions.Create(float k, lambda) with Samples = samples }
        new DiscreteLayer(problem, Imle options, seed)

    /// A layer for any problem and estimator.
    let create (problem: Problem) (estimator: Estimator) (seed: int64) : DiscreteLayer =
        new DiscreteLayer(problem, estimator, seed)
