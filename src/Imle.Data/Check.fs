/// Argument checks of Imle.Data's public functions (numbers go through `Imle.Validate`).
module internal Imle.Data.Check

open System

/// Fails with ArgumentNullException naming the parameter when `value` is null.
let notNull (name: string) (value: 'T) =
    if isNull (box value) then
        raise (ArgumentNullException(name, sprintf "%s must not be null." name))

/// Fails unless the string is neither null nor empty.
let nonEmpty (name: string) (value: string) =
    notNull name value

    if value.Length = 0 then
        raise (ArgumentException(sprintf "%s must not be empty." name, name))
