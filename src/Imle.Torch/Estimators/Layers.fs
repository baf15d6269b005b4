namespace Imle.Torch

open System
open TorchSharp
open Imle

/// What a layer does in eval mode.
type EvalBehaviour =
    /// The MAP state without noise (the default).
    | MapInEval
    /// The same noisy forward pass as in training (e.g. to sample at test time).
    | SampleInEval

/// How a `DiscreteLayer` behaves besides its problem and estimator: a record with defaults, so no call site passes
/// bare booleans or positional numbers.
type LayerOptions =
    {
        /// Seed of the layer's own generator (used when `Generator` is None).
        Seed: int64
        /// A generator to draw the noise from instead of one seeded by `Seed` (e.g. on a CUDA device).
        Generator: torch.Generator option
        /// The mean over samples (default) or all samples.
        Output: SampleOutput
        /// MAP (default) or sampling in eval mode.
        Eval: EvalBehaviour
        /// Threads for the CPU solver rows (default: one per core).
        Parallelism: int
        /// The module's name.
        Name: string
    }

    /// Seed 0, mean over samples, MAP in eval mode, one solver thread per core.
    static member Default =
        { Seed = 0L
          Generator = None
          Output = MeanOfSamples
          Eval = MapInEval
          Parallelism = TensorSolve.defaultParallelism
          Name = "DiscreteLayer" }

    /// With another seed.
    member this.WithSeed(seed: int64) = { this with Seed = seed }

/// A discrete layer as a TorchSharp module: weights in (scores or costs, per the problem's sense), states out, with the
/// chosen estimator's backward pass. In training mode it perturbs and samples; in eval mode it returns the MAP state
/// without noise (unless `Eval = SampleInEval`). Per-call state lives in the autograd context, so one layer may be used
/// for many forward passes before their backward passes. The layer owns its generator and, for an adaptive target,
/// its β; concurrent use from several threads is refused with an InvalidOperationException rather than racing. The
/// estimator and options are checked when the layer is built, so a bad one fails there (a blank `Name` too). The C#
/// façade's layer derives from this type, so both languages hold one module.
type DiscreteLayer(problem: Problem, estimator: Estimator, options: LayerOptions) =
    inherit
        torch.nn.Module<Tensor, Tensor>(
            (Validate.nonBlank "Name" options.Name
             options.Name)
        )

    do
        if isNull (box problem) then
            nullArg "problem"

        Estimator.validate estimator |> ignore
        Validate.intAtLeast "Parallelism" 1 options.Parallelism

    let generator =
        match options.Generator with
        | Some g when isNull g -> nullArg "Generator"
        | Some g -> g
        | None -> new torch.Generator(uint64 options.Seed)

    let mutable busy = 0
    // The adaptive-λ state lives here, next to the generator: never in the estimator value.
    let adaptive =
        match estimator with
        | Imle { Target = Adaptive settings } -> Some(AdaptiveLambdaCell settings)
        | _ -> None

    let callOptions =
        { Output = options.Output
          Parallelism = options.Parallelism
          Adaptive = adaptive }

    /// A layer with default options and the given seed.
    new(problem: Problem, estimator: Estimator, seed: int64) =
        new DiscreteLayer(problem, estimator, LayerOptions.Default.WithSeed seed)

    /// The problem solved by this layer.
    member _.Problem = problem
    /// The estimator used in training mode.
    member _.Estimator = estimator
    /// The layer's options.
    member _.Options = options
    /// The generator the noise is drawn from.
    member _.Generator = generator
    /// The layer's adaptive-λ state (β and moving average) when its estimator has an adaptive target.
    member _.Adaptive: AdaptiveLambdaCell option = adaptive

    /// Forward pass: weights [..batch, ...problem.Shape] → states.
    override this.forward(weights: Tensor) : Tensor =
        if Threading.Interlocked.Exchange(&busy, 1) = 1 then
            invalidOp
                "DiscreteLayer.forward was called from two threads at once; a layer's generator is not shared across threads. Use one layer per thread."

        try
            if this.training || options.Eval = SampleInEval then
                Discrete.apply callOptions problem estimator generator weights
            else
                Shapes.batchDims "weights" problem weights |> ignore
                Discrete.mapValidated options.Parallelism problem weights
        finally
            busy <- 0

/// The settings of a ready-made I-MLE k-subset layer.
type KSubsetLayerOptions =
    {
        /// λ of the PID target (> 0).
        Lambda: float
        /// The number of samples S (≥ 1); the layer returns their mean.
        Samples: int
        /// Seed of the layer's generator.
        Seed: int64
    }

    /// λ = 10, one sample, seed 0.
    static member Default =
        { Lambda = 10.0
          Samples = 1
          Seed = 0L }

/// Ready-made layers.
[<RequireQualifiedAccess>]
module Layers =

    /// An I-MLE k-subset layer: scores [B, m] → k-hot states [B, m], SoG(k, 1, 10) noise, the PID target, the mean over
    /// S samples: `Layers.kSubset 10 3 { KSubsetLayerOptions.Default with Lambda = 10.0; Samples = 5; Seed = 42L }`.
    let kSubset (m: int) (k: int) (options: KSubsetLayerOptions) : DiscreteLayer =
        let problem = Problem.kSubset m k

        let imle =
            { ImleOptions.Create(float k, options.Lambda) with
                Samples = options.Samples }

        new DiscreteLayer(problem, Imle imle, LayerOptions.Default.WithSeed options.Seed)

    /// A layer for any problem and estimator with the given options.
    let create (problem: Problem) (estimator: Estimator) (options: LayerOptions) : DiscreteLayer =
        new DiscreteLayer(problem, estimator, options)
