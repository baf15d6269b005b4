namespace Imle.Solvers

open System
open Imle

/// Which cells of a grid count as neighbours of a cell (the moves allowed along a path).
type Neighbourhood =
    /// The 4 orthogonal neighbours: up, down, left, right.
    | Four
    /// The 8 neighbours: the 4 orthogonal ones and the 4 diagonal ones.
    | Eight

/// Shortest path with vertex costs on a rows×cols grid (the Warcraft setting): from the top-left cell (0, 0) to the
/// bottom-right cell (rows−1, cols−1). The cost of a path is the sum of the costs of all its cells, both endpoints
/// included; the state is the indicator matrix of the path's cells, laid out row-major.
[<RequireQualifiedAccess>]
module GridShortestPath =

    // Move tables (never mutated, so shared safely between threads): orthogonal moves first, then diagonal ones.
    let private rowSteps = [| 0; 1; 0; -1; 1; 1; -1; -1 |]
    let private colSteps = [| 1; 0; -1; 0; 1; -1; 1; -1 |]

    let private moveCount (neighbourhood: Neighbourhood) =
        match neighbourhood with
        | Four -> 4
        | Eight -> 8

    /// The moves (row step, column step) of a neighbourhood, as a new array: orthogonal moves first, then diagonal.
    let moves (n: Neighbourhood) : (int * int)[] =
        Array.init (moveCount n) (fun i -> rowSteps.[i], colSteps.[i])

    let private checkDimensions (rows: int) (cols: int) =
        Validate.intAtLeast "rows" 1 rows
        Validate.intAtLeast "cols" 1 cols

        if int64 rows * int64 cols > int64 (Array.MaxLength / 3) then
            invalidArg "cols" (sprintf "rows*cols must be at most %d; got %d*%d." (Array.MaxLength / 3) rows cols)

    /// Per-thread scratch of `solveInto` (reused across calls, so solving a batch allocates nothing per map): the
    /// padded grid's costs and heap slots, predecessors, and the heap's keys and cells.
    [<Sealed; AllowNullLiteral>]
    type private Scratch(padded: int) =
        [<ThreadStatic; DefaultValue>]
        static val mutable private current: Scratch

        member val Capacity = padded
        member val Cost: float[] = Array.zeroCreate padded
        member val Pos: int[] = Array.zeroCreate padded
        member val Pred: int[] = Array.zeroCreate padded
        member val HeapKey: float[] = Array.zeroCreate padded
        member val HeapCell: int[] = Array.zeroCreate padded
        member val Offsets: int[] = Array.zeroCreate 8

        /// This thread's scratch, grown to at least `padded` cells.
        static member For(padded: int) =
            let s = Scratch.current

            if isNull s || s.Capacity < padded then
                let fresh = Scratch(max padded (if isNull s then 0 else 2 * s.Capacity))
                Scratch.current <- fresh
                fresh
            else
                s

    /// Dijkstra's algorithm on validated input (see `solveInto`); for costs of any sign, each cell settled once.
    let private dijkstraInto
        (rows: int, cols: int, neighbourhood: Neighbourhood, costs: ReadOnlySpan<float>, state: Span<float>)
        : float =
        // The padded grid: (rows + 2) × (cols + 2), cell (r, c) at (r + 1)·width + c + 1. Row-major order is kept, so
        // ties between cells break the same way as by their unpadded indices.
        let width = cols + 2
        let padded = (rows + 2) * width
        let scratch = Scratch.For padded
        let cost = scratch.Cost
        let pos = scratch.Pos
        let pred = scratch.Pred
        let hk = scratch.HeapKey
        let hc = scratch.HeapCell
        let nMoves = moveCount neighbourhood
        // Neighbour offsets in the padded grid, in the order of the move tables.
        let offsets = scratch.Offsets

        for k in 0 .. nMoves - 1 do
            offsets.[k] <- width * rowSteps.[k] + colSteps.[k]

        // pos: a cell's heap slot; -1 never reached, -2 settled (the border counts as settled).
        Span<int>(pos, 0, padded).Fill -2

        for r in 0 .. rows - 1 do
            let row = (r + 1) * width + 1
            costs.Slice(r * cols, cols).CopyTo(Span<float>(cost, row, cols))
            Span<int>(pos, row, cols).Fill -1

        let start = width + 1
        let target = rows * width + cols
        let mutable size = 1
        hk.[0] <- cost.[start]
        hc.[0] <- start
        pos.[start] <- 0
        pred.[start] <- -1
        let mutable found = nan

        while Double.IsNaN found do
            // Pop the root: the unsettled cell of least (distance, index).
            let u = hc.[0]
            let du = hk.[0]
            pos.[u] <- -2
            size <- size - 1

            if size > 0 then
                let lastKey = hk.[size]
                let last = hc.[size]
                let mutable p = 0
                let mutable moving = true

                while moving do
                    let left = 2 * p + 1

                    if left >= size then
                        moving <- false
                    else
                        let mutable child = left
                        let mutable ck = hk.[left]
                        let mutable cc = hc.[left]
                        let right = left + 1

                        if right < size then
                            let rk = hk.[right]
                            let rc = hc.[right]

                            if rk < ck || (rk = ck && rc < cc) then
                                child <- right
                                ck <- rk
                                cc <- rc

                        if ck < lastKey || (ck = lastKey && cc < last) then
                            hk.[p] <- ck
                            hc.[p] <- cc
                            pos.[cc] <- p
                            p <- child
                        else
                            moving <- false

                hk.[p] <- lastKey
                hc.[p] <- last
                pos.[last] <- p

            if u = target then
                found <- du
            else
                for k in 0 .. nMoves - 1 do
                    let w = u + offsets.[k]
                    let pw = pos.[w]

                    if pw <> -2 then
                        let nd = du + cost.[w]
                        let mutable slot = -1

                        if pw = -1 then
                            slot <- size
                            size <- size + 1
                        elif nd < hk.[pw] then
                            slot <- pw

                        if slot >= 0 then
                            pred.[w] <- u
                            // Sift up from the slot.
                            let mutable p = slot
                            let mutable moving = p > 0

                            while moving do
                                let parent = (p - 1) >>> 1
                                let qk = hk.[parent]
                                let q = hc.[parent]

                                if nd < qk || (nd = qk && w < q) then
                                    hk.[p] <- qk
                                    hc.[p] <- q
                                    pos.[q] <- p
                                    p <- parent
                                    moving <- p > 0
                                else
                                    moving <- false

                            hk.[p] <- nd
                            hc.[p] <- w
                            pos.[w] <- p

        state.Clear()
        let mutable x = target

        while x >= 0 do
            let r = x / width - 1
            state.[r * cols + (x - (r + 1) * width - 1)] <- 1.0
            x <- pred.[x]

        found

    /// `dijkstraInto` after the checks both public entry points share; `entries` says which costs are allowed.
    let private checkedDijkstraInto
        (entries: SpanEntries)
        (rows: int, cols: int, neighbourhood: Neighbourhood, costs: ReadOnlySpan<float>, state: Span<float>)
        : float =
        checkDimensions rows cols
        let v = rows * cols
        Validate.span "costs" v "rows*cols" entries costs
        Validate.spanLength "state" v "rows*cols" state.Length
        dijkstraInto (rows, cols, neighbourhood, costs, state)

    /// Writes the indicator matrix (row-major, rows×cols) of a minimum-cost path from (0, 0) to (rows−1, cols−1) into
    /// `state` and returns its cost: the sum of the costs of its cells, both endpoints included. Dijkstra's algorithm
    /// with an indexed binary heap of (distance, cell) keys over a grid padded by a border of settled cells (so the
    /// neighbour loop has no bounds tests), in per-thread buffers reused between calls; ties are broken
    /// deterministically (cells are settled in order of (distance, row-major index), and a cell's predecessor changes
    /// only on a strict improvement). `costs` (rows×cols, row-major) must be finite and >= 0; `state` must have
    /// rows×cols entries.
    let solveInto
        (rows: int, cols: int, neighbourhood: Neighbourhood, costs: ReadOnlySpan<float>, state: Span<float>)
        : float =
        checkedDijkstraInto
            (FiniteAtLeast(0.0, "Dijkstra needs non-negative costs"))
            (rows, cols, neighbourhood, costs, state)

    /// `solveInto` for finite costs of any sign, run as written: each cell is settled when it first leaves the queue
    /// and is never reopened, so a cheaper route found later through a negative cell does not change it (the rule of
    /// blackbox-backprop's and tf-imle's `dijkstra`). For costs >= 0 the same path as `solveInto`; with negative costs
    /// a path from (0, 0) to (rows−1, cols−1) that need not be the cheapest. Returns the path's cost.
    let solveSettlingOnceInto
        (rows: int, cols: int, neighbourhood: Neighbourhood, costs: ReadOnlySpan<float>, state: Span<float>)
        : float =
        checkedDijkstraInto AnyFinite (rows, cols, neighbourhood, costs, state)

    /// The indicator matrix (row-major, rows×cols) of a minimum-cost path from (0, 0) to (rows−1, cols−1) under
    /// vertex costs `costs` (finite, >= 0), as a new array. See `solveInto`.
    let solve (rows: int) (cols: int) (neighbourhood: Neighbourhood) (costs: float[]) : float[] =
        checkDimensions rows cols
        Validate.notNull "costs" costs
        let state = Array.zeroCreate (rows * cols)
        solveInto (rows, cols, neighbourhood, ReadOnlySpan costs, Span state) |> ignore
        state

    /// Whether `state` (rows×cols, row-major) is a path from (0, 0) to (rows−1, cols−1): it is binary and there is a
    /// sequence of distinct 1-cells from the start to the end, consecutive cells neighbours under `neighbourhood`,
    /// that covers every 1-cell. Found by a depth-first search for such a sequence (linear for path-shaped states);
    /// states whose search exceeds 10 million steps are rejected.
    let isPath (rows: int) (cols: int) (neighbourhood: Neighbourhood) (state: float[]) : bool =
        checkDimensions rows cols
        let v = rows * cols
        Validate.length "state" v state
        let mutable binary = true
        let mutable ones = 0

        for i in 0 .. v - 1 do
            let z = state.[i]

            if z = 1.0 then
                ones <- ones + 1
            elif z <> 0.0 then
                binary <- false

        let target = v - 1

        if not binary || state.[0] <> 1.0 || state.[target] <> 1.0 then
            false
        else
            let nMoves = moveCount neighbourhood
            let visited = Array.zeroCreate<bool> v
            let cells = Array.zeroCreate<int> ones
            let nextMove = Array.zeroCreate<int> ones
            cells.[0] <- 0
            visited.[0] <- true
            let mutable depth = 1
            let mutable found = false
            let mutable budget = 10_000_000

            while not found && depth > 0 && budget > 0 do
                budget <- budget - 1
                let top = depth - 1
                let u = cells.[top]

                if u = target then
                    if depth = ones then
                        found <- true
                    else
                        // The end must be the last cell: backtrack.
                        visited.[u] <- false
                        depth <- depth - 1
                else
                    let r = u / cols
                    let c = u - r * cols
                    let mutable pushed = false

                    while not pushed && nextMove.[top] < nMoves do
                        let k = nextMove.[top]
                        nextMove.[top] <- k + 1
                        let r2 = r + rowSteps.[k]
                        let c2 = c + colSteps.[k]

                        if r2 >= 0 && r2 < rows && c2 >= 0 && c2 < cols then
                            let w = r2 * cols + c2

                            if state.[w] = 1.0 && not visited.[w] then
                                visited.[w] <- true
                                cells.[depth] <- w
                                nextMove.[depth] <- 0
                                depth <- depth + 1
                                pushed <- true

                    if not pushed then
                        visited.[u] <- false
                        depth <- depth - 1

            found
