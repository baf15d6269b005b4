using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.FSharp.Core;

namespace Imle.CSharp;

/// <summary>Whether a MAP oracle maximises ⟨z, θ⟩ over scores θ or minimises ⟨z, c⟩ over costs c (then θ = −c).</summary>
public enum OptimizationSense
{
    /// <summary>The weights are scores θ: MAP(θ) = argmax ⟨z, θ⟩.</summary>
    Maximise,
    /// <summary>The weights are costs c: MAP(c) = argmin ⟨z, c⟩.</summary>
    Minimise,
}

/// <summary>The moves allowed along a grid path.</summary>
public enum GridNeighbourhood
{
    /// <summary>The 4 orthogonal neighbours.</summary>
    Four,
    /// <summary>The 8 neighbours (orthogonal and diagonal).</summary>
    Eight,
}

/// <summary>What a grid shortest path does with negative vertex costs (Dijkstra needs costs ≥ 0, and perturbed costs
/// can fall below 0).</summary>
public enum NegativeCostRule
{
    /// <summary>Each negative cost becomes 0 (blackbox-backprop's rule; the default).</summary>
    Clamp,
    /// <summary>A map with a negative cost has its minimum subtracted from every cell (tf-imle's rule for a noiseless
    /// target); this favours paths through fewer cells.</summary>
    Shift,
    /// <summary>Negative costs go unchanged to Dijkstra, which settles each cell at its first pop and never reopens it
    /// (tf-imle's rule for noisy costs): a path that need not be the cheapest when a cost is negative.</summary>
    Unchanged,
}

/// <summary>An undirected edge between two nodes of a graph, for <see cref="Problems.SpanningTree"/>.</summary>
/// <param name="From">One end (a node index).</param>
/// <param name="To">The other end (a node index).</param>
public readonly record struct Edge(int From, int To);

/// <summary>A MAP oracle over spans: reads the weights (in the problem's own sense) and writes a binary state into
/// <paramref name="state"/> (which arrives zeroed or holding stale values: write every entry). No allocation per call.</summary>
/// <param name="weights">The weights of one row.</param>
/// <param name="state">Where to write the state, same length as <paramref name="weights"/>.</param>
public delegate void SpanMapSolver(ReadOnlySpan<double> weights, Span<double> state);

/// <summary>A constrained exponential family p(z; θ) ∝ exp(⟨z, θ⟩/τ) over binary states, given by its MAP oracle.
/// States and weights are flat arrays of <see cref="Size"/> entries laid out row-major in <see cref="Shape"/>.
/// Create one with <see cref="Problems"/>.</summary>
public sealed class Problem
{
    internal readonly Imle.Problem Value;

    internal Problem(Imle.Problem value) => Value = value;

    /// <summary>A short name for messages and reports.</summary>
    public string Name => Value.Name;

    /// <summary>The shape of one state (and of the weights), e.g. [m] or [rows, cols].</summary>
    public IReadOnlyList<int> Shape => Array.AsReadOnly((int[])Value.Shape.Clone());

    /// <summary>The number of entries of a state (the product of <see cref="Shape"/>).</summary>
    public int Size => Value.Size;

    /// <summary>Whether the oracle maximises scores or minimises costs.</summary>
    public OptimizationSense Sense => Value.Sense.IsMaximise ? OptimizationSense.Maximise : OptimizationSense.Minimise;

    /// <summary>Whether the state space can be listed (needed by exact quantities and the score-function estimator).</summary>
    public bool IsEnumerable => Value.Enumerate != null;

    /// <summary>Whether states are real vectors (a linear program with continuous variables) rather than binary.</summary>
    public bool RealStates => Value.RealStates;

    /// <summary>MAP in the problem's own sense: validates the weights (length, finite), calls the oracle and checks
    /// that its output is a binary, feasible state.</summary>
    /// <param name="weights">Scores (maximisation) or costs (minimisation), <see cref="Size"/> entries.</param>
    /// <returns>The MAP state.</returns>
    /// <exception cref="ArgumentException">The weights have the wrong length or non-finite entries.</exception>
    /// <exception cref="InvalidOperationException">A user solver returned an invalid state.</exception>
    public double[] Solve(double[] weights) =>
        Imle.ProblemModule.solve(Value, weights);

    /// <summary>MAP in maximisation terms, argmax ⟨z, θ⟩, whatever the problem's sense.</summary>
    /// <param name="scores">The scores θ, <see cref="Size"/> entries.</param>
    /// <returns>The MAP state.</returns>
    public double[] SolveScores(double[] scores) =>
        Imle.ProblemModule.solveScores(Value, scores);

    /// <summary>Every state of the problem, where it is enumerable.</summary>
    /// <returns>The states, one array each.</returns>
    /// <exception cref="InvalidOperationException">The problem is not enumerable.</exception>
    public double[][] States() => Imle.ProblemModule.states(Value);

    /// <summary>A copy of this problem with an enumeration of its state space (enables exact quantities and the
    /// score-function estimator).</summary>
    /// <param name="enumerate">Lists every state.</param>
    /// <returns>The new problem.</returns>
    public Problem WithEnumeration(Func<double[][]> enumerate)
    {
        Guard.NotNull(enumerate, nameof(enumerate));
        return new(Imle.ProblemModule.withEnumeration(FuncConvert.FromFunc(enumerate), Value));
    }

    /// <summary>A copy of this problem with a membership test for its feasible set, used to validate solver output.</summary>
    /// <param name="isFeasible">Whether a binary state lies in the feasible set.</param>
    /// <returns>The new problem.</returns>
    public Problem WithFeasibility(Func<double[], bool> isFeasible)
    {
        Guard.NotNull(isFeasible, nameof(isFeasible));
        return new(Imle.ProblemModule.withFeasibility(FuncConvert.FromFunc(isFeasible), Value));
    }

    /// <inheritdoc />
    public override string ToString() => Name;
}

/// <summary>Ready-made problems and problems from your own MAP oracle.</summary>
public static class Problems
{
    /// <summary>A categorical distribution over <paramref name="m"/> classes: one-hot states, MAP = argmax. Enumerable.</summary>
    /// <param name="m">The number of classes, ≥ 1.</param>
    /// <returns>The problem.</returns>
    public static Problem Categorical(int m) =>
        new(Imle.ProblemModule.categorical(m));

    /// <summary>k-subsets of <paramref name="m"/> items: exactly <paramref name="k"/> ones, MAP = top-k.</summary>
    /// <param name="m">The number of items, ≥ 1.</param>
    /// <param name="k">The subset size, in [1, m].</param>
    /// <returns>The problem.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="m"/> &lt; 1 or <paramref name="k"/> outside [1, m].</exception>
    public static Problem KSubset(int m, int k) => new(Imle.ProblemModule.kSubset(m, k));

    /// <summary>Shortest path on a rows×cols grid with vertex costs, from the top-left to the bottom-right cell; the
    /// state is the indicator matrix of the path's cells. Minimises cost.</summary>
    /// <param name="rows">Rows, ≥ 1.</param>
    /// <param name="cols">Columns, ≥ 1.</param>
    /// <param name="neighbourhood">The allowed moves.</param>
    /// <param name="negativeCosts">What happens to negative costs (clamped to 0 unless told otherwise).</param>
    /// <returns>The problem.</returns>
    public static Problem GridShortestPath(
        int rows,
        int cols,
        GridNeighbourhood neighbourhood = GridNeighbourhood.Eight,
        NegativeCostRule negativeCosts = NegativeCostRule.Clamp) =>
        new(Imle.ProblemModule.gridShortestPathWith(Convert(negativeCosts), rows, cols, Convert(neighbourhood)));

    /// <summary>Global alignment of sequences of lengths n and m: scores s[i, j] for aligning i with j and a constant gap
    /// penalty; the state is the indicator of aligned pairs over the n×m matrix. Maximises.</summary>
    /// <param name="n">The first length, ≥ 1.</param>
    /// <param name="m">The second length, ≥ 1.</param>
    /// <param name="gap">The gap penalty, ≥ 0.</param>
    /// <returns>The problem.</returns>
    public static Problem Alignment(int n, int m, double gap = 0.0) => new(Imle.ProblemModule.alignment(n, m, gap));

    /// <summary>Minimum-cost bipartite matching of every one of <paramref name="rows"/> left nodes to a distinct one of
    /// <paramref name="cols"/> right nodes; the state is the assignment matrix. Minimises cost.</summary>
    /// <param name="rows">Left nodes, ≥ 1.</param>
    /// <param name="cols">Right nodes, ≥ rows.</param>
    /// <returns>The problem.</returns>
    public static Problem Matching(int rows, int cols) => new(Imle.ProblemModule.matching(rows, cols));

    /// <summary>Minimum spanning tree of a connected graph; the state is the indicator over <paramref name="edges"/>.
    /// Minimises total edge cost.</summary>
    /// <param name="nodes">The number of nodes, ≥ 1.</param>
    /// <param name="edges">The edges; their ends must lie in [0, nodes).</param>
    /// <returns>The problem.</returns>
    public static Problem SpanningTree(int nodes, IReadOnlyList<Edge> edges)
    {
        Guard.NotNull(edges, nameof(edges));
        return new(Imle.ProblemModule.spanningTree(nodes, ToTuples(edges)));
    }

    /// <summary>0/1 knapsack: maximise Σ z·value subject to Σ z·weight ≤ capacity (integer weights).</summary>
    /// <param name="itemWeights">The items' weights, each ≥ 0, at least one item.</param>
    /// <param name="capacity">The capacity, ≥ 0.</param>
    /// <returns>The problem.</returns>
    public static Problem Knapsack(int[] itemWeights, int capacity) => new(Imle.ProblemModule.knapsack(itemWeights, capacity));

    /// <summary>A problem from your own MAP function: it receives the weights (scores when maximising, costs when
    /// minimising) and must return a binary state of the same size; its output is checked.</summary>
    /// <param name="name">A non-empty name.</param>
    /// <param name="shape">The shape of a state, every dimension ≥ 1.</param>
    /// <param name="solve">The MAP oracle.</param>
    /// <param name="sense">Whether <paramref name="solve"/> maximises scores or minimises costs.</param>
    /// <returns>The problem.</returns>
    public static Problem FromFunction(string name, int[] shape, Func<double[], double[]> solve,
        OptimizationSense sense = OptimizationSense.Maximise)
    {
        Guard.NotNull(solve, nameof(solve));
        return new(Imle.ProblemModule.create(name, shape, Convert(sense), FuncConvert.FromFunc(solve)));
    }

    /// <summary>A problem from your own span-based MAP function (rows of a batch are solved in place over tensor
    /// memory, no allocation per call).</summary>
    /// <param name="name">A non-empty name.</param>
    /// <param name="shape">The shape of a state, every dimension ≥ 1.</param>
    /// <param name="solve">The MAP oracle over spans.</param>
    /// <param name="sense">Whether <paramref name="solve"/> maximises scores or minimises costs.</param>
    /// <returns>The problem.</returns>
    public static Problem FromSpanSolver(string name, int[] shape, SpanMapSolver solve,
        OptimizationSense sense = OptimizationSense.Maximise)
    {
        Guard.NotNull(solve, nameof(solve));
        return new(Imle.ProblemModule.createSpan(name, shape, Convert(sense), new Imle.SpanSolver(solve.Invoke)));
    }

    internal static Imle.Sense Convert(OptimizationSense sense) => sense switch
    {
        OptimizationSense.Maximise => Imle.Sense.Maximise,
        OptimizationSense.Minimise => Imle.Sense.Minimise,
        _ => throw new ArgumentOutOfRangeException(nameof(sense), sense, "sense must be Maximise or Minimise."),
    };

    internal static Imle.Solvers.Neighbourhood Convert(GridNeighbourhood neighbourhood) => neighbourhood switch
    {
        GridNeighbourhood.Four => Imle.Solvers.Neighbourhood.Four,
        GridNeighbourhood.Eight => Imle.Solvers.Neighbourhood.Eight,
        _ => throw new ArgumentOutOfRangeException(nameof(neighbourhood), neighbourhood, "neighbourhood must be Four or Eight."),
    };

    internal static Imle.NegativeCosts Convert(NegativeCostRule rule) => rule switch
    {
        NegativeCostRule.Clamp => Imle.NegativeCosts.ClampToZero,
        NegativeCostRule.Shift => Imle.NegativeCosts.ShiftToZero,
        NegativeCostRule.Unchanged => Imle.NegativeCosts.Unchanged,
        _ => throw new ArgumentOutOfRangeException(nameof(rule), rule, "negativeCosts must be Clamp, Shift or Unchanged."),
    };

    internal static Tuple<int, int>[] ToTuples(IReadOnlyList<Edge> edges) =>
        edges.Select(e => Tuple.Create(e.From, e.To)).ToArray();
}
