namespace Imle.Solvers

open System

/// What the solvers do with their 0/1 states, written once: the value of a state under per-entry weights, and the
/// row-by-row scan of a matrix state that their feasibility tests share.
[<RequireQualifiedAccess>]
module internal BinaryState =

    /// Σ weights[i] over the entries where state[i] = 1, in index order.
    let value (state: Span<float>) (weights: ReadOnlySpan<float>) : float =
        let mutable total = 0.0

        for i in 0 .. state.Length - 1 do
            if state.[i] = 1.0 then
                total <- total + weights.[i]

        total

    /// Whether the rows×cols state (row-major) is binary, `accept i j` holds at every entry (i, j) equal to 1 (called
    /// in row-major order), and `rowOnes count` holds for the number of ones of every row.
    let inline rowsSatisfy
        (rows: int)
        (cols: int)
        (state: float[])
        ([<InlineIfLambda>] accept: int -> int -> bool)
        ([<InlineIfLambda>] rowOnes: int -> bool)
        : bool =
        let mutable ok = true
        let mutable i = 0

        while ok && i < rows do
            let mutable inRow = 0

            for j in 0 .. cols - 1 do
                let z = state.[i * cols + j]

                if z = 1.0 then
                    inRow <- inRow + 1

                    if not (accept i j) then
                        ok <- false
                elif z <> 0.0 then
                    ok <- false

            if not (rowOnes inRow) then
                ok <- false

            i <- i + 1

        ok
