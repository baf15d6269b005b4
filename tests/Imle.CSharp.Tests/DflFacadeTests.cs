using System;
using System.Linq;
using Imle.CSharp;
using Imle.CSharp.OrTools;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Imle.CSharp.Tests;

/// <summary>The rest of issue #14's façade from C#: baselines (control variates), TSP data, ranking losses, gradient
/// checks of layers and of the score function, and linear programs with continuous variables.</summary>
public class DflFacadeTests
{
    private static double Dot(double[] a, double[] b) => a.Zip(b, (x, y) => x * y).Sum();

    /// <summary>The baselined perturbed optimizers have the plain ones' forward values; S = 1 is refused.</summary>
    [Fact]
    public void BaselinesKeepTheForwardValue()
    {
        using var scope = torch.NewDisposeScope();
        var problem = Dfl.GridDagShortestPath(3, 3);
        var w = (torch.rand(4, problem.Size, dtype: float64) + 0.1).requires_grad_(true);
        var plain = Discrete.Apply(problem, Estimators.Perturbed(Noises.Normal(0.5), 5), new Generator(1), w);
        var based = Dfl.PerturbedWithBaseline(problem, w, new Generator(1), Noises.Normal(0.5), 5);
        Assert.Equal(plain.data<double>().ToArray(), based.data<double>().ToArray());
        based.sum().backward();
        Assert.NotNull(w.grad);
        var mPlain = Dfl.MultiplicativePerturbed(problem, w, new Generator(2), sigma: 0.5, samples: 5);
        var mBased = Dfl.MultiplicativePerturbedWithBaseline(problem, w, new Generator(2), sigma: 0.5, samples: 5);
        Assert.Equal(mPlain.data<double>().ToArray(), mBased.data<double>().ToArray());
        Assert.ThrowsAny<ArgumentException>(() => Dfl.PerturbedWithBaseline(problem, w, new Generator(3), samples: 1));
        Assert.ThrowsAny<ArgumentException>(() => Dfl.MultiplicativePerturbedWithBaseline(problem, w, new Generator(3), samples: 1));
    }

    /// <summary>The gradient check shows the baseline's variance drop for a layer and for the score function.</summary>
    [Fact]
    public void GradientCheckShowsTheVarianceDrop()
    {
        var problem = Problems.Categorical(5);
        var theta = new[] { 0.3, -0.2, 1.0, 0.1, -0.5 };
        var loss = GradientCheck.Linear(new[] { -2.0, -0.4, -1.2, -3.0, -0.8 });
        var plain = GradientCheck.RunLayer(problem, "plain", (g, t) => Discrete.Apply(problem, Estimators.Perturbed(Noises.Gumbel(), 10), g, t),
            theta, loss, 2000, 11);
        var based = GradientCheck.RunLayer(problem, "baseline", (g, t) => Dfl.PerturbedWithBaseline(problem, t, g, Noises.Gumbel(), 10),
            theta, loss, 2000, 11);
        Assert.True(based.Variance < plain.Variance, $"{based.Variance} < {plain.Variance}");
        var sfPlain = GradientCheck.RunScoreFunction(problem, 10, false, theta, loss, 2000, 12);
        var sfBased = GradientCheck.RunScoreFunction(problem, 10, true, theta, loss, 2000, 12);
        Assert.True(sfBased.Variance < sfPlain.Variance, $"{sfBased.Variance} < {sfPlain.Variance}");
        Assert.True(sfBased.Cosine > 0.99);
    }

    /// <summary>TSP data is deterministic per seed and has one cost per edge; Held–Karp solves it.</summary>
    [Fact]
    public void TspDataAndRankingLosses()
    {
        var data = Dfl.TspData(20, 5, 6, deg: 2, noiseWidth: 0.5, seed: 3);
        Assert.Equal(6, data.Coordinates!.Length);
        Assert.Equal(15, data.Costs[0].Length);
        Assert.Equal(data.Costs[4], Dfl.TspData(20, 5, 6, deg: 2, noiseWidth: 0.5, seed: 3).Costs[4]);
        var problem = Dfl.TravellingSalesperson(6);
        var dataset = Dfl.Dataset(problem, data.Features, data.Costs);
        Assert.All(dataset.Solutions, s => Assert.Equal(6.0, s.Sum()));
        // All-zero predictions tie every tour: the unambiguous regret takes the worst one.
        var zeros = dataset.Costs.Select(r => new double[r.Length]).ToArray();
        Assert.True(Dfl.NormalizedUnambiguousRegret(dataset, zeros) >= Dfl.NormalizedRegret(dataset, zeros));
        Assert.Equal(0.0, Dfl.NormalizedUnambiguousRegret(dataset, dataset.Costs), 9);

        using var scope = torch.NewDisposeScope();
        var pool = new SolutionPool(problem, dataset.Solutions, solveRatio: 0.5, seed: 1);
        var c = torch.tensor(dataset.Costs.Take(4).SelectMany(r => r).ToArray(), dtype: float64).reshape(4, 15);
        var guess = torch.rand(4, 15, dtype: float64).requires_grad_(true);
        foreach (var loss in new[] { Dfl.ListwiseRanking(pool, guess, c), Dfl.PairwiseRanking(pool, guess, c), Dfl.PointwiseRanking(pool, guess, c) })
        {
            Assert.True(loss.item<double>() >= 0.0);
            loss.backward();
        }
        Assert.NotNull(guess.grad);
        Assert.Equal(0.0, Dfl.PointwiseRanking(pool, c, c).item<double>(), 12);
    }

    /// <summary>The OR-Tools TSP equals Held–Karp on 8 cities and solves 16 cities (beyond Held–Karp).</summary>
    [Fact]
    public void OrToolsTravellingSalesperson()
    {
        var rng = new Random(9);
        var costs8 = Enumerable.Range(0, 28).Select(_ => rng.NextDouble()).ToArray();
        Assert.Equal(Dot(costs8, Dfl.TravellingSalesperson(8).Solve(costs8)), Dot(costs8, TravellingSalesperson.Problem(8).Solve(costs8)), 9);
        var costs16 = Enumerable.Range(0, 120).Select(_ => rng.NextDouble()).ToArray();
        Assert.True(TravellingSalesperson.IsTour(16, TravellingSalesperson.Problem(16).Solve(costs16)));
        Assert.Equal("cities", Assert.ThrowsAny<ArgumentException>(() => TravellingSalesperson.Problem(2)).ParamName);
    }

    /// <summary>LPs with continuous variables: the flow LP equals the DAG solver; a fractional vertex is a valid real
    /// state; infeasible and unbounded programs say so; SPO+ backpropagates through an LP problem.</summary>
    [Fact]
    public void LinearPrograms()
    {
        var arcs = new System.Collections.Generic.List<Arc>();
        for (int i = 0; i < 3; i++)
        {
            for (int j = 0; j < 2; j++) arcs.Add(new Arc(i * 3 + j, i * 3 + j + 1));
            if (i < 2) for (int j = 0; j < 3; j++) arcs.Add(new Arc(i * 3 + j, i * 3 + j + 3));
        }
        var flow = LinearProgram.Flow(9, arcs, 0, 8);
        Assert.Equal("GLOP", flow.Backend);
        var lp = flow.ToProblem("flow LP");
        Assert.True(lp.RealStates);
        var dag = Dfl.GridDagShortestPath(3, 3);
        var rng = new Random(5);
        for (int t = 0; t < 10; t++)
        {
            var costs = Enumerable.Range(0, 12).Select(_ => rng.NextDouble() * 2 - 0.5).ToArray();
            Assert.Equal(Dot(costs, dag.Solve(costs)), Dot(costs, lp.Solve(costs)), 7);
        }

        var fractional = LinearProgram.Create(new[] { 2 }, OptimizationSense.Maximise)
            .AddConstraint(new[] { 0, 1 }, new[] { 2.0, 1.0 }, double.NegativeInfinity, 1.0)
            .AddConstraint(new[] { 0, 1 }, new[] { 1.0, 2.0 }, double.NegativeInfinity, 1.0);
        var x = fractional.ToProblem("fractional").Solve(new[] { 1.0, 1.0 });
        Assert.Equal(1.0 / 3.0, x[0], 7);
        Assert.Equal("SCIP", fractional.WithIntegers(0, 1).Backend);
        Assert.Equal(0.0, Dot(new[] { 1.0, 1.0 }, fractional.WithIntegers(0, 1).Solve(new[] { 1.0, 1.0 })), 9);

        var infeasible = LinearProgram.Create(new[] { 2 }, OptimizationSense.Minimise, 0.0, 1.0)
            .AddConstraint(new[] { 0, 1 }, new[] { 1.0, 1.0 }, 3.0, double.PositiveInfinity);
        Assert.Contains("infeasible", Assert.Throws<InvalidOperationException>(() => infeasible.Solve(new[] { 1.0, 1.0 })).Message);
        var open = LinearProgram.Create(new[] { 2 }, OptimizationSense.Maximise);
        Assert.Contains("unbounded", Assert.Throws<InvalidOperationException>(() => open.Solve(new[] { 1.0, 0.0 })).Message);
        Assert.Equal("weights", Assert.ThrowsAny<ArgumentException>(() => open.Solve(new[] { 1.0 })).ParamName);
        Assert.Equal("coefficients", Assert.ThrowsAny<ArgumentException>(() => open.AddConstraint(new[] { 0 }, new[] { 1.0, 2.0 }, 0, 1)).ParamName);

        using var scope = torch.NewDisposeScope();
        var data = Dfl.ShortestPathData(8, 5, 3, 3, deg: 2, noiseWidth: 0.5, seed: 4);
        var dataset = Dfl.Dataset(lp, data.Features, data.Costs);
        var c = torch.tensor(dataset.Costs.SelectMany(r => r).ToArray(), dtype: float64).reshape(8, 12);
        var w = torch.tensor(dataset.Solutions.SelectMany(r => r).ToArray(), dtype: float64).reshape(8, 12);
        var predicted = torch.rand(8, 12, dtype: float64).requires_grad_(true);
        var spo = Dfl.SpoPlus(lp, predicted, c, w);
        Assert.True(spo.item<double>() >= -1e-9);
        spo.backward();
        Assert.NotNull(predicted.grad);
    }
}
