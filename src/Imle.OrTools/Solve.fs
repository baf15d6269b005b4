namespace Imle.OrTools

open System
open Google.OrTools.LinearSolver
open Imle

/// The OR-Tools side of every linear model: which backend solves it, one solve, and the errors that say why a solve
/// failed. The models reaching here are validated.
[<RequireQualifiedAccess>]
module internal ModelSolver =

    /// MIP solver ids tried in order: SCIP (exact branch-and-cut over floating-point objectives, bundled with the
    /// OR-Tools runtime), then CBC, then the CP-SAT backend (which scales real objectives to integers).
    let private mipCandidates = [| "SCIP"; "CBC"; "SAT" |]

    let private createMip () : Solver * string =
        let mutable result = None
        let mutable i = 0

        while result.IsNone && i < mipCandidates.Length do
            let s = Solver.CreateSolver mipCandidates.[i]

            if not (isNull s) then
                result <- Some(s, mipCandidates.[i])

            i <- i + 1

        match result with
        | Some r -> r
        | None ->
            invalidOp (
                sprintf
                    "No OR-Tools MIP solver is available (tried %s); is the Google.OrTools native runtime for this platform installed?"
                    (String.Join(", ", mipCandidates))
            )

    /// The MIP solver id used on this machine ("SCIP" where available).
    let mipBackend: Lazy<string> =
        lazy
            (let s, id = createMip ()
             s.Dispose()
             id)

    /// A fresh solver for the model: GLOP (simplex) for an LP, the MIP backend for a model with integer variables.
    let private create (model: LinearModel) : Solver * string =
        if ModelRules.isMixedInteger model then
            createMip ()
        else
            match Solver.CreateSolver "GLOP" with
            | null ->
                invalidOp
                    "The OR-Tools GLOP solver is not available; is the Google.OrTools native runtime for this platform installed?"
            | s -> s, "GLOP"

    /// The backend id `solve` uses for the model.
    let backendFor (model: LinearModel) : string =
        if ModelRules.isMixedInteger model then
            mipBackend.Value
        else
            "GLOP"

    /// One solve for weights over all variables: the full assignment (integer variables rounded), or the status.
    let trySolve (model: LinearModel) (weights: float[]) : Result<float[], Solver.ResultStatus> * string =
        let solver, id = create model
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

        // The one place where the sense is read: OR-Tools optimises in the model's own sense, no weight is negated.
        objective.SetOptimizationDirection(model.Sense = Maximise)

        use parameters = new MPSolverParameters()

        if ModelRules.isMixedInteger model then
            // The default relative gap (1e-4) would stop at a near-optimal state: MAP needs the exact optimum.
            parameters.SetDoubleParam(MPSolverParameters.DoubleParam.RELATIVE_MIP_GAP, 0.0)

        match solver.Solve parameters with
        | Solver.ResultStatus.OPTIMAL ->
            let x =
                Array.map2
                    (fun (v: Variable) (d: LinearVariable) ->
                        let value = v.SolutionValue()
                        if d.Integer then Math.Round value else value)
                    vars
                    model.Variables

            Ok x, id
        | status -> Error status, id

    /// Solves for weights over all variables and returns the full assignment, checked against the model within the
    /// feasibility tolerance; raises InvalidOperationException saying whether the model is infeasible, unbounded for
    /// these weights, or numerically troubled.
    let solve (model: LinearModel) (weights: float[]) : float[] =
        match trySolve model weights with
        | Ok x, id ->
            if not (ModelRules.feasibleAssignment model x) then
                invalidOp (
                    sprintf
                        "OR-Tools %s returned a solution that violates a bound, integrality flag or constraint of %s beyond the tolerance %g (numerical trouble: check the scale of the coefficients)."
                        id
                        (ModelRules.describe model)
                        ModelRules.Tolerance
                )

            x
        | Error status, id ->
            // Tell infeasible from unbounded: the same model with a zero objective cannot be unbounded.
            match trySolve model (Array.zeroCreate weights.Length) with
            | Ok _, _ when
                model.Variables
                |> Array.forall (fun v -> not (Double.IsInfinity v.Lower || Double.IsInfinity v.Upper))
                ->
                invalidOp (
                    sprintf
                        "OR-Tools %s failed to solve %s to optimality: status %A."
                        id
                        (ModelRules.describe model)
                        status
                )
            | Ok _, _ ->
                invalidOp (
                    sprintf
                        "%s is unbounded for these weights: the objective can be made arbitrarily %s (OR-Tools %s status %A). Bound the variables (Lp.withBounds) or add constraints."
                        (ModelRules.describe model)
                        (if model.Sense = Minimise then "small" else "large")
                        id
                        status
                )
            | Error _, _ ->
                invalidOp (
                    sprintf
                        "%s is infeasible: no assignment satisfies all its bounds, integrality flags and constraints (OR-Tools %s status %A)."
                        (ModelRules.describe model)
                        id
                        status
                )

    /// Whether a state (the first `Size` variables) is feasible within the tolerance: with no auxiliary variables,
    /// whether it satisfies every bound, integrality flag and constraint; with auxiliary variables, whether some
    /// completion of them does (a feasibility solve with the state fixed within the tolerance).
    let isFeasible (model: LinearModel) (state: float[]) : bool =
        if not (ModelRules.withinBounds state model.Variables) then
            false
        elif model.Variables.Length = model.Size then
            Array.forall (ModelRules.satisfies state) model.Constraints
        else
            let fixedVars = Array.copy model.Variables

            state
            |> Array.iteri (fun i v ->
                fixedVars.[i] <-
                    { Lower = v - ModelRules.slack v
                      Upper = v + ModelRules.slack v
                      Integer = false })

            match trySolve { model with Variables = fixedVars } (Array.zeroCreate model.Variables.Length) with
            | Ok _, _ -> true
            | Error _, _ -> false
