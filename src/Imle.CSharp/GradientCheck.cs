using System;
using Microsoft.FSharp.Core;
using static TorchSharp.torch;

namespace Imle.CSharp;

/// <summary>The result of comparing an estimator's expected gradient with the exact gradient ∇ E_p[ℓ(z)].</summary>
/// <param name="Problem">The problem's name.</param>
/// <param name="Estimator">The estimator's description.</param>
/// <param name="Samples">The number of Monte Carlo gradient draws.</param>
/// <param name="Cosine">Cosine similarity between the mean estimate and the exact gradient (1 = same direction).</param>
/// <param name="RelativeBias">‖ĝ − g‖ / ‖g‖ (includes Monte Carlo error).</param>
/// <param name="Variance">The total variance E‖gₙ − ĝ‖² of a single draw.</param>
/// <param name="ExactGradient">The exact gradient w.r.t. the weights.</param>
/// <param name="MeanGradient">The Monte Carlo mean of the estimator's gradients.</param>
public sealed record GradientCheckResult(
    string Problem,
    string Estimator,
    int Samples,
    double Cosine,
    double RelativeBias,
    double Variance,
    double[] ExactGradient,
    double[] MeanGradient);

/// <summary>A gradient check: for a small problem (enumerable, or any k-subset) and a loss, estimate an estimator's
/// expected gradient by Monte Carlo and compare it with the exact gradient at temperature τ = 1.</summary>
public static class GradientCheck
{
    /// <summary>Runs <paramref name="samples"/> independent gradient draws in one batched pass and compares their mean
    /// with the exact gradient.</summary>
    /// <param name="problem">A small problem (enumerable or k-subset).</param>
    /// <param name="estimator">The estimator to check.</param>
    /// <param name="weights">Weights in the problem's sense.</param>
    /// <param name="loss">Maps states [..., ...problem shape] to per-state losses [...].</param>
    /// <param name="samples">The number of draws, ≥ 2.</param>
    /// <param name="seed">The seed of the generator.</param>
    /// <returns>The comparison.</returns>
    public static GradientCheckResult Run(Problem problem, GradientEstimator estimator, double[] weights,
        Func<Tensor, Tensor> loss, int samples = 1000, long seed = 0)
    {
        Guard.NotNull(problem, nameof(problem));
        Guard.NotNull(estimator, nameof(estimator));
        Guard.NotNull(loss, nameof(loss));
        var r = Imle.Torch.GradCheck.run(problem.Value, estimator.Value, weights, FuncConvert.FromFunc(loss), samples, seed);
        return new GradientCheckResult(r.Problem, r.Estimator, r.Samples, r.Cosine, r.RelativeBias, r.Variance, r.Exact, r.Mean);
    }

    /// <summary><see cref="Run"/> for the score-function estimator (REINFORCE with <paramref name="s"/> exact samples per
    /// draw) with or without its leave-one-out baseline: both unbiased, the baseline lowers the variance.</summary>
    /// <param name="problem">A small enumerable problem.</param>
    /// <param name="s">Samples per draw, ≥ 1.</param>
    /// <param name="baseline">Whether to subtract the leave-one-out baseline.</param>
    /// <param name="weights">Weights in the problem's sense.</param>
    /// <param name="loss">Maps states [..., ...problem shape] to per-state losses [...].</param>
    /// <param name="samples">The number of draws, ≥ 2.</param>
    /// <param name="seed">The seed of the generator.</param>
    /// <returns>The comparison.</returns>
    public static GradientCheckResult RunScoreFunction(Problem problem, int s, bool baseline, double[] weights,
        Func<Tensor, Tensor> loss, int samples = 1000, long seed = 0)
    {
        Guard.NotNull(problem, nameof(problem));
        Guard.NotNull(loss, nameof(loss));
        return Convert(Imle.Torch.GradCheck.runScoreFunction(problem.Value, s, baseline, weights, FuncConvert.FromFunc(loss), samples, seed));
    }

    /// <summary><see cref="Run"/> for any differentiable layer (generator, weights [N, ...shape]) → states, e.g.
    /// <see cref="Dfl.PerturbedWithBaseline"/>; the layer must draw its noise from the generator it is given.</summary>
    /// <param name="problem">A small enumerable problem (for the exact gradient).</param>
    /// <param name="name">The layer's name in the result.</param>
    /// <param name="layer">The layer.</param>
    /// <param name="weights">Weights in the problem's sense.</param>
    /// <param name="loss">Maps states [..., ...problem shape] to per-state losses [...].</param>
    /// <param name="samples">The number of draws, ≥ 2.</param>
    /// <param name="seed">The seed of the generator.</param>
    /// <returns>The comparison.</returns>
    public static GradientCheckResult RunLayer(Problem problem, string name, Func<Generator, Tensor, Tensor> layer,
        double[] weights, Func<Tensor, Tensor> loss, int samples = 1000, long seed = 0)
    {
        Guard.NotNull(problem, nameof(problem));
        Guard.NotNull(layer, nameof(layer));
        Guard.NotNull(loss, nameof(loss));
        var f = FuncConvert.FromFunc<Generator, Tensor, Tensor>(layer);
        return Convert(Imle.Torch.GradCheck.runLayer(problem.Value, name, f, weights, FuncConvert.FromFunc(loss), samples, seed));
    }

    /// <summary>The linear loss ⟨z, a⟩ per state, as a loss for <see cref="Run"/>: on one-hot or k-subset states
    /// <c>Linear(−2b)</c> has the same exact gradient as <see cref="SquaredDistance"/>(b).</summary>
    /// <param name="a">The flat coefficients (finite entries).</param>
    /// <returns>A loss over state tensors.</returns>
    public static Func<Tensor, Tensor> Linear(double[] a)
    {
        Guard.Array(a, nameof(a));
        var f = Imle.Torch.GradCheck.linear(a);
        return z => f.Invoke(z);
    }

    private static GradientCheckResult Convert(Imle.Torch.GradCheckResult r) =>
        new(r.Problem, r.Estimator, r.Samples, r.Cosine, r.RelativeBias, r.Variance, r.Exact, r.Mean);

    /// <summary>The paper's synthetic loss ‖z − b‖² per state, as a loss for <see cref="Run"/>.</summary>
    /// <param name="b">The flat target b (finite entries).</param>
    /// <returns>A loss over state tensors.</returns>
    public static Func<Tensor, Tensor> SquaredDistance(double[] b)
    {
        Guard.Array(b, nameof(b));
        var f = Imle.Torch.GradCheck.squaredDistance(b);
        return z => f.Invoke(z);
    }
}
