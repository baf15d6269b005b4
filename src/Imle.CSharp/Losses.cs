using System;
using TorchSharp;
using static TorchSharp.torch;

namespace Imle.CSharp;

/// <summary>Losses over discrete states.</summary>
public static class Losses
{
    /// <summary>Hamming loss z∘(1 − y) + y∘(1 − z), summed over each state and reduced over the batch (first dim) as
    /// <paramref name="reduction"/> says: by default averaged over the batch.</summary>
    /// <param name="z">Predicted states.</param>
    /// <param name="y">Target states, same shape.</param>
    /// <param name="reduction">Mean over the batch (default), Sum, or PerSample (one loss per state).</param>
    /// <returns>A scalar loss, or [B] losses for <see cref="LossReduction.PerSample"/>.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="reduction"/> is not a defined value.</exception>
    public static Tensor Hamming(Tensor z, Tensor y, LossReduction reduction = LossReduction.Mean) =>
        Imle.Torch.Losses.hamming(LossReductions.ToCore(reduction, nameof(reduction)),
            Guard.NotNull(z, nameof(z)), Guard.NotNull(y, nameof(y)));

    /// <summary>Regret ⟨c, z − z*⟩, summed over each state and reduced over the batch as <paramref name="reduction"/>
    /// says: by default averaged over the batch.</summary>
    /// <param name="z">Predicted states [B, ...].</param>
    /// <param name="costs">True costs, same shape.</param>
    /// <param name="optimal">The optimal states for the true costs, same shape.</param>
    /// <param name="reduction">Mean over the batch (default), Sum, or PerSample (one loss per state).</param>
    /// <returns>A scalar loss, or [B] losses for <see cref="LossReduction.PerSample"/>.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="reduction"/> is not a defined value.</exception>
    public static Tensor Regret(Tensor z, Tensor costs, Tensor optimal, LossReduction reduction = LossReduction.Mean) =>
        Imle.Torch.Losses.regret(LossReductions.ToCore(reduction, nameof(reduction)),
            Guard.NotNull(z, nameof(z)), Guard.NotNull(costs, nameof(costs)), Guard.NotNull(optimal, nameof(optimal)));

    /// <summary>The Fenchel–Young loss of perturbed optimizers (Berthet et al.), averaged over the batch; its gradient
    /// w.r.t. the scores is ȳ(θ) − y.</summary>
    /// <param name="problem">The problem.</param>
    /// <param name="weights">Weights [..batch, ...problem shape].</param>
    /// <param name="target">Target states, same shape.</param>
    /// <param name="generator">The generator for the noise.</param>
    /// <param name="noise">The perturbation (default Normal(σ = 1)).</param>
    /// <param name="samples">Draws per row, ≥ 1.</param>
    /// <returns>A scalar loss.</returns>
    public static Tensor FenchelYoung(Problem problem, Tensor weights, Tensor target, Generator generator,
        ImleNoise? noise = null, int samples = 10)
    {
        var loss = global::Imle.DflLoss.NewFenchelYoung(Estimators.PerturbedOptions(
            global::Imle.Perturbation.NewAdditive((noise ?? Noises.Normal()).Value), samples, false));
        return Dfl.Compute(problem, loss, generator, null, weights, null, target);
    }

    /// <summary>The optimal value ⟨z*(w), w⟩ per batch row, with the optimal state as its (generalized) gradient.</summary>
    /// <param name="problem">The problem.</param>
    /// <param name="weights">Weights [..batch, ...problem shape].</param>
    /// <returns>Values [..batch].</returns>
    public static Tensor OptimalValue(Problem problem, Tensor weights) =>
        Imle.Torch.Losses.optimalValue(Guard.NotNull(problem, nameof(problem)).Value, Guard.NotNull(weights, nameof(weights)));

    /// <summary>The optimal global-alignment score for substitution scores [..batch, n, m] and a (learnable) scalar gap
    /// penalty, differentiable in both.</summary>
    /// <param name="n">The first sequence length.</param>
    /// <param name="m">The second sequence length.</param>
    /// <param name="scores">Substitution scores [..batch, n, m].</param>
    /// <param name="gap">A scalar tensor ≥ 0.</param>
    /// <returns>Scores [..batch].</returns>
    public static Tensor AlignmentScore(int n, int m, Tensor scores, Tensor gap)
    {
        return Imle.Torch.Losses.alignmentScore(n, m, Guard.NotNull(scores, nameof(scores)), Guard.NotNull(gap, nameof(gap)));
    }
}
