namespace Imle

open System

/// What a solver accepts in each entry of an input span (scores, costs, weights, values).
[<Struct>]
type internal SpanEntries =
    /// Any finite number.
    | AnyFinite
    /// Finite numbers >= `lower`; `reason` (it goes into the message) says why the bound is there.
    | FiniteAtLeast of lower: float * reason: string

/// Argument checks shared by every public entry point. Each failure raises an ArgumentException
/// (or ArgumentOutOfRangeException) whose message names the parameter, the value and what is allowed.
[<RequireQualifiedAccess>]
module Validate =

    /// Whether `x` is a finite number (neither NaN nor infinite): the one finiteness rule of the library.
    let inline isFinite (x: float) = Double.IsFinite x

    /// A shape as messages write it, the way C# and Python users read shapes: `[4, 9]` (`[]` for a scalar). The one
    /// formatter of shapes in the library's messages.
    let shapeText (dims: seq<'T>) : string = "[" + String.Join(", ", dims) + "]"

    /// Fails unless `value` is a string with at least one non-blank character (names of layers, problems, ...).
    let nonBlank (name: string) (value: string) =
        if String.IsNullOrWhiteSpace value then
            invalidArg name (sprintf "%s must be a non-empty string." name)

    /// Checks a user-defined case of a catalogue (a custom noise, target, ...): its name must be non-empty and its
    /// function non-null. `what` names the kind in the message ("noise", "target"); `functionName` is the parameter.
    let customCase (what: string) (name: string) (functionName: string) (f: obj) =
        if String.IsNullOrWhiteSpace name then
            invalidArg "name" (sprintf "A custom %s needs a non-empty name." what)

        if obj.ReferenceEquals(f, null) then
            nullArg functionName

    /// Fails unless `value` is finite and strictly positive.
    let positive (name: string) (value: float) =
        if not (isFinite value) || value <= 0.0 then
            raise (
                ArgumentOutOfRangeException(name, value, sprintf "%s must be a finite number > 0; got %g." name value)
            )

    /// Fails unless `value` is finite and at least `lower`.
    let atLeast (name: string) (lower: float) (value: float) =
        if not (isFinite value) || value < lower then
            raise (
                ArgumentOutOfRangeException(
                    name,
                    value,
                    sprintf "%s must be a finite number >= %g; got %g." name lower value
                )
            )

    /// Fails unless `value` lies in [lower, upper) (so it is finite).
    let inHalfOpen (name: string) (lower: float) (upper: float) (value: float) =
        if not (isFinite value) || value < lower || value >= upper then
            raise (
                ArgumentOutOfRangeException(
                    name,
                    value,
                    sprintf "%s must lie in [%g, %g); got %g." name lower upper value
                )
            )

    /// Fails unless `value` is finite (not NaN, not infinite).
    let finite (name: string) (value: float) =
        if not (isFinite value) then
            raise (ArgumentOutOfRangeException(name, value, sprintf "%s must be finite; got %g." name value))

    /// Fails unless the integer lies in [lower, upper].
    let intInRange (name: string) (lower: int) (upper: int) (value: int) =
        if value < lower || value > upper then
            raise (
                ArgumentOutOfRangeException(
                    name,
                    value,
                    sprintf "%s must lie in [%d, %d]; got %d." name lower upper value
                )
            )

    /// Fails unless the integer is at least `lower`.
    let intAtLeast (name: string) (lower: int) (value: int) =
        if value < lower then
            raise (ArgumentOutOfRangeException(name, value, sprintf "%s must be >= %d; got %d." name lower value))

    /// Fails if the value (an array, a random generator, any reference) is null.
    let notNull (name: string) (value: 'T when 'T: null) =
        if isNull value then
            raise (ArgumentNullException(name, sprintf "%s must not be null." name))

    /// Fails if the array is null or empty.
    let nonEmpty (name: string) (values: 'T[]) =
        notNull name values

        if values.Length = 0 then
            invalidArg name (sprintf "%s must have at least one entry; got an empty array." name)

    /// Fails unless `shape` (a problem's dimensions) is non-null, has at least one dimension, and every dimension is
    /// at least 1.
    let shape (name: string) (shape: int[]) =
        notNull name shape

        if shape.Length = 0 then
            invalidArg name (sprintf "%s must have at least one dimension." name)

        shape
        |> Array.iteri (fun i d ->
            if d < 1 then
                invalidArg name (sprintf "%s[%d] must be >= 1; got %d." name i d))

    /// Fails unless a span argument has `expected` entries; `what` says what that count is (e.g. "rows*cols",
    /// "one entry per edge"), a literal so that the check allocates nothing when it passes.
    let internal spanLength (name: string) (expected: int) (what: string) (actual: int) =
        if actual <> expected then
            raise (ArgumentException(sprintf "%s must have length %d (%s); got %d." name expected what actual, name))

    /// Fails unless every entry of the span is allowed by `entries`; names the first offending index.
    let internal spanEntries (name: string) (entries: SpanEntries) (values: ReadOnlySpan<float>) =
        match entries with
        | AnyFinite ->
            for i in 0 .. values.Length - 1 do
                let v = values.[i]

                if not (isFinite v) then
                    raise (
                        ArgumentException(
                            sprintf "%s[%d] must be finite; got %g. NaN and infinity are not allowed." name i v,
                            name
                        )
                    )
        | FiniteAtLeast(lower, reason) ->
            for i in 0 .. values.Length - 1 do
                let v = values.[i]

                if not (isFinite v) || v < lower then
                    raise (
                        ArgumentException(
                            sprintf "%s[%d] must be finite and >= %g (%s); got %g." name i lower reason v,
                            name
                        )
                    )

    /// The solvers' check of an input span: `expected` entries (see `spanLength`), each allowed by `entries`.
    let internal span
        (name: string)
        (expected: int)
        (what: string)
        (entries: SpanEntries)
        (values: ReadOnlySpan<float>)
        =
        spanLength name expected what values.Length
        spanEntries name entries values

    /// Fails unless every entry of the array is finite; names the first offending index.
    let allFinite (name: string) (values: float[]) =
        notNull name values
        spanEntries name AnyFinite (ReadOnlySpan values)

    /// Fails unless the array has exactly `expected` entries.
    let length (name: string) (expected: int) (values: 'T[]) =
        notNull name values

        if values.Length <> expected then
            raise (ArgumentException(sprintf "%s must have length %d; got %d." name expected values.Length, name))

    /// Fails unless every entry is 0 or 1 (a binary state).
    let binary (name: string) (values: float[]) =
        notNull name values

        for i in 0 .. values.Length - 1 do
            let v = values.[i]

            if v <> 0.0 && v <> 1.0 then
                raise (ArgumentException(sprintf "%s[%d] must be 0 or 1 (a binary state); got %g." name i v, name))
