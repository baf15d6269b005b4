namespace Imle.Solvers

open System
open System.Buffers
open Imle

/// Global sequence alignment (Needleman–Wunsch) of two sequences of lengths n and m with a linear gap penalty.
/// The state is the n×m indicator matrix (row-major) of aligned pairs (i, j); the aligned pairs are strictly increasing
/// in both i and j. The objective (maximised) is Σ_{aligned (i,j)} scores[i*m + j] − gap·(number of unaligned positions
/// in both sequences) = Σ z_ij·s_ij − gap·(n + m − 2·Σ z_ij).
[<RequireQualifiedAccess>]
module Alignment =

    // Traceback moves.
    [<Literal>]
    let private Diagonal = 0uy

    [<Literal>]
    let private SkipFirst = 1uy

    [<Literal>]
    let private SkipSecond = 2uy

    let private checkArguments (n: int) (m: int) (gap: float) (scoresLength: int) =
        Validate.intAtLeast "n" 0 n
        Validate.intAtLeast "m" 0 m
        Validate.atLeast "gap" 0.0 gap

        if int64 (n + 1) * int64 (m + 1) > int64 Array.MaxLength then
            invalidArg "m" (sprintf "(n+1)*(m+1) must be at most %d; got n=%d, m=%d." Array.MaxLength n m)

        Validate.spanLength "scores" (n * m) "n*m" scoresLength

    /// Writes an optimal alignment (the n×m indicator of aligned pairs, row-major) into `state` and returns the optimal
    /// value Σ z·s − gap·(number of unaligned positions). Needleman–Wunsch dynamic programming with traceback over
    /// pooled arrays; ties are broken deterministically (tracing back from the end, aligning (i, j) is preferred over
    /// leaving i unaligned, which is preferred over leaving j unaligned). `gap` must be finite and >= 0, `scores` finite.
    let solveInto (n: int, m: int, gap: float, scores: ReadOnlySpan<float>, state: Span<float>) : float =
        checkArguments n m gap scores.Length
        Validate.spanLength "state" (n * m) "n*m" state.Length
        Validate.spanEntries "scores" AnyFinite scores
        let w = m + 1
        let cells = (n + 1) * w
        let table = ArrayPool<float>.Shared.Rent cells
        let moves = ArrayPool<byte>.Shared.Rent cells

        try
            table.[0] <- 0.0

            for j in 1..m do
                table.[j] <- -gap * float j
                moves.[j] <- SkipSecond

            for i in 1..n do
                let row = i * w
                table.[row] <- -gap * float i
                moves.[row] <- SkipFirst

                for j in 1..m do
                    let diagonal = table.[row - w + j - 1] + scores.[(i - 1) * m + j - 1]
                    let up = table.[row - w + j] - gap
                    let left = table.[row + j - 1] - gap
                    let mutable best = diagonal
                    let mutable move = Diagonal

                    if up > best then
                        best <- up
                        move <- SkipFirst

                    if left > best then
                        best <- left
                        move <- SkipSecond

                    table.[row + j] <- best
                    moves.[row + j] <- move

            state.Clear()
            let mutable i = n
            let mutable j = m

            while i > 0 || j > 0 do
                match moves.[i * w + j] with
                | Diagonal ->
                    state.[(i - 1) * m + j - 1] <- 1.0
                    i <- i - 1
                    j <- j - 1
                | SkipFirst -> i <- i - 1
                | _ -> j <- j - 1

            table.[n * w + m]
        finally
            ArrayPool<byte>.Shared.Return moves
            ArrayPool<float>.Shared.Return table

    /// An optimal alignment (the n×m indicator of aligned pairs, row-major) as a new array. See `solveInto`.
    let solve (n: int) (m: int) (gap: float) (scores: float[]) : float[] =
        Validate.notNull "scores" scores
        checkArguments n m gap scores.Length
        let state = Array.zeroCreate (n * m)
        solveInto (n, m, gap, ReadOnlySpan scores, Span state) |> ignore
        state

    /// The optimal alignment value only (two rolling rows of the dynamic programme, no traceback).
    let value (n: int) (m: int) (gap: float) (scores: float[]) : float =
        Validate.notNull "scores" scores
        checkArguments n m gap scores.Length
        Validate.spanEntries "scores" AnyFinite (ReadOnlySpan scores)
        let w = m + 1
        let rows = ArrayPool<float>.Shared.Rent(2 * w)

        try
            for j in 0..m do
                rows.[j] <- -gap * float j

            for i in 1..n do
                let cur = (i &&& 1) * w
                let prev = w - cur
                rows.[cur] <- -gap * float i

                for j in 1..m do
                    let diagonal = rows.[prev + j - 1] + scores.[(i - 1) * m + j - 1]
                    let up = rows.[prev + j] - gap
                    let left = rows.[cur + j - 1] - gap
                    rows.[cur + j] <- max diagonal (max up left)

            rows.[(n &&& 1) * w + m]
        finally
            ArrayPool<float>.Shared.Return rows

    /// Whether `state` (n×m, row-major) is an alignment: binary, and its aligned pairs (i, j) (entries equal to 1)
    /// are strictly increasing in both i and j (so each position is aligned at most once and no two pairs cross).
    let isAlignment (n: int) (m: int) (state: float[]) : bool =
        Validate.intAtLeast "n" 0 n
        Validate.intAtLeast "m" 0 m
        Validate.length "state" (n * m) state
        // Aligned pairs strictly increasing in j across the rows (row-major order), at most one per row.
        let lastJ = ref -1

        BinaryState.rowsSatisfy
            n
            m
            state
            (fun _ j ->
                let increasing = j > lastJ.Value
                lastJ.Value <- j
                increasing)
            (fun ones -> ones <= 1)
