namespace Imle.OrTools

open System
open Google.OrTools.LinearSolver
open Imle
open Imle.Solvers

/// One linear constraint `Lower <= Σ_j a_j·z_j <= Upper` over the binary variables of an ILP, stored sparsely:
/// `Coefficients` lists (variable index, coefficient a_j) pairs, each index at most once; variables not listed have
/// coefficient 0. A one-sided constraint uses `Double.NegativeInfinity` for `Lower` or `Double.PositiveInfinity` for
/// `Upper`; an equality has `Lower = Upper`. Coefficients must be finite; bounds must not be NaN and `Lower <= Upper`.
type LinearConstraint =
    {
        /// The non-zero coefficients as (variable index, coefficient) pairs; indices are distinct, in [0, Variables).
        Coefficients: (int * float)[]
        /// The lower bound (may be −∞).
        Lower: float
        /// The upper bound (may be +∞).
        Upper: float
    }

/// An integer linear program over binary variables z ∈ {0, 1}^Variables (Example 3 of the I-MLE paper): the MAP
/// oracle optimises ⟨z, w⟩ subject to `Constraints`, maximising scores (Sense = Maximise) or minimising costs
/// (Sense = Minimise, θ = −c).
///
/// The first `Size` = product of `Shape` variables are the state, laid out row-major in `Shape` like every Imle
/// state; variables `Size .. Variables−1` (if any) are auxiliary: they take part in the constraints but carry zero
/// weight and are not part of the returned state (e.g. the edge flows of `Ilp.gridPathModel`). The state space C is
/// the projection onto the first `Size` variables of the feasible binary assignments.
///
/// Build models with `Ilp.model`, `Ilp.withAuxiliary` and `Ilp.addConstraint` (or the helpers `Ilp.exactlyK`,
/// `Ilp.atMost`, `Ilp.atLeast`); every builder validates its arguments. A model is treated as immutable: the builders
/// return new records and never mutate their input.
type IlpModel =
    {
        /// The total number of binary variables (state plus auxiliary); at least the product of `Shape`.
        Variables: int
        /// The shape of one state (and of the weights), e.g. [| m |] or [| rows; cols |].
        Shape: int[]
        /// Whether the oracle maximises ⟨z, w⟩ (scores) or minimises it (costs).
        Sense: Sense
        /// The linear constraints; their conjunction defines the feasible set.
        Constraints: LinearConstraint[]
    }

    /// The number of state variables (product of `Shape`); the remaining `Variables − Size` are auxiliary.
    member this.Size = Array.fold (*) 1 this.Shape

/// Builders, ready-made models and the OR-Tools MAP oracle for ILPs over binary variables.
[<RequireQualifiedAccess>]
module Ilp =

    // ----- validation --------------------------------------------------------------------------------------------

    let private validateShape (shape: int[]) =
        Validate.shape "shape" shape

        let size = shape |> Array.fold (fun s d -> s * int64 d) 1L

        if size > int64 Array.MaxLength then
            invalidArg "shape" (sprintf "the product of shape must be at most %d; got %d." Array.MaxLength size)

    /// Checks one constraint against `variables`; `param` is the parameter named in errors, `where` prefixes messages.
    let private validateConstraint (param: string) (where: string) (variables: int) (c: LinearConstraint) =
        if isNull (box c) then
            invalidArg param (sprintf "%s must not be null." where)

        if isNull c.Coefficients then
            invalidArg param (sprintf "%s.Coefficients must not be null." where)

        if Double.IsNaN c.Lower then
            invalidArg param (sprintf "%s.Lower must not be NaN." where)

        if Double.IsNaN c.Upper then
            invalidArg param (sprintf "%s.Upper must not be NaN." where)

        if c.Lower > c.Upper then
            invalidArg param (sprintf "%s has Lower = %g > Upper = %g." where c.Lower c.Upper)

        if Double.IsPositiveInfinity c.Lower then
            invalidArg param (sprintf "%s.Lower must not be +infinity." where)

        if Double.IsNegativeInfinity c.Upper then
            invalidArg param (sprintf "%s.Upper must not be -infinity." where)

        let seen = Collections.Generic.HashSet<int>()

        c.Coefficients
        |> Array.iteri (fun j (index, a) ->
            if index < 0 || index >= variables then
                invalidArg
                    param
                    (sprintf "%s.Coefficients[%d] names variable %d, outside [0, %d)." where j index variables)

            if not (Validate.isFinite a) then
                invalidArg
                    param
                    (sprintf "%s.Coefficients[%d] has coefficient %g; coefficients must be finite." where j a)

            if not (seen.Add index) then
                invalidArg
                    param
                    (sprintf
                        "%s.Coefficients[%d] names variable %d a second time; list each variable once."
                        where
                        j
                        index))

    /// Checks a whole model; errors name `param`.
    let private validateModel (param: string) (model: IlpModel) =
        if isNull (box model) then
            nullArg param

        if isNull model.Shape then
            invalidArg param (sprintf "%s.Shape must not be null." param)

        if model.Shape.Length = 0 then
            invalidArg param (sprintf "%s.Shape must have at least one dimension." param)

        model.Shape
        |> Array.iteri (fun i d ->
            if d < 1 then
                invalidArg param (sprintf "%s.Shape[%d] must be >= 1; got %d." param i d))

        let size = model.Shape |> Array.fold (fun s d -> s * int64 d) 1L

        if int64 model.Variables < size then
            invalidArg
                param
                (sprintf
                    "%s.Variables must be >= the state size %d (product of Shape %s); got %d."
                    param
                    size
                    (Validate.shapeText model.Shape)
                    model.Variables)

        if isNull model.Constraints then
            invalidArg param (sprintf "%s.Constraints must not be null." param)

        model.Constraints
        |> Array.iteri (fun i c -> validateConstraint param (sprintf "%s.Constraints[%d]" param i) model.Variables c)

    let private validateIndices (param: string) (variables: int) (indices: int[]) =
        Validate.notNull param indices
        let seen = Collections.Generic.HashSet<int>()

        indices
        |> Array.iteri (fun j index ->
            if index < 0 || index >= variables then
                invalidArg param (sprintf "%s[%d] = %d names a variable outside [0, %d)." param j index variables)

            if not (seen.Add index) then
                invalidArg param (sprintf "%s[%d] = %d repeats a variable; list each variable once." param j index))

    // ----- builders ----------------------------------------------------------------------------------------------

    /// A model with one binary variable per state entry (`Variables` = product of `shape`) and no constraints
    /// (so far every binary state is feasible). Add constraints with `addConstraint`, `exactlyK`, `atMost`, ….
    let model (shape: int[]) (sense: Sense) : IlpModel =
        validateShape shape
        let shape = Array.copy shape

        { Variables = Array.fold (*) 1 shape
          Shape = shape
          Sense = sense
          Constraints = [||] }

    /// Adds `count` >= 0 auxiliary binary variables (zero weight, not part of the state) after the existing ones.
    /// Their indices are `model.Variables .. model.Variables + count − 1` of the input model.
    let withAuxiliary (count: int) (model: IlpModel) : IlpModel =
        validateModel "model" model
        Validate.intAtLeast "count" 0 count

        if int64 model.Variables + int64 count > int64 Int32.MaxValue then
            invalidArg
                "count"
                (sprintf
                    "the total number of variables must be at most %d; got %d + %d."
                    Int32.MaxValue
                    model.Variables
                    count)

        { model with
            Variables = model.Variables + count }

    let private checkBounds (lower: float) (upper: float) =
        if Double.IsNaN lower || Double.IsPositiveInfinity lower then
            invalidArg
                "lower"
                (sprintf "lower must be a number < +infinity (use -infinity for no lower bound); got %g." lower)

        if Double.IsNaN upper || Double.IsNegativeInfinity upper then
            invalidArg
                "upper"
                (sprintf "upper must be a number > -infinity (use +infinity for no upper bound); got %g." upper)

        if lower > upper then
            invalidArg "lower" (sprintf "lower = %g must be <= upper = %g." lower upper)

    /// A constraint `lower <= Σ a_j·z_j <= upper` from (variable index, coefficient) pairs (not yet checked against a
    /// model: `addConstraint` does that). Use ±∞ for a missing bound.
    let linear (coefficients: (int * float)[]) (lower: float) (upper: float) : LinearConstraint =
        Validate.notNull "coefficients" coefficients
        checkBounds lower upper

        let c =
            { Coefficients = Array.copy coefficients
              Lower = lower
              Upper = upper }

        validateConstraint "coefficients" "the constraint" Int32.MaxValue c
        c

    /// Adds the constraint `lower <= Σ a_j·z_j <= upper` over (variable index, coefficient) pairs. Raises
    /// ArgumentException naming `coefficients` for an index outside [0, Variables), a repeated index or a non-finite
    /// coefficient, and naming `lower`/`upper` for NaN or crossed bounds.
    let addConstraint (coefficients: (int * float)[]) (lower: float) (upper: float) (model: IlpModel) : IlpModel =
        validateModel "model" model
        Validate.notNull "coefficients" coefficients
        checkBounds lower upper

        let c =
            { Coefficients = Array.copy coefficients
              Lower = lower
              Upper = upper }

        validateConstraint "coefficients" "the constraint" model.Variables c

        { model with
            Constraints = Array.append model.Constraints [| c |] }

    /// Adds an already built constraint (see `linear`), checked against the model.
    let add (constraintToAdd: LinearConstraint) (model: IlpModel) : IlpModel =
        validateModel "model" model
        validateConstraint "constraintToAdd" "constraintToAdd" model.Variables constraintToAdd

        { model with
            Constraints =
                Array.append
                    model.Constraints
                    [| { constraintToAdd with
                           Coefficients = Array.copy constraintToAdd.Coefficients } |] }

    let private unitCoefficients (indices: int[]) = indices |> Array.map (fun i -> i, 1.0)

    /// Adds `Σ_{i ∈ indices} z_i = k`: exactly k of the listed (distinct) variables are 1.
    let exactlyK (indices: int[]) (k: int) (model: IlpModel) : IlpModel =
        validateModel "model" model
        validateIndices "indices" model.Variables indices
        Validate.intAtLeast "k" 0 k
        addConstraint (unitCoefficients indices) (float k) (float k) model

    /// Adds `Σ_{i ∈ indices} z_i <= k`: at most k of the listed (distinct) variables are 1.
    let atMost (indices: int[]) (k: int) (model: IlpModel) : IlpModel =
        validateModel "model" model
        validateIndices "indices" model.Variables indices
        Validate.intAtLeast "k" 0 k
        addConstraint (unitCoefficients indices) Double.NegativeInfinity (float k) model

    /// Adds `Σ_{i ∈ indices} z_i >= k`: at least k of the listed (distinct) variables are 1.
    let atLeast (indices: int[]) (k: int) (model: IlpModel) : IlpModel =
        validateModel "model" model
        validateIndices "indices" model.Variables indices
        Validate.intAtLeast "k" 0 k
        addConstraint (unitCoefficients indices) (float k) Double.PositiveInfinity model

    // ----- feasibility ---------------------------------------------------------------------------------------------

    /// Absolute slack allowed when checking a constraint in floating point (scaled by the size of the bound).
    let private tolerance (bound: float) =
        1e-9 * (1.0 + (if Double.IsInfinity bound then 0.0 else abs bound))

    let private satisfies (values: float[]) (c: LinearConstraint) =
        let mutable s = 0.0

        for (i, a) in c.Coefficients do
            s <- s + a * values.[i]

        s >= c.Lower - tolerance c.Lower && s <= c.Upper + tolerance c.Upper

    /// Whether a full binary assignment (all `Variables` entries, state then auxiliary) satisfies every constraint.
    let isFeasibleAssignment (model: IlpModel) (assignment: float[]) : bool =
        validateModel "model" model
        Validate.length "assignment" model.Variables assignment

        Array.forall (fun v -> v = 0.0 || v = 1.0) assignment
        && Array.forall (satisfies assignment) model.Constraints

    // ----- solving -------------------------------------------------------------------------------------------------

    /// Solver ids tried in order: SCIP (exact branch-and-cut over floating-point objectives, bundled with the
    /// OR-Tools runtime), then CBC, then the CP-SAT backend (which scales real objectives to integers).
    let private candidates = [| "SCIP"; "CBC"; "SAT" |]

    let private createSolver () : Solver * string =
        let mutable result = None
        let mutable i = 0

        while result.IsNone && i < candidates.Length do
            let s = Solver.CreateSolver candidates.[i]

            if not (isNull s) then
                result <- Some(s, candidates.[i])

            i <- i + 1

        match result with
        | Some r -> r
        | None ->
            invalidOp (
                sprintf
                    "No OR-Tools MIP solver is available (tried %s); is the Google.OrTools native runtime for this platform installed?"
                    (String.Join(", ", candidates))
            )

    /// The OR-Tools solver id that `solve` uses on this machine ("SCIP" where available).
    let backend: Lazy<string> =
        lazy
            (let s, id = createSolver ()
             s.Dispose()
             id)

    let private describe (model: IlpModel) =
        sprintf
            "the ILP model (%d binary variables, shape %s, %d constraints, %A)"
            model.Variables
            (Validate.shapeText model.Shape)
            model.Constraints.Length
            model.Sense

    /// Solves a validated model for weights over all variables; returns the full binary assignment.
    let private solveValidated (model: IlpModel) (weights: float[]) : float[] =
        let solver, id = createSolver ()
        use solver = solver
        solver.SuppressOutput()
        let vars = Array.init model.Variables (fun i -> solver.MakeBoolVar(sprintf "z%d" i))

        for ci in 0 .. model.Constraints.Length - 1 do
            let c = model.Constraints.[ci]
            let ct = solver.MakeConstraint(c.Lower, c.Upper, sprintf "c%d" ci)

            for (i, a) in c.Coefficients do
                ct.SetCoefficient(vars.[i], a)

        let objective = solver.Objective()

        for i in 0 .. weights.Length - 1 do
            if weights.[i] <> 0.0 then
                objective.SetCoefficient(vars.[i], weights.[i])

        match model.Sense with
        | Maximise -> objective.SetMaximization()
        | Minimise -> objective.SetMinimization()

        use parameters = new MPSolverParameters()
        // The default relative gap (1e-4) would stop at a near-optimal state: MAP needs the exact optimum.
        parameters.SetDoubleParam(MPSolverParameters.DoubleParam.RELATIVE_MIP_GAP, 0.0)
        let status = solver.Solve parameters

        match status with
        | Solver.ResultStatus.OPTIMAL ->
            let assignment =
                vars |> Array.map (fun v -> if v.SolutionValue() > 0.5 then 1.0 else 0.0)

            if not (Array.forall (satisfies assignment) model.Constraints) then
                invalidOp (
                    sprintf
                        "The OR-Tools %s solver returned an assignment that, rounded to 0/1, violates a constraint of %s (numerical trouble: check the scale of the coefficients)."
                        id
                        (describe model)
                )

            assignment
        | Solver.ResultStatus.INFEASIBLE ->
            invalidOp (
                sprintf
                    "%s is infeasible: no binary assignment satisfies all its constraints (OR-Tools %s)."
                    (describe model)
                    id
            )
        | Solver.ResultStatus.UNBOUNDED ->
            invalidOp (
                sprintf
                    "%s is unbounded according to OR-Tools %s (binary variables cannot be unbounded: numerical trouble)."
                    (describe model)
                    id
            )
        | other ->
            invalidOp (sprintf "OR-Tools %s failed to solve %s to optimality: status %A." id (describe model) other)

    /// Checks MAP weights for a model of `size` variables (the product of `shape`): not null, that length, finite.
    let internal checkWeightsFor (size: int) (shape: int[]) (weights: float[]) =
        Validate.notNull "weights" weights

        if weights.Length <> size then
            raise (
                ArgumentException(
                    sprintf
                        "weights must have length %d (the state size, product of shape %s); got %d."
                        size
                        (Validate.shapeText shape)
                        weights.Length,
                    "weights"
                )
            )

        Validate.allFinite "weights" weights

    let private checkWeights (model: IlpModel) (weights: float[]) =
        checkWeightsFor model.Size model.Shape weights

    /// MAP over the model in its own sense: a binary state z (the first `Size` variables) maximising (Maximise) or
    /// minimising (Minimise) ⟨z, weights⟩ subject to the constraints, auxiliary variables having weight 0. Solved
    /// exactly (relative gap 0) by the OR-Tools MIP solver `backend` (SCIP), with a fresh solver per call, so it is
    /// safe to call from many threads at once. Ties between optimal states are broken by the solver, not by index.
    /// Raises ArgumentException naming `weights` (wrong length, NaN or infinite entries) or `model` (invalid model),
    /// and InvalidOperationException if the model is infeasible or the solve fails.
    let solve (model: IlpModel) (weights: float[]) : float[] =
        validateModel "model" model
        checkWeights model weights
        Array.sub (solveValidated model weights) 0 model.Size

    /// Like `solve`, but with weights over all `Variables` (auxiliary ones included) and returning the full
    /// binary assignment (state then auxiliary variables).
    let solveAssignment (model: IlpModel) (weights: float[]) : float[] =
        validateModel "model" model
        Validate.length "weights" model.Variables weights
        Validate.allFinite "weights" weights
        solveValidated model weights

    /// Whether a binary state (the first `Size` variables) lies in C: with no auxiliary variables, whether it satisfies
    /// every constraint; with auxiliary variables, whether some binary completion of them does (decided by a
    /// feasibility solve with the state fixed).
    let isFeasible (model: IlpModel) (state: float[]) : bool =
        validateModel "model" model
        Validate.length "state" model.Size state

        if not (Array.forall (fun v -> v = 0.0 || v = 1.0) state) then
            false
        elif model.Variables = model.Size then
            Array.forall (satisfies state) model.Constraints
        else
            // Fix the state variables with equality rows and ask whether the auxiliary ones can be completed.
            let fixedRows =
                state
                |> Array.mapi (fun i v ->
                    { Coefficients = [| i, 1.0 |]
                      Lower = v
                      Upper = v })

            let fixedModel =
                { model with
                    Constraints = Array.append model.Constraints fixedRows }

            try
                solveValidated fixedModel (Array.zeroCreate model.Size) |> ignore
                true
            with :? InvalidOperationException ->
                false

    /// An Imle `Problem` (Kind = UserDefined) whose MAP oracle is `solve model` and whose feasibility check is
    /// `isFeasible model`, so `Problem.solve`/`Problem.checkState` validate the solver's output. The model is
    /// validated once here. (Note that for models with auxiliary variables the check costs one extra feasibility solve.)
    let problem (name: string) (model: IlpModel) : Problem =
        if String.IsNullOrWhiteSpace name then
            invalidArg "name" "name must be a non-empty string."

        validateModel "model" model

        let model =
            { model with
                Shape = Array.copy model.Shape
                Constraints = Array.copy model.Constraints }

        let solveState (weights: float[]) =
            checkWeights model weights
            Array.sub (solveValidated model weights) 0 model.Size

        let check (state: float[]) =
            if isNull state || state.Length <> model.Size then
                false
            elif not (Array.forall (fun v -> v = 0.0 || v = 1.0) state) then
                false
            elif model.Variables = model.Size then
                Array.forall (satisfies state) model.Constraints
            else
                isFeasible model state

        Problem.create name model.Shape model.Sense solveState
        |> Problem.withFeasibility check

    // ----- ready-made models -----------------------------------------------------------------------------------------

    /// k-subsets of m items (Example 2) as an ILP: shape [| m |], Σ z = k, maximising scores. Same C as
    /// `Problem.kSubset m k`.
    let kSubsetModel (m: int) (k: int) : IlpModel =
        Validate.intAtLeast "m" 1 m
        Validate.intInRange "k" 0 m k
        model [| m |] Maximise |> exactlyK (Array.init m id) k

    /// Minimum-cost assignment as an ILP: shape [| rows; cols |] (row-major), every row assigned exactly one column,
    /// every column at most one row (cols >= rows), minimising costs. Same C as `Problem.matching rows cols`.
    let assignmentModel (rows: int) (cols: int) : IlpModel =
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
    let gridPathModel (rows: int) (cols: int) (neighbourhood: Neighbourhood) : IlpModel =
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
        validateModel "model" result
        result
