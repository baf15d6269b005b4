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

    /// <summary>The benchmark generators' optima are what their definitions say (argmax one-hot, ranks, top-k, a
    /// corner-to-corner path the grid solver also finds), and kNN-robust labels with w = 1 average real solutions.</summary>
    [Fact]
    public void BenchmarkGeneratorsAndKnnRobustLabels()
    {
        var argmax = DflBenchmarks.Argmax(20, 3, 6, noise: 0.1, seed: 2);
        for (int i = 0; i < 20; i++)
        {
            var best = Array.IndexOf(argmax.Scores[i], argmax.Scores[i].Max());
            Assert.Equal(1.0, argmax.Optima[i][best]);
            Assert.Equal(1.0, argmax.Optima[i].Sum());
        }
        var ranking = DflBenchmarks.Ranking(5, 3, 6, seed: 1);
        Assert.All(ranking.Optima, r => Assert.Equal(Enumerable.Range(1, 6).Select(x => (double)x), r.OrderBy(x => x)));
        var subsets = DflBenchmarks.SubsetSelection(5, 3, 8, k: 3, seed: 1);
        Assert.All(subsets.Optima, z => Assert.Equal(3.0, z.Sum()));
        var paths = DflBenchmarks.FixedSizeShortestPath(4, 5, 3, 3, deg: 2, seed: 7);
        var grid = Dfl.GridDagShortestPath(3, 3);
        for (int i = 0; i < 4; i++)
            Assert.Equal(grid.Solve(paths.Scores[i]), paths.Optima[i]);
        var knn = DflBenchmarks.KnnRobust(Problems.KSubset(8, 3), subsets.Features, subsets.Scores, k: 2);
        Assert.All(knn.Solutions, z => Assert.Equal(3.0, z.Sum(), 12));
        Assert.All(knn.Solutions.SelectMany(z => z), v => Assert.True(v is 0.0 or 0.5 or 1.0));
        Assert.Equal(5, knn.Objectives.Length);
        Assert.Equal("k", Assert.ThrowsAny<ArgumentException>(() => DflBenchmarks.SubsetSelection(5, 3, 8, k: 9)).ParamName);
        Assert.Equal("k", Assert.ThrowsAny<ArgumentException>(() => DflBenchmarks.KnnRobust(Problems.KSubset(8, 3), subsets.Features, subsets.Scores, k: 5)).ParamName);
    }

    /// <summary>NID returns the solutions forward and −dL/dz backward for a minimisation problem; the perturbed oracle
    /// over a user top-1 function gives rows on the simplex and a finite gradient, and refuses a wrong output length.</summary>
    [Fact]
    public void NegativeIdentityAndPerturbedOracle()
    {
        using var scope = torch.NewDisposeScope();
        var grid = Dfl.GridDagShortestPath(2, 2);
        var c = (torch.rand(3, grid.Size, dtype: float64, generator: new Generator(3)) + 0.1).requires_grad_(true);
        var z = DecisionLosses.NegativeIdentity(grid, c);
        Assert.Equal(Values(Discrete.Solve(grid, c.detach())), Values(z));
        var upstream = torch.rand(3, grid.Size, dtype: float64, generator: new Generator(4));
        (z * upstream).sum().backward();
        Assert.Equal(Values(-upstream), Values(c.grad!));

        double[] Top1(double[] row)
        {
            var y = new double[row.Length];
            y[Array.IndexOf(row, row.Max())] = 1.0;
            return y;
        }
        var theta = torch.randn(4, 5, dtype: float64, generator: new Generator(8)).requires_grad_(true);
        var p = RelaxationLayers.PerturbedOracle(Top1, 5, theta, new Generator(9), sigma: 0.5, samples: 20);
        Assert.Equal(new long[] { 4, 5 }, p.shape);
        foreach (var s in Values(p.sum(1))) Assert.Equal(1.0, s, 12);
        (p * torch.arange(5, dtype: float64)).sum().backward();
        Assert.All(Values(theta.grad!), g => Assert.True(double.IsFinite(g)));
        Assert.ThrowsAny<ArgumentException>(() => RelaxationLayers.PerturbedOracle(Top1, 4, theta, new Generator(9)).sum().ToDouble());
        Assert.Equal("sigma", Assert.ThrowsAny<ArgumentException>(() => RelaxationLayers.PerturbedOracle(Top1, 5, theta, new Generator(9), sigma: 0.0)).ParamName);
    }
}
