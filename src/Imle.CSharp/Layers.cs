using System;
using TorchSharp;
using static TorchSharp.torch;

namespace Imle.CSharp;

/// <summary>A discrete layer as a TorchSharp module: weights in (scores or costs, per the problem's sense), states out,
/// with the estimator's backward pass. In training mode it perturbs and samples; in eval mode it returns the MAP state
/// without noise. Weights have shape [..batch, ...problem shape]. It is the F# library's layer
/// (<c>Imle.Torch.DiscreteLayer</c>, one module) with the problem and estimator as the façade's types. Create one with
/// <see cref="ImleLayers"/> or <see cref="DiscreteLayers"/>.</summary>
public sealed class DiscreteLayer : Imle.Torch.DiscreteLayer
{
    internal DiscreteLayer(Problem problem, GradientEstimator estimator, Imle.Torch.LayerOptions options)
        : base(Guard.NotNull(problem, nameof(problem)).Value, Guard.NotNull(estimator, nameof(estimator)).Value, options)
    {
        Problem = problem;
        Estimator = estimator;
    }

    /// <summary>The problem the layer solves.</summary>
    public new Problem Problem { get; }

    /// <summary>The estimator used in training mode.</summary>
    public new GradientEstimator Estimator { get; }

    /// <summary>The current β of an adaptive-λ target (it moves during training); null for the other estimators.</summary>
    public double? AdaptiveBeta => AdaptiveCell?.State.Beta;

    /// The layer's adaptive-λ state (for checkpoints); null unless the estimator has an adaptive target.
    internal Imle.Torch.AdaptiveLambdaCell? AdaptiveCell =>
        Microsoft.FSharp.Core.FSharpOption<Imle.Torch.AdaptiveLambdaCell>.get_IsSome(Adaptive) ? Adaptive.Value : null;
}

/// <summary>Ready-made I-MLE layers.</summary>
public static class ImleLayers
{
    /// <summary>An I-MLE k-subset layer: scores [B, m] → k-hot states [B, m], with SoG(k, 1, 10) noise, the PID target
    /// with λ and the mean over S samples.</summary>
    /// <param name="m">The number of items, ≥ 1.</param>
    /// <param name="k">The subset size, in [1, m].</param>
    /// <param name="lambda">λ &gt; 0 of the PID target.</param>
    /// <param name="samples">S ≥ 1.</param>
    /// <param name="seed">The seed of the layer's generator.</param>
    /// <returns>The layer.</returns>
    /// <exception cref="ArgumentOutOfRangeException">An argument is outside its range.</exception>
    public static DiscreteLayer KSubset(int m, int k, double lambda = 10.0, int samples = 1, long seed = 0)
    {
        var problem = Problems.KSubset(m, k);
        var estimator = Estimators.Imle(kappa: k, lambda: lambda).WithSamples(samples);
        return DiscreteLayers.Create(problem, estimator, seed);
    }
}

/// <summary>Discrete layers for any problem and estimator.</summary>
public static class DiscreteLayers
{
    /// <summary>A layer solving <paramref name="problem"/> with <paramref name="estimator"/>'s gradient.</summary>
    /// <param name="problem">The problem; see <see cref="Problems"/>.</param>
    /// <param name="estimator">The estimator; see <see cref="Estimators"/>.</param>
    /// <param name="seed">The seed of the layer's generator.</param>
    /// <param name="output">For I-MLE with S samples: their mean (default) or all of them as [..batch, S, ...shape].</param>
    /// <param name="eval">In eval mode: plain MAP (default) or the same noisy sampling as in training.</param>
    /// <param name="parallelism">Threads for CPU solver rows (default: one per core).</param>
    /// <param name="name">The module's name.</param>
    /// <returns>The layer.</returns>
    /// <exception cref="ArgumentException">The estimator's settings are invalid or <paramref name="name"/> is blank
    /// (the F# library checks both, with the parameter named <c>Name</c>).</exception>
    public static DiscreteLayer Create(Problem problem, GradientEstimator estimator, long seed = 0,
        SampleOutput output = SampleOutput.Mean, EvalBehaviour eval = EvalBehaviour.Map, int? parallelism = null,
        string name = "DiscreteLayer")
    {
        var options = new Imle.Torch.LayerOptions(seed, Microsoft.FSharp.Core.FSharpOption<Generator>.None,
            Options.Output(output), eval == EvalBehaviour.Sample ? Imle.Torch.EvalBehaviour.SampleInEval : Imle.Torch.EvalBehaviour.MapInEval,
            parallelism ?? Imle.Torch.TensorSolve.defaultParallelism, name);
        return new DiscreteLayer(problem, estimator, options);
    }
}
