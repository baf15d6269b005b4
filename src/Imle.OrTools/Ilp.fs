namespace Imle.OrTools

open System
open Imle
open Imle.Solvers

/// Integer linear programs over binary variables z ∈ {0, 1} (Example 3 of the I-MLE paper) as `LinearModel`s whose
/// variables are all integer in [0, 1]: the binary builders and the ready-made models. The state space C is the
/// projection onto the first `Size` variables of the feasible binary assignments. Solve, check and wrap them with
/// `Lp.solve`, `Lp.isFeasible` and `Lp.problem` (the problem then has binary states), like every linear model.
[<RequireQualifiedAccess>]
module Ilp =

    let private binary =
        { Lower = 0.0
          Upper = 1.0
          Integer = true }

    /// A model with one binary variable per state entry and no constraints (so far every binary state is feasible).
    /// Add constraints with `Lp.addConstraint`, `exactlyK`, `atMost`, ….
    let model (shape: int[]) (sense: Sense) : LinearModel =
        ModelRules.checkShape "shape" shape
        let shape = Array.copy shape

        { Variables = Array.create (Array.fold (*) 1 shape) binary
          Shape = shape
          Sense = sense
          Constraints = [||] }

    /// Adds `count` >= 0 auxiliary binary variables (zero weight, not part of the state) after the existing ones.
    /// Their indices are `model.Variables.Length .. model.Variables.Length + count − 1` of the input model.
    let withAuxiliary (count: int) (model: LinearModel) : LinearModel =
        Lp.withAuxiliary count 0.0 1.0 true model

    /// Adds Σ_{i ∈ indices} z_i in [lower, upper] over distinct indices.
    let private countOf (indices: int[]) (k: int) (lower: float) (upper: float) (model: LinearModel) =
        ModelRules.checkModel "model" model
        ModelRules.checkIndices "indices" model.Variables.Length indices
        Validate.intAtLeast "k" 0 k
        Lp.addConstraint (indices |> Array.map (fun i -> i, 1.0)) lower upper model

    /// Adds `Σ_{i ∈ indices} z_i = k`: exactly k of the listed (distinct) variables are 1.
    let exactlyK (indices: int[]) (k: int) (model: LinearModel) : LinearModel =
        countOf indices k (float k) (float k) model

    /// Adds `Σ_{i ∈ indices} z_i <= k`: at most k of the listed (distinct) variables are 1.
    let atMost (indices: int[]) (k: int) (model: LinearModel) : LinearModel =
        countOf indices k Double.NegativeInfinity (float k) model

    /// Adds `Σ_{i ∈ indices} z_i >= k`: at least k of the listed (distinct) variables are 1.
    let atLeast (indices: int[]) (k: int) (model: LinearModel) : LinearModel =
        countOf indices k (float k) Double.PositiveInfinity model

    // ----- ready-made models -----------------------------------------------------------------------------------------

    /// k-subsets of m items (Example 2) as an ILP: shape [| m |], Σ z = k, maximising scores. Same C as
    /// `Problem.kSubset m k`.
    let kSubsetModel (m: int) (k: int) : LinearModel =
        Validate.intAtLeast "m" 1 m
        Validate.intInRange "k" 0 m k
        model [| m |] Maximise |> exactlyK (Array.init m id) k

    /// Minimum-cost assignment as an ILP: shape [| rows; cols |] (row-major), every row assigned exactly one column,
    /// every column at most one row (cols >= rows), minimising costs. Same C as `Problem.matching rows cols`.
    let assignmentModel (rows: int) (cols: int) : LinearModel =
        Validate.intAtLeast "rows" 1 rows
        Validate.intInRange "cols" rows Int32.MaxValue cols
        let m0 = model [| rows; cols |] Minimise

        let withRows =
            Seq.fold (fun m r -> exactlyK (Array.init cols (fun c -> r * cols + c)) 1 m) m0 (seq { 0 .. rows - 1 })

        Seq.fold (fun m c -> atMost (Array.init rows (fun r -> r * cols + c)) 1 m) withRows (seq { 0 .. cols - 1 })

    /// Shortest path with vertex costs on a rows×cols grid, from cell (0, 0) to (rows−1, cols−1), moving to the 4 or 8
    /// neighbours (as `Problem.gridShortestPath`), minimising the summed cost of the visited cells (endpoints included).
    /// Shape [| rows; cols |]; the state variables are the vertex indicators y_v, followed by one auxiliary binary
    /// variable x_e per directed grid edge e = (u → v) (in the order: for each cell u row-major, for each move in
    /// `GridShortestPath.moves neighbourhood` that stays in the grid). Constraints: flow conservation
    /// out(v) − in(v) = [v = start] − [v = end], and y_v = in(v) + [v = start].
    /// With non-negative costs the optimum is a shortest simple path (its cost equals Dijkstra's). The feasible set also
    /// contains a path together with vertex-disjoint cycles, so negative costs can make the ILP add profitable cycles,
    /// unlike `Problem.gridShortestPath`, which clamps negative costs to 0.
    let gridPathModel (rows: int) (cols: int) (neighbourhood: Neighbourhood) : LinearModel =
        Validate.intAtLeast "rows" 1 rows
        Validate.intAtLeast "cols" 1 cols
        let v = rows * cols
        let moves = GridShortestPath.moves neighbourhood

        let edges =
            [| for u in 0 .. v - 1 do
                   let r, c = u / cols, u % cols

                   for (dr, dc) in moves do
                       let r2, c2 = r + dr, c + dc

                       if r2 >= 0 && r2 < rows && c2 >= 0 && c2 < cols then
                           yield u, r2 * cols + c2 |]

        let start, finish = 0, v - 1
        let edgeVar e = v + e
        let outgoing = Array.init v (fun _ -> ResizeArray<int>())
        let incoming = Array.init v (fun _ -> ResizeArray<int>())

        edges
        |> Array.iteri (fun e (a, b) ->
            outgoing.[a].Add e
            incoming.[b].Add e)

        let indicator b = if b then 1.0 else 0.0

        let constraints =
            [| for x in 0 .. v - 1 do
                   // Flow conservation.
                   let balance = indicator (x = start) - indicator (x = finish)

                   yield
                       { Coefficients =
                           [| for e in outgoing.[x] -> edgeVar e, 1.0
                              for e in incoming.[x] -> edgeVar e, -1.0 |]
                         Lower = balance
                         Upper = balance }
                   // Vertex indicator = inflow (+1 at the start).
                   let s = indicator (x = start)

                   yield
                       { Coefficients = [| yield x, 1.0; for e in incoming.[x] -> edgeVar e, -1.0 |]
                         Lower = s
                         Upper = s } |]

        let m = model [| rows; cols |] Minimise |> withAuxiliary edges.Length
        let result = { m with Constraints = constraints }
        ModelRules.checkModel "model" result
        result
