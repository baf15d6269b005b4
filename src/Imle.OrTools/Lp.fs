namespace Imle.OrTools

open System
open Imle

/// Builders and the OR-Tools oracle for every linear model: LPs (GLOP), MILPs and binary ILPs (SCIP). Binary models
/// and the ready-made ILPs are built by `Ilp`; everything else (constraints, bounds, solving, feasibility, the Imle
/// problem) is here, once for every kind of model.
[<RequireQualifiedAccess>]
module Lp =

    /// The one feasibility tolerance of every check on a model's solutions and states: a value may exceed a bound b
    /// by `feasibilityTolerance·(1 + |b|)`, and an integer variable may lie that far from an integer. It equals
    /// SCIP's default feasibility tolerance.
    let feasibilityTolerance: float = ModelRules.Tolerance

    // ----- builders ----------------------------------------------------------------------------------------------

    /// A model with one continuous variable per state entry, each in [lower, upper] (±∞ allowed), and no constraints.
    let model (shape: int[]) (sense: Sense) (lower: float) (upper: float) : LinearModel =
        ModelRules.checkShape "shape" shape
        ModelRules.checkBounds lower upper
        let shape = Array.copy shape

        { Variables =
            Array.create
                (Array.fold (*) 1 shape)
                { Lower = lower
                  Upper = upper
                  Integer = false }
          Shape = shape
          Sense = sense
          Constraints = [||] }

    let private checkIndex (param: string) (model: LinearModel) (index: int) =
        if index < 0 || index >= model.Variables.Length then
            invalidArg param (sprintf "%s = %d names a variable outside [0, %d)." param index model.Variables.Length)

    /// Sets the bounds of variable `index` (±∞ allowed).
    let withBounds (index: int) (lower: float) (upper: float) (model: LinearModel) : LinearModel =
        ModelRules.checkModel "model" model
        checkIndex "index" model index
        ModelRules.checkBounds lower upper
        let vars = Array.copy model.Variables

        vars.[index] <-
            { vars.[index] with
                Lower = lower
                Upper = upper }

        { model with Variables = vars }

    /// Makes the listed variables integer (a MILP, solved by SCIP).
    let withIntegers (indices: int[]) (model: LinearModel) : LinearModel =
        ModelRules.checkModel "model" model
        Validate.notNull "indices" indices
        indices |> Array.iter (checkIndex "indices" model)
        let vars = Array.copy model.Variables

        for i in indices do
            vars.[i] <- { vars.[i] with Integer = true }

        { model with Variables = vars }

    /// Appends `count` >= 0 auxiliary variables (zero weight, not returned) in [lower, upper], integer or not; their
    /// indices are `model.Variables.Length ..` of the input model.
    let withAuxiliary (count: int) (lower: float) (upper: float) (integer: bool) (model: LinearModel) : LinearModel =
        ModelRules.checkModel "model" model
        Validate.intAtLeast "count" 0 count
        ModelRules.checkBounds lower upper

        if int64 model.Variables.Length + int64 count > int64 Array.MaxLength then
            invalidArg
                "count"
                (sprintf
                    "the total number of variables must be at most %d; got %d + %d."
                    Array.MaxLength
                    model.Variables.Length
                    count)

        let v =
            { Lower = lower
              Upper = upper
              Integer = integer }

        { model with
            Variables = Array.append model.Variables (Array.create count v) }

    /// A constraint `lower <= Σ a_j·x_j <= upper` from (variable index, coefficient) pairs (not yet checked against a
    /// model: `add` does that). Use ±∞ for a missing bound.
    let linear (coefficients: (int * float)[]) (lower: float) (upper: float) : LinearConstraint =
        Validate.notNull "coefficients" coefficients
        ModelRules.checkBounds lower upper

        let c =
            { Coefficients = Array.copy coefficients
              Lower = lower
              Upper = upper }

        ModelRules.checkConstraint "coefficients" "the constraint" Int32.MaxValue c
        c

    /// Adds an already built constraint (see `linear`), checked against the model.
    let add (constraintToAdd: LinearConstraint) (model: LinearModel) : LinearModel =
        ModelRules.checkModel "model" model
        ModelRules.checkConstraint "constraintToAdd" "constraintToAdd" model.Variables.Length constraintToAdd

        { model with
            Constraints =
                Array.append
                    model.Constraints
                    [| { constraintToAdd with
                           Coefficients = Array.copy constraintToAdd.Coefficients } |] }

    /// Adds `lower <= Σ a_j·x_j <= upper` over (variable index, coefficient) pairs (±∞ for a missing bound). Raises
    /// ArgumentException naming `coefficients` for an index outside [0, Variables), a repeated index or a non-finite
    /// coefficient, and naming `lower`/`upper` for NaN or crossed bounds.
    let addConstraint (coefficients: (int * float)[]) (lower: float) (upper: float) (model: LinearModel) : LinearModel =
        ModelRules.checkModel "model" model
        let c = linear coefficients lower upper
        ModelRules.checkConstraint "coefficients" "the constraint" model.Variables.Length c

        { model with
            Constraints = Array.append model.Constraints [| c |] }

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

    /// The MIP solver id used on this machine for models with integer variables ("SCIP" where available; then CBC,
    /// then CP-SAT).
    let mipBackend: Lazy<string> = ModelSolver.mipBackend

    /// The OR-Tools backend that `solve` uses for the model: "GLOP" (simplex) for an LP, `mipBackend` ("SCIP") for a
    /// model with integer variables.
    let backendFor (model: LinearModel) : string =
        ModelRules.checkModel "model" model
        ModelSolver.backendFor model

    /// The state part of the optimum for weights over the state (checked), the model already validated.
    let private solveState (model: LinearModel) (weights: float[]) =
        ModelRules.checkWeights model weights

        let full =
            Array.append weights (Array.zeroCreate (model.Variables.Length - model.Size))

        Array.sub (ModelSolver.solve model full) 0 model.Size

    /// The optimal state x (the first `Size` variables) maximising (Maximise) or minimising (Minimise) ⟨x, weights⟩
    /// subject to the bounds, integrality flags and constraints (auxiliary variables have weight 0): GLOP for an LP
    /// (a vertex optimum), SCIP with relative gap 0 for a MILP; integer variables are returned rounded. Ties between
    /// optimal states are broken by the solver, not by index. A fresh solver per call, so it is safe to call from many
    /// threads. Raises ArgumentException naming `weights` or `model`, and InvalidOperationException saying whether
    /// the model is infeasible or unbounded for these weights.
    let solve (model: LinearModel) (weights: float[]) : float[] =
        ModelRules.checkModel "model" model
        solveState model weights

    /// Like `solve`, but with weights over all variables (auxiliary ones included) and returning the full assignment
    /// (state then auxiliary variables).
    let solveAssignment (model: LinearModel) (weights: float[]) : float[] =
        ModelRules.checkModel "model" model
        Validate.length "weights" model.Variables.Length weights
        Validate.allFinite "weights" weights
        ModelSolver.solve model weights

    /// Whether a state (the first `Size` variables) is feasible within `feasibilityTolerance`: with no auxiliary
    /// variables, whether it satisfies every bound, integrality flag and constraint; with auxiliary variables, whether
    /// some completion of them does (a feasibility solve with the state fixed within the tolerance).
    let isFeasible (model: LinearModel) (state: float[]) : bool =
        ModelRules.checkModel "model" model
        Validate.length "state" model.Size state
        ModelSolver.isFeasible model state

    /// Whether a full assignment (all variables, state then auxiliary) satisfies every bound, integrality flag and
    /// constraint within `feasibilityTolerance`.
    let isFeasibleAssignment (model: LinearModel) (assignment: float[]) : bool =
        ModelRules.checkModel "model" model
        Validate.length "assignment" model.Variables.Length assignment
        ModelRules.feasibleAssignment model assignment

    /// An Imle `Problem` (Kind = UserDefined) whose oracle is `solve model` and whose feasibility check is
    /// `isFeasible model`, so `Problem.solve`/`Problem.checkState` validate the solver's output. Its states are binary
    /// when every state variable is binary (integer in [0, 1], as in the models of `Ilp`) and real vectors otherwise
    /// (`Problem.withRealStates`). The model is validated once here; with auxiliary variables the feasibility check
    /// costs one extra solve.
    let problem (name: string) (model: LinearModel) : Problem =
        if String.IsNullOrWhiteSpace name then
            invalidArg "name" "name must be a non-empty string."

        ModelRules.checkModel "model" model

        let model =
            { model with
                Variables = Array.copy model.Variables
                Shape = Array.copy model.Shape
                Constraints = Array.copy model.Constraints }

        let p =
            Problem.create name model.Shape model.Sense (solveState model)
            |> Problem.withFeasibility (ModelSolver.isFeasible model)

        if Array.forall ModelRules.isBinary (Array.sub model.Variables 0 model.Size) then
            p
        else
            Problem.withRealStates p
