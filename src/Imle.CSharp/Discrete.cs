using System;
using TorchSharp;
using static TorchSharp.torch;

namespace Imle.CSharp;

/// <summary>Discrete functions over tensors: apply an estimator without a module, MAP without gradient, batched solves.</summary>
public static class Discrete
{
    /// <summary>Applies an estimator to weights [..batch, ...problem shape] in the problem's sense, drawing noise from
    /// <paramref name="generator"/> only.</summary>
    /// <param name="problem">The problem.</param>
    /// <param name="estimator">The estimator.</param>
    /// <param name="generator">The generator for the noise.</param>
    /// <param name="weights">The weights.</param>
    /// <param name="meanOutput">For I-MLE: the mean over samples (true) or all samples as [..batch, S, ...shape].</param>
    /// <returns>The states, differentiable by the estimator.</returns>
    public static Tensor Apply(ImleProblem problem, GradientEstimator estimator, Generator generator, Tensor weights, bool meanOutput = true)
    {
        Guard.NotNull(problem, nameof(problem));
        Guard.NotNull(estimator, nameof(estimator));
        Guard.NotNull(generator, nameof(generator));
        Guard.NotNull(weights, nameof(weights));
        return Imle.Torch.Discrete.apply(problem.Value, estimator.Value, generator, meanOutput, weights);
    }

    /// <summary>MAP without noise and without gradient (what a layer returns in eval mode).</summary>
    /// <param name="problem">The problem.</param>
    /// <param name="weights">Weights [..batch, ...problem shape].</param>
    /// <returns>The MAP states.</returns>
    public static Tensor Map(ImleProblem problem, Tensor weights)
    {
        Guard.NotNull(problem, nameof(problem));
        Guard.NotNull(weights, nameof(weights));
        return Imle.Torch.Discrete.map(problem.Value, weights);
    }

    /// <summary>MAP of every row in the problem's own sense; k-subset and categorical problems run on the tensor's
    /// device, others row by row on the CPU in parallel. Same shape, dtype and device as the input; no gradient.</summary>
    /// <param name="problem">The problem.</param>
    /// <param name="weights">Weights [..batch, ...problem shape].</param>
    /// <returns>The MAP states.</returns>
    public static Tensor Solve(ImleProblem problem, Tensor weights)
    {
        Guard.NotNull(problem, nameof(problem));
        Guard.NotNull(weights, nameof(weights));
        return Imle.Torch.TensorSolve.solve(problem.Value, weights);
    }

    /// <summary>The degree of parallelism for CPU solves of batch rows (default: the number of processors).</summary>
    /// <exception cref="ArgumentOutOfRangeException">Set to a value &lt; 1.</exception>
    public static int DegreeOfParallelism
    {
        get => Imle.Torch.TensorSolve.degreeOfParallelism();
        set => Imle.Torch.TensorSolve.setDegreeOfParallelism(Guard.AtLeast(value, 1, nameof(value)));
    }
}
