namespace Imle.Solvers

open System
open System.Buffers
open Imle

/// Minimum-cost bipartite assignment: each of `rows` left nodes is assigned to a distinct one of `cols` >= rows right
/// nodes. Costs and states are rows×cols matrices laid out row-major; the state is the assignment indicator matrix.
[<RequireQualifiedAccess>]
module Matching =

    let private checkDimensions (rows: int) (cols: int) =
        Validate.intAtLeast "rows" 0 rows

        if cols < rows then
            raise (
                ArgumentOutOfRangeException(
                    "cols",
                    cols,
                    sprintf "cols must be >= rows = %d (every row needs a distinct column); got %d." rows cols
                )
            )

        if int64 rows * int64 cols > int64 Array.MaxLength || cols > Array.MaxLength / 3 then
            invalidArg "cols" (sprintf "rows*cols must be at most %d; got %d*%d." Array.MaxLength rows cols)

    /// Writes a minimum-cost assignment (the rows×cols indicator, row-major) into `state` and returns its total cost.
    /// The Hungarian algorithm with potentials (Jonker–Volgenant style shortest augmenting paths), O(rows²·cols), over
    /// pooled arrays; ties are broken deterministically (the lowest column index wins each minimum).
    /// `costs` (rows×cols) must be finite; `state` must have rows×cols entries; cols >= rows.
    let solveInto (rows: int, cols: int, costs: ReadOnlySpan<float>, state: Span<float>) : float =
        checkDimensions rows cols
        let size = rows * cols
        Validate.span "costs" size "rows*cols" AnyFinite costs
        Validate.spanLength "state" size "rows*cols" state.Length
        let n = rows
        let m = cols
        // 1-based arrays as in the classic formulation; column 0 is a virtual column.
        let floats = ArrayPool<float>.Shared.Rent((n + 1) + 2 * (m + 1))
        let ints = ArrayPool<int>.Shared.Rent(3 * (m + 1))

        try
            let u = Span<float>(floats, 0, n + 1)
            let v = Span<float>(floats, n + 1, m + 1)
            let minv = Span<float>(floats, n + 1 + m + 1, m + 1)
            let p = Span<int>(ints, 0, m + 1) // p[j]: the row assigned to column j (0 = none)
            let way = Span<int>(ints, m + 1, m + 1)
            let used = Span<int>(ints, 2 * (m + 1), m + 1)
            u.Clear()
            v.Clear()
            p.Clear()
            way.Clear()

            for i in 1..n do
                p.[0] <- i
                let mutable j0 = 0
                minv.Fill Double.PositiveInfinity
                used.Clear()
                let mutable searching = true

                while searching do
                    used.[j0] <- 1
                    let i0 = p.[j0]
                    let mutable delta = Double.PositiveInfinity
                    let mutable j1 = 0
                    let rowBase = (i0 - 1) * m

                    for j in 1..m do
                        if used.[j] = 0 then
                            let cur = costs.[rowBase + j - 1] - u.[i0] - v.[j]

                            if cur < minv.[j] then
                                minv.[j] <- cur
                                way.[j] <- j0

                            if minv.[j] < delta then
                                delta <- minv.[j]
                                j1 <- j

                    for j in 0..m do
                        if used.[j] <> 0 then
                            u.[p.[j]] <- u.[p.[j]] + delta
                            v.[j] <- v.[j] - delta
                        else
                            minv.[j] <- minv.[j] - delta

                    j0 <- j1

                    if p.[j0] = 0 then
                        searching <- false
                // Augment along the alternating path.
                let mutable augmenting = true

                while augmenting do
                    let j1 = way.[j0]
                    p.[j0] <- p.[j1]
                    j0 <- j1

                    if j0 = 0 then
                        augmenting <- false

            state.Clear()

            for j in 1..m do
                let i = p.[j]

                if i > 0 then
                    let k = (i - 1) * m + j - 1
                    state.[k] <- 1.0

            BinaryState.value state costs
        finally
            ArrayPool<int>.Shared.Return ints
            ArrayPool<float>.Shared.Return floats

    /// A minimum-cost assignment (the rows×cols indicator, row-major) as a new array. See `solveInto`.
    let solve (rows: int) (cols: int) (costs: float[]) : float[] =
        checkDimensions rows cols
        Validate.notNull "costs" costs
        let state = Array.zeroCreate (rows * cols)
        solveInto (rows, cols, ReadOnlySpan costs, Span state) |> ignore
        state

    /// Whether `state` (rows×cols, row-major) is an assignment: binary, each row has exactly one 1 and each column at
    /// most one 1.
    let isMatching (rows: int) (cols: int) (state: float[]) : bool =
        Validate.intAtLeast "rows" 0 rows
        Validate.intAtLeast "cols" 0 cols
        Validate.length "state" (rows * cols) state
        let columnUsed = Array.zeroCreate<bool> cols

        BinaryState.rowsSatisfy
            rows
            cols
            state
            (fun _ j ->
                let free = not columnUsed.[j]
                columnUsed.[j] <- true
                free)
            (fun ones -> ones = 1)
