namespace Imle.Solvers

open System
open System.Buffers
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

    /// Writes the indicator matrix (row-major, rows×cols) of a minimum-cost path from (0, 0) to (rows−1, cols−1) into
    /// `state` and returns its cost: the sum of the costs of its cells, both endpoints included. Dijkstra's algorithm
    /// with a binary heap over pooled arrays; ties are broken deterministically (cells are settled in order of
    /// (distance, row-major index), and a cell's predecessor changes only on a strict improvement).
    /// `costs` (rows×cols, row-major) must be finite and >= 0; `state` must have rows×cols entries.
    let solveInto
        (rows: int, cols: int, neighbourhood: Neighbourhood, costs: ReadOnlySpan<float>, state: Span<float>)
        : float =
        checkDimensions rows cols
        let v = rows * cols
        Validate.span "costs" v "rows*cols" (FiniteAtLeast(0.0, "Dijkstra needs non-negative costs")) costs
        Validate.spanLength "state" v "rows*cols" state.Length
        let target = v - 1
        let nMoves = moveCount neighbourhood
        let ints = ArrayPool<int>.Shared.Rent(3 * v)
        let dist = ArrayPool<float>.Shared.Rent v

        try
            // pred: predecessor on the best path found; heap: the heap of cells; pos: a cell's heap slot,
            // -1 when never reached, -2 once settled.
            let pred = Span<int>(ints, 0, v)
            let heap = Span<int>(ints, v, v)
            let pos = Span<int>(ints, 2 * v, v)
            pos.Fill -1
            pred.Fill -1
            dist.[0] <- costs.[0]
            heap.[0] <- 0
            pos.[0] <- 0
            let mutable size = 1
            let mutable finished = false

            while not finished && size > 0 do
                // Pop the root: the unsettled cell of least (distance, index).
                let u = heap.[0]
                pos.[u] <- -2
                size <- size - 1

                if size > 0 then
                    let last = heap.[size]
                    let dl = dist.[last]
                    let mutable p = 0
                    let mutable moving = true

                    while moving do
                        let left = 2 * p + 1

                        if left >= size then
                            moving <- false
                        else
                            let right = left + 1
                            let mutable child = left

                            if right < size then
                                let a = heap.[left]
                                let b = heap.[right]
                                let da = dist.[a]
                                let db = dist.[b]

                                if db < da || (db = da && b < a) then
                                    child <- right

                            let cc = heap.[child]
                            let dc = dist.[cc]

                            if dc < dl || (dc = dl && cc < last) then
                                heap.[p] <- cc
                                pos.[cc] <- p
                                p <- child
                            else
                                moving <- false

                    heap.[p] <- last
                    pos.[last] <- p

                if u = target then
                    finished <- true
                else
                    let du = dist.[u]
                    let r = u / cols
                    let c = u - r * cols
                    let interior = r > 0 && r < rows - 1 && c > 0 && c < cols - 1

                    for k in 0 .. nMoves - 1 do
                        let dr = rowSteps.[k]
                        let dc = colSteps.[k]

                        let inside =
                            interior
                            || (let r2 = r + dr in
                                let c2 = c + dc in
                                r2 >= 0 && r2 < rows && c2 >= 0 && c2 < cols)

                        if inside then
                            let w = u + dr * cols + dc
                            let pw = pos.[w]

                            if pw <> -2 then
                                let nd = du + costs.[w]
                                let mutable slot = -1

                                if pw = -1 then
                                    slot <- size
                                    size <- size + 1
                                elif nd < dist.[w] then
                                    slot <- pw

                                if slot >= 0 then
                                    dist.[w] <- nd
                                    pred.[w] <- u
                                    // Sift up from the slot.
                                    let mutable p = slot
                                    let mutable moving = true

                                    while moving && p > 0 do
                                        let parent = (p - 1) >>> 1
                                        let q = heap.[parent]
                                        let dq = dist.[q]

                                        if nd < dq || (nd = dq && w < q) then
                                            heap.[p] <- q
                                            pos.[q] <- p
                                            p <- parent
                                        else
                                            moving <- false

                                    heap.[p] <- w
                                    pos.[w] <- p

            state.Clear()
            let mutable x = target

            while x >= 0 do
                state.[x] <- 1.0
                x <- pred.[x]

            dist.[target]
        finally
            ArrayPool<float>.Shared.Return dist
            ArrayPool<int>.Shared.Return ints

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
