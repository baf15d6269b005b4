namespace Imle.OrTools

open System
open Imle

/// One variable of a linear model: its bounds (±∞ allowed) and whether it must take an integer value.
type LinearVariable =
    {
        /// The lower bound (may be −∞).
        Lower: float
        /// The upper bound (may be +∞).
        Upper: float
        /// Whether the variable must be an integer (a MILP); false for a continuous variable.
        Integer: bool
    }

/// A linear program (all variables continuous) or mixed-integer linear program over real variables, with the
/// objective linear in the weights: the oracle optimises ⟨x, w⟩ over the first `Size` variables (the state, row-major
/// in `Shape`), minimising costs (Sense = Minimise) or maximising values (Sense = Maximise), subject to `Constraints`
/// and the variables' bounds and integrality. Variables `Size .. Variables.Length − 1` (if any) are auxiliary: they take
/// part in the constraints, carry zero weight and are not returned.
///
/// This is PyEPO's `optModel` with continuous variables (e.g. `pyepo.model.omo` / `grb` LPs): SPO+, the perturbed
/// optimizers, Fenchel–Young losses, blackbox and I-MLE only call the oracle, so they work on any such model through
/// `Lp.problem` (whose states are real vectors, `Problem.withRealStates`). Build models with `Lp.model`,
/// `Lp.withIntegers`, `Lp.withBounds`, `Lp.withAuxiliary` and `Lp.addConstraint` (each validates its arguments and
/// returns a new record).
type LinearModel =
    {
        /// Every variable (state, then auxiliary), with bounds and integrality.
        Variables: LinearVariable[]
        /// The shape of one state (and of the weights).
        Shape: int[]
        /// Whether the oracle maximises ⟨x, w⟩ or minimises it.
        Sense: Sense
        /// The linear constraints `Lower <= Σ a_j·x_j <= Upper` (the same type as `IlpModel`'s).
        Constraints: LinearConstraint[]
    }

    /// The number of state variables (product of `Shape`).
    member this.Size = Array.fold (*) 1 this.Shape

/// Builders and the OR-Tools oracle for LPs (GLOP) and MILPs (SCIP) with continuous variables.
[<RequireQualifiedAccess>]
module Lp =

    // ----- validation --------------------------------------------------------------------------------------------

    let private checkVariable (param: string) (i: int) (v: LinearVariable) =
        if Double.IsNaN v.Lower || Double.IsPositiveInfinity v.Lower then
            invalidArg
                param
                (sprintf "variable %d has Lower = %g; use a number or -infinity (no lower bound)." i v.Lower)

        if Double.IsNaN v.Upper || Double.IsNegativeInfinity v.Upper then
            invalidArg
                param
                (sprintf "variable %d has Upper = %g; use a number or +infinity (no upper bound)." i v.Upper)

        if v.Lower > v.Upper then
            invalidArg param (sprintf "variable %d has Lower = %g > Upper = %g." i v.Lower v.Upper)

    let private checkConstraint (param: string) (variables: int) (i: int) (c: LinearConstraint) =
        if isNull (box c) || isNull c.Coefficients then
            invalidArg param (sprintf "constraint %d (or its Coefficients) is null." i)

        // Ilp.linear checks the bounds, finiteness and repeated indices.
        Ilp.linear c.Coefficients c.Lower c.Upper |> ignore

        for (index, _) in c.Coefficients do
            if index < 0 || index >= variables then
                invalidArg param (sprintf "constraint %d names variable %d, outside [0, %d)." i index variables)

    let private validateModel (param: string) (model: LinearModel) =
        if isNull (box model) then
            nullArg param

        if
            isNull model.Shape
            || model.Shape.Length = 0
            || Array.exists (fun d -> d < 1) model.Shape
        then
            invalidArg param (sprintf "%s.Shape must be a non-empty array of dimensions >= 1." param)

        if isNull model.Variables || isNull model.Constraints then
            invalidArg param (sprintf "%s.Variables and %s.Constraints must not be null." param param)

        let size = model.Shape |> Array.fold (fun s d -> s * int64 d) 1L

        if int64 model.Variables.Length < size then
            invalidArg
                param
                (sprintf
                    "%s has %d variables, fewer than the state size %d (product of Shape %s)."
                    param
                    model.Variables.Length
                    size
                    (Validate.shapeText model.Shape))

        model.Variables |> Array.iteri (checkVariable param)
        model.Constraints |> Array.iteri (checkConstraint param model.Variables.Length)

    let private checkIndex (param: string) (model: LinearModel) (index: int) =
        if index < 0 || index >= model.Variables.Length then
            invalidArg param (sprintf "%s = %d names a variable outside [0, %d)." param index model.Variables.Length)

    // ----- builders ----------------------------------------------------------------------------------------------

    /// A model with one continuous variable per state entry, each in [lower, upper] (±∞ allowed), and no constraints.
    let model (shape: int[]) (sense: Sense) (lower: float) (upper: float) : LinearModel =
        Validate.notNull "shape" shape

        if shape.Length = 0 || Array.exists (fun d -> d < 1) shape then
            invalidArg "shape" "shape must be a non-empty array of dimensions >= 1."

        let v =
            { Lower = lower
              Upper = upper
              Integer = false }

        checkVariable "lower" 0 v
        let shape = Array.copy shape

        { Variables = Array.create (Array.fold (*) 1 shape) v
          Shape = shape
          Sense = sense
          Constraints = [||] }

    /// Sets the bounds of variable `index` (±∞ allowed).
    let withBounds (index: int) (lower: float) (upper: float) (model: LinearModel) : LinearModel =
        validateModel "model" model
        checkIndex "index" model index

        let v =
            { model.Variables.[index] with
                Lower = lower
                Upper = upper }

        checkVariable "lower" index v
        let vars = Array.copy model.Variables
        vars.[index] <- v
        { model with Variables = vars }

    /// Makes the listed variables integer (a MILP, solved by SCIP).
    let withIntegers (indices: int[]) (model: LinearModel) : LinearModel =
        validateModel "model" model
        Validate.notNull "indices" indices
        indices |> Array.iter (checkIndex "indices" model)
        let vars = Array.copy model.Variables

        for i in indices do
            vars.[i] <- { vars.[i] with Integer = true }

        { model with Variables = vars }

    /// Appends `count` >= 0 auxiliary variables (zero weight, not returned) in [lower, upper], integer or not; their
    /// indices are `model.Variables.Length ..` of the input model.
    let withAuxiliary (count: int) (lower: float) (upper: float) (integer: bool) (model: LinearModel) : LinearModel =
        validateModel "model" model
        Validate.intAtLeast "count" 0 count

        let v =
            { Lower = lower
              Upper = upper
              Integer = integer }

        checkVariable "lower" model.Variables.Length v

        { model with
            Variables = Array.append model.Variables (Array.create count v) }

    /// Adds `lower <= Σ a_j·x_j <= upper` over (variable index, coefficient) pairs (±∞ for a missing bound).
    let addConstraint (coefficients: (int * float)[]) (lower: float) (upper: float) (model: LinearModel) : LinearModel =
        validateModel "model" model
        let c = Ilp.linear coefficients lower upper

        for (index, _) in c.Coefficients do
            if index >= model.Variables.Length then
                invalidArg
                    "coefficients"
                    (sprintf "the constraint names variable %d, outside [0, %d)." index model.Variables.Length)

        { model with
            Constraints = Array.append model.Constraints [| c |] }

    /// The binary ILP as a linear model: every variable integer in [0, 1], the same constraints and sense.
    let ofIlp (ilp: IlpModel) : LinearModel =
        if isNull (box ilp) then
            nullArg "ilp"

        // Ilp.withAuxiliary 0 validates the ILP.
        let ilp = Ilp.withAuxiliary 0 ilp

        { Variables =
            Array.create
                ilp.Variables
                { Lower = 0.0
                  Upper = 1.0
                  Integer = true }
          Shape = Array.copy ilp.Shape
          Sense = ilp.Sense
          Constraints = Array.copy ilp.Constraints }

    /// Shortest source–sink path as an LP over arc flows x ∈ [0, 1]: flow conservation out(v) − in(v) = [v = source]
    /// − [v = sink], minimising Σ c_a·x_a. The state is the flow on `arcs` (in that order). On a DAG the constraint
    /// matrix is totally unimodular, so a vertex optimum is a path (PyEPO's `shortestPathModel` is this LP).
    let flowModel (nodes: int) (arcs: (int * int)[]) (source: int) (sink: int) : LinearModel =
        Validate.intAtLeast "nodes" 2 nodes
        Validate.notNull "arcs" arcs

        if arcs.Length = 0 then
            invalidArg "arcs" "arcs must not be empty."

        arcs
        |> Array.iteri (fun i (a, b) ->
            if a < 0 || a >= nodes || b < 0 || b >= nodes || a = b then
                invalidArg "arcs" (sprintf "arcs[%d] = (%d, %d) must join two distinct nodes in [0, %d)." i a b nodes))

        Validate.intInRange "source" 0 (nodes - 1) source
        Validate.intInRange "sink" 0 (nodes - 1) sink

        if source = sink then
            invalidArg "sink" "sink must differ from source."

        let m0 = model [| arcs.Length |] Minimise 0.0 1.0

        Seq.fold
            (fun m v ->
                let balance = (if v = source then 1.0 else 0.0) - (if v = sink then 1.0 else 0.0)

                let coefficients =
                    [| for i in 0 .. arcs.Length - 1 do
                           let a, b = arcs.[i]

                           if a = v then
                               yield i, 1.0
                           elif b = v then
                               yield i, -1.0 |]

                if coefficients.Length = 0 then
                    m
                else
                    addConstraint coefficients balance balance m)
            m0
            (seq { 0 .. nodes - 1 })

    // ----- solving -------------------------------------------------------------------------------------------------

    let private isMixedInteger (model: LinearModel) =
        model.Variables |> Array.exists (fun v -> v.Integer)

    /// The OR-Tools backend that `solve` uses for the model: "GLOP" (simplex) for an LP, "SCIP" for a MILP.
    let backendFor (model: LinearModel) : string =
        validateModel "model" model
        if isMixedInteger model then "SCIP" else "GLOP"

    let private describe (model: LinearModel) =
        sprintf
            "the linear model (%d variables, %d integer, shape %s, %d constraints, %A)"
            model.Variables.Length
            (model.Variables |> Array.filter (fun v -> v.Integer) |> Array.length)
            (Validate.shapeText model.Shape)
            model.Constraints.Length
            model.Sense

    /// Feasibility tolerance when checking a solver's output (absolute, scaled by the size of the bound).
    let private tolerance (bound: float) =
        1e-6 * (1.0 + (if Double.IsInfinity bound then 0.0 else abs bound))

    let private satisfies (x: float[]) (c: LinearConstraint) =
        let mutable s = 0.0

        for (i, a) in c.Coefficients do
            s <- s + a * x.[i]

        s >= c.Lower - tolerance c.Lower && s <= c.Upper + tolerance c.Upper

    let private withinBounds (x: float[]) (vars: LinearVariable[]) =
        Array.forall2
            (fun (v: float) (d: LinearVariable) ->
                v >= d.Lower - tolerance d.Lower
                && v <= d.Upper + tolerance d.Upper
                && (not d.Integer || abs (v - Math.Round v) <= 1e-6))
            x
            vars

    /// One solve of a validated model for weights over all variables: Some assignment, or None with the status.
    let private trySolve
        (model: LinearModel)
        (weights: float[])
        : Result<float[], Google.OrTools.LinearSolver.Solver.ResultStatus> * string =
        let id = if isMixedInteger model then "SCIP" else "GLOP"
        let solver = Google.OrTools.LinearSolver.Solver.CreateSolver id

        if isNull solver then
            invalidOp (
                sprintf
                    "The OR-Tools %s solver is not available; is the Google.OrTools native runtime for this platform installed?"
                    id
            )

        use solver = solver
        solver.SuppressOutput()

        let vars =
            model.Variables
            |> Array.mapi (fun i v ->
                if v.Integer then
                    solver.MakeIntVar(v.Lower, v.Upper, sprintf "x%d" i)
                else
                    solver.MakeNumVar(v.Lower, v.Upper, sprintf "x%d" i))

        model.Constraints
        |> Array.iteri (fun ci c ->
            let ct = solver.MakeConstraint(c.Lower, c.Upper, sprintf "c%d" ci)

            for (i, a) in c.Coefficients do
                ct.SetCoefficient(vars.[i], a))

        let objective = solver.Objective()

        for i in 0 .. weights.Length - 1 do
            if weights.[i] <> 0.0 then
                objective.SetCoefficient(vars.[i], weights.[i])

        match model.Sense with
        | Maximise -> objective.SetMaximization()
        | Minimise -> objective.SetMinimization()

        use parameters = new Google.OrTools.LinearSolver.MPSolverParameters()

        if id = "SCIP" then
            parameters.SetDoubleParam(Google.OrTools.LinearSolver.MPSolverParameters.DoubleParam.RELATIVE_MIP_GAP, 0.0)

        match solver.Solve parameters with
        | Google.OrTools.LinearSolver.Solver.ResultStatus.OPTIMAL ->
            let x =
                Array.map2
                    (fun (v: Google.OrTools.LinearSolver.Variable) (d: LinearVariable) ->
                        let value = v.SolutionValue()
                        if d.Integer then Math.Round value else value)
                    vars
                    model.Variables

            Ok x, id
        | status -> Error status, id

    /// Solves a validated model for weights over all variables; returns the full assignment.
    let private solveValidated (model: LinearModel) (weights: float[]) : float[] =
        match trySolve model weights with
        | Ok x, id ->
            if
                not (withinBounds x model.Variables)
                || not (Array.forall (satisfies x) model.Constraints)
            then
                invalidOp (
                    sprintf
                        "OR-Tools %s returned a solution that violates a bound or constraint of %s beyond the tolerance (numerical trouble: check the scale of the coefficients)."
                        id
                        (describe model)
                )

            x
        | Error status, id ->
            // Tell infeasible from unbounded: the same model with a zero objective cannot be unbounded.
            match trySolve model (Array.zeroCreate weights.Length) with
            | Ok _, _ ->
                invalidOp (
                    sprintf
                        "%s is unbounded for these weights: the objective can be made arbitrarily %s (OR-Tools %s status %A). Bound the variables (Lp.withBounds) or add constraints."
                        (describe model)
                        (if model.Sense = Minimise then "small" else "large")
                        id
                        status
                )
            | Error _, _ ->
                invalidOp (
                    sprintf
                        "%s is infeasible: no assignment satisfies all its bounds, integrality flags and constraints (OR-Tools %s status %A)."
                        (describe model)
                        id
                        status
                )

    let private checkWeights (model: LinearModel) (weights: float[]) =
        Ilp.checkWeightsFor model.Size model.Shape weights

    /// The optimal state x (the first `Size` variables) maximising (Maximise) or minimising (Minimise) ⟨x, weights⟩
    /// subject to the bounds, integrality flags and constraints (auxiliary variables have weight 0): GLOP for an LP
    /// (a vertex optimum), SCIP with relative gap 0 for a MILP; integer variables are returned rounded. A fresh solver
    /// per call, so it is safe to call from many threads. Raises ArgumentException naming `weights` or `model`, and
    /// InvalidOperationException saying whether the model is infeasible or unbounded for these weights.
    let solve (model: LinearModel) (weights: float[]) : float[] =
        validateModel "model" model
        checkWeights model weights

        let full =
            Array.append weights (Array.zeroCreate (model.Variables.Length - model.Size))

        Array.sub (solveValidated model full) 0 model.Size

    /// Whether a state (the first `Size` variables) is feasible within a tolerance of 1e-6: with no auxiliary
    /// variables, whether it satisfies every bound, integrality flag and constraint; with auxiliary variables, whether
    /// some completion of them does (a feasibility solve with the state fixed within the tolerance).
    let isFeasible (model: LinearModel) (state: float[]) : bool =
        validateModel "model" model
        Validate.length "state" model.Size state

        if not (Array.forall Validate.isFinite state) then
            false
        elif not (withinBounds state (Array.sub model.Variables 0 model.Size)) then
            false
        elif model.Variables.Length = model.Size then
            Array.forall (satisfies state) model.Constraints
        else
            let fixedVars = Array.copy model.Variables

            state
            |> Array.iteri (fun i v ->
                fixedVars.[i] <-
                    { fixedVars.[i] with
                        Lower = v - tolerance v
                        Upper = v + tolerance v
                        Integer = false })

            match trySolve { model with Variables = fixedVars } (Array.zeroCreate model.Variables.Length) with
            | Ok _, _ -> true
            | Error _, _ -> false

    /// An Imle `Problem` (user-defined, real states: `Problem.withRealStates`) whose oracle is `solve model` and whose
    /// feasibility check is `isFeasible model`. The model is validated once here.
    let problem (name: string) (model: LinearModel) : Problem =
        if String.IsNullOrWhiteSpace name then
            invalidArg "name" "name must be a non-empty string."

        validateModel "model" model

        let model =
            { model with
                Variables = Array.copy model.Variables
                Shape = Array.copy model.Shape
                Constraints = Array.copy model.Constraints }

        Problem.create name model.Shape model.Sense (solve model)
        |> Problem.withFeasibility (isFeasible model)
        |> Problem.withRealStates
