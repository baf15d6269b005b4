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
    /// <param name="output">For I-MLE: the mean over samples (default) or all samples as [..batch, S, ...shape].</param>
    /// <param name="parallelism">Threads for CPU solver rows (default: one per core).</param>
    /// <returns>The states, differentiable by the estimator.</returns>
    public static Tensor Apply(Problem problem, GradientEstimator estimator, Generator generator, Tensor weights,
        SampleOutput output = SampleOutput.Mean, int? parallelism = null)
    {
        Guard.NotNull(problem, nameof(problem));
        Guard.NotNull(estimator, nameof(estimator));
        Guard.NotNull(generator, nameof(generator));
        Guard.NotNull(weights, nameof(weights));
        var options = new Imle.Torch.DiscreteOptions(Options.Output(output),
            parallelism ?? Imle.Torch.TensorSolve.defaultParallelism, Microsoft.FSharp.Core.FSharpOption<Imle.Torch.AdaptiveLambdaCell>.None);
        return Imle.Torch.Discrete.apply(options, problem.Value, estimator.Value, generator, weights);
    }

    /// <summary>MAP without noise and without gradient (what a layer returns in eval mode).</summary>
    /// <param name="problem">The problem.</param>
    /// <param name="weights">Weights [..batch, ...problem shape].</param>
    /// <returns>The MAP states.</returns>
    public static Tensor Map(Problem problem, Tensor weights)
    {
        Guard.NotNull(problem, nameof(problem));
        Guard.NotNull(weights, nameof(weights));
        return Imle.Torch.Discrete.map(problem.Value, weights);
    }

    /// <summary>MAP of every row in the problem's own sense; k-subset and categorical problems run on the tensor's
    /// device, others row by row on the CPU in parallel. Same shape, dtype and device as the input; no gradient.</summary>
    /// <param name="problem">The problem.</param>
    /// <param name="weights">Weights [..batch, ...problem shape].</param>
    /// <param name="parallelism">Threads for CPU solver rows (default: one per core); results do not depend on it.</param>
    /// <returns>The MAP states.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="parallelism"/> &lt; 1.</exception>
    public static Tensor Solve(Problem problem, Tensor weights, int? parallelism = null)
    {
        Guard.NotNull(problem, nameof(problem));
        Guard.NotNull(weights, nameof(weights));
        return Imle.Torch.TensorSolve.solveWithParallelism(parallelism ?? Imle.Torch.TensorSolve.defaultParallelism, problem.Value, weights);
    }

    /// <summary>MAP in maximisation terms: argmax over the feasible states of ⟨z, θ⟩ for scores θ, whatever the problem's
    /// sense (a minimisation problem is solved on −θ).</summary>
    /// <param name="problem">The problem.</param>
    /// <param name="scores">Scores θ [..batch, ...problem shape].</param>
    /// <returns>The MAP states.</returns>
    public static Tensor SolveScores(Problem problem, Tensor scores)
    {
        Guard.NotNull(problem, nameof(problem));
        Guard.NotNull(scores, nameof(scores));
        return Imle.Torch.TensorSolve.solveScores(problem.Value, scores);
    }
}
