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
}
