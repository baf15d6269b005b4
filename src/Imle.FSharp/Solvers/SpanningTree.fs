namespace Imle.Solvers

open System
open System.Buffers
open Imle

/// Minimum spanning tree (Kruskal with union-find) of a connected undirected graph with nodes 0 .. nodes−1 and the
/// given edges (u, v). Weights and states are indexed by edge; the state is the indicator of the tree's edges.
[<RequireQualifiedAccess>]
module SpanningTree =

    let private checkGraph (nodes: int) (edges: (int * int)[]) =
        Validate.intAtLeast "nodes" 1 nodes
        Validate.notNull "edges" edges

        for i in 0 .. edges.Length - 1 do
            let (a, b) = edges.[i]

            if a < 0 || a >= nodes || b < 0 || b >= nodes then
                invalidArg "edges" (sprintf "edges[%d] = (%d, %d) names a node outside [0, %d)." i a b nodes)

    /// Root of x with path halving.
    let private find (parent: int[]) (x: int) =
        let mutable x = x

        while parent.[x] <> x do
            parent.[x] <- parent.[parent.[x]]
            x <- parent.[x]

        x

    /// Writes the indicator of a minimum spanning tree into `state` (one entry per edge) and returns its total weight.
    /// Kruskal's algorithm over pooled arrays: edges are taken in order of (weight, edge index), so ties go to the
    /// lower edge index. `weights` must be finite with one entry per edge; `state` must have one entry per edge.
    /// Raises ArgumentException naming `edges` when the graph is not connected.
    let solveInto (nodes: int, edges: (int * int)[], weights: ReadOnlySpan<float>, state: Span<float>) : float =
        checkGraph nodes edges
        let e = edges.Length
        Validate.span "weights" e "one entry per edge" AnyFinite weights
        Validate.spanLength "state" e "one entry per edge" state.Length
        let keys = ArrayPool<float>.Shared.Rent(max e 1)
        let order = ArrayPool<int>.Shared.Rent(max e 1)
        let parent = ArrayPool<int>.Shared.Rent nodes
        let rank = ArrayPool<int>.Shared.Rent nodes

        try
            for i in 0 .. e - 1 do
                keys.[i] <- weights.[i]
                order.[i] <- i

            Array.Sort(keys, order, 0, e)
            // The sort is not stable: restore edge-index order within each run of equal weights.
            let mutable start = 0

            while start < e do
                let mutable stop = start + 1

                while stop < e && keys.[stop] = keys.[start] do
                    stop <- stop + 1

                if stop - start > 1 then
                    Array.Sort(order, start, stop - start)

                start <- stop

            for x in 0 .. nodes - 1 do
                parent.[x] <- x
                rank.[x] <- 0

            state.Clear()
            let mutable taken = 0
            let mutable total = 0.0
            let mutable k = 0

            while taken < nodes - 1 && k < e do
                let idx = order.[k]
                let (a, b) = edges.[idx]
                let ra = find parent a
                let rb = find parent b

                if ra <> rb then
                    if rank.[ra] < rank.[rb] then
                        parent.[ra] <- rb
                    elif rank.[ra] > rank.[rb] then
                        parent.[rb] <- ra
                    else
                        parent.[rb] <- ra
                        rank.[ra] <- rank.[ra] + 1

                    state.[idx] <- 1.0
                    taken <- taken + 1
                    total <- total + weights.[idx]

                k <- k + 1

            if taken < nodes - 1 then
                invalidArg
                    "edges"
                    (sprintf
                        "the graph is not connected: its %d edges over %d nodes leave %d components; a spanning tree needs a connected graph."
                        e
                        nodes
                        (nodes - taken))

            total
        finally
            ArrayPool<int>.Shared.Return rank
            ArrayPool<int>.Shared.Return parent
            ArrayPool<int>.Shared.Return order
            ArrayPool<float>.Shared.Return keys

    /// The indicator of a minimum spanning tree (one entry per edge) as a new array. See `solveInto`.
    let solve (nodes: int) (edges: (int * int)[]) (weights: float[]) : float[] =
        checkGraph nodes edges
        Validate.notNull "weights" weights
        let state = Array.zeroCreate edges.Length
        solveInto (nodes, edges, ReadOnlySpan weights, Span state) |> ignore
        state

    /// Whether `state` (one entry per edge) is a spanning tree: binary, exactly nodes−1 chosen edges, and no cycle
    /// among them (which, with nodes−1 edges, means they connect all nodes).
    let isSpanningTree (nodes: int) (edges: (int * int)[]) (state: float[]) : bool =
        checkGraph nodes edges
        Validate.length "state" edges.Length state
        let mutable ok = true
        let mutable count = 0

        for z in state do
            if z = 1.0 then
                count <- count + 1
            elif z <> 0.0 then
                ok <- false

        if not ok || count <> nodes - 1 then
            false
        else
            let parent = Array.init nodes id
            let mutable i = 0

            while ok && i < edges.Length do
                if state.[i] = 1.0 then
                    let (a, b) = edges.[i]
                    let ra = find parent a
                    let rb = find parent b
                    if ra = rb then ok <- false else parent.[ra] <- rb

                i <- i + 1

            ok
