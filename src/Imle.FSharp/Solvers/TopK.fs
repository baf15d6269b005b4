namespace Imle.Solvers

open System
open System.Buffers
open Imle

/// MAP oracle of the k-subset distribution (paper Example 2): the indicator of the k largest scores.
[<RequireQualifiedAccess>]
module TopK =

    /// Whether item a ranks below item b: lower score, or equal score and higher index.
    let inline private worse (scores: ReadOnlySpan<float>, a: int, b: int) =
        let sa = scores.[a]
        let sb = scores.[b]
        sa < sb || (sa = sb && a > b)

    /// Writes the indicator of the k largest scores into `state`: exactly k ones, ties broken deterministically
    /// (higher score first, then lower index). O(m log k) time with a pooled heap of k indices; no other allocation.
    /// `k` must lie in [0, m] where m is the length of `scores`; `scores` must be finite; `state` must have length m.
    let solveInto (k: int, scores: ReadOnlySpan<float>, state: Span<float>) : unit =
        let m = scores.Length

        if k < 0 || k > m then
            raise (
                ArgumentOutOfRangeException("k", k, sprintf "k must lie in [0, %d] (the length of scores); got %d." m k)
            )

        Validate.spanLength "state" m "the length of scores" state.Length
        Validate.spanEntries "scores" AnyFinite scores
        state.Clear()

        if k = m then
            state.Fill 1.0
        elif k > 0 then
            // A min-heap (by rank) of the k best items seen so far: its root is the worst of them.
            let heap = ArrayPool<int>.Shared.Rent k

            try
                let mutable size = 0

                for i in 0 .. m - 1 do
                    if size < k then
                        // Sift up.
                        let mutable pos = size
                        let mutable moving = true

                        while moving && pos > 0 do
                            let parent = (pos - 1) >>> 1

                            if worse (scores, i, heap.[parent]) then
                                heap.[pos] <- heap.[parent]
                                pos <- parent
                            else
                                moving <- false

                        heap.[pos] <- i
                        size <- size + 1
                    elif worse (scores, heap.[0], i) then
                        // Replace the root and sift down.
                        let mutable pos = 0
                        let mutable moving = true

                        while moving do
                            let left = 2 * pos + 1

                            if left >= k then
                                moving <- false
                            else
                                let right = left + 1

                                let child =
                                    if right < k && worse (scores, heap.[right], heap.[left]) then
                                        right
                                    else
                                        left

                                if worse (scores, heap.[child], i) then
                                    heap.[pos] <- heap.[child]
                                    pos <- child
                                else
                                    moving <- false

                        heap.[pos] <- i

                for j in 0 .. k - 1 do
                    state.[heap.[j]] <- 1.0
            finally
                ArrayPool<int>.Shared.Return heap

    /// The indicator of the k largest scores as a new array (exactly k ones; higher score first, then lower index).
    let solve (k: int) (scores: float[]) : float[] =
        Validate.notNull "scores" scores
        let state = Array.zeroCreate scores.Length
        solveInto (k, ReadOnlySpan scores, Span state)
        state
