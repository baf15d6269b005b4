namespace Imle.OrTools

open System
open Imle
open Imle.Solvers

/// The symmetric travelling-salesperson problem beyond Held–Karp's reach (`HeldKarp.maxCities` = 13): an exact ILP over
/// the edge indicators solved by OR-Tools (SCIP) with degree constraints Σ_{e ∋ v} x_e = 2, adding the subtour
/// elimination cut Σ_{e ⊆ S} x_e ≤ |S| − 1 (Dantzig, Fulkerson and Johnson 1954) for every subtour S of the current
/// optimum and solving again until the optimum is one tour. Costs and states are indexed like `Problem.tsp`: the edges
/// (i, j), i &lt; j, of the complete graph in lexicographic order (`HeldKarp.edges`). Costs of any sign.
[<RequireQualifiedAccess>]
module Tsp =

    /// The most cities accepted (the cut loop is exact at any size, but each round is a full MIP solve).
    let maxCities = 60

    let private checkCities (cities: int) =
        Validate.intInRange "cities" 3 maxCities cities

    /// The connected components (city sets) of the graph of the selected edges.
    let private components (cities: int) (edges: (int * int)[]) (x: float[]) : int[][] =
        let parent = Array.init cities id

        let rec find i =
            if parent.[i] = i then
                i
            else
                let r = find parent.[i]
                parent.[i] <- r
                r

        edges
        |> Array.iteri (fun e (i, j) ->
            if x.[e] > 0.5 then
                let a, b = find i, find j

                if a <> b then
                    parent.[a] <- b)

        [| 0 .. cities - 1 |] |> Array.groupBy find |> Array.map (snd >> Array.sort)

    /// Whether `state` is the edge indicator of one Hamiltonian cycle on `cities` nodes: binary, every city of degree
    /// 2, connected.
    let isTour (cities: int) (state: float[]) : bool =
        checkCities cities
        let edges = HeldKarp.edges cities

        if isNull state || state.Length <> edges.Length then
            false
        elif not (Array.forall (fun v -> v = 0.0 || v = 1.0) state) then
            false
        else
            let degree = Array.zeroCreate cities

            edges
            |> Array.iteri (fun e (i, j) ->
                if state.[e] = 1.0 then
                    degree.[i] <- degree.[i] + 1
                    degree.[j] <- degree.[j] + 1)

            Array.forall ((=) 2) degree && (components cities edges state).Length = 1

    /// An optimal tour (edge indicator) for the edge costs; raises ArgumentException naming `cities` (outside
    /// [3, maxCities]) or `costs` (wrong length, NaN or infinite entries).
    let solve (cities: int) (costs: float[]) : float[] =
        checkCities cities
        let edges = HeldKarp.edges cities
        Validate.length "costs" edges.Length costs
        Validate.allFinite "costs" costs

        let incident v =
            edges
            |> Array.indexed
            |> Array.choose (fun (e, (i, j)) -> if i = v || j = v then Some e else None)

        let baseModel =
            Seq.fold
                (fun m v -> Ilp.exactlyK (incident v) 2 m)
                (Ilp.model [| edges.Length |] Minimise)
                (seq { 0 .. cities - 1 })

        let rec loop (model: LinearModel) (round: int) =
            if round > 10_000 then
                invalidOp (sprintf "the subtour-cut loop did not close a tour of %d cities in 10,000 rounds." cities)

            let x = Lp.solve model costs
            let parts = components cities edges x

            if parts.Length = 1 then
                x
            else
                let cut (m: LinearModel) (part: int[]) =
                    let inside = Collections.Generic.HashSet<int>(part)

                    let within =
                        edges
                        |> Array.indexed
                        |> Array.choose (fun (e, (i, j)) ->
                            if inside.Contains i && inside.Contains j then
                                Some e
                            else
                                None)

                    Ilp.atMost within (part.Length - 1) m

                loop (Array.fold cut model parts) (round + 1)

        loop baseModel 1

    /// The TSP on `cities` (3 ≤ cities ≤ maxCities) as an Imle problem (user-defined, Minimise), solved by `solve`,
    /// with `isTour` as its feasibility check.
    let problem (cities: int) : Problem =
        checkCities cities

        Problem.create (sprintf "tsp-ortools(%d cities)" cities) [| cities * (cities - 1) / 2 |] Minimise (solve cities)
        |> Problem.withFeasibility (isTour cities)
