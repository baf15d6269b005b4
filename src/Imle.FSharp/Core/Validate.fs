namespace Imle

open System

/// Argument checks shared by every public entry point. Each failure raises an ArgumentException
/// (or ArgumentOutOfRangeException) whose message names the parameter, the value and what is allowed.
[<RequireQualifiedAccess>]
module Validate =

    /// Fails unless `value` is finite and strictly positive.
    let positive (name: string) (value: float) =
        if Double.IsNaN value || Double.IsInfinity value || value <= 0.0 then
            raise (ArgumentOutOfRangeException(name, value, sprintf "%s must be a finite number > 0; got %g." name value))

    /// Fails unless `value` is finite and at least `lower`.
    let atLeast (name: string) (lower: float) (value: float) =
        if Double.IsNaN value || Double.IsInfinity value || value < lower then
            raise (ArgumentOutOfRangeException(name, value, sprintf "%s must be a finite number >= %g; got %g." name lower value))

    /// Fails unless `value` is finite (not NaN, not infinite).
    let finite (name: string) (value: float) =
        if Double.IsNaN value || Double.IsInfinity value then
            raise (ArgumentOutOfRangeException(name, value, sprintf "%s must be finite; got %g." name value))

    /// Fails unless the integer lies in [lower, upper].
    let intInRange (name: string) (lower: int) (upper: int) (value: int) =
        if value < lower || value > upper then
            raise (ArgumentOutOfRangeException(name, value, sprintf "%s must lie in [%d, %d]; got %d." name lower upper value))

    /// Fails unless the integer is at least `lower`.
    let intAtLeast (name: string) (lower: int) (value: int) =
        if value < lower then
            raise (ArgumentOutOfRangeException(name, value, sprintf "%s must be >= %d; got %d." name lower value))

    /// Fails if the array is null.
    let notNull (name: string) (value: 'T[]) =
        if isNull value then raise (ArgumentNullException(name, sprintf "%s must not be null." name))

    /// Fails unless every entry of the array is finite; names the first offending index.
    let allFinite (name: string) (values: float[]) =
        notNull name values
        for i in 0 .. values.Length - 1 do
            let v = values.[i]
            if Double.IsNaN v || Double.IsInfinity v then
                raise (ArgumentException(sprintf "%s[%d] must be finite; got %g. NaN and infinity are not allowed." name i v, name))

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
