namespace Imle.Solvers

open System
open Imle

/// The symmetric travelling-salesperson problem on a complete graph of n cities, solved exactly by the Held–Karp
/// dynamic programme (Held and Karp 1962; Bellman 1962) in O(2ⁿ·n²) time and O(2ⁿ·n) memory, for small instances
/// (3 ≤ n ≤ `maxCities`). Costs and states are indexed by the undirected edges (i, j), i &lt; j, in lexicographic order
/// (`edges`, as PyEPO's `itertools.combinations(nodes, 2)`); the state is the indicator of the tour's n edges.
[<RequireQualifiedAccess>]
module HeldKarp =

    /// The largest instance accepted: 2^(n−1)·n table entries (13 cities: 53,248 entries).
    [<Literal>]
    let maxCities = 13

    let private checkCities (cities: int) =
        Validate.intInRange "cities" 3 maxCities cities

    /// The undirected edges (i, j), i &lt; j, of the complete graph on `cities` nodes, in lexicographic order: a cost
    /// vector and a state have one entry per edge, n(n−1)/2 in all.
    let edges (cities: int) : (int * int)[] =
        Validate.intAtLeast "cities" 2 cities

        [| for i in 0 .. cities - 2 do
               for j in i + 1 .. cities - 1 do
                   yield i, j |]

    /// The index of the edge {i, j} (i ≠ j) in `edges n`.
    let edgeIndex (cities: int) (i: int) (j: int) : int =
        Validate.intInRange "i" 0 (cities - 1) i
        Validate.intInRange "j" 0 (cities - 1) j

        if i = j then
            invalidArg "j" (sprintf "an edge needs two distinct cities; got i = j = %d." i)

        let a, b = min i j, max i j
        // Edges before row a: Σ_{r<a} (n − 1 − r) = a·(2n − a − 1)/2; then b − a − 1 within the row.
        a * (2 * cities - a - 1) / 2 + (b - a - 1)

    /// Writes a minimum-cost tour (edge indicator) into `state` and returns its cost. `costs` has one finite entry per
    /// edge (any sign). The tour starts at city 0; ties are broken towards lower city indices. Raises ArgumentException
    /// naming `cities` outside [3, maxCities] and `costs` / `state` of the wrong length.
    let solveInto (cities: int, costs: ReadOnlySpan<float>, state: Span<float>) : float =
        checkCities cities
        let n = cities
        let m = n * (n - 1) / 2
        Validate.span "costs" m "one entry per edge, n(n-1)/2" AnyFinite costs
        Validate.spanLength "state" m "one entry per edge, n(n-1)/2" state.Length
        let d = Array2D.zeroCreate n n

        for i in 0 .. n - 2 do
            for j in i + 1 .. n - 1 do
                let c = costs.[edgeIndex n i j]
                d.[i, j] <- c
                d.[j, i] <- c
        // Cities 1..n−1 are bits 0..n−2 of a mask. best.[mask, j]: the cheapest path from city 0 through exactly the
        // cities in mask, ending at city j+1 (bit j set).
        let k = n - 1
        let full = (1 <<< k) - 1
        let best = Array2D.create (1 <<< k) k Double.PositiveInfinity
        let parent = Array2D.create (1 <<< k) k -1

        for j in 0 .. k - 1 do
            best.[1 <<< j, j] <- d.[0, j + 1]

        for mask in 1..full do
            for j in 0 .. k - 1 do
                if (mask >>> j) &&& 1 = 1 && not (Double.IsPositiveInfinity best.[mask, j]) then
                    let here = best.[mask, j]

                    for next in 0 .. k - 1 do
                        if (mask >>> next) &&& 1 = 0 then
                            let target = mask ||| (1 <<< next)
                            let candidate = here + d.[j + 1, next + 1]

                            if candidate < best.[target, next] then
                                best.[target, next] <- candidate
                                parent.[target, next] <- j

        let mutable bestCost = Double.PositiveInfinity
        let mutable last = -1

        for j in 0 .. k - 1 do
            let candidate = best.[full, j] + d.[j + 1, 0]

            if candidate < bestCost then
                bestCost <- candidate
                last <- j

        state.Clear()
        state.[edgeIndex n 0 (last + 1)] <- 1.0
        let mutable mask = full
        let mutable j = last

        while parent.[mask, j] >= 0 do
            let p = parent.[mask, j]
            state.[edgeIndex n (p + 1) (j + 1)] <- 1.0
            mask <- mask &&& ~~~(1 <<< j)
            j <- p

        state.[edgeIndex n 0 (j + 1)] <- 1.0
        bestCost

    /// A minimum-cost tour as a new edge-indicator array. See `solveInto`.
    let solve (cities: int) (costs: float[]) : float[] =
        checkCities cities
        Validate.notNull "costs" costs
        let state = Array.zeroCreate (cities * (cities - 1) / 2)
        solveInto (cities, ReadOnlySpan costs, Span state) |> ignore
        state

    /// Whether `state` is the edge indicator of one Hamiltonian cycle of the complete graph on `cities` nodes: binary,
    /// every city of degree 2, and connected (no subtours).
    let isTour (cities: int) (state: float[]) : bool =
        checkCities cities
        let es = edges cities

        if isNull state || state.Length <> es.Length then
            false
        elif state |> Array.exists (fun x -> x <> 0.0 && x <> 1.0) then
            false
        else
            let neighbours = Array.init cities (fun _ -> ResizeArray<int>())

            es
            |> Array.iteri (fun e (i, j) ->
                if state.[e] = 1.0 then
                    neighbours.[i].Add j
                    neighbours.[j].Add i)

            if neighbours |> Array.exists (fun l -> l.Count <> 2) then
                false
            else
                // Walk the cycle from city 0; a tour visits every city before returning.
                let mutable previous = 0
                let mutable current = neighbours.[0].[0]
                let mutable length = 1

                while current <> 0 && length <= cities do
                    let nb = neighbours.[current]
                    let next = if nb.[0] = previous then nb.[1] else nb.[0]
                    previous <- current
                    current <- next
                    length <- length + 1

                length = cities

    /// Every tour of the complete graph on `cities` nodes (each undirected cycle once) as an edge indicator, for
    /// 3 ≤ cities ≤ 9 ((n−1)!/2 tours: 20,160 for 9 cities).
    let tours (cities: int) : float[][] =
        Validate.intInRange "cities" 3 9 cities
        let n = cities
        let result = ResizeArray()
        let order = Array.init (n - 1) (fun i -> i + 1)

        let rec permute (k: int) =
            if k = order.Length then
                // Each cycle appears twice (both directions): keep the direction whose second city is smaller than
                // its last.
                if order.[0] < order.[order.Length - 1] then
                    let z = Array.zeroCreate (n * (n - 1) / 2)
                    let mutable previous = 0

                    for c in order do
                        z.[edgeIndex n previous c] <- 1.0
                        previous <- c

                    z.[edgeIndex n previous 0] <- 1.0
                    result.Add z
            else
                for i in k .. order.Length - 1 do
                    let t = order.[k]
                    order.[k] <- order.[i]
                    order.[i] <- t
                    permute (k + 1)
                    order.[i] <- order.[k]
                    order.[k] <- t

        permute 0
        result.ToArray()
