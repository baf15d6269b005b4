using System;

namespace Imle.CSharp;

/// <summary>Instances of a decision-focused learning benchmark with their exact optima: features x_i, true scores or
/// costs θ_i and optimal solutions, one row per instance.</summary>
public sealed class BenchmarkData
{
    internal BenchmarkData(global::Imle.Dfl.BenchmarkData value)
    {
        Features = value.Features;
        Scores = value.Scores;
        Optima = value.Optima;
    }

    /// <summary>Features, [n][p].</summary>
    public double[][] Features { get; }

    /// <summary>True scores (argmax, ranking, subset selection: maximise) or costs (shortest path: minimise), [n][m].</summary>
    public double[][] Scores { get; }

    /// <summary>The optimal solutions, [n][m].</summary>
    public double[][] Optima { get; }
}

/// <summary>A kNN-robust dataset (PyEPO's optDatasetKNN; Schutte et al. 2023): per instance, the means over its k
/// feature-space neighbours' smoothed costs of the costs, optimal solutions and optimal values.</summary>
public sealed class KnnRobustData
{
    internal KnnRobustData(global::Imle.Dfl.KnnRobustData value)
    {
        Features = value.Features;
        Costs = value.Costs;
        Solutions = value.Solutions;
        Objectives = value.Objectives;
    }

    /// <summary>Features, [n][p] (unchanged).</summary>
    public double[][] Features { get; }

    /// <summary>The mean smoothed cost vector per instance, [n][m].</summary>
    public double[][] Costs { get; }

    /// <summary>The mean of the k optimal solutions per instance, [n][m].</summary>
    public double[][] Solutions { get; }

    /// <summary>The mean of the k optimal values per instance, [n].</summary>
    public double[] Objectives { get; }
}

/// <summary>The problems of DecisionFocusedLearningBenchmarks.jl (argmax, ranking, subset selection, the fixed-size
/// shortest path) as generators with exact optima, and PyEPO's kNN-robust labels. The linear-score problems draw
/// x_i ~ N(0, I_p), a fixed encoder W with N(0, 1) entries and θ_i = W·x_i/√p + σ·ξ_i; deterministic per seed, not
/// bit-identical to Julia's generators. All checks are the F# library's.</summary>
public static class DflBenchmarks
{
    /// <summary>The argmax benchmark: the optimum is the one-hot vector of the largest score.</summary>
    /// <param name="instances">Instances n, ≥ 1.</param>
    /// <param name="features">Features p, ≥ 1.</param>
    /// <param name="size">Items m, ≥ 1.</param>
    /// <param name="noise">The noise σ ≥ 0 added to the scores.</param>
    /// <param name="seed">The seed.</param>
    /// <returns>Features, scores and optima.</returns>
    /// <exception cref="ArgumentException">An argument is outside its range.</exception>
    public static BenchmarkData Argmax(int instances, int features, int size, double noise = 0.0, int seed = 0) =>
        new(global::Imle.Dfl.Benchmarks.argmax(instances, features, size, noise, seed));

    /// <summary>The ranking benchmark: the optimum is the rank vector of the scores (1 for the largest).</summary>
    /// <param name="instances">Instances n, ≥ 1.</param>
    /// <param name="features">Features p, ≥ 1.</param>
    /// <param name="size">Items m, ≥ 1.</param>
    /// <param name="noise">The noise σ ≥ 0 added to the scores.</param>
    /// <param name="seed">The seed.</param>
    /// <returns>Features, scores and optima.</returns>
    /// <exception cref="ArgumentException">An argument is outside its range.</exception>
    public static BenchmarkData Ranking(int instances, int features, int size, double noise = 0.0, int seed = 0) =>
        new(global::Imle.Dfl.Benchmarks.ranking(instances, features, size, noise, seed));

    /// <summary>The subset selection benchmark: the optimum is the indicator of the k largest scores.</summary>
    /// <param name="instances">Instances n, ≥ 1.</param>
    /// <param name="features">Features p, ≥ 1.</param>
    /// <param name="size">Items m, ≥ 1.</param>
    /// <param name="k">The subset size, in [1, m].</param>
    /// <param name="noise">The noise σ ≥ 0 added to the scores.</param>
    /// <param name="seed">The seed.</param>
    /// <returns>Features, scores and optima.</returns>
    /// <exception cref="ArgumentException">An argument is outside its range.</exception>
    public static BenchmarkData SubsetSelection(int instances, int features, int size, int k, double noise = 0.0, int seed = 0) =>
        new(global::Imle.Dfl.Benchmarks.subsetSelection(instances, features, size, k, noise, seed));

    /// <summary>The fixed-size shortest path benchmark: PyEPO's shortest-path costs on the rows×cols grid (see
    /// <see cref="Dfl.ShortestPathData"/>) with each instance's shortest corner-to-corner path as its optimum (arc
    /// indicators, in the arc order of <see cref="Dfl.GridDagShortestPath"/>).</summary>
    /// <param name="instances">Instances n, ≥ 1.</param>
    /// <param name="features">Features p, ≥ 1.</param>
    /// <param name="rows">Grid rows.</param>
    /// <param name="cols">Grid columns.</param>
    /// <param name="deg">Polynomial degree, ≥ 1.</param>
    /// <param name="noiseWidth">Noise half-width in [0, 1).</param>
    /// <param name="seed">The seed.</param>
    /// <returns>Features, arc costs and optimal paths.</returns>
    /// <exception cref="ArgumentException">An argument is outside its range.</exception>
    public static BenchmarkData FixedSizeShortestPath(int instances, int features, int rows, int cols, int deg = 1,
        double noiseWidth = 0.0, int seed = 0) =>
        new(global::Imle.Dfl.Benchmarks.fixedSizeShortestPath(instances, features, rows, cols, deg, noiseWidth, seed));

    /// <summary>PyEPO's kNN-robust labels: for each instance its k nearest other instances by feature distance (ties to
    /// the lower index), the smoothed costs w·c_i + (1 − w)·c_j, their optimal solutions and values by the problem's
    /// solver, and the means over the k neighbours (w = 1: no smoothing, as PyEPO's default).</summary>
    /// <param name="problem">The problem whose solver labels the instances.</param>
    /// <param name="features">Features, [n][p], n ≥ 2.</param>
    /// <param name="costs">Costs in the problem's sense, [n][m].</param>
    /// <param name="k">Neighbours, in [1, n − 1].</param>
    /// <param name="weight">The smoothing weight w in [0, 1].</param>
    /// <returns>The averaged costs, solutions and values.</returns>
    /// <exception cref="ArgumentException">An argument is outside its range.</exception>
    public static KnnRobustData KnnRobust(Problem problem, double[][] features, double[][] costs, int k, double weight = 1.0) =>
        new(global::Imle.Dfl.KnnRobust.create(Guard.NotNull(problem, nameof(problem)).Value, k, weight,
            Guard.Array(features, nameof(features)), Guard.Array(costs, nameof(costs))));
}
