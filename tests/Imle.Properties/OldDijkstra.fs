/// The grid Dijkstra as it was before the padded, per-thread-buffer rewrite (commit 6c064d3), kept only as the
/// oracle of the bit-for-bit test in PerfTests.fs (same states, same tie-breaking).
module Imle.Tests.OldDijkstra

open System
open System.Buffers
open Imle.Solvers

let private rowSteps = [| 0; 1; 0; -1; 1; 1; -1; -1 |]
let private colSteps = [| 1; 0; -1; 0; 1; -1; 1; -1 |]

let solveInto
    (rows: int, cols: int, neighbourhood: Neighbourhood, costs: ReadOnlySpan<float>, state: Span<float>)
    : float =
    let v = rows * cols
    let target = v - 1

    let nMoves =
        (match neighbourhood with
         | Four -> 4
         | Eight -> 8)

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
