namespace Imle.Solvers

open System
open System.Buffers
open Imle

/// 0/1 knapsack: maximise Σ z·values subject to Σ z·itemWeights <= capacity, with integer weights >= 0.
/// The state is the indicator of the chosen items.
[<RequireQualifiedAccess>]
module Knapsack =

    let private checkItems (itemWeights: int[]) (capacity: int) =
        Validate.notNull "itemWeights" itemWeights

        for i in 0 .. itemWeights.Length - 1 do
            if itemWeights.[i] < 0 then
                invalidArg "itemWeights" (sprintf "itemWeights[%d] must be >= 0; got %d." i itemWeights.[i])

        Validate.intAtLeast "capacity" 0 capacity

        if
            capacity = Int32.MaxValue
            || int64 itemWeights.Length * (int64 capacity + 1L) > int64 Array.MaxLength
        then
            invalidArg
                "capacity"
                (sprintf
                    "items*(capacity+1) must be at most %d for the dynamic programme; got %d items and capacity %d."
                    Array.MaxLength
                    itemWeights.Length
                    capacity)

    /// Writes an optimal choice of items into `state` and returns its total value. Dynamic programming over the
    /// capacity with a pooled traceback table of items×(capacity+1) bytes; an item is taken only when it strictly
    /// improves the value, so items with value <= 0 are never chosen and ties are broken deterministically.
    /// `values` must be finite with one entry per item; `state` must have one entry per item.
    let solveInto (itemWeights: int[], capacity: int, values: ReadOnlySpan<float>, state: Span<float>) : float =
        checkItems itemWeights capacity
        let n = itemWeights.Length
        Validate.span "values" n "one entry per item" AnyFinite values
        Validate.spanLength "state" n "one entry per item" state.Length
        let w = capacity + 1
        let best = ArrayPool<float>.Shared.Rent w
        let keep = ArrayPool<byte>.Shared.Rent(max (n * w) 1)

        try
            // best.[c]: the best value of the items seen so far within capacity c.
            Array.Clear(best, 0, w)
            Array.Clear(keep, 0, n * w)

            for i in 0 .. n - 1 do
                let v = values.[i]
                let wi = itemWeights.[i]

                if v > 0.0 && wi <= capacity then
                    let row = i * w

                    for c in capacity .. -1 .. wi do
                        let candidate = best.[c - wi] + v

                        if candidate > best.[c] then
                            best.[c] <- candidate
                            keep.[row + c] <- 1uy

            state.Clear()
            let mutable c = capacity

            for i in n - 1 .. -1 .. 0 do
                if keep.[i * w + c] = 1uy then
                    state.[i] <- 1.0
                    c <- c - itemWeights.[i]

            BinaryState.value state values
        finally
            ArrayPool<byte>.Shared.Return keep
            ArrayPool<float>.Shared.Return best

    /// An optimal choice of items (indicator over items) as a new array. See `solveInto`.
    let solve (itemWeights: int[]) (capacity: int) (values: float[]) : float[] =
        checkItems itemWeights capacity
        Validate.notNull "values" values
        let state = Array.zeroCreate itemWeights.Length
        solveInto (itemWeights, capacity, ReadOnlySpan values, Span state) |> ignore
        state
