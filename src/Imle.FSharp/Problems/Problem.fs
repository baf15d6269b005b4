namespace Imle

open System
open Imle.Solvers

/// Constructors for ready-made problems and functions over problems.
[<RequireQualifiedAccess>]
[<CompilationRepresentation(CompilationRepresentationFlags.ModuleSuffix)>]
module Problem =

    /// A problem from a user's MAP function. `solve` receives the weights (scores for Maximise, costs for
    /// Minimise) and must return a binary state of the same size; `Problem.solve` checks that it does.
    let create (name: string) (shape: int[]) (sense: Sense) (solve: float[] -> float[]) : Problem =
        if String.IsNullOrWhiteSpace name then
            invalidArg "name" "name must be a non-empty string."

        Validate.shape "shape" shape

        if obj.ReferenceEquals(solve, null) then
            nullArg "solve"

        { name = name
          shape = Array.copy shape
          sense = sense
          solve = solve
          solveSpan = None
          kind = UserDefined
          enumerate = None
          isFeasible = None
          realStates = false }

    /// The array form of a span solver: a fresh state array per call.
    let private arraySolver (shape: int[]) (solve: SpanSolver) (w: float[]) =
        let z = Array.zeroCreate (Array.fold (*) 1 shape)
        solve.Invoke(ReadOnlySpan w, Span z)
        z

    /// A problem from a user's span-based MAP function (no allocation per call; rows of a batch are solved in place).
    let createSpan (name: string) (shape: int[]) (sense: Sense) (solve: SpanSolver) : Problem =
        if isNull solve then
            nullArg "solve"

        { create name shape sense (arraySolver shape solve) with
            solveSpan = Some solve }

    /// Adds an enumeration of the state space (enables exact quantities and the score-function estimator).
    let withEnumeration (enumerate: unit -> float[][]) (problem: Problem) : Problem =
        { problem with
            enumerate = Some enumerate }

    /// Replaces the MAP oracle: the problem becomes user-defined (see `Problem.WithSolver`).
    let withSolver (solve: float[] -> float[]) (problem: Problem) : Problem = problem.WithSolver solve

    /// Adds a feasibility check used to validate solver output.
    let withFeasibility (isFeasible: float[] -> bool) (problem: Problem) : Problem =
        { problem with
            isFeasible = Some isFeasible }

    /// Marks the states as real vectors (e.g. the solutions of a linear program with continuous variables, whose
    /// objective is linear in the weights): `Problem.solve` then checks that the oracle's output is finite instead of
    /// binary (and still applies the feasibility test). Estimators that only call the oracle (perturbed optimizers,
    /// I-MLE, blackbox, SPO+, Fenchel–Young) work unchanged; enumeration-based ones need binary states.
    let withRealStates (problem: Problem) : Problem =
        if isNull (box problem) then
            nullArg "problem"

        { problem with realStates = true }

    /// The sign s of θ = s·w for weights w in the problem's sense: +1 for Maximise, −1 for Minimise (Example 3). The
    /// one place the sense becomes a number; gradients w.r.t. the weights are s times those w.r.t. θ.
    let scoreSign (problem: Problem) : float =
        match problem.Sense with
        | Maximise -> 1.0
        | Minimise -> -1.0

    /// Scores θ for weights w in the problem's sense: θ = w for Maximise, θ = −w for Minimise.
    let toScores (problem: Problem) (weights: float[]) : float[] =
        match problem.Sense with
        | Maximise -> weights
        | Minimise -> Array.map (fun c -> -c) weights

    /// Weights in the problem's sense from scores θ (the inverse of `toScores`).
    let ofScores (problem: Problem) (scores: float[]) : float[] = toScores problem scores

    /// The objective ⟨z, w⟩ of a state under weights in the problem's own sense.
    let objective (weights: float[]) (state: float[]) : float =
        Array.fold2 (fun s w z -> s + w * z) 0.0 weights state

    /// Checks that a solver's output is a binary (for real states: finite), feasible state of the right size; raises
    /// InvalidOperationException naming the problem otherwise.
    let checkState (problem: Problem) (state: float[]) : float[] =
        if isNull state then
            invalidOp (sprintf "The solver of problem '%s' returned null instead of a state." problem.Name)

        if state.Length <> problem.Size then
            invalidOp (
                sprintf
                    "The solver of problem '%s' returned a state of length %d; expected %d (shape %s)."
                    problem.Name
                    state.Length
                    problem.Size
                    (Validate.shapeText problem.Shape)
            )

        for i in 0 .. state.Length - 1 do
            if problem.RealStates then
                if not (Validate.isFinite state.[i]) then
                    invalidOp (
                        sprintf
                            "The solver of problem '%s' returned a non-finite state: entry %d is %g."
                            problem.Name
                            i
                            state.[i]
                    )
            elif state.[i] <> 0.0 && state.[i] <> 1.0 then
                invalidOp (
                    sprintf
                        "The solver of problem '%s' returned a non-binary state: entry %d is %g (allowed: 0 or 1)."
                        problem.Name
                        i
                        state.[i]
                )

        match problem.IsFeasible with
        | Some isFeasible when not (isFeasible state) ->
            invalidOp (sprintf "The solver of problem '%s' returned a state outside the feasible set C." problem.Name)
        | _ -> ()

        state

    /// Checks that `rows` (the parameter `name`) is a non-null array of rows with one entry per variable of `problem`;
    /// the message names the first bad row, e.g. "weights[3] must have 24 entries (the size of problem 'grid')".
    let checkRows (name: string) (problem: Problem) (rows: float[][]) =
        Validate.notNull name rows

        rows
        |> Array.iteri (fun i row ->
            if isNull row || row.Length <> problem.Size then
                invalidArg
                    name
                    (sprintf "%s[%d] must have %d entries (the size of problem '%s')." name i problem.Size problem.Name))

    /// MAP in the problem's own sense: validates the weights (length, finite), calls the oracle, checks its output.
    let solve (problem: Problem) (weights: float[]) : float[] =
        Validate.length "weights" problem.Size weights
        Validate.allFinite "weights" weights
        checkState problem (problem.Solve weights)

    /// MAP in maximisation terms: argmax_{z ∈ C} ⟨z, θ⟩ whatever the problem's sense. Errors name `scores`.
    let solveScores (problem: Problem) (scores: float[]) : float[] =
        Validate.length "scores" problem.Size scores
        Validate.allFinite "scores" scores
        checkState problem (problem.Solve(ofScores problem scores))

    /// The enumerated state space, or an error saying the problem cannot be enumerated.
    let states (problem: Problem) : float[][] =
        match problem.Enumerate with
        | Some enumerate -> enumerate ()
        | None ->
            invalidOp (
                sprintf
                    "Problem '%s' has no enumeration of its states; exact quantities need a small, enumerable problem (categorical, k-subset, small grids) or Problem.withEnumeration."
                    problem.Name
            )

    // ----- ready-made problems ---------------------------------------------------------------------------------------

    /// All binary vectors of length m with exactly k ones, in lexicographic order of their index sets.
    let kSubsets (m: int) (k: int) : float[][] =
        let result = ResizeArray()
        let chosen = Array.zeroCreate k

        let rec go start depth =
            if depth = k then
                let z = Array.zeroCreate m

                for i in chosen do
                    z.[i] <- 1.0

                result.Add z
            else
                for i in start .. m - (k - depth) do
                    chosen.[depth] <- i
                    go (i + 1) (depth + 1)

        go 0 0
        result.ToArray()

    let private choose (n: int) (k: int) =
        let mutable r = 1.0

        for i in 1..k do
            r <- r * float (n - k + i) / float i

        r

    let private hasExactly (k: int) (state: float[]) = Array.sum state = float k

    /// A ready-made problem: one solver, called over spans (batch rows in place) or arrays (through the same span
    /// solver), with its family tag, enumeration (if small) and feasibility test.
    let private readyMade name (shape: int[]) sense kind (span: SpanSolver) enumerate isFeasible : Problem =
        { create name shape sense (arraySolver shape span) with
            solveSpan = Some span
            kind = kind
            enumerate = enumerate
            isFeasible = Some isFeasible }

    /// Categorical distribution over m classes (Example 1): one-hot states, MAP = argmax. Enumerable.
    let categorical (m: int) : Problem =
        Validate.intAtLeast "m" 1 m

        readyMade
            (sprintf "categorical(m=%d)" m)
            [| m |]
            Maximise
            CategoricalKind
            (SpanSolver(fun w z -> Argmax.solveInto (w, z)))
            (Some(fun () -> kSubsets m 1))
            (hasExactly 1)

    /// k-subsets of m items (Example 2): exactly k ones, MAP = top-k (ties to the lower index). Enumerable when
    /// C(m, k) ≤ 200,000; exact quantities for larger m use the dynamic programme in `KSubset`.
    let kSubset (m: int) (k: int) : Problem =
        Validate.intAtLeast "m" 1 m
        Validate.intInRange "k" 1 m k

        readyMade
            (sprintf "k-subset(m=%d, k=%d)" m k)
            [| m |]
            Maximise
            (KSubsetKind k)
            (SpanSolver(fun w z -> TopK.solveInto (k, w, z)))
            (if choose m k <= 200000.0 then
                 Some(fun () -> kSubsets m k)
             else
                 None)
            (hasExactly k)

    /// Simple paths of a grid graph from the top-left to the bottom-right cell, by depth-first search
    /// (only for small grids: the count grows exponentially).
    let gridPaths (rows: int) (cols: int) (neighbourhood: Neighbourhood) : float[][] =
        let result = ResizeArray()
        let visited = Array.zeroCreate (rows * cols)
        let moves = GridShortestPath.moves neighbourhood

        let rec go r c =
            let v = r * cols + c
            visited.[v] <- true

            if r = rows - 1 && c = cols - 1 then
                result.Add(Array.map (fun b -> if b then 1.0 else 0.0) visited)
            else
                for (dr, dc) in moves do
                    let r2, c2 = r + dr, c + dc

                    if r2 >= 0 && r2 < rows && c2 >= 0 && c2 < cols && not visited.[r2 * cols + c2] then
                        go r2 c2

            visited.[v] <- false

        go 0 0
        result.ToArray()

    /// The grid shortest-path problem (see `gridShortestPathWith`), tagged for the host or the device solver.
    let private gridPathProblem
        (onDevice: bool)
        (negativeCosts: NegativeCosts)
        (rows: int)
        (cols: int)
        (neighbourhood: Neighbourhood)
        : Problem =
        Validate.intAtLeast "rows" 1 rows
        Validate.intAtLeast "cols" 1 cols

        if onDevice && negativeCosts = Unchanged then
            invalidArg
                "negativeCosts"
                "The tensor grid solver (batched min-plus relaxations) needs costs >= 0 after the negative-cost rule, so it takes ClampToZero or ShiftToZero; Unchanged (Dijkstra as written on negative costs) is a host-solver rule: use gridShortestPathWith."

        let solve =
            SpanSolver(fun w z ->
                match negativeCosts with
                | Unchanged ->
                    GridShortestPath.solveSettlingOnceInto (rows, cols, neighbourhood, w, z)
                    |> ignore
                | ClampToZero
                | ShiftToZero ->
                    // Negative costs are rare, so check first and copy only then.
                    let mutable lowest = 0.0

                    for i in 0 .. w.Length - 1 do
                        if w.[i] < lowest then
                            lowest <- w.[i]

                    if lowest < 0.0 then
                        let adjusted = Array.zeroCreate w.Length

                        for i in 0 .. w.Length - 1 do
                            adjusted.[i] <-
                                if negativeCosts = ClampToZero then
                                    max 0.0 w.[i]
                                else
                                    w.[i] - lowest

                        GridShortestPath.solveInto (rows, cols, neighbourhood, ReadOnlySpan adjusted, z)
                        |> ignore
                    else
                        GridShortestPath.solveInto (rows, cols, neighbourhood, w, z) |> ignore)

        let policy =
            match negativeCosts with
            | ClampToZero -> ""
            | ShiftToZero -> ", shift"
            | Unchanged -> ", negative costs unchanged"

        readyMade
            (sprintf
                "grid-shortest-path(%dx%d, %A%s%s)"
                rows
                cols
                neighbourhood
                policy
                (if onDevice then ", tensor" else ""))
            [| rows; cols |]
            Minimise
            (if onDevice then
                 GridPathTensorKind(negativeCosts, neighbourhood)
             else
                 GridPathKind)
            solve
            (if rows * cols <= 9 then
                 Some(fun () -> gridPaths rows cols neighbourhood)
             else
                 None)
            (GridShortestPath.isPath rows cols neighbourhood)

    /// Shortest path on a rows×cols grid with vertex costs (Warcraft setting): from the top-left to the bottom-right
    /// cell, moving to 4 or 8 neighbours; the state is the path's cells as an indicator matrix. Minimises cost.
    /// Dijkstra needs non-negative costs; perturbed costs can fall below 0, and `negativeCosts` says what happens then
    /// (clamping and shifting touch only maps that have a negative cost; others are solved as they are; `Unchanged`
    /// runs Dijkstra as written on them). Enumerable for grids of at most 9 cells.
    let gridShortestPathWith
        (negativeCosts: NegativeCosts)
        (rows: int)
        (cols: int)
        (neighbourhood: Neighbourhood)
        : Problem =
        gridPathProblem false negativeCosts rows cols neighbourhood

    /// The grid shortest path of `gridShortestPathWith`, solved by tensor backends on the weights' own device (e.g. a
    /// GPU) with batched min-plus relaxations (`TensorGridPath`), so that costs never travel to the host. A path of
    /// the same optimal cost as Dijkstra's (ties may pick another path of that cost); the pure oracle
    /// (`Problem.solve`) is Dijkstra.
    let gridShortestPathTensorWith
        (negativeCosts: NegativeCosts)
        (rows: int)
        (cols: int)
        (neighbourhood: Neighbourhood)
        : Problem =
        gridPathProblem true negativeCosts rows cols neighbourhood

    /// `gridShortestPathTensorWith ClampToZero`: the device-side grid shortest path, negative costs clamped to 0.
    let gridShortestPathTensor (rows: int) (cols: int) (neighbourhood: Neighbourhood) : Problem =
        gridShortestPathTensorWith ClampToZero rows cols neighbourhood

    /// `gridShortestPathWith ClampToZero`: negative costs are clamped to 0 (blackbox-backprop's convention).
    let gridShortestPath (rows: int) (cols: int) (neighbourhood: Neighbourhood) : Problem =
        gridShortestPathWith ClampToZero rows cols neighbourhood

    /// Global sequence alignment of lengths n and m (Gao et al.): scores s[i, j] for aligning i with j, a constant
    /// gap penalty; the state is the indicator of aligned pairs over the n×m score matrix. Maximises
    /// Σ z·s − gap·(number of unaligned positions).
    let alignment (n: int) (m: int) (gap: float) : Problem =
        Validate.intAtLeast "n" 1 n
        Validate.intAtLeast "m" 1 m
        Validate.atLeast "gap" 0.0 gap

        readyMade
            (sprintf "alignment(%dx%d, gap=%g)" n m gap)
            [| n; m |]
            Maximise
            AlignmentKind
            (SpanSolver(fun w z -> Alignment.solveInto (n, m, gap, w, z) |> ignore))
            None
            (Alignment.isAlignment n m)

    /// Minimum-cost bipartite matching (Hungarian): every one of `rows` left nodes to a distinct one of `cols` ≥ rows
    /// right nodes; the state is the assignment indicator matrix. Minimises cost.
    let matching (rows: int) (cols: int) : Problem =
        Validate.intAtLeast "rows" 1 rows
        Validate.intInRange "cols" rows Int32.MaxValue cols

        readyMade
            (sprintf "matching(%dx%d)" rows cols)
            [| rows; cols |]
            Minimise
            MatchingKind
            (SpanSolver(fun w z -> Matching.solveInto (rows, cols, w, z) |> ignore))
            None
            (Matching.isMatching rows cols)

    /// Minimum spanning tree (Kruskal) of a connected graph with `nodes` nodes and the given edges; the state is the
    /// indicator over edges. Minimises total edge cost.
    let spanningTree (nodes: int) (edges: (int * int)[]) : Problem =
        Validate.intAtLeast "nodes" 1 nodes
        Validate.notNull "edges" edges

        edges
        |> Array.iteri (fun i (u, v) ->
            if u < 0 || u >= nodes || v < 0 || v >= nodes then
                invalidArg "edges" (sprintf "edges[%d] = (%d, %d) names a node outside [0, %d)." i u v nodes))

        let edges = Array.copy edges

        readyMade
            (sprintf "spanning-tree(%d nodes, %d edges)" nodes edges.Length)
            [| edges.Length |]
            Minimise
            SpanningTreeKind
            (SpanSolver(fun w z -> SpanningTree.solveInto (nodes, edges, w, z) |> ignore))
            None
            (SpanningTree.isSpanningTree nodes edges)

    /// 0/1 knapsack: maximise Σ z·value subject to Σ z·itemWeight ≤ capacity (integer weights, dynamic programming).
    let knapsack (itemWeights: int[]) (capacity: int) : Problem =
        Validate.notNull "itemWeights" itemWeights

        if itemWeights.Length = 0 then
            invalidArg "itemWeights" "itemWeights must name at least one item."

        itemWeights
        |> Array.iteri (fun i w ->
            if w < 0 then
                invalidArg "itemWeights" (sprintf "itemWeights[%d] must be >= 0; got %d." i w))

        Validate.intAtLeast "capacity" 0 capacity
        let itemWeights = Array.copy itemWeights

        readyMade
            (sprintf "knapsack(%d items, capacity %d)" itemWeights.Length capacity)
            [| itemWeights.Length |]
            Maximise
            KnapsackKind
            (SpanSolver(fun w z -> Knapsack.solveInto (itemWeights, capacity, w, z) |> ignore))
            None
            (fun z -> Array.fold2 (fun s w x -> s + float w * x) 0.0 itemWeights z <= float capacity)

    /// Shortest source–sink path in a directed acyclic graph with arc costs of any sign (dynamic programming in
    /// topological order, `DagShortestPath`; exact for negative costs, unlike Dijkstra); the state is the indicator
    /// over the DAG's arcs. Minimises cost. Enumerable when the DAG has at most 200,000 paths.
    let dagShortestPath (dag: Dag) : Problem =
        if isNull (box dag) then
            nullArg "dag"

        readyMade
            (sprintf "dag-shortest-path(%d nodes, %d arcs)" dag.Nodes dag.ArcCount)
            [| dag.ArcCount |]
            Minimise
            DagPathKind
            (SpanSolver(fun w z -> DagShortestPath.solveInto (dag, w, z) |> ignore))
            (if DagShortestPath.pathCount dag <= 200000.0 then
                 Some(fun () -> DagShortestPath.paths 200000 dag)
             else
                 None)
            (DagShortestPath.isPath dag)

    /// PyEPO's shortest-path problem: the rows×cols grid network (`DagShortestPath.gridArcs`, PyEPO's arc order; 40
    /// arcs on 5×5) from node 0 to node rows·cols − 1, arc costs of any sign, state = arc indicator. Minimises cost.
    let gridDagShortestPath (rows: int) (cols: int) : Problem =
        (dagShortestPath (DagShortestPath.grid rows cols)).WithName(sprintf "grid-dag-shortest-path(%dx%d)" rows cols)

    /// The symmetric travelling-salesperson problem on `cities` cities (3 ≤ cities ≤ HeldKarp.maxCities), solved
    /// exactly by Held–Karp; costs and state are indexed by the edges (i, j), i &lt; j, in lexicographic order
    /// (`HeldKarp.edges`). Minimises tour cost. Enumerable for at most 9 cities.
    let travellingSalesperson (cities: int) : Problem =
        Validate.intInRange "cities" 3 HeldKarp.maxCities cities

        readyMade
            (sprintf "tsp(%d cities)" cities)
            [| cities * (cities - 1) / 2 |]
            Minimise
            TourKind
            (SpanSolver(fun w z -> HeldKarp.solveInto (cities, w, z) |> ignore))
            (if cities <= 9 then
                 Some(fun () -> HeldKarp.tours cities)
             else
                 None)
            (HeldKarp.isTour cities)
