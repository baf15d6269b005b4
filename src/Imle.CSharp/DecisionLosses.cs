using System;
using Microsoft.FSharp.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Imle.CSharp;

/// <summary>The finite difference of a perturbation-gradient (PG) loss.</summary>
public enum PerturbationGradientVariant
{
    /// <summary>PGB: (V(ĉ) − V(ĉ − h·c))/h.</summary>
    Backward,
    /// <summary>PGC: (V(ĉ + h·c) − V(ĉ − h·c))/(2h).</summary>
    Central,
    /// <summary>PGF: (V(ĉ + h·c) − V(ĉ))/h.</summary>
    Forward,
}

/// <summary>The decision-focused losses of PyEPO 2.2 and InferOpt 0.7 in the DFL loss catalogue: the perturbation
/// gradient, CaVE, the structured SVM, imitation, zero-one and the regularised Frank–Wolfe Fenchel–Young loss. Each
/// returns the batch mean of the per-row losses (a scalar) with its gradient attached; all checks are the F#
/// catalogue's.</summary>
public static class DecisionLosses
{
    /// <summary>The PG loss (Huang and Gupta 2024; PyEPO's PGLoss): a finite difference of the optimal value along the
    /// true costs.</summary>
    /// <param name="problem">The problem.</param>
    /// <param name="predicted">Predicted costs [..batch, ...shape] in the problem's sense.</param>
    /// <param name="trueCosts">True costs, same shape.</param>
    /// <param name="variant">Backward (PGB), central (PGC) or forward (PGF) difference.</param>
    /// <param name="h">The step h &gt; 0.</param>
    /// <returns>A scalar loss.</returns>
    public static Tensor PerturbationGradient(Problem problem, Tensor predicted, Tensor trueCosts,
        PerturbationGradientVariant variant = PerturbationGradientVariant.Backward, double h = 1.0)
    {
        var v = variant switch
        {
            PerturbationGradientVariant.Backward => global::Imle.Dfl.PgVariant.Pgb,
            PerturbationGradientVariant.Central => global::Imle.Dfl.PgVariant.Pgc,
            PerturbationGradientVariant.Forward => global::Imle.Dfl.PgVariant.Pgf,
            _ => throw new ArgumentOutOfRangeException(nameof(variant), variant, "Unknown PG variant."),
        };
        return Dfl.Compute(problem, global::Imle.DflLoss.NewPerturbationGradient(v, h), null, null, predicted, trueCosts, null);
    }

    /// <summary>NID (negative identity, Sahoo et al. 2022; PyEPO's negativeIdentity): the forward pass is the optimal
    /// solution z*(ĉ); the backward pass returns −dL/dz for a minimisation problem (+dL/dz for maximisation).</summary>
    /// <param name="problem">The problem.</param>
    /// <param name="predicted">Predicted costs [B, m] in the problem's sense.</param>
    /// <returns>The solutions [B, m], differentiable by NID's rule.</returns>
    public static Tensor NegativeIdentity(Problem problem, Tensor predicted) =>
        Imle.Torch.DecisionLossTensor.nid(Guard.NotNull(problem, nameof(problem)).Value, Guard.NotNull(predicted, nameof(predicted)));

    /// <summary>CaVE (Tang and Khalil 2024; PyEPO's coneAlignedCosine): 1 − cos between the predicted direction and
    /// its projection onto the cone of the binding constraints' normals at the true optimum.</summary>
    /// <param name="problem">The problem.</param>
    /// <param name="predicted">Predicted costs [B, ...shape].</param>
    /// <param name="bindingNormals">Per row, the normals of the constraints binding at the true optimum (each of length
    /// m).</param>
    /// <returns>A scalar loss.</returns>
    public static Tensor Cave(Problem problem, Tensor predicted, double[][][] bindingNormals) =>
        Dfl.Compute(problem, global::Imle.DflLoss.Cave, null, null, predicted, null, null, bindingNormals);

    /// <summary>The structured SVM loss (InferOpt's StructuredSVMLoss) with a Hamming margin of weight α.</summary>
    /// <param name="problem">The problem.</param>
    /// <param name="predicted">Predicted costs [..batch, ...shape].</param>
    /// <param name="targets">Binary target solutions, same shape.</param>
    /// <param name="alpha">The margin weight α ≥ 0.</param>
    /// <returns>A scalar loss.</returns>
    public static Tensor StructuredSvm(Problem problem, Tensor predicted, Tensor targets, double alpha = 1.0) =>
        Dfl.Compute(problem, global::Imle.DflLoss.NewStructuredSvm(alpha), null, null, predicted, null, targets);

    /// <summary>The imitation loss (InferOpt's ImitationLoss) over a base loss δ(z, y) ≥ 0, by enumerating the
    /// problem's states (the problem must be enumerable).</summary>
    /// <param name="problem">The problem.</param>
    /// <param name="predicted">Predicted costs [..batch, ...shape].</param>
    /// <param name="targets">Target solutions, same shape.</param>
    /// <param name="name">A non-empty name of the base loss, for reports.</param>
    /// <param name="baseLoss">δ(z, y), finite and ≥ 0.</param>
    /// <returns>A scalar loss.</returns>
    public static Tensor Imitation(Problem problem, Tensor predicted, Tensor targets, string name, Func<double[], double[], double> baseLoss)
    {
        Guard.NotNull(baseLoss, nameof(baseLoss));
        var loss = global::Imle.DflLoss.NewImitation(name, FuncConvert.FromFunc<double[], double[], double>(baseLoss));
        return Dfl.Compute(problem, loss, null, null, predicted, null, targets);
    }

    /// <summary>The zero-one loss 1[z*(ĉ) ≠ y], an evaluation metric (its gradient is zero).</summary>
    /// <param name="problem">The problem.</param>
    /// <param name="predicted">Predicted costs [..batch, ...shape].</param>
    /// <param name="targets">Target solutions, same shape.</param>
    /// <returns>The fraction of rows whose decision differs from the target.</returns>
    public static Tensor ZeroOne(Problem problem, Tensor predicted, Tensor targets) =>
        Dfl.Compute(problem, global::Imle.DflLoss.ZeroOne, null, null, predicted, null, targets);

    /// <summary>The Fenchel–Young loss of the regularised Frank–Wolfe optimizer (PyEPO 2.2's RFY): Ω(y) − Ω(ŷ) +
    /// ⟨θ, ŷ − y⟩ with Ω = (λ/2)‖·‖², gradient ŷ − y.</summary>
    /// <param name="problem">The problem.</param>
    /// <param name="predicted">Predicted costs [..batch, ...shape].</param>
    /// <param name="targets">Target solutions, same shape.</param>
    /// <param name="lambda">λ &gt; 0 (default 1).</param>
    /// <param name="maxIterations">Frank–Wolfe iterations, ≥ 1 (default 20).</param>
    /// <param name="tolerance">The Frank–Wolfe gap at which it stops, ≥ 0 (default 1e-6).</param>
    /// <returns>A scalar loss.</returns>
    public static Tensor RegularizedFenchelYoung(Problem problem, Tensor predicted, Tensor targets, double lambda = 1.0,
        int maxIterations = 20, double tolerance = 1e-6) =>
        Dfl.Compute(problem, global::Imle.DflLoss.NewRegularizedFenchelYoung(Estimators.FrankWolfeOptions(lambda, maxIterations, tolerance)),
            null, null, predicted, null, targets);
}
