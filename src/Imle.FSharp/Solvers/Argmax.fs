namespace Imle.Solvers

open System
open Imle

/// MAP oracle of the categorical distribution (paper Example 1): the one-hot indicator of the largest score.
[<RequireQualifiedAccess>]
module Argmax =

    /// Writes the one-hot indicator of argmax(scores) into `state` (ties go to the lowest index).
    /// `scores` must be non-empty and finite; `state` must have the same length as `scores`.
    let solveInto (scores: ReadOnlySpan<float>, state: Span<float>) : unit =
        if scores.Length = 0 then
            invalidArg "scores" "scores must have at least one entry; got 0."

        Validate.spanLength "state" scores.Length "the length of scores" state.Length
        Validate.spanEntries "scores" AnyFinite scores
        let mutable best = 0
        let mutable bestValue = Double.NegativeInfinity

        for i in 0 .. scores.Length - 1 do
            let v = scores.[i]

            if i = 0 || v > bestValue then
                best <- i
                bestValue <- v

        state.Clear()
        state.[best] <- 1.0

    /// The one-hot indicator of argmax(scores) as a new array (ties go to the lowest index).
    let solve (scores: float[]) : float[] =
        Validate.notNull "scores" scores
        let state = Array.zeroCreate scores.Length
        solveInto (ReadOnlySpan scores, Span state)
        state
