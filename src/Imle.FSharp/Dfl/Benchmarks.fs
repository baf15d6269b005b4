namespace Imle.Dfl

open System
open Imle
open Imle.Solvers

/// Instances of a decision-focused learning benchmark with their exact optima: features x_i, true scores or costs
/// θ_i and optimal solutions y_i = argmax (or argmin) over the problem's feasible set, one row per instance.
type BenchmarkData =
    {
        /// Features, [n][p].
        Features: float[][]
        /// True scores (argmax, ranking, subset selection: maximise) or costs (shortest path: minimise), [n][m].
        Scores: float[][]
        /// The optimal solutions, [n][m].
        Optima: float[][]
    }

/// Generators of the problems named in DecisionFocusedLearningBenchmarks.jl (argmax, ranking, subset selection and
/// the fixed-size shortest path), at its default sizes, with exact optima. The first three draw x_i ~ N(0, I_p), a
/// fixed encoder W ∈ ℝ^{m×p} with N(0, 1) entries and θ_i = W·x_i/√p + σ·ξ_i, ξ_i ~ N(0, I_m) (σ = `noise`); the
/// Julia package instead gives each item its own features under one shared weight vector (argmax, ranking) and uses
/// θ = x for subset selection. The shortest path uses PyEPO's cost model (`Generators.shortestPath`), as the Julia
/// package does up to a positive factor and the sign. Deterministic per seed (System.Random), not bit-identical to
/// Julia's generators.
[<RequireQualifiedAccess>]
module Benchmarks =

    let private check (instances: int) (features: int) (size: int) (noise: float) =
        Validate.intAtLeast "instances" 1 instances
        Validate.intAtLeast "features" 1 features
        Validate.intAtLeast "size" 1 size
        Validate.atLeast "noise" 0.0 noise

    /// Features and scores θ_i = W·x_i/√p + σ·ξ_i (W drawn first, then x_i and ξ_i per instance).
    let private linearScores (instances: int) (features: int) (size: int) (noise: float) (seed: int) =
        let rng = Random seed

        let w =
            Array.init size (fun _ -> Array.init features (fun _ -> Sampling.standardNormal rng))

        let scale = sqrt (float features)

        let draws =
            Array.init instances (fun _ ->
                let x = Array.init features (fun _ -> Sampling.standardNormal rng)

                let theta =
                    w
                    |> Array.map (fun row ->
                        Array.fold2 (fun acc a b -> acc + a * b) 0.0 row x / scale
                        + noise * Sampling.standardNormal rng)

                x, theta)

        Array.map fst draws, Array.map snd draws

    /// The ranks of θ, 1 for the largest (ties to the lower index first): the maximiser of ⟨y, θ⟩ over the
    /// permutations y of (m, m − 1, …, 1) is m + 1 − rank.
    let ranks (theta: float[]) : float[] =
        Validate.notNull "theta" theta
        Validate.allFinite "theta" theta
        let order = Array.init theta.Length id |> Array.sortBy (fun i -> -theta.[i], i)
        let result = Array.zeroCreate theta.Length

        order |> Array.iteri (fun r i -> result.[i] <- float (r + 1))
        result

    /// The argmax benchmark: `instances` instances of `size` scores from `features` features; the optimum is the
    /// one-hot indicator of the largest score. Raises ArgumentException naming `instances`, `features`, `size` (≥ 1)
    /// or `noise` (≥ 0).
    let argmax (instances: int) (features: int) (size: int) (noise: float) (seed: int) : BenchmarkData =
        check instances features size noise
        let x, theta = linearScores instances features size noise seed

        { Features = x
          Scores = theta
          Optima = theta |> Array.map Argmax.solve }

    /// The ranking benchmark: the optimum is the rank vector of θ (1 for the largest; see `ranks`). Raises as
    /// `argmax`.
    let ranking (instances: int) (features: int) (size: int) (noise: float) (seed: int) : BenchmarkData =
        check instances features size noise
        let x, theta = linearScores instances features size noise seed

        { Features = x
          Scores = theta
          Optima = theta |> Array.map ranks }

    /// The subset selection benchmark: the optimum is the indicator of the k largest scores. Raises as `argmax`, or
    /// naming `k` (in [1, size]).
    let subsetSelection
        (instances: int)
        (features: int)
        (size: int)
        (k: int)
        (noise: float)
        (seed: int)
        : BenchmarkData =
        check instances features size noise
        Validate.intInRange "k" 1 size k
        let x, theta = linearScores instances features size noise seed

        { Features = x
          Scores = theta
          Optima = theta |> Array.map (TopK.solve k) }

    /// The fixed-size shortest path benchmark: PyEPO's shortest-path data on the rows×cols grid
    /// (`Generators.shortestPath`: positive arc costs from features, polynomial degree `deg`, multiplicative noise of
    /// half-width `noiseWidth`) with each instance's shortest corner-to-corner path (`DagShortestPath.grid`) as its
    /// optimum (arc indicators). Raises as `Generators.shortestPath`.
    let fixedSizeShortestPath
        (instances: int)
        (features: int)
        (rows: int)
        (cols: int)
        (deg: int)
        (noiseWidth: float)
        (seed: int)
        : BenchmarkData =
        let data = Generators.shortestPath instances features rows cols deg noiseWidth seed
        let dag = DagShortestPath.grid rows cols

        { Features = data.Features
          Scores = data.Costs
          Optima = data.Costs |> Array.map (DagShortestPath.solve dag) }

/// A kNN-robust dataset (PyEPO's optDatasetKNN; Schutte et al. 2023): per instance, the mean of the optimal solutions
/// and values over its k feature-space neighbours' smoothed costs.
type KnnRobustData =
    {
        /// Features, [n][p] (unchanged).
        Features: float[][]
        /// The mean smoothed cost vector per instance, [n][m].
        Costs: float[][]
        /// The mean of the k optimal solutions per instance, [n][m].
        Solutions: float[][]
        /// The mean of the k optimal values per instance, [n].
        Objectives: float[]
    }

/// PyEPO's kNN-robust labels (`pyepo.data.dataset.optDatasetKNN`, after Schutte et al., "Robust losses for
/// decision-focused learning", 2023).
[<RequireQualifiedAccess>]
module KnnRobust =

    /// For each instance i, its k nearest other instances j by Euclidean distance between features (ties to the lower
    /// index), the smoothed costs w·c_i + (1 − w)·c_j, their optimal solutions z*(·) by the problem's solver and
    /// values; returns the means over the k neighbours (as PyEPO, whose `weight` w = 1 means no smoothing). Raises
    /// ArgumentException naming `k` (in [1, n − 1]), `weight` (in [0, 1]), `features` or `costs` (n rows each, costs
    /// of the problem's size, finite).
    let create (problem: Problem) (k: int) (weight: float) (features: float[][]) (costs: float[][]) : KnnRobustData =
        if obj.ReferenceEquals(problem, null) then
            nullArg "problem"

        Validate.notNull "features" features
        Validate.notNull "costs" costs
        Validate.length "costs" features.Length costs
        let n = features.Length

        if n < 2 then
            invalidArg "features" "a kNN-robust dataset needs at least 2 instances."

        Validate.intInRange "k" 1 (n - 1) k

        if not (weight >= 0.0 && weight <= 1.0) then
            raise (ArgumentOutOfRangeException("weight", weight, sprintf "weight must lie in [0, 1]; got %g." weight))

        for i in 0 .. n - 1 do
            Validate.notNull "features" features.[i]
            Validate.length "features (each row)" features.[0].Length features.[i]
            Validate.allFinite "features" features.[i]
            Validate.notNull "costs" costs.[i]
            Validate.length "costs (each row)" problem.Size costs.[i]
            Validate.allFinite "costs" costs.[i]

        let distance (a: float[]) (b: float[]) =
            sqrt (Array.fold2 (fun acc x y -> acc + (x - y) * (x - y)) 0.0 a b)

        let m = problem.Size

        let rows =
            Array.init n (fun i ->
                let neighbours =
                    Array.init n id
                    |> Array.filter (fun j -> j <> i)
                    |> Array.sortBy (fun j -> distance features.[i] features.[j], j)
                    |> Array.truncate k

                let smoothed =
                    neighbours
                    |> Array.map (fun j -> Array.map2 (fun a b -> weight * a + (1.0 - weight) * b) costs.[i] costs.[j])

                let solutions = smoothed |> Array.map (Problem.solve problem)

                let mean (vs: float[][]) =
                    Array.init m (fun d -> vs |> Array.averageBy (fun v -> v.[d]))

                let values = Array.map2 Problem.objective smoothed solutions
                mean smoothed, mean solutions, Array.average values)

        { Features = features
          Costs = rows |> Array.map (fun (c, _, _) -> c)
          Solutions = rows |> Array.map (fun (_, s, _) -> s)
          Objectives = rows |> Array.map (fun (_, _, o) -> o) }
