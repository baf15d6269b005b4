using System;
using Microsoft.FSharp.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Imle.CSharp;

/// <summary>The k-subset and categorical estimators after I-MLE: SIMPLE, SFESS and ReinMax, over arrays (the reference)
/// and on tensors (differentiable layers). Scores θ are in maximisation terms; τ is the temperature of
/// p(z; θ) ∝ exp(⟨z, θ⟩/τ).</summary>
public static class FrontierEstimators
{
    /// <summary>SIMPLE's backward pass: J_μ(θ)·g, the exact marginals' Jacobian times the upstream gradient, in O(m·k).</summary>
    /// <param name="theta">Finite scores, length m ≥ 1.</param>
    /// <param name="g">The upstream gradient dL/dz, length m.</param>
    /// <param name="k">The subset size, in [1, m].</param>
    /// <param name="tau">The temperature τ &gt; 0.</param>
    /// <returns>dL/dθ.</returns>
    /// <exception cref="ArgumentException">A value is out of range or has the wrong length.</exception>
    public static double[] SimpleBackward(double[] theta, double[] g, int k, double tau = 1.0)
    {
        Guard.NotNull(theta, nameof(theta));
        Guard.NotNull(g, nameof(g));
        return Imle.KSubsetEstimators.simpleBackward(tau, k, theta, g);
    }

    /// <summary>One SFESS gradient draw for a black-box loss: S exact k-subset samples, the exact score (z − μ)/τ and a
    /// leave-one-out baseline (unbiased for ∇θ E_p[f]).</summary>
    /// <param name="theta">Finite scores, length m ≥ 1.</param>
    /// <param name="k">The subset size, in [1, m].</param>
    /// <param name="samples">S ≥ 2.</param>
    /// <param name="loss">The loss f(z), finite for every k-subset.</param>
    /// <param name="rng">The random source of the samples.</param>
    /// <param name="tau">The temperature τ &gt; 0.</param>
    /// <returns>The gradient estimate.</returns>
    /// <exception cref="ArgumentException">A value is out of range or has the wrong length.</exception>
    public static double[] Sfess(double[] theta, int k, int samples, Func<double[], double> loss, Random rng, double tau = 1.0)
    {
        Guard.NotNull(theta, nameof(theta));
        Guard.NotNull(loss, nameof(loss));
        Guard.NotNull(rng, nameof(rng));
        return Imle.KSubsetEstimators.sfess(tau, k, samples, rng, theta, FuncConvert.FromFunc(loss));
    }

    /// <summary>ReinMax's backward pass for a categorical draw D ~ softmax(θ): 2·J(π½)·g − ½·J(π₀)·g.</summary>
    /// <param name="theta">Finite logits, length m ≥ 1.</param>
    /// <param name="d">The one-hot draw.</param>
    /// <param name="g">The upstream gradient dL/dD.</param>
    /// <param name="tau">The temperature τ &gt; 0.</param>
    /// <returns>dL/dθ.</returns>
    /// <exception cref="ArgumentException">A value is out of range, not one-hot or has the wrong length.</exception>
    public static double[] ReinMaxBackward(double[] theta, double[] d, double[] g, double tau = 1.0)
    {
        Guard.NotNull(theta, nameof(theta));
        Guard.NotNull(d, nameof(d));
        Guard.NotNull(g, nameof(g));
        return Imle.ReinMax.backward(tau, theta, d, g);
    }

    /// <summary>SIMPLE as a layer: an exact k-subset sample per row of scores [..., m], backward through the exact
    /// marginals' Jacobian.</summary>
    /// <param name="scores">Finite floating-point scores [..., m].</param>
    /// <param name="k">The subset size.</param>
    /// <param name="generator">The generator the samples are drawn from.</param>
    /// <param name="tau">The temperature τ &gt; 0.</param>
    /// <returns>The samples, shaped like the scores.</returns>
    public static Tensor Simple(Tensor scores, int k, Generator generator, double tau = 1.0)
    {
        Guard.NotNull(scores, nameof(scores));
        Guard.NotNull(generator, nameof(generator));
        return Imle.Torch.KSubsetTensor.simple(tau, k, generator, scores);
    }

    /// <summary>SFESS as a layer: S exact k-subset samples per row of scores [..., m] → [..., S, m], backward the
    /// score-function estimator with a leave-one-out baseline.</summary>
    /// <param name="scores">Finite floating-point scores [..., m].</param>
    /// <param name="k">The subset size.</param>
    /// <param name="samples">S ≥ 2.</param>
    /// <param name="generator">The generator the samples are drawn from.</param>
    /// <param name="tau">The temperature τ &gt; 0.</param>
    /// <returns>The samples, [..., S, m].</returns>
    public static Tensor Sfess(Tensor scores, int k, int samples, Generator generator, double tau = 1.0)
    {
        Guard.NotNull(scores, nameof(scores));
        Guard.NotNull(generator, nameof(generator));
        return Imle.Torch.KSubsetTensor.sfess(tau, k, samples, generator, scores);
    }

    /// <summary>ReinMax as a layer: an exact one-hot draw per row of logits [..., m], the second-order straight-through
    /// backward pass.</summary>
    /// <param name="logits">Finite floating-point logits [..., m].</param>
    /// <param name="generator">The generator the draws come from.</param>
    /// <param name="tau">The temperature τ &gt; 0.</param>
    /// <returns>The one-hot draws, shaped like the logits.</returns>
    public static Tensor ReinMax(Tensor logits, Generator generator, double tau = 1.0)
    {
        Guard.NotNull(logits, nameof(logits));
        Guard.NotNull(generator, nameof(generator));
        return Imle.Torch.ReinMaxTensor.reinmax(tau, generator, logits);
    }
}

/// <summary>Relaxation layers on tensors (rows [..., m]): soft sort and soft rank (Blondel et al. 2020), sparsemax,
/// soft argmax, and a perturbed oracle over any MAP function of yours.</summary>
public static class RelaxationLayers
{
    /// <summary>The soft sort s_ε(θ) per row, descending.</summary>
    /// <param name="theta">Finite floating-point scores [..., m].</param>
    /// <param name="epsilon">The regularisation ε &gt; 0 (→ 0: the hard sort).</param>
    /// <returns>The soft-sorted rows.</returns>
    public static Tensor SoftSort(Tensor theta, double epsilon)
    {
        Guard.NotNull(theta, nameof(theta));
        return Imle.Torch.RelaxationTensor.softSort(epsilon, theta);
    }

    /// <summary>The soft rank r_ε(θ) per row, 1 for the largest.</summary>
    /// <param name="theta">Finite floating-point scores [..., m].</param>
    /// <param name="epsilon">The regularisation ε &gt; 0.</param>
    /// <returns>The soft ranks.</returns>
    public static Tensor SoftRank(Tensor theta, double epsilon)
    {
        Guard.NotNull(theta, nameof(theta));
        return Imle.Torch.RelaxationTensor.softRank(epsilon, theta);
    }

    /// <summary>sparsemax(θ) over the last dimension: the Euclidean projection onto the simplex.</summary>
    /// <param name="theta">Finite floating-point scores [..., m].</param>
    /// <returns>Probabilities with exact zeros.</returns>
    public static Tensor Sparsemax(Tensor theta)
    {
        Guard.NotNull(theta, nameof(theta));
        return Imle.Torch.RelaxationTensor.sparsemax(theta);
    }

    /// <summary>softmax(θ/τ) over the last dimension.</summary>
    /// <param name="theta">Finite floating-point scores [..., m].</param>
    /// <param name="tau">The temperature τ &gt; 0.</param>
    /// <returns>The probabilities.</returns>
    public static Tensor SoftArgmax(Tensor theta, double tau = 1.0)
    {
        Guard.NotNull(theta, nameof(theta));
        return Imle.Torch.RelaxationTensor.softArgmax(tau, theta);
    }

    /// <summary>A perturbed oracle (Berthet et al. 2020) over your own function, per row of θ: the mean of
    /// oracle(θ + σZₛ) over S normal draws, with the backward pass gᵀJ ≈ (1/S)·Σₛ ⟨yₛ, g⟩·Zₛ/σ from the same draws.
    /// The oracle runs on the CPU over double arrays, one row at a time.</summary>
    /// <param name="oracle">Your MAP function: a row of θ (length m) → an output of length <paramref name="width"/>.</param>
    /// <param name="width">The oracle's output length, ≥ 1.</param>
    /// <param name="theta">Finite floating-point scores [..., m].</param>
    /// <param name="generator">The generator the draws come from.</param>
    /// <param name="sigma">The noise scale σ &gt; 0.</param>
    /// <param name="samples">The number of draws S ≥ 1.</param>
    /// <returns>The perturbed means, [..., width].</returns>
    /// <exception cref="ArgumentException">An argument is outside its range, or the oracle returns the wrong length.</exception>
    public static Tensor PerturbedOracle(Func<double[], double[]> oracle, int width, Tensor theta, Generator generator,
        double sigma = 1.0, int samples = 10)
    {
        Guard.NotNull(oracle, nameof(oracle));
        Guard.NotNull(theta, nameof(theta));
        return Imle.Torch.RelaxationTensor.perturbedOracle(FuncConvert.FromFunc(oracle), width, sigma, samples,
            Guard.NotNull(generator, nameof(generator)), theta);
    }
}
