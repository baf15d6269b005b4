using System;
using Microsoft.FSharp.Core;

namespace Imle.CSharp;

/// <summary>Exact quantities of a problem's exponential family p(z; θ) ∝ exp(⟨z, θ⟩/τ) at weights in the problem's own
/// sense (θ = −c for minimisation). k-subset problems use an O(m·k) dynamic programme where one exists; other
/// problems must be enumerable (small).</summary>
public static class Exact
{
    /// <summary>log Z(θ) = log Σ_z exp(⟨z, θ⟩/τ).</summary>
    /// <param name="problem">An enumerable problem.</param>
    /// <param name="weights">Weights in the problem's sense.</param>
    /// <param name="tau">The temperature τ &gt; 0.</param>
    /// <returns>The log-partition.</returns>
    public static double LogPartition(Problem problem, double[] weights, double tau = 1.0)
    {
        Guard.NotNull(problem, nameof(problem));
        return Imle.Exact.logPartitionOf(problem.Value, tau, weights);
    }

    /// <summary>The marginals μ = E_p[z].</summary>
    /// <param name="problem">An enumerable problem.</param>
    /// <param name="weights">Weights in the problem's sense.</param>
    /// <param name="tau">The temperature τ &gt; 0.</param>
    /// <returns>One marginal per coordinate.</returns>
    public static double[] Marginals(Problem problem, double[] weights, double tau = 1.0)
    {
        Guard.NotNull(problem, nameof(problem));
        return Imle.Exact.marginalsOf(problem.Value, tau, weights);
    }

    /// <summary>E_p[ℓ(z)].</summary>
    /// <param name="problem">An enumerable problem.</param>
    /// <param name="weights">Weights in the problem's sense.</param>
    /// <param name="loss">A loss over states, finite everywhere.</param>
    /// <param name="tau">The temperature τ &gt; 0.</param>
    /// <returns>The expected loss.</returns>
    public static double ExpectedLoss(Problem problem, double[] weights, Func<double[], double> loss, double tau = 1.0)
    {
        Guard.NotNull(problem, nameof(problem));
        Guard.NotNull(loss, nameof(loss));
        return Imle.Exact.expectedLossOf(problem.Value, tau, weights, FuncConvert.FromFunc(loss));
    }

    /// <summary>The exact gradient of E_p[ℓ(z)] w.r.t. the weights (in the problem's sense).</summary>
    /// <param name="problem">An enumerable problem.</param>
    /// <param name="weights">Weights in the problem's sense.</param>
    /// <param name="loss">A loss over states, finite everywhere.</param>
    /// <param name="tau">The temperature τ &gt; 0.</param>
    /// <returns>The gradient.</returns>
    public static double[] Gradient(Problem problem, double[] weights, Func<double[], double> loss, double tau = 1.0)
    {
        Guard.NotNull(problem, nameof(problem));
        Guard.NotNull(loss, nameof(loss));
        return Imle.Exact.gradientOf(problem.Value, tau, weights, FuncConvert.FromFunc(loss));
    }

    /// <summary>One exact draw z ~ p(z; θ).</summary>
    /// <param name="problem">An enumerable problem.</param>
    /// <param name="weights">Weights in the problem's sense.</param>
    /// <param name="random">The generator to draw from.</param>
    /// <param name="tau">The temperature τ &gt; 0.</param>
    /// <returns>A state.</returns>
    public static double[] Sample(Problem problem, double[] weights, Random random, double tau = 1.0)
    {
        Guard.NotNull(problem, nameof(problem));
        Guard.NotNull(random, nameof(random));
        return Imle.Exact.sampleOf(problem.Value, tau, random, weights);
    }

    /// <summary>log Z of the k-subset distribution over m = θ.Length items, by dynamic programming (any m).</summary>
    /// <param name="scores">The scores θ.</param>
    /// <param name="k">The subset size, in [1, m].</param>
    /// <param name="tau">The temperature τ &gt; 0.</param>
    /// <returns>The log-partition.</returns>
    public static double KSubsetLogPartition(double[] scores, int k, double tau = 1.0) =>
        Imle.KSubset.logPartition(tau, k, scores);

    /// <summary>The marginals p(zᵢ = 1) of the k-subset distribution, by dynamic programming (any m).</summary>
    /// <param name="scores">The scores θ.</param>
    /// <param name="k">The subset size, in [1, m].</param>
    /// <param name="tau">The temperature τ &gt; 0.</param>
    /// <returns>Marginals in [0, 1] summing to k.</returns>
    public static double[] KSubsetMarginals(double[] scores, int k, double tau = 1.0) =>
        Imle.KSubset.marginals(tau, k, scores);

    /// <summary>One exact draw of the k-subset distribution (any m).</summary>
    /// <param name="scores">The scores θ.</param>
    /// <param name="k">The subset size, in [1, m].</param>
    /// <param name="random">The generator to draw from.</param>
    /// <param name="tau">The temperature τ &gt; 0.</param>
    /// <returns>A k-hot state.</returns>
    public static double[] KSubsetSample(double[] scores, int k, Random random, double tau = 1.0)
    {
        Guard.NotNull(random, nameof(random));
        return Imle.KSubset.sample(tau, k, random, scores);
    }
}

/// <summary>One forward and backward pass of the reference (pure, array-based) estimators.</summary>
public sealed class ReferenceEstimate
{
    internal ReferenceEstimate(double[][] states, double[] gradient)
    {
        States = states;
        Gradient = gradient;
    }

    /// <summary>The forward states ẑ, one per sample.</summary>
    public double[][] States { get; }

    /// <summary>The estimated gradient dL/dw w.r.t. the weights in the problem's sense.</summary>
    public double[] Gradient { get; }
}

/// <summary>The reference estimators over plain arrays: the ground truth the tensor layers are tested against.</summary>
public static class ReferenceEstimators
{
    /// <summary>Forward and backward in one call: draws the noise from <paramref name="random"/>, computes the states,
    /// and maps dL/dz = <paramref name="lossGradient"/>(ẑ) to dL/dw. Works for I-MLE, blackbox, identity,
    /// straight-through and perturbed optimizers.</summary>
    /// <param name="problem">The problem.</param>
    /// <param name="estimator">The estimator.</param>
    /// <param name="weights">Weights in the problem's sense.</param>
    /// <param name="lossGradient">dL/dz at a state.</param>
    /// <param name="random">The generator for the noise.</param>
    /// <returns>The states and the gradient.</returns>
    public static ReferenceEstimate Estimate(Problem problem, GradientEstimator estimator, double[] weights,
        Func<double[], double[]> lossGradient, Random random)
    {
        Guard.NotNull(problem, nameof(problem));
        Guard.NotNull(estimator, nameof(estimator));
        Guard.NotNull(lossGradient, nameof(lossGradient));
        Guard.NotNull(random, nameof(random));
        var (pass, gradient) = Imle.Reference.estimate(problem.Value, estimator.Value, random, weights,
            Microsoft.FSharp.Core.FuncConvert.FromFunc(lossGradient));
        return new ReferenceEstimate(pass.States, gradient);
    }

    /// <summary>The score-function (REINFORCE) estimate with exact samples and a leave-one-out baseline.</summary>
    /// <param name="problem">An enumerable problem.</param>
    /// <param name="weights">Weights in the problem's sense.</param>
    /// <param name="loss">The loss over states.</param>
    /// <param name="random">The generator for the samples.</param>
    /// <param name="samples">S ≥ 1.</param>
    /// <param name="tau">The temperature τ &gt; 0.</param>
    /// <returns>The gradient w.r.t. the weights.</returns>
    public static double[] ScoreFunction(Problem problem, double[] weights, Func<double[], double> loss, Random random,
        int samples = 10, double tau = 1.0)
    {
        Guard.NotNull(problem, nameof(problem));
        Guard.NotNull(loss, nameof(loss));
        Guard.NotNull(random, nameof(random));
        return Imle.Reference.scoreFunction(problem.Value, tau, samples, random, weights, FuncConvert.FromFunc(loss));
    }
}
