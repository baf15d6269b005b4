using System;
using System.Linq;
using Imle.CSharp;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Imle.CSharp.Tests;

/// <summary>The newer estimators and decision losses of the catalogue from C#: SIMPLE, SFESS, ReinMax, the categorical
/// straight-through and the regularised Frank–Wolfe optimizer as <see cref="GradientEstimator"/>s through
/// <see cref="Discrete.Apply"/>, and PG, CaVE, the structured SVM, imitation, zero-one and RFY through
/// <see cref="DecisionLosses"/>.</summary>
public class FrontierFacadeTests
{
    private static double[] Values(Tensor t) => t.detach().cpu().to(float64).data<double>().ToArray();

    /// <summary>Each new estimator gives a forward value of the right kind and a finite gradient.</summary>
    [Fact]
    public void NewEstimatorsRunThroughDiscreteApply()
    {
        using var scope = torch.NewDisposeScope();
        var subset = Problems.KSubset(6, 2);
        var categorical = Problems.Categorical(5);
        var cases = new (Problem Problem, GradientEstimator Estimator, double RowSum)[]
        {
            (subset, Estimators.Simple(1.0), 2.0),
            (subset, Estimators.Sfess(1.0, 4), 2.0),
            (categorical, Estimators.ReinMax(1.0), 1.0),
            (categorical, Estimators.SoftmaxStraightThrough, 1.0),
            (subset, Estimators.RegularizedFrankWolfe(lambda: 0.5), 2.0),
            (Dfl.GridDagShortestPath(3, 3), Estimators.RegularizedFrankWolfe(), double.NaN),
        };
        foreach (var (problem, estimator, rowSum) in cases)
        {
            var w = (torch.rand(3, problem.Size, dtype: float64, generator: new Generator(5)) + 0.1).requires_grad_(true);
            var z = Discrete.Apply(problem, estimator, new Generator(1), w);
            Assert.Equal(w.shape, z.shape);
            if (!double.IsNaN(rowSum))
                foreach (var s in Values(z.sum(1))) Assert.Equal(rowSum, s, 9);
            (z * torch.randn(3, problem.Size, dtype: float64, generator: new Generator(2))).sum().backward();
            Assert.All(Values(w.grad!), g => Assert.True(double.IsFinite(g), estimator.Description));
        }
    }

    /// <summary>Descriptions name the method; Interpolation is Blackbox; problems of the wrong kind and bad parameters
    /// are refused by the F# core.</summary>
    [Fact]
    public void DescriptionsAliasesAndRefusals()
    {
        Assert.Equal("SIMPLE(τ=1)", Estimators.Simple().Description);
        Assert.Equal("SFESS(τ=1, S=10)", Estimators.Sfess().Description);
        Assert.Equal("ReinMax(τ=1)", Estimators.ReinMax().Description);
        Assert.Equal(Estimators.Blackbox(3.0).Description, Estimators.Interpolation(3.0).Description);
        Assert.ThrowsAny<ArgumentException>(() => Estimators.Sfess(samples: 1));
        Assert.ThrowsAny<ArgumentException>(() => Estimators.Simple(0.0));
        Assert.ThrowsAny<ArgumentException>(() => Estimators.RegularizedFrankWolfe(lambda: -1.0));
        using var scope = torch.NewDisposeScope();
        var w = torch.rand(2, 5, dtype: float64);
        var e = Assert.ThrowsAny<ArgumentException>(() => Discrete.Apply(Problems.Categorical(5), Estimators.Simple(), new Generator(1), w));
        Assert.Equal("estimator", e.ParamName);
        Assert.ThrowsAny<ArgumentException>(() => Discrete.Apply(Problems.KSubset(5, 2), Estimators.ReinMax(), new Generator(1), w));
    }

    /// <summary>Each new decision loss returns a finite scalar with a finite gradient; zero-one is zero at the
    /// truth; the structured SVM is zero when the target wins by its margin.</summary>
    [Fact]
    public void NewDecisionLosses()
    {
        using var scope = torch.NewDisposeScope();
        var problem = Problems.KSubset(5, 2);
        var c = torch.tensor(new[] { 3.0, 1.0, 2.0, 0.0, -1.0, 0.5, 2.5, -0.5, 1.5, 0.2 }, dtype: float64).reshape(2, 5);
        var y = Discrete.Solve(problem, c);
        var predicted = (c * 0.5 + 0.1).requires_grad_(true);
        var normals = new[]
        {
            new[] { new[] { 1.0, 0.0, 0.0, 0.0, 0.0 }, new[] { 0.0, 0.0, 1.0, 0.0, 0.0 } },
            new[] { new[] { 0.0, 1.0, 0.0, 0.0, 0.0 }, new[] { 1.0, 1.0, 1.0, 1.0, 1.0 } },
        };
        var losses = new Func<Tensor>[]
        {
            () => DecisionLosses.PerturbationGradient(problem, predicted, c, PerturbationGradientVariant.Backward, 0.5),
            () => DecisionLosses.PerturbationGradient(problem, predicted, c, PerturbationGradientVariant.Central, 0.5),
            () => DecisionLosses.PerturbationGradient(problem, predicted, c, PerturbationGradientVariant.Forward, 0.5),
            () => DecisionLosses.Cave(problem, predicted, normals),
            () => DecisionLosses.StructuredSvm(problem, predicted, y, alpha: 1.0),
            () => DecisionLosses.Imitation(problem, predicted, y, "Hamming", (z, t) => z.Zip(t, (a, b) => Math.Abs(a - b)).Sum()),
            () => DecisionLosses.ZeroOne(problem, predicted, y),
            () => DecisionLosses.RegularizedFenchelYoung(problem, predicted, y, lambda: 0.5),
        };
        foreach (var loss in losses)
        {
            predicted.grad?.zero_();
            var value = loss();
            Assert.Empty(value.shape);
            Assert.True(double.IsFinite(value.ToDouble()));
            value.backward();
            Assert.All(Values(predicted.grad!), g => Assert.True(double.IsFinite(g)));
        }
        Assert.Equal(0.0, DecisionLosses.ZeroOne(problem, c, y).ToDouble());
        Assert.Equal(0.0, DecisionLosses.StructuredSvm(problem, c * 10.0, y, alpha: 1.0).ToDouble(), 12);
        Assert.ThrowsAny<ArgumentException>(() => DecisionLosses.PerturbationGradient(problem, predicted, c, h: 0.0));
        Assert.ThrowsAny<ArgumentException>(() => DecisionLosses.Cave(problem, predicted, normals.Take(1).ToArray()));
    }
}
