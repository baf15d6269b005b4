using System;
using System.Collections.Generic;

namespace Imle.CSharp;

/// <summary>The MAP solvers of the ready-made problems, arrays in, arrays out (states are 0/1 arrays). Arguments are
/// checked by the F# solvers (<c>Imle.Solvers</c>), whose messages name the parameters as spelled here.</summary>
public static class Solvers
{
    /// <summary>The indicator of the k largest scores (ties to the lower index).</summary>
    /// <param name="scores">The scores.</param>
    /// <param name="k">How many to pick, in [0, scores.Length].</param>
    /// <returns>A k-hot state.</returns>
    public static double[] TopK(double[] scores, int k) =>
        Imle.Solvers.TopK.solve(k, scores);

    /// <summary>The one-hot indicator of the largest score (the first on ties).</summary>
    /// <param name="scores">The scores, at least one.</param>
    /// <returns>A one-hot state.</returns>
    public static double[] Argmax(double[] scores) =>
        Imle.Solvers.Argmax.solve(scores);

    /// <summary>The cheapest path from the top-left to the bottom-right cell of a grid with non-negative vertex costs.</summary>
    /// <param name="rows">Rows, ≥ 1.</param>
    /// <param name="cols">Columns, ≥ 1.</param>
    /// <param name="costs">rows·cols costs ≥ 0, row-major.</param>
    /// <param name="neighbourhood">The allowed moves.</param>
    /// <returns>The indicator of the path's cells, row-major.</returns>
    public static double[] GridShortestPath(int rows, int cols, double[] costs, GridNeighbourhood neighbourhood = GridNeighbourhood.Eight) =>
        Imle.Solvers.GridShortestPath.solve(rows, cols, Problems.Convert(neighbourhood), costs);

    /// <summary>The best global alignment of sequences of lengths n and m.</summary>
    /// <param name="n">The first length, ≥ 0.</param>
    /// <param name="m">The second length, ≥ 0.</param>
    /// <param name="gap">The gap penalty, ≥ 0.</param>
    /// <param name="scores">n·m substitution scores, row-major.</param>
    /// <returns>The indicator of aligned pairs, row-major.</returns>
    public static double[] Alignment(int n, int m, double gap, double[] scores) =>
        Imle.Solvers.Alignment.solve(n, m, gap, scores);

    /// <summary>The minimum-cost assignment of every row to a distinct column (Hungarian algorithm).</summary>
    /// <param name="rows">Rows, ≥ 0.</param>
    /// <param name="cols">Columns, ≥ rows.</param>
    /// <param name="costs">rows·cols costs, row-major.</param>
    /// <returns>The assignment matrix, row-major.</returns>
    public static double[] Matching(int rows, int cols, double[] costs) =>
        Imle.Solvers.Matching.solve(rows, cols, costs);

    /// <summary>A minimum spanning tree (Kruskal) of a connected graph.</summary>
    /// <param name="nodes">The number of nodes, ≥ 1.</param>
    /// <param name="edges">The edges.</param>
    /// <param name="weights">One cost per edge.</param>
    /// <returns>The indicator over edges.</returns>
    public static double[] SpanningTree(int nodes, IReadOnlyList<Edge> edges, double[] weights)
    {
        Guard.NotNull(edges, nameof(edges));
        return Imle.Solvers.SpanningTree.solve(nodes, Problems.ToTuples(edges), weights);
    }

    /// <summary>The most valuable set of items within the capacity (0/1 knapsack, dynamic programming).</summary>
    /// <param name="itemWeights">Integer weights ≥ 0.</param>
    /// <param name="capacity">The capacity, ≥ 0.</param>
    /// <param name="values">One value per item.</param>
    /// <returns>The indicator of chosen items.</returns>
    public static double[] Knapsack(int[] itemWeights, int capacity, double[] values) =>
        Imle.Solvers.Knapsack.solve(itemWeights, capacity, values);
}
