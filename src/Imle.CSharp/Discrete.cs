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

/// <summary>Losses over discrete states.</summary>
public static class Losses
{
    /// <summary>Hamming loss z∘(1 − y) + y∘(1 − z), summed over the state and averaged over the batch (first dim).</summary>
    /// <param name="z">Predicted states.</param>
    /// <param name="y">Target states, same shape.</param>
    /// <returns>A scalar loss.</returns>
    public static Tensor Hamming(Tensor z, Tensor y) =>
        Imle.Torch.Losses.hamming(Guard.NotNull(z, nameof(z)), Guard.NotNull(y, nameof(y)));

    /// <summary>Regret ⟨c, z − z*⟩ averaged over the batch.</summary>
    /// <param name="z">Predicted states [B, ...].</param>
    /// <param name="costs">True costs, same shape.</param>
    /// <param name="optimal">The optimal states for the true costs, same shape.</param>
    /// <returns>A scalar loss.</returns>
    public static Tensor Regret(Tensor z, Tensor costs, Tensor optimal) =>
        Imle.Torch.Losses.regret(Guard.NotNull(z, nameof(z)), Guard.NotNull(costs, nameof(costs)), Guard.NotNull(optimal, nameof(optimal)));

    /// <summary>The Fenchel–Young loss of perturbed optimizers (Berthet et al.), averaged over the batch; its gradient
    /// w.r.t. the scores is ȳ(θ) − y.</summary>
    /// <param name="problem">The problem.</param>
    /// <param name="weights">Weights [..batch, ...problem shape].</param>
    /// <param name="target">Target states, same shape.</param>
    /// <param name="generator">The generator for the noise.</param>
    /// <param name="noise">The perturbation (default Normal(σ = 1)).</param>
    /// <param name="samples">Draws per row, ≥ 1.</param>
    /// <returns>A scalar loss.</returns>
    public static Tensor FenchelYoung(ImleProblem problem, Tensor weights, Tensor target, Generator generator,
        ImleNoise? noise = null, int samples = 10)
    {
        Guard.NotNull(problem, nameof(problem));
        Guard.NotNull(generator, nameof(generator));
        Guard.AtLeast(samples, 1, nameof(samples));
        return Imle.Torch.Losses.fenchelYoung(problem.Value, (noise ?? Noises.Normal()).Value, samples, generator,
            Guard.NotNull(weights, nameof(weights)), Guard.NotNull(target, nameof(target)));
    }

    /// <summary>The optimal value ⟨z*(w), w⟩ per batch row, with the optimal state as its (generalized) gradient.</summary>
    /// <param name="problem">The problem.</param>
    /// <param name="weights">Weights [..batch, ...problem shape].</param>
    /// <returns>Values [..batch].</returns>
    public static Tensor OptimalValue(ImleProblem problem, Tensor weights) =>
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
        Guard.AtLeast(n, 1, nameof(n));
        Guard.AtLeast(m, 1, nameof(m));
        return Imle.Torch.Losses.alignmentScore(n, m, Guard.NotNull(scores, nameof(scores)), Guard.NotNull(gap, nameof(gap)));
    }
}

/// <summary>Training helpers.</summary>
public static class Training
{
    /// <summary><c>loss.backward()</c>, then rethrows any error an Imle backward pass recorded (errors inside libtorch's
    /// backward cannot propagate as exceptions). Call this instead of <c>loss.backward()</c>.</summary>
    /// <param name="loss">A scalar loss.</param>
    /// <exception cref="InvalidOperationException">An Imle backward pass failed (the inner exception says why).</exception>
    public static void Backward(Tensor loss) => Imle.Torch.Training.backward(Guard.NotNull(loss, nameof(loss)));
}
