using System;
using TorchSharp;
using static TorchSharp.torch;

namespace Imle.CSharp;

/// <summary>The exact distribution p(z; θ) ∝ exp(⟨z, θ⟩/τ) on tensors, for score-function estimators and exact
/// baselines: log-probabilities differentiable in the weights, and exact samples. k-subset problems use the O(m·k)
/// dynamic programme; other problems must be enumerable. Weights are in the problem's own sense (θ = −c for
/// minimisation), with shape [..batch, ...problem shape] or [..batch, m].</summary>
public static class ExactTensors
{
    /// <summary>log p(z; θ) = ⟨z, θ⟩/τ − log Z(θ) for each batch row, differentiable in <paramref name="weights"/>.</summary>
    /// <param name="problem">A k-subset or enumerable problem.</param>
    /// <param name="weights">Finite floating-point weights [..batch, ...problem shape] (or [..batch, m]).</param>
    /// <param name="states">States of the same shape as <paramref name="weights"/>.</param>
    /// <param name="tau">The temperature τ &gt; 0.</param>
    /// <returns>The log-probabilities, shape [..batch].</returns>
    /// <exception cref="ArgumentException">A shape, dtype or value is invalid, or the problem cannot be enumerated.</exception>
    public static Tensor LogProbability(Problem problem, Tensor weights, Tensor states, double tau = 1.0)
    {
        Guard.NotNull(problem, nameof(problem));
        Guard.NotNull(weights, nameof(weights));
        Guard.NotNull(states, nameof(states));
        return Imle.Torch.ExactTensor.logProbability(problem.Value, tau, weights, states);
    }

    /// <summary>Exact samples z ~ p(z; θ): for weights [B, ...problem shape] (or [B, m]), states [B, S, m] with the
    /// weights' dtype and device, drawn from <paramref name="generator"/> only.</summary>
    /// <param name="problem">A k-subset or enumerable problem.</param>
    /// <param name="weights">Finite floating-point weights.</param>
    /// <param name="samples">S ≥ 1 samples per row.</param>
    /// <param name="generator">The generator the samples are drawn from.</param>
    /// <param name="tau">The temperature τ &gt; 0.</param>
    /// <returns>The samples, shape [B, S, m]; no gradient.</returns>
    /// <exception cref="ArgumentException">A shape, dtype or value is invalid, or the problem cannot be enumerated.</exception>
    public static Tensor Sample(Problem problem, Tensor weights, int samples, Generator generator, double tau = 1.0)
    {
        Guard.NotNull(problem, nameof(problem));
        Guard.NotNull(weights, nameof(weights));
        Guard.NotNull(generator, nameof(generator));
        return Imle.Torch.ExactTensor.sample(problem.Value, tau, samples, generator, weights);
    }
}
