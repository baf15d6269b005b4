namespace Imle.Solvers

open System
open System.Buffers
open Imle

/// A directed acyclic graph with a source and a sink, prepared once for repeated shortest-path solves: arcs as
/// (tail, head) pairs, a topological order of the nodes and each node's incoming arcs. Build it with
/// `DagShortestPath.create` (or `DagShortestPath.grid` for PyEPO's grid network).
type Dag =
    private
        {
            nodes: int
            arcs: (int * int)[]
            source: int
            sink: int
            /// Nodes in topological order.
            order: int[]
            /// incoming.[v]: the indices of the arcs that end at v, in increasing order.
            incoming: int[][]
        }

    /// The number of nodes.
    member this.Nodes = this.nodes
    /// The arcs as (tail, head) pairs; a state has one entry per arc, in this order.
    member this.Arcs = Array.copy this.arcs
    /// The number of arcs (the length of a cost vector and of a state).
    member this.ArcCount = this.arcs.Length
    /// The start node of every path.
    member this.Source = this.source
    /// The end node of every path.
    member this.Sink = this.sink

/// Shortest source–sink paths in a directed acyclic graph with arc costs of any sign, by dynamic programming in
/// topological order (exact for any real costs: no cycle can be negative in a DAG). The state is the indicator of the
/// path's arcs. This is the solver PyEPO's shortest-path benchmark needs once predicted or perturbed costs turn
/// negative (PyEPO#7), where Dijkstra is wrong.
[<RequireQualifiedAccess>]
module DagShortestPath =

    /// Relaxes arc `i` = (u → v) of cost `cost`: where dist[u] is finite and dist[u] + cost < dist[v], lowers dist[v]
    /// to it, records the arc in via[v] and returns true. The one relaxation step of the graph solvers.
    let inline internal relax (dist: float[]) (via: int[]) (u: int) (v: int) (i: int) (cost: float) : bool =
        let d = dist.[u]

        if not (Double.IsPositiveInfinity d) && d + cost < dist.[v] then
            dist.[v] <- d + cost
            via.[v] <- i
            true
        else
            false

    /// Checks a node count and arc list (nodes in range, no self-loops) shared by the graph solvers.
    let internal checkArcs (nodes: int) (arcs: (int * int)[]) =
        Validate.intAtLeast "nodes" 1 nodes
        Validate.notNull "arcs" arcs

        arcs
        |> Array.iteri (fun i (u, v) ->
            if u < 0 || u >= nodes || v < 0 || v >= nodes then
                invalidArg "arcs" (sprintf "arcs[%d] = (%d, %d) names a node outside [0, %d)." i u v nodes)

            if u = v then
                invalidArg "arcs" (sprintf "arcs[%d] = (%d, %d) is a self-loop." i u v))

    /// A DAG from `nodes` nodes, arcs (tail, head) and the source and sink nodes. Raises ArgumentException naming
    /// `arcs` when the arcs contain a cycle or a self-loop or name a node out of range, and naming `sink` when the sink
    /// cannot be reached from the source.
    let create (nodes: int) (arcs: (int * int)[]) (source: int) (sink: int) : Dag =
        checkArcs nodes arcs
        Validate.intInRange "source" 0 (nodes - 1) source
        Validate.intInRange "sink" 0 (nodes - 1) sink
        let arcs = Array.copy arcs
        // Kahn's algorithm; the smallest ready node first, so the order is deterministic.
        let indegree = Array.zeroCreate nodes
        let outgoing = Array.init nodes (fun _ -> ResizeArray<int>())

        arcs
        |> Array.iteri (fun i (u, v) ->
            indegree.[v] <- indegree.[v] + 1
            outgoing.[u].Add i)

        let ready = Collections.Generic.PriorityQueue<int, int>()

        for v in 0 .. nodes - 1 do
            if indegree.[v] = 0 then
                ready.Enqueue(v, v)

        let order = ResizeArray<int>(nodes)

        while ready.Count > 0 do
            let u = ready.Dequeue()
            order.Add u

            for i in outgoing.[u] do
                let v = snd arcs.[i]
                indegree.[v] <- indegree.[v] - 1

                if indegree.[v] = 0 then
                    ready.Enqueue(v, v)

        if order.Count <> nodes then
            invalidArg
                "arcs"
                (sprintf
                    "the arcs contain a directed cycle (%d of %d nodes are on or after one); use BellmanFord for graphs with cycles."
                    (nodes - order.Count)
                    nodes)
        // Reachability of the sink from the source.
        let reached = Array.zeroCreate nodes
        reached.[source] <- true

        for u in order do
            if reached.[u] then
                for i in outgoing.[u] do
                    reached.[snd arcs.[i]] <- true

        if not reached.[sink] then
            invalidArg "sink" (sprintf "sink %d cannot be reached from source %d." sink source)

        let incoming = Array.init nodes (fun _ -> ResizeArray<int>())
        arcs |> Array.iteri (fun i (_, v) -> incoming.[v].Add i)

        { nodes = nodes
          arcs = arcs
          source = source
          sink = sink
          order = order.ToArray()
          incoming = incoming |> Array.map (fun l -> l.ToArray()) }

    /// The arcs of PyEPO's rows×cols grid network (`pyepo.model.utils._get_grid_arcs`), in PyEPO's order: for each row
    /// i, first its horizontal arcs (v, v+1), then (except in the last row) its vertical arcs (v, v+cols), with
    /// v = i·cols + j. A 5×5 grid has (5−1)·5 + (5−1)·5 = 40 arcs.
    let gridArcs (rows: int) (cols: int) : (int * int)[] =
        Validate.intAtLeast "rows" 1 rows
        Validate.intAtLeast "cols" 1 cols

        [| for i in 0 .. rows - 1 do
               for j in 0 .. cols - 2 do
                   let v = i * cols + j
                   yield v, v + 1

               if i < rows - 1 then
                   for j in 0 .. cols - 1 do
                       let v = i * cols + j
                       yield v, v + cols |]

    /// PyEPO's shortest-path network: the rows×cols grid (`gridArcs`) from node 0 (one corner) to node rows·cols − 1
    /// (the opposite corner), moving only along arcs to a higher-numbered node. Needs at least two nodes.
    let grid (rows: int) (cols: int) : Dag =
        Validate.intAtLeast "rows" 1 rows
        Validate.intAtLeast "cols" 1 cols

        if rows * cols < 2 then
            invalidArg "cols" "a grid network needs at least two nodes (rows*cols >= 2)."

        create (rows * cols) (gridArcs rows cols) 0 (rows * cols - 1)

    /// Writes a shortest source–sink path (arc indicator) into `state` and returns its cost. `costs` has one finite
    /// entry per arc, of any sign. Ties go to the arc that comes first in the arc list (at every node). No allocation
    /// beyond two pooled arrays.
    let solveInto (dag: Dag, costs: ReadOnlySpan<float>, state: Span<float>) : float =
        if isNull (box dag) then
            nullArg "dag"

        let m = dag.arcs.Length
        Validate.span "costs" m "one entry per arc" AnyFinite costs
        Validate.spanLength "state" m "one entry per arc" state.Length
        let n = dag.nodes
        let dist = ArrayPool<float>.Shared.Rent n
        let via = ArrayPool<int>.Shared.Rent n

        try
            for v in 0 .. n - 1 do
                dist.[v] <- Double.PositiveInfinity
                via.[v] <- -1

            dist.[dag.source] <- 0.0

            for v in dag.order do
                if v <> dag.source then
                    for i in dag.incoming.[v] do
                        relax dist via (fst dag.arcs.[i]) v i costs.[i] |> ignore

            state.Clear()
            let mutable v = dag.sink

            while v <> dag.source do
                let i = via.[v]
                state.[i] <- 1.0
                v <- fst dag.arcs.[i]

            dist.[dag.sink]
        finally
            ArrayPool<int>.Shared.Return via
            ArrayPool<float>.Shared.Return dist

    /// A shortest source–sink path as a new arc-indicator array. See `solveInto`.
    let solve (dag: Dag) (costs: float[]) : float[] =
        if isNull (box dag) then
            nullArg "dag"

        Validate.notNull "costs" costs
        let state = Array.zeroCreate dag.ArcCount
        solveInto (dag, ReadOnlySpan costs, Span state) |> ignore
        state

    /// Whether `state` is the arc indicator of one simple source–sink path of the DAG (binary, one arc out of the
    /// source, flow conservation at every other node, one arc into the sink).
    let isPath (dag: Dag) (state: float[]) : bool =
        if isNull (box dag) then
            nullArg "dag"

        if isNull state || state.Length <> dag.ArcCount then
            false
        elif state |> Array.exists (fun x -> x <> 0.0 && x <> 1.0) then
            false
        else
            let balance = Array.zeroCreate dag.nodes
            let outDegree = Array.zeroCreate dag.nodes

            dag.arcs
            |> Array.iteri (fun i (u, v) ->
                if state.[i] = 1.0 then
                    balance.[u] <- balance.[u] - 1
                    balance.[v] <- balance.[v] + 1
                    outDegree.[u] <- outDegree.[u] + 1)
            // In a DAG, flow conservation with at most one arc out of every node is one simple path (no cycles exist).
            let conserved =
                Seq.forall
                    (fun v ->
                        let expected =
                            if v = dag.source && v <> dag.sink then -1
                            elif v = dag.sink && v <> dag.source then 1
                            else 0

                        balance.[v] = expected && outDegree.[v] <= 1)
                    (seq { 0 .. dag.nodes - 1 })

            conserved

    /// The number of distinct source–sink paths (as a float: it can exceed any integer type), by dynamic programming.
    let pathCount (dag: Dag) : float =
        if isNull (box dag) then
            nullArg "dag"

        let count = Array.zeroCreate dag.nodes
        count.[dag.source] <- 1.0

        for v in dag.order do
            if v <> dag.source then
                for i in dag.incoming.[v] do
                    count.[v] <- count.[v] + count.[fst dag.arcs.[i]]

        count.[dag.sink]

    /// Every source–sink path as an arc indicator, by depth-first search in arc order. Raises ArgumentException naming
    /// `maxPaths` when there are more paths than that (the count grows exponentially with the graph).
    let paths (maxPaths: int) (dag: Dag) : float[][] =
        if isNull (box dag) then
            nullArg "dag"

        Validate.intAtLeast "maxPaths" 1 maxPaths
        let total = pathCount dag

        if total > float maxPaths then
            invalidArg "maxPaths" (sprintf "the DAG has %g source-sink paths, more than maxPaths = %d." total maxPaths)

        let outgoing = Array.init dag.nodes (fun _ -> ResizeArray<int>())
        dag.arcs |> Array.iteri (fun i (u, _) -> outgoing.[u].Add i)
        let result = ResizeArray()
        let chosen = Array.zeroCreate dag.ArcCount

        let rec go v =
            if v = dag.sink then
                result.Add(Array.copy chosen)
            else
                for i in outgoing.[v] do
                    chosen.[i] <- 1.0
                    go (snd dag.arcs.[i])
                    chosen.[i] <- 0.0

        go dag.source
        result.ToArray()
