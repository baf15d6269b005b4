using System;

namespace Imle.CSharp;

/// <summary>How <see cref="Losses.Hamming"/> and <see cref="Losses.Regret"/> reduce a batch of per-entry losses. The
/// batch is the first dimension of tensors of rank ≥ 2 (states [B, ...]); a tensor of rank ≤ 1 is one state.</summary>
public enum LossReduction
{
    /// <summary>The mean over the batch of the per-state sums (the sum divided by B): a scalar. The default.</summary>
    Mean,
    /// <summary>The sum over every entry of every state: a scalar; dL/dz stays of order 1 per entry whatever the batch
    /// size.</summary>
    Sum,
    /// <summary>The per-state sums: a tensor [B] for states [B, ...], a scalar for one state of rank ≤ 1.</summary>
    PerSample,
}

/// <summary>The F# core's reduction for a <see cref="LossReduction"/>.</summary>
internal static class LossReductions
{
    internal static Imle.Torch.Reduction ToCore(LossReduction reduction, string name) => reduction switch
    {
        LossReduction.Mean => Imle.Torch.Reduction.Mean,
        LossReduction.Sum => Imle.Torch.Reduction.Sum,
        LossReduction.PerSample => Imle.Torch.Reduction.PerSample,
        _ => throw new ArgumentOutOfRangeException(name, reduction, $"{name} must be Mean, Sum or PerSample; got {(int)reduction}."),
    };
}
