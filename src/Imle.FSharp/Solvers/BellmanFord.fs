namespace Imle.Solvers

open System
open Imle

/// Shortest source–sink paths in a general directed graph with arc costs of any sign (Bellman–Ford: |V| − 1 rounds of
/// relaxation over all arcs, stopping early when a round changes nothing). A negative cycle reachable from the source
/// makes "shortest path" ill-defined (the walk cost is unbounded below, and the shortest simple path is NP-hard); it is
/// reported as an ArgumentException naming `costs` and listing the cycle's nodes. For DAGs prefer `DagShortestPath`
/// (one pass, no cycles possible).
[<RequireQualifiedAccess>]
module BellmanFord =

    let private check (nodes: int) (arcs: (int * int)[]) (source: int) (sink: int) =
        DagShortestPath.checkArcs nodes arcs
        Validate.intInRange "source" 0 (nodes - 1) source
        Validate.intInRange "sink" 0 (nodes - 1) sink

    /// Writes a shortest source–sink path (arc indicator over `arcs`) into `state` and returns its cost. `costs` has one
    /// finite entry per arc. Raises ArgumentException naming `costs` for a negative cycle reachable from the source
    /// (message lists the cycle), naming `sink` when the sink is unreachable. Ties: the first arc in the list that
    /// strictly improves a distance in the first round that finds it is kept.
    let solveInto
        (nodes: int, arcs: (int * int)[], source: int, sink: int, costs: ReadOnlySpan<float>, state: Span<float>)
        : float =
        check nodes arcs source sink
        let m = arcs.Length
        Validate.span "costs" m "one entry per arc" AnyFinite costs
        Validate.spanLength "state" m "one entry per arc" state.Length
        let dist = Array.create nodes Double.PositiveInfinity
        let via = Array.create nodes -1
        dist.[source] <- 0.0
        let mutable round = 0
        let mutable changed = true
        let mutable lastChanged = -1

        while changed && round < nodes do
            changed <- false

            for i in 0 .. m - 1 do
                let u, v = arcs.[i]

                if DagShortestPath.relax dist via u v i costs.[i] then
                    changed <- true
                    lastChanged <- v

            round <- round + 1

        if changed then
            // A change in round |V| means a negative cycle: walk |V| predecessor steps back to land on it, then list it.
            let step v =
                if via.[v] < 0 then -1 else fst arcs.[via.[v]]

            let mutable v = lastChanged

            for _ in 1..nodes do
                if v >= 0 then
                    v <- step v

            let cycle = ResizeArray<int>()

            if v >= 0 then
                cycle.Add v
                let mutable w = step v

                while w >= 0 && w <> v && cycle.Count <= nodes do
                    cycle.Add w
                    w <- step w

                cycle.Reverse()

            let described =
                if cycle.Count >= 2 then
                    let mutable total = 0.0

                    for x in cycle do
                        total <- total + costs.[via.[x]]

                    sprintf ": %s (total cost %g)" (String.Join(" -> ", Seq.append cycle [ cycle.[0] ])) total
                else
                    ""

            invalidArg
                "costs"
                (sprintf
                    "the costs contain a negative cycle reachable from source %d%s; shortest paths are undefined."
                    source
                    described)

        if Double.IsPositiveInfinity dist.[sink] then
            invalidArg "sink" (sprintf "sink %d cannot be reached from source %d." sink source)

        state.Clear()
        let mutable v = sink

        while v <> source do
            let i = via.[v]
            state.[i] <- 1.0
            v <- fst arcs.[i]

        dist.[sink]

    /// A shortest source–sink path as a new arc-indicator array. See `solveInto`.
    let solve (nodes: int) (arcs: (int * int)[]) (source: int) (sink: int) (costs: float[]) : float[] =
        check nodes arcs source sink
        Validate.notNull "costs" costs
        let state = Array.zeroCreate arcs.Length
        solveInto (nodes, arcs, source, sink, ReadOnlySpan costs, Span state) |> ignore
        state
