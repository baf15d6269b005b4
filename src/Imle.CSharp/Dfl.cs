using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.FSharp.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Imle.CSharp;

/// <summary>A directed arc from one node to another, for the shortest-path solvers of <see cref="Dfl"/>.</summary>
/// <param name="From">The tail (a node index).</param>
/// <param name="To">The head (a node index).</param>
public readonly record struct Arc(int From, int To);

/// <summary>Feature–cost pairs from one of PyEPO's generators: features [n][p] and costs (or item values) [n][m].</summary>
public sealed class DflData
{
    internal DflData(double[][] features, double[][] costs, int[][]? itemWeights, double[][]? coordinates = null)
    {
        Features = features;
        Costs = costs;
        ItemWeights = itemWeights;
        Coordinates = coordinates;
    }

    /// <summary>Features x_i, one row per instance.</summary>
    public double[][] Features { get; }

    /// <summary>Costs (shortest path) or item values (knapsack), one row per instance.</summary>
    public double[][] Costs { get; }

    /// <summary>Knapsack item weights in hundredths, [dim][items] (null for shortest-path data).</summary>
    public int[][]? ItemWeights { get; }

    /// <summary>TSP city coordinates [cities][2] (null for other data).</summary>
    public double[][]? Coordinates { get; }
}

/// <summary>A predict-then-optimise dataset: features, true costs, and each instance's optimal solution and value,
/// computed once (in parallel) when it is built.</summary>
public sealed class DflDataset
{
    internal readonly global::Imle.Dfl.DflDataset Value;

    internal DflDataset(global::Imle.Dfl.DflDataset value, Problem problem)
    {
        Value = value;
        Problem = problem;
    }

    /// <summary>The problem every instance shares.</summary>
    public Problem Problem { get; }

    /// <summary>The number of instances.</summary>
    public int Count => Value.Count;

    /// <summary>Features (copies).</summary>
    public double[][] Features => Value.Features;

    /// <summary>True costs in the problem's own sense (copies).</summary>
    public double[][] Costs => Value.Costs;

    /// <summary>Optimal solutions w*(c) (copies).</summary>
    public double[][] Solutions => Value.Solutions;

    /// <summary>Optimal values z*(c) = ⟨c, w*(c)⟩ (a copy).</summary>
    public double[] Objectives => Value.Objectives;

    /// <summary>The instances at the given indices (solutions are not recomputed).</summary>
    /// <param name="indices">Indices in [0, Count).</param>
    /// <returns>The subset.</returns>
    public DflDataset Subset(int[] indices) =>
        new(global::Imle.Dfl.DflDatasetModule.subset(Guard.Array(indices, nameof(indices)), Value), Problem);
}

/// <summary>A pool of feasible solutions for the contrastive losses (<see cref="Dfl.Nce"/>, <see cref="Dfl.Cmap"/>),
/// grown by solving a batch's predicted costs with probability <see cref="SolveRatio"/> per loss call.</summary>
public sealed class SolutionPool
{
    internal readonly global::Imle.Torch.SolutionPool Value;

    /// <summary>A pool seeded with known solutions (e.g. a dataset's optimal ones).</summary>
    /// <param name="problem">The problem.</param>
    /// <param name="initial">At least one binary solution of the problem's size.</param>
    /// <param name="solveRatio">The probability, in [0, 1], of solving a batch's predictions per loss call.</param>
    /// <param name="seed">Seed of the pool's own generator.</param>
    public SolutionPool(Problem problem, double[][] initial, double solveRatio = 0.05, int seed = 0)
    {
        Problem = Guard.NotNull(problem, nameof(problem));
        Value = new global::Imle.Torch.SolutionPool(problem.Value, Guard.Array(initial, nameof(initial)), solveRatio, seed);
    }

    /// <summary>The problem whose solutions the pool holds.</summary>
    public Problem Problem { get; }

    /// <summary>The probability of solving a batch's predictions per loss call.</summary>
    public double SolveRatio => Value.SolveRatio;

    /// <summary>The number of distinct solutions.</summary>
    public int Count => Value.Count;

    /// <summary>Adds solutions; duplicates are ignored.</summary>
    /// <param name="solutions">Binary solutions of the problem's size.</param>
    public void Add(double[][] solutions) => Value.Add(Guard.Array(solutions, nameof(solutions)));
}

/// <summary>Decision-focused learning (predict-then-optimise): signed-cost shortest paths and Held–Karp TSP, PyEPO's
/// data generators, datasets with precomputed optima, regret, SPO+, multiplicative perturbations and contrastive
/// losses. Sense, stated once: costs, predictions and solutions are in the problem's own sense (costs for minimisation,
/// values for maximisation); every loss is ≥ 0 (or, for NCE, small) when the prediction is good in that sense.</summary>
public static class Dfl
{
    // ----- problems and solvers --------------------------------------------------------------------------------------

    /// <summary>PyEPO's shortest-path problem on a rows×cols grid network (40 arcs on 5×5, PyEPO's arc order), arc costs
    /// of any sign (exact dynamic programming on the DAG). Minimises cost; the state is the arc indicator.</summary>
    /// <param name="rows">Rows, ≥ 1.</param>
    /// <param name="cols">Columns, ≥ 1 (rows·cols ≥ 2).</param>
    /// <returns>The problem.</returns>
    public static Problem GridDagShortestPath(int rows, int cols)
        => new(global::Imle.ProblemModule.gridDagShortestPath(rows, cols));

    /// <summary>Shortest source–sink path in a directed acyclic graph with arc costs of any sign. Minimises cost; the
    /// state is the indicator over <paramref name="arcs"/>.</summary>
    /// <param name="nodes">The number of nodes, ≥ 1.</param>
    /// <param name="arcs">The arcs; no cycle, no self-loop.</param>
    /// <param name="source">The start node.</param>
    /// <param name="sink">The end node, reachable from the source.</param>
    /// <returns>The problem.</returns>
    public static Problem DagShortestPath(int nodes, IReadOnlyList<Arc> arcs, int source, int sink)
    {
        Guard.NotNull(arcs, nameof(arcs));
        var dag = global::Imle.Solvers.DagShortestPath.create(nodes, ToTuples(arcs), source, sink);
        return new(global::Imle.ProblemModule.dagShortestPath(dag));
    }

    /// <summary>The symmetric travelling-salesperson problem on 3 to 13 cities, solved exactly by Held–Karp; costs and
    /// state are indexed by the edges (i, j), i &lt; j, in lexicographic order (see <see cref="TourEdges"/>).</summary>
    /// <param name="cities">The number of cities, in [3, 13].</param>
    /// <returns>The problem.</returns>
    public static Problem TravellingSalesperson(int cities)
        => new(global::Imle.ProblemModule.travellingSalesperson(cities));

    /// <summary>The edges (i, j), i &lt; j, of the complete graph on <paramref name="cities"/> nodes, in the order the
    /// TSP problem indexes its costs and states.</summary>
    /// <param name="cities">The number of cities, ≥ 2.</param>
    /// <returns>The edges.</returns>
    public static Arc[] TourEdges(int cities) =>
        global::Imle.Solvers.HeldKarp.edges(cities).Select(e => new Arc(e.Item1, e.Item2)).ToArray();

    /// <summary>A shortest source–sink path (arc indicator) in a general directed graph with costs of any sign
    /// (Bellman–Ford).</summary>
    /// <param name="nodes">The number of nodes, ≥ 1.</param>
    /// <param name="arcs">The arcs (no self-loops).</param>
    /// <param name="source">The start node.</param>
    /// <param name="sink">The end node.</param>
    /// <param name="costs">One finite cost per arc.</param>
    /// <returns>The path's arc indicator.</returns>
    /// <exception cref="ArgumentException">A negative cycle reachable from the source (ParamName "costs", the message
    /// lists the cycle), an unreachable sink ("sink"), or bad arguments (named).</exception>
    public static double[] BellmanFord(int nodes, IReadOnlyList<Arc> arcs, int source, int sink, double[] costs)
    {
        Guard.NotNull(arcs, nameof(arcs));
        return global::Imle.Solvers.BellmanFord.solve(nodes, ToTuples(arcs), source, sink, Guard.Array(costs, nameof(costs)));
    }

    // ----- data ----------------------------------------------------------------------------------------------------

    /// <summary>PyEPO's shortest-path data (pyepo.data.shortestpath.genData): x ~ N(0, I_p), a Bernoulli(0.5) matrix B,
    /// c = ((Bx/√p + 3)^deg + 1)/3.5^deg ⊙ ε with ε ~ U[1 − noiseWidth, 1 + noiseWidth]; deterministic per seed.</summary>
    /// <param name="instances">Instances, ≥ 1.</param>
    /// <param name="features">Features p, ≥ 1.</param>
    /// <param name="rows">Grid rows.</param>
    /// <param name="cols">Grid columns.</param>
    /// <param name="deg">Polynomial degree, ≥ 1.</param>
    /// <param name="noiseWidth">Noise half-width in [0, 1).</param>
    /// <param name="seed">The seed.</param>
    /// <returns>Features and arc costs.</returns>
    public static DflData ShortestPathData(int instances, int features, int rows, int cols, int deg = 1, double noiseWidth = 0.0, int seed = 135)
    {
        var d = global::Imle.Dfl.Generators.shortestPath(instances, features, rows, cols, deg, noiseWidth, seed);
        return new DflData(d.Features, d.Costs, null);
    }

    /// <summary>PyEPO's knapsack data (pyepo.data.knapsack.genData): item values ⌈5·((Bx/√p + 3)^deg + 1)/3.5^deg ⊙ ε⌉ and
    /// item weights in hundredths (300..799) per resource dimension.</summary>
    /// <param name="instances">Instances, ≥ 1.</param>
    /// <param name="features">Features p, ≥ 1.</param>
    /// <param name="items">Items, ≥ 1.</param>
    /// <param name="dim">Resource dimensions, ≥ 1.</param>
    /// <param name="deg">Polynomial degree, ≥ 1.</param>
    /// <param name="noiseWidth">Noise half-width in [0, 1).</param>
    /// <param name="seed">The seed.</param>
    /// <returns>Features, item values and item weights.</returns>
    public static DflData KnapsackData(int instances, int features, int items, int dim = 1, int deg = 1, double noiseWidth = 0.0, int seed = 135)
    {
        var result = global::Imle.Dfl.Generators.knapsack(instances, features, items, dim, deg, noiseWidth, seed);
        return new DflData(result.Item2.Features, result.Item2.Costs, result.Item1);
    }

    /// <summary>A dataset from features and true costs: solves every instance once (in parallel).</summary>
    /// <param name="problem">The problem.</param>
    /// <param name="features">Features [n][p].</param>
    /// <param name="costs">True costs [n][m] in the problem's sense.</param>
    /// <returns>The dataset.</returns>
    public static DflDataset Dataset(Problem problem, double[][] features, double[][] costs)
    {
        Guard.NotNull(problem, nameof(problem));
        return new(global::Imle.Dfl.DflDatasetModule.create(problem.Value, Guard.Array(features, nameof(features)),
            Guard.Array(costs, nameof(costs))), problem);
    }

    // ----- metrics ---------------------------------------------------------------------------------------------------

    /// <summary>The regret of every instance for predictions [n][m]: cᵀw*(ĉ) − z*(c) when minimising, z*(c) − cᵀw*(ĉ)
    /// when maximising (≥ 0).</summary>
    /// <param name="dataset">The dataset.</param>
    /// <param name="predictions">One prediction per instance.</param>
    /// <returns>The regrets.</returns>
    public static double[] Regrets(DflDataset dataset, double[][] predictions) =>
        global::Imle.Dfl.Regret.perInstance(Guard.NotNull(dataset, nameof(dataset)).Value, Guard.Array(predictions, nameof(predictions)));

    /// <summary>PyEPO's normalised regret Σ regret_i / Σ |z*(c_i)|.</summary>
    /// <param name="dataset">The dataset.</param>
    /// <param name="predictions">One prediction per instance.</param>
    /// <returns>The normalised regret.</returns>
    public static double NormalizedRegret(DflDataset dataset, double[][] predictions) =>
        global::Imle.Dfl.Regret.normalised(Guard.NotNull(dataset, nameof(dataset)).Value, Guard.Array(predictions, nameof(predictions)));

    /// <summary>Normalised unambiguous regret (PyEPO's unambiguous regret): per instance, the regret of the worst decision
    /// among the states tied as optimal for the prediction (found by the tie-break ĉ − ε·c), summed and divided by
    /// Σ |z*(c_i)|.</summary>
    /// <param name="dataset">The dataset.</param>
    /// <param name="predictions">One prediction per instance.</param>
    /// <param name="epsilon">The relative tie-break ε &gt; 0 (exact when ε times the spread of true objectives is below the
    /// smallest nonzero gap of predicted objectives).</param>
    /// <returns>The normalised unambiguous regret.</returns>
    public static double NormalizedUnambiguousRegret(DflDataset dataset, double[][] predictions, double epsilon = 1e-7) =>
        global::Imle.Dfl.Regret.normalisedUnambiguous(epsilon, Guard.NotNull(dataset, nameof(dataset)).Value,
            Guard.Array(predictions, nameof(predictions)));

    // ----- losses ----------------------------------------------------------------------------------------------------

    /// <summary>The SPO+ loss (Elmachtoub and Grigas), batch mean, with subgradient 2(w*(c) − w*(2ĉ − c)) when
    /// minimising (2(w*(2v̂ − v) − w*(v)) when maximising values).</summary>
    /// <param name="problem">The problem.</param>
    /// <param name="predicted">Predicted costs [..batch, ...shape].</param>
    /// <param name="trueCosts">True costs, same shape.</param>
    /// <param name="trueSolutions">Optimal solutions for the true costs, same shape.</param>
    /// <returns>A scalar loss.</returns>
    public static Tensor SpoPlus(Problem problem, Tensor predicted, Tensor trueCosts, Tensor trueSolutions) =>
        Compute(problem, global::Imle.DflLoss.SpoPlus, null, null, predicted, trueCosts, trueSolutions);

    /// <summary>The perturbed optimizer with multiplicative noise w ⊙ exp(σZ − σ²/2) (signs kept), with its
    /// Jacobian-vector product as backward pass. Weights must be non-zero.</summary>
    /// <param name="problem">The problem.</param>
    /// <param name="weights">Weights [..batch, ...shape] in the problem's sense.</param>
    /// <param name="generator">The generator for Z.</param>
    /// <param name="sigma">σ &gt; 0.</param>
    /// <param name="samples">Draws per row, ≥ 1.</param>
    /// <returns>The mean perturbed solution, shaped like the weights.</returns>
    public static Tensor MultiplicativePerturbed(Problem problem, Tensor weights, Generator generator, double sigma = 1.0, int samples = 10) =>
        Discrete.Apply(problem, Estimators.MultiplicativePerturbed(sigma, samples), generator, weights);

    /// <summary>The Fenchel–Young loss with multiplicative noise (PyEPO's PFYMul), batch mean, ≥ 0.</summary>
    /// <param name="problem">The problem.</param>
    /// <param name="weights">Weights [..batch, ...shape] in the problem's sense, non-zero.</param>
    /// <param name="target">Target solutions, same shape.</param>
    /// <param name="generator">The generator for Z.</param>
    /// <param name="sigma">σ &gt; 0.</param>
    /// <param name="samples">Draws per row, ≥ 1.</param>
    /// <returns>A scalar loss.</returns>
    public static Tensor MultiplicativeFenchelYoung(Problem problem, Tensor weights, Tensor target, Generator generator, double sigma = 1.0, int samples = 10) =>
        Compute(problem, global::Imle.DflLoss.NewFenchelYoung(Estimators.PerturbedOptions(global::Imle.Perturbation.NewMultiplicative(sigma), samples, false)),
            generator, null, weights, null, target);

    /// <summary>NCE (Mulamba et al. 2021): the batch mean of the average margin ĉᵀw*(c) − ĉᵀs over the pool (mirrored
    /// when maximising). Refreshes the pool first with probability <see cref="SolutionPool.SolveRatio"/>.</summary>
    /// <param name="pool">The solution pool.</param>
    /// <param name="predicted">Predicted costs [..batch, ...shape].</param>
    /// <param name="trueSolutions">Optimal solutions for the true costs, same shape.</param>
    /// <returns>A scalar loss.</returns>
    public static Tensor Nce(SolutionPool pool, Tensor predicted, Tensor trueSolutions) =>
        Pooled(global::Imle.DflLoss.Nce, pool, predicted, null, trueSolutions);

    /// <summary>CMAP (Mulamba et al. 2021): the batch mean of ĉᵀw*(c) − min over the pool of ĉᵀs (mirrored when
    /// maximising); ≥ 0 when w*(c) is in the pool.</summary>
    /// <param name="pool">The solution pool.</param>
    /// <param name="predicted">Predicted costs [..batch, ...shape].</param>
    /// <param name="trueSolutions">Optimal solutions for the true costs, same shape.</param>
    /// <returns>A scalar loss.</returns>
    public static Tensor Cmap(SolutionPool pool, Tensor predicted, Tensor trueSolutions) =>
        Pooled(global::Imle.DflLoss.Cmap, pool, predicted, null, trueSolutions);

    /// <summary>PyEPO's TSP data (pyepo.data.tsp.genData): city coordinates in the unit square and edge costs
    /// ‖u_i − u_j‖ + ((Bx)_e/√p + 3)^deg/3^(deg−1) ⊙ ε over the edges of <see cref="TourEdges"/>; deterministic per
    /// seed.</summary>
    /// <param name="instances">Instances, ≥ 1.</param>
    /// <param name="features">Features p, ≥ 1.</param>
    /// <param name="cities">Cities, ≥ 3.</param>
    /// <param name="deg">Polynomial degree, ≥ 1.</param>
    /// <param name="noiseWidth">Noise half-width, in [0, 1).</param>
    /// <param name="seed">The seed.</param>
    /// <returns>The data, with the city coordinates [cities][2] in <see cref="DflData.Coordinates"/>.</returns>
    public static DflData TspData(int instances, int features, int cities, int deg = 1, double noiseWidth = 0.0, int seed = 135)
    {
        var result = global::Imle.Dfl.Generators.tsp(instances, features, cities, deg, noiseWidth, seed);
        return new DflData(result.Item2.Features, result.Item2.Costs, null, result.Item1);
    }

    /// <summary>The additive perturbed optimizer (Berthet et al. 2020) with a leave-one-out baseline in its backward pass
    /// (PyEPO's and InferOpt's variance_reduction): the same forward value as
    /// <see cref="Estimators.Perturbed"/>, the same mean gradient, a lower variance.</summary>
    /// <param name="problem">The problem.</param>
    /// <param name="weights">Weights [..batch, ...shape] in the problem's sense.</param>
    /// <param name="generator">The generator for the noise.</param>
    /// <param name="noise">Normal or Gumbel noise (default Normal(σ = 1)).</param>
    /// <param name="samples">Draws per row, ≥ 2.</param>
    /// <returns>The mean perturbed solution, shaped like the weights.</returns>
    public static Tensor PerturbedWithBaseline(Problem problem, Tensor weights, Generator generator, ImleNoise? noise = null, int samples = 10) =>
        Discrete.Apply(problem, Estimators.Perturbed(noise, samples, controlVariate: true), generator, weights);

    /// <summary><see cref="MultiplicativePerturbed"/> with a leave-one-out baseline in its backward pass: the same forward
    /// value and mean gradient, a lower variance.</summary>
    /// <param name="problem">The problem.</param>
    /// <param name="weights">Weights [..batch, ...shape] in the problem's sense, non-zero.</param>
    /// <param name="generator">The generator for Z.</param>
    /// <param name="sigma">σ &gt; 0.</param>
    /// <param name="samples">Draws per row, ≥ 2.</param>
    /// <returns>The mean perturbed solution, shaped like the weights.</returns>
    public static Tensor MultiplicativePerturbedWithBaseline(Problem problem, Tensor weights, Generator generator, double sigma = 1.0, int samples = 10) =>
        Discrete.Apply(problem, Estimators.MultiplicativePerturbed(sigma, samples, controlVariate: true), generator, weights);

    /// <summary>Listwise learning-to-rank loss over the pool (PyEPO's listwiseLTR): cross-entropy between the softmax of
    /// the pooled solutions' objectives under the predicted costs and under the true costs.</summary>
    /// <param name="pool">The solution pool.</param>
    /// <param name="predicted">Predicted costs [..batch, ...shape].</param>
    /// <param name="trueCosts">True costs, same shape.</param>
    /// <returns>A scalar loss.</returns>
    public static Tensor ListwiseRanking(SolutionPool pool, Tensor predicted, Tensor trueCosts) =>
        Pooled(global::Imle.DflLoss.ListwiseLtr, pool, predicted, trueCosts, null);

    /// <summary>Pairwise learning-to-rank loss over the pool (PyEPO's pairwiseLTR): a hinge between the pool member
    /// best under the true costs and every other member, zero when it is best under the predicted costs too.</summary>
    /// <param name="pool">The solution pool.</param>
    /// <param name="predicted">Predicted costs [..batch, ...shape].</param>
    /// <param name="trueCosts">True costs, same shape.</param>
    /// <returns>A scalar loss.</returns>
    public static Tensor PairwiseRanking(SolutionPool pool, Tensor predicted, Tensor trueCosts) =>
        Pooled(global::Imle.DflLoss.PairwiseLtr, pool, predicted, trueCosts, null);

    /// <summary>Pointwise learning-to-rank loss over the pool (PyEPO's pointwiseLTR): squared error between the pooled
    /// solutions' objectives under the predicted and the true costs.</summary>
    /// <param name="pool">The solution pool.</param>
    /// <param name="predicted">Predicted costs [..batch, ...shape].</param>
    /// <param name="trueCosts">True costs, same shape.</param>
    /// <returns>A scalar loss.</returns>
    public static Tensor PointwiseRanking(SolutionPool pool, Tensor predicted, Tensor trueCosts) =>
        Pooled(global::Imle.DflLoss.PointwiseLtr, pool, predicted, trueCosts, null);

    /// Forwards to the F# loss catalogue (null checks and type mapping only: the F# side checks everything else).
    internal static Tensor Compute(Problem problem, global::Imle.DflLoss loss, Generator? generator, SolutionPool? pool,
        Tensor predicted, Tensor? trueCosts, Tensor? trueSolutions, double[][][]? bindingNormals = null)
    {
        Guard.NotNull(problem, nameof(problem));
        Guard.NotNull(predicted, nameof(predicted));
        if (global::Imle.DflLossModule.needsTrueCosts(loss)) Guard.NotNull(trueCosts, nameof(trueCosts));
        if (global::Imle.DflLossModule.needsTrueSolutions(loss)) Guard.NotNull(trueSolutions, nameof(trueSolutions));
        var sources = new global::Imle.Torch.DflSources(
            generator is null ? FSharpOption<Generator>.None : FSharpOption<Generator>.Some(generator),
            pool is null ? FSharpOption<global::Imle.Torch.SolutionPool>.None : FSharpOption<global::Imle.Torch.SolutionPool>.Some(pool.Value));
        return global::Imle.Torch.DflLosses.compute(problem.Value, loss, sources, new global::Imle.Torch.DflBatch(predicted, trueCosts!, trueSolutions!, bindingNormals!));
    }

    private static Tensor Pooled(global::Imle.DflLoss loss, SolutionPool pool, Tensor predicted, Tensor? trueCosts, Tensor? trueSolutions) =>
        Compute(Guard.NotNull(pool, nameof(pool)).Problem, loss, null, pool, predicted, trueCosts, trueSolutions);

    private static Tuple<int, int>[] ToTuples(IReadOnlyList<Arc> arcs) => arcs.Select(a => Tuple.Create(a.From, a.To)).ToArray();
}
