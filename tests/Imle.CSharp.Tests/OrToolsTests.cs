using System;
using System.Linq;
using Imle.CSharp;
using Imle.CSharp.OrTools;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Imle.CSharp.Tests;

public class OrToolsTests
{
    /// <summary>A hand-built "at most one per row, exactly two in all" program agrees with brute force over its 64 states,
    /// and its problem works with the batched solver.</summary>
    [Fact]
    public void HandBuiltProgramMatchesBruteForce()
    {
        var ilp = LinearProgram.CreateBinary(new[] { 2, 3 }, OptimizationSense.Maximise)
            .AtMost(new[] { 0, 1, 2 }, 1)
            .AtMost(new[] { 3, 4, 5 }, 1)
            .AddConstraint(Enumerable.Range(0, 6).ToArray(), Enumerable.Repeat(1.0, 6).ToArray(), 2.0, 2.0);
        Assert.Equal(3, ilp.ConstraintCount);
        var random = new Random(3);
        for (int trial = 0; trial < 20; trial++)
        {
            var w = Enumerable.Range(0, 6).Select(_ => random.NextDouble() * 2 - 1).ToArray();
            var best = Enumerable.Range(0, 64)
                .Select(bits => Enumerable.Range(0, 6).Select(i => (double)((bits >> i) & 1)).ToArray())
                .Where(ilp.IsFeasible)
                .Max(z => z.Zip(w, (a, b) => a * b).Sum());
            var solved = ilp.Solve(w);
            Assert.True(ilp.IsFeasible(solved));
            Assert.Equal(best, solved.Zip(w, (a, b) => a * b).Sum(), 9);
        }

        var problem = ilp.ToProblem("two-rows");
        var weights = torch.tensor(new double[] { 3, 1, 0, 0, 2, 1 }).reshape(1, 2, 3);
        Assert.Equal(new double[] { 1, 0, 0, 0, 1, 0 }, Discrete.Solve(problem, weights).data<double>().ToArray());
    }

    /// <summary>The ready-made grid-path program finds Dijkstra's cost.</summary>
    [Fact]
    public void GridPathProgramAgreesWithDijkstra()
    {
        var random = new Random(5);
        var costs = Enumerable.Range(0, 16).Select(_ => random.NextDouble() * 5).ToArray();
        var ilp = LinearProgram.GridPath(4, 4);
        Assert.True(ilp.Variables > ilp.Size);
        var viaIlp = ilp.Solve(costs).Zip(costs, (a, b) => a * b).Sum();
        var viaDijkstra = Solvers.GridShortestPath(4, 4, costs).Zip(costs, (a, b) => a * b).Sum();
        Assert.Equal(viaDijkstra, viaIlp, 9);
        Assert.False(string.IsNullOrEmpty(LinearProgram.MipBackend));
    }

    /// <summary>Invalid programs, weights and infeasible models give typed errors naming what is wrong.</summary>
    [Fact]
    public void BadInputGivesClearErrors()
    {
        Assert.Throws<ArgumentException>(() => LinearProgram.CreateBinary(new[] { 0 }, OptimizationSense.Maximise));
        var ilp = LinearProgram.KSubset(4, 2);
        Assert.Equal("coefficients", Assert.Throws<ArgumentException>(() => ilp.AddConstraint(new[] { 0, 1 }, new[] { 1.0 }, 0, 1)).ParamName);
        Assert.Throws<ArgumentException>(() => ilp.AddConstraint(new[] { 0, 9 }, new[] { 1.0, 1.0 }, 0, 1));
        Assert.Throws<ArgumentException>(() => ilp.AddConstraint(new[] { 0 }, new[] { double.NaN }, 0, 1));
        Assert.Throws<ArgumentException>(() => ilp.AddConstraint(new[] { 0 }, new[] { 1.0 }, 2, 1));
        Assert.Equal("weights", Assert.Throws<ArgumentException>(() => ilp.Solve(new[] { 1.0, 2.0 })).ParamName);
        Assert.Equal("weights", Assert.Throws<ArgumentException>(() => ilp.Solve(new[] { 1.0, double.NaN, 0, 0 })).ParamName);
        var infeasible = ilp.AtLeast(new[] { 0, 1, 2 }, 3);
        Assert.Throws<InvalidOperationException>(() => infeasible.Solve(new[] { 1.0, 1, 1, 1 }));
        Assert.Throws<ArgumentException>(() => ilp.ToProblem(" "));
    }
}
