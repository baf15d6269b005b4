using System;
using System.Linq;
using Imle.CSharp;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Imle.CSharp.Tests;

/// <summary>The decision-focused-learning façade (issue #14) from C#.</summary>
public class DflTests
{
    private static double Dot(double[] a, double[] b) => a.Zip(b, (x, y) => x * y).Sum();

    /// <summary>The 5×5 grid problem solves signed costs; Bellman–Ford agrees; TSP returns a tour.</summary>
    [Fact]
    public void SolversAgreeAndAcceptNegativeCosts()
    {
        var grid = Dfl.GridDagShortestPath(5, 5);
        Assert.Equal(40, grid.Size);
        Assert.Equal(OptimizationSense.Minimise, grid.Sense);
        var rng = new Random(3);
        var costs = Enumerable.Range(0, 40).Select(_ => rng.NextDouble() * 2 - 1).ToArray();
        var z = grid.Solve(costs);
        var best = grid.States().Min(s => Dot(costs, s));
        Assert.Equal(best, Dot(costs, z), 9);
        // The same network through Bellman–Ford (arcs in PyEPO's order: row by row, horizontal then vertical).
        var arcs = new System.Collections.Generic.List<Arc>();
        for (int i = 0; i < 5; i++)
        {
            for (int j = 0; j < 4; j++) arcs.Add(new Arc(i * 5 + j, i * 5 + j + 1));
            if (i < 4) for (int j = 0; j < 5; j++) arcs.Add(new Arc(i * 5 + j, i * 5 + j + 5));
        }
        Assert.Equal(best, Dot(costs, Dfl.BellmanFord(25, arcs, 0, 24, costs)), 9);
        var tsp = Dfl.TravellingSalesperson(6);
        Assert.Equal(15, Dfl.TourEdges(6).Length);
        var tour = tsp.Solve(Enumerable.Range(0, 15).Select(_ => rng.NextDouble()).ToArray());
        Assert.Equal(6.0, tour.Sum());
    }

    /// <summary>A negative cycle is an ArgumentException naming the costs; bad sizes name their parameter.</summary>
    [Fact]
    public void ErrorsNameTheParameter()
    {
        var arcs = new[] { new Arc(0, 1), new Arc(1, 2), new Arc(2, 1), new Arc(2, 3) };
        var e = Assert.Throws<ArgumentException>(() => Dfl.BellmanFord(4, arcs, 0, 3, new[] { 1.0, 1.0, -3.0, 1.0 }));
        Assert.Equal("costs", e.ParamName);
        Assert.Contains("negative cycle", e.Message);
        Assert.Equal("cities", Assert.ThrowsAny<ArgumentException>(() => Dfl.TravellingSalesperson(20)).ParamName);
        Assert.Equal("arcs", Assert.ThrowsAny<ArgumentException>(() => Dfl.DagShortestPath(3, new[] { new Arc(0, 1), new Arc(1, 0) }, 0, 1)).ParamName);
        Assert.Equal("deg", Assert.ThrowsAny<ArgumentException>(() => Dfl.ShortestPathData(10, 5, 5, 5, deg: 0)).ParamName);
        Assert.Equal("initial", Assert.ThrowsAny<ArgumentException>(() => new SolutionPool(Dfl.GridDagShortestPath(3, 3), Array.Empty<double[]>())).ParamName);
    }

    /// <summary>Generated data is deterministic per seed; the dataset's regret is 0 at the true costs and ≥ 0 otherwise.</summary>
    [Fact]
    public void DataDatasetAndRegret()
    {
        var data = Dfl.ShortestPathData(100, 5, 5, 5, deg: 4, noiseWidth: 0.5, seed: 1);
        Assert.Equal(data.Costs[7], Dfl.ShortestPathData(100, 5, 5, 5, deg: 4, noiseWidth: 0.5, seed: 1).Costs[7]);
        var problem = Dfl.GridDagShortestPath(5, 5);
        var dataset = Dfl.Dataset(problem, data.Features, data.Costs);
        Assert.Equal(100, dataset.Count);
        Assert.Equal(0.0, Dfl.NormalizedRegret(dataset, dataset.Costs), 12);
        var rng = new Random(2);
        var noisy = dataset.Costs.Select(c => c.Select(x => x + rng.NextDouble() - 0.5).ToArray()).ToArray();
        Assert.All(Dfl.Regrets(dataset, noisy), r => Assert.True(r >= -1e-9));
        Assert.Equal(3, dataset.Subset(new[] { 0, 1, 2 }).Count);
        var knapsack = Dfl.KnapsackData(10, 5, 12, dim: 1, deg: 2, noiseWidth: 0.5, seed: 3);
        Assert.NotNull(knapsack.ItemWeights);
        Assert.All(knapsack.ItemWeights![0], w => Assert.InRange(w, 300, 799));
    }

    /// <summary>SPO+ is 0 at the true costs with a zero gradient there; NCE/CMAP and the multiplicative losses run and
    /// backpropagate.</summary>
    [Fact]
    public void LossesRunAndBackpropagate()
    {
        using var scope = torch.NewDisposeScope();
        var problem = Dfl.GridDagShortestPath(5, 5);
        var data = Dfl.ShortestPathData(8, 5, 5, 5, deg: 2, noiseWidth: 0.5, seed: 4);
        var dataset = Dfl.Dataset(problem, data.Features, data.Costs);
        var c = torch.tensor(dataset.Costs.SelectMany(r => r).ToArray(), dtype: float64).reshape(8, 40);
        var w = torch.tensor(dataset.Solutions.SelectMany(r => r).ToArray(), dtype: float64).reshape(8, 40);
        var predicted = c.clone().requires_grad_(true);
        var spo = Dfl.SpoPlus(problem, predicted, c, w);
        Assert.Equal(0.0, spo.item<double>(), 12);
        spo.backward();
        Assert.Equal(0.0, predicted.grad!.abs().sum().item<double>(), 12);

        var pool = new SolutionPool(problem, dataset.Solutions, solveRatio: 1.0, seed: 5);
        var guess = torch.rand(8, 40, dtype: float64).requires_grad_(true);
        var cmap = Dfl.Cmap(pool, guess, w);
        Assert.True(cmap.item<double>() >= 0.0);
        Dfl.Nce(pool, guess, w).backward();
        Assert.NotNull(guess.grad);

        var positive = (torch.rand(8, 40, dtype: float64) + 0.1).requires_grad_(true);
        var mean = Dfl.MultiplicativePerturbed(problem, positive, new Generator(6), sigma: 0.5, samples: 4);
        // Every monotone path on the 5×5 grid has 8 arcs, so every mean of paths sums to 8.
        Assert.All(mean.sum(1).data<double>().ToArray(), s => Assert.Equal(8.0, s, 9));
        var fy = Dfl.MultiplicativeFenchelYoung(problem, positive, w, new Generator(7), sigma: 0.5, samples: 4);
        Assert.True(fy.item<double>() >= -1e-9);
        fy.backward();
        Assert.NotNull(positive.grad);
    }
}
