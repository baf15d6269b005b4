using System;
using TorchSharp;
using static TorchSharp.torch;

namespace Imle.CSharp;

/// <summary>Training helpers.</summary>
public static class Training
{
    /// <summary><c>loss.backward()</c>, then rethrows any error an Imle backward pass recorded (errors inside libtorch's
    /// backward cannot propagate as exceptions). Call this instead of <c>loss.backward()</c>.</summary>
    /// <param name="loss">A scalar loss.</param>
    /// <exception cref="InvalidOperationException">An Imle backward pass failed (the inner exception says why).</exception>
    public static void Backward(Tensor loss) => Imle.Torch.Training.backward(Guard.NotNull(loss, nameof(loss)));

    /// <summary>Shuffled mini-batches of the indices 0 … <paramref name="count"/> − 1 for one epoch: every index exactly
    /// once, in batches of <paramref name="batchSize"/> (the last one shorter). The batches depend only on
    /// <paramref name="random"/>'s state, so a generator seeded per epoch gives the same batches on every run.</summary>
    /// <param name="random">The generator that shuffles.</param>
    /// <param name="count">The number of examples, ≥ 0.</param>
    /// <param name="batchSize">The batch size, ≥ 1.</param>
    /// <returns>The batches of indices.</returns>
    /// <exception cref="ArgumentException"><paramref name="count"/> or <paramref name="batchSize"/> is out of range.</exception>
    public static int[][] ShuffledBatches(Random random, int count, int batchSize) =>
        Imle.Torch.Training.shuffledBatches(Guard.NotNull(random, nameof(random)), count, batchSize);
}
