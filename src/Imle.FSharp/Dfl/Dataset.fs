namespace Imle.Dfl

open System
open System.Runtime.ExceptionServices
open System.Threading.Tasks
open Imle

/// A predict-then-optimise dataset (PyEPO's `optDataset`): features, true costs, and the optimal solution w*(c_i) and
/// optimal value z*(c_i) = ⟨c_i, w*(c_i)⟩ of every instance under its true costs, computed once (in parallel) when the
/// dataset is built. Costs are in the problem's own sense (costs for Minimise, values for Maximise).
type DflDataset =
    private
        { problem: Problem
          features: float[][]
          costs: float[][]
          solutions: float[][]
          objectives: float[] }

    /// The optimisation problem every instance shares.
    member this.Problem = this.problem
    /// The number of instances.
    member this.Count = this.features.Length
    /// Features x_i, [n][p] (copies).
    member this.Features = this.features |> Array.map Array.copy
    /// True costs c_i in the problem's sense, [n][m] (copies).
    member this.Costs = this.costs |> Array.map Array.copy
    /// Optimal solutions w*(c_i), [n][m] (copies).
    member this.Solutions = this.solutions |> Array.map Array.copy
    /// Optimal values z*(c_i) = ⟨c_i, w*(c_i)⟩ (a copy).
    member this.Objectives = Array.copy this.objectives

/// Building datasets and solving many instances at once.
[<RequireQualifiedAccess>]
module DflDataset =

    /// Solves every row (weights in the problem's sense) with `Problem.solve`, in parallel over rows; the first
    /// exception from a row is rethrown as is.
    let solveAll (problem: Problem) (weights: float[][]) : float[][] =
        if isNull (box problem) then
            nullArg "problem"

        Problem.checkRows "weights" problem weights

        let result = Array.zeroCreate weights.Length

        try
            Parallel.For(0, weights.Length, fun i -> result.[i] <- Problem.solve problem weights.[i])
            |> ignore
        with :? AggregateException as e when e.InnerExceptions.Count > 0 ->
            ExceptionDispatchInfo.Capture(e.InnerExceptions.[0]).Throw()

        result

    /// A dataset from features [n][p] and true costs [n][m] (m = problem.Size, finite): solves every instance once.
    let create (problem: Problem) (features: float[][]) (costs: float[][]) : DflDataset =
        if isNull (box problem) then
            nullArg "problem"

        Validate.notNull "features" features
        Validate.notNull "costs" costs

        if features.Length <> costs.Length then
            invalidArg
                "costs"
                (sprintf "costs has %d rows but features has %d; they must match." costs.Length features.Length)

        if features.Length = 0 then
            invalidArg "features" "a dataset needs at least one instance."

        let p = if isNull features.[0] then 0 else features.[0].Length

        features
        |> Array.iteri (fun i x ->
            if isNull x || x.Length <> p || p = 0 then
                invalidArg "features" (sprintf "features[%d] must have %d entries (as features[0], at least one)." i p)

            Validate.allFinite "features" x)

        costs
        |> Array.iter (fun c ->
            if not (isNull c) then
                Validate.allFinite "costs" c)

        let solutions =
            try
                solveAll problem costs
            with :? ArgumentException as e when e.ParamName = "weights" ->
                invalidArg "costs" e.Message

        let objectives = Array.map2 Problem.objective costs solutions

        { problem = problem
          features = features |> Array.map Array.copy
          costs = costs |> Array.map Array.copy
          solutions = solutions
          objectives = objectives }

    /// A dataset from a generator's output (see `Generators`).
    let ofGenerated (problem: Problem) (data: GeneratedData) : DflDataset = create problem data.Features data.Costs

    /// The instances at the given indices (e.g. a train/test split or a minibatch); solutions are not recomputed.
    let subset (indices: int[]) (dataset: DflDataset) : DflDataset =
        if isNull (box dataset) then
            nullArg "dataset"

        Validate.notNull "indices" indices

        indices
        |> Array.iteri (fun k i ->
            if i < 0 || i >= dataset.Count then
                invalidArg "indices" (sprintf "indices[%d] = %d is outside [0, %d)." k i dataset.Count))

        { problem = dataset.problem
          features = indices |> Array.map (fun i -> Array.copy dataset.features.[i])
          costs = indices |> Array.map (fun i -> Array.copy dataset.costs.[i])
          solutions = indices |> Array.map (fun i -> Array.copy dataset.solutions.[i])
          objectives = indices |> Array.map (fun i -> dataset.objectives.[i]) }
