namespace Imle.OrTools

open System
open Imle

/// One variable of a linear model: its bounds (±∞ allowed) and whether it must take an integer value. A binary
/// variable (the ILPs of `Ilp`) is an integer variable in [0, 1].
type LinearVariable =
    {
        /// The lower bound (may be −∞, not NaN or +∞).
        Lower: float
        /// The upper bound (may be +∞, not NaN or −∞), at least `Lower`.
        Upper: float
        /// Whether the variable must be an integer (the model is then a MILP); false for a continuous variable.
        Integer: bool
    }

/// One linear constraint `Lower <= Σ_j a_j·x_j <= Upper`, stored sparsely: `Coefficients` lists (variable index,
/// coefficient a_j) pairs, each index at most once; variables not listed have coefficient 0. A one-sided constraint
/// uses `Double.NegativeInfinity` for `Lower` or `Double.PositiveInfinity` for `Upper`; an equality has
/// `Lower = Upper`. Coefficients must be finite; bounds must not be NaN and `Lower <= Upper`.
type LinearConstraint =
    {
        /// The non-zero coefficients as (variable index, coefficient) pairs; indices are distinct, in [0, variables).
        Coefficients: (int * float)[]
        /// The lower bound (may be −∞).
        Lower: float
        /// The upper bound (may be +∞).
        Upper: float
    }

/// A linear program (all variables continuous), mixed-integer linear program, or integer linear program over binary
/// variables (Example 3 of the I-MLE paper), with the objective linear in the weights: the oracle optimises ⟨x, w⟩
/// over the first `Size` variables (the state, row-major in `Shape` like every Imle state), maximising scores
/// (Sense = Maximise) or minimising costs (Sense = Minimise, θ = −c), subject to `Constraints` and the variables'
/// bounds and integrality. Variables `Size .. Variables.Length − 1` (if any) are auxiliary: they take part in the
/// constraints, carry zero weight and are not returned (e.g. the edge flows of `Ilp.gridPathModel`).
///
/// This is PyEPO's `optModel`: SPO+, the perturbed optimizers, Fenchel–Young losses, blackbox and I-MLE only call the
/// oracle, so they work on any such model through `Lp.problem`. Build models with `Lp.model` (continuous variables) or
/// `Ilp.model` (binary variables), then `Lp.withBounds`, `Lp.withIntegers`, `Lp.withAuxiliary`, `Lp.addConstraint`,
/// `Ilp.exactlyK`, …; every builder validates its arguments and returns a new record, never mutating its input.
type LinearModel =
    {
        /// Every variable (state, then auxiliary), with bounds and integrality.
        Variables: LinearVariable[]
        /// The shape of one state (and of the weights), e.g. [| m |] or [| rows; cols |].
        Shape: int[]
        /// Whether the oracle maximises ⟨x, w⟩ (scores) or minimises it (costs).
        Sense: Sense
        /// The linear constraints; with the bounds and integrality flags their conjunction defines the feasible set.
        Constraints: LinearConstraint[]
    }

    /// The number of state variables (product of `Shape`); the remaining `Variables.Length − Size` are auxiliary.
    member this.Size = Array.fold (*) 1 this.Shape

/// The rules every linear model obeys, written once: validation, the feasibility tolerance, and the checks of an
/// assignment against bounds, integrality and constraints.
[<RequireQualifiedAccess>]
module internal ModelRules =

    /// The one feasibility tolerance: a value may exceed a bound b by `Tolerance·(1 + |b|)` and an integer variable
    /// may lie that far from an integer. 1e-6 is SCIP's default feasibility tolerance (GLOP's primal tolerance is
    /// tighter), so every optimum the solvers return passes.
    [<Literal>]
    let Tolerance = 1e-6

    /// The slack allowed at a bound (none extra for an infinite bound).
    let slack (bound: float) =
        Tolerance * (1.0 + (if Double.IsInfinity bound then 0.0 else abs bound))

    /// Whether Σ a_j·x_j lies within the constraint's bounds, up to the slack.
    let satisfies (x: float[]) (c: LinearConstraint) =
        let mutable s = 0.0

        for (i, a) in c.Coefficients do
            s <- s + a * x.[i]

        s >= c.Lower - slack c.Lower && s <= c.Upper + slack c.Upper

    /// Whether each value lies within its variable's bounds and, for an integer variable, at an integer (up to the
    /// slack); `x` may be shorter than `variables` (a state without its auxiliary variables).
    let withinBounds (x: float[]) (variables: LinearVariable[]) =
        let mutable ok = true

        for i in 0 .. x.Length - 1 do
            let v, d = x.[i], variables.[i]

            if
                not (Validate.isFinite v)
                || v < d.Lower - slack d.Lower
                || v > d.Upper + slack d.Upper
                || (d.Integer && abs (v - Math.Round v) > Tolerance)
            then
                ok <- false

        ok

    /// Whether a full assignment (all variables) satisfies every bound, integrality flag and constraint.
    let feasibleAssignment (model: LinearModel) (x: float[]) =
        withinBounds x model.Variables && Array.forall (satisfies x) model.Constraints

    /// Whether the variable is binary (integer with bounds inside [0, 1]).
    let isBinary (v: LinearVariable) =
        v.Integer && v.Lower >= 0.0 && v.Upper <= 1.0

    let isMixedInteger (model: LinearModel) =
        model.Variables |> Array.exists (fun v -> v.Integer)

    /// The model in words, for messages.
    let describe (model: LinearModel) =
        sprintf
            "the linear model (%d variables, %d integer, shape %s, %d constraints, %A)"
            model.Variables.Length
            (model.Variables |> Array.filter (fun v -> v.Integer) |> Array.length)
            (Validate.shapeText model.Shape)
            model.Constraints.Length
            model.Sense

    /// Checks a state's shape: the core's shape rule, and a product that fits an array.
    let checkShape (param: string) (shape: int[]) =
        Validate.shape param shape

        let size = shape |> Array.fold (fun s d -> s * int64 d) 1L

        if size > int64 Array.MaxLength then
            invalidArg param (sprintf "the product of %s must be at most %d; got %d." param Array.MaxLength size)

    /// Checks the bounds of a variable or constraint: `Lower` a number or −∞, `Upper` a number or +∞, and
    /// `Lower <= Upper`; `param` is the parameter named in errors, `where` prefixes messages.
    let private checkBoundPair (param: string) (where: string) (lower: float) (upper: float) =
        if Double.IsNaN lower || Double.IsPositiveInfinity lower then
            invalidArg param (sprintf "%s has Lower = %g; use a number or -infinity (no lower bound)." where lower)

        if Double.IsNaN upper || Double.IsNegativeInfinity upper then
            invalidArg param (sprintf "%s has Upper = %g; use a number or +infinity (no upper bound)." where upper)

        if lower > upper then
            invalidArg param (sprintf "%s has Lower = %g > Upper = %g." where lower upper)

    /// Checks one variable's bounds; `param` is the parameter named in errors, `where` prefixes messages.
    let checkVariable (param: string) (where: string) (v: LinearVariable) =
        checkBoundPair param where v.Lower v.Upper

    /// Checks a pair of bounds given as arguments named `lower` and `upper`.
    let checkBounds (lower: float) (upper: float) =
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

    /// Checks one constraint against `variables`; `param` is the parameter named in errors, `where` prefixes messages.
    let checkConstraint (param: string) (where: string) (variables: int) (c: LinearConstraint) =
        if isNull (box c) then
            invalidArg param (sprintf "%s must not be null." where)

        if isNull c.Coefficients then
            invalidArg param (sprintf "%s.Coefficients must not be null." where)

        checkBoundPair param where c.Lower c.Upper

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
    let checkModel (param: string) (model: LinearModel) =
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

        model.Variables
        |> Array.iteri (fun i v -> checkVariable param (sprintf "%s.Variables[%d]" param i) v)

        model.Constraints
        |> Array.iteri (fun i c ->
            checkConstraint param (sprintf "%s.Constraints[%d]" param i) model.Variables.Length c)

    /// Checks a list of distinct variable indices of the model.
    let checkIndices (param: string) (variables: int) (indices: int[]) =
        Validate.notNull param indices
        let seen = Collections.Generic.HashSet<int>()

        indices
        |> Array.iteri (fun j index ->
            if index < 0 || index >= variables then
                invalidArg param (sprintf "%s[%d] = %d names a variable outside [0, %d)." param j index variables)

            if not (seen.Add index) then
                invalidArg param (sprintf "%s[%d] = %d repeats a variable; list each variable once." param j index))

    /// Checks MAP weights over the state: not null, `Size` entries, finite.
    let checkWeights (model: LinearModel) (weights: float[]) =
        Validate.notNull "weights" weights

        if weights.Length <> model.Size then
            raise (
                ArgumentException(
                    sprintf
                        "weights must have length %d (the state size, product of shape %s); got %d."
                        model.Size
                        (Validate.shapeText model.Shape)
                        weights.Length,
                    "weights"
                )
            )

        Validate.allFinite "weights" weights
