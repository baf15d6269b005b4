/// Decision-focused learning (issue #14): the signed-cost shortest-path solvers (DAG dynamic programme, Bellman–Ford),
/// Held–Karp TSP, PyEPO's data generators, datasets and regret, and the SPO+ loss.
module Imle.Tests.DflTests

open System
open Expecto
open Imle
open Imle.Solvers
open Imle.Dfl
open TorchSharp
open Imle.Torch

let private dot (w: float[]) (z: float[]) =
    Array.fold2 (fun s a b -> s + a * b) 0.0 w z

/// Every source–sink path of a graph given by arcs, by the test's own depth-first search (simple paths only).
let private bruteForcePaths (nodes: int) (arcs: (int * int)[]) (source: int) (sink: int) : float[][] =
    let result = ResizeArray()
    let chosen = Array.zeroCreate arcs.Length
    let visited = Array.zeroCreate nodes

    let rec go v =
        if v = sink then
            result.Add(Array.copy chosen)
        else
            visited.[v] <- true

            arcs
            |> Array.iteri (fun i (u, w) ->
                if u = v && not visited.[w] then
                    chosen.[i] <- 1.0
                    go w
                    chosen.[i] <- 0.0)

            visited.[v] <- false

    go source
    result.ToArray()

/// The minimum of ⟨c, z⟩ over a list of states.
let private bestValue (costs: float[]) (states: float[][]) =
    states |> Array.map (dot costs) |> Array.min

/// Every tour of n cities as an edge indicator over HeldKarp.edges, by the test's own permutation enumeration.
let private bruteForceTours (n: int) : float[][] =
    let edges = HeldKarp.edges n

    let index i j =
        Array.findIndex (fun (a, b) -> (a = min i j) && (b = max i j)) edges

    let rec perms (xs: int list) : int list list =
        match xs with
        | [] -> [ [] ]
        | _ ->
            [ for x in xs do
                  for rest in perms (List.filter ((<>) x) xs) -> x :: rest ]

    [| for p in perms [ 1 .. n - 1 ] do
           let cycle = 0 :: p @ [ 0 ]
           let z = Array.zeroCreate edges.Length

           for (a, b) in List.pairwise cycle do
               z.[index a b] <- 1.0

           yield z |]

let private solverTests =
    testList
        "signed-cost solvers"
        [ test "PyEPO's 5x5 grid has 40 arcs in PyEPO's order" {
              let arcs = DagShortestPath.gridArcs 5 5
              Expect.equal arcs.Length 40 "(5-1)*5 + (5-1)*5 arcs"

              Expect.equal
                  arcs.[0..5]
                  [| (0, 1); (1, 2); (2, 3); (3, 4); (0, 5); (1, 6) |]
                  "row 0: horizontal arcs, then vertical"

              Expect.equal arcs.[39] (23, 24) "last arc is horizontal in the last row"
              Expect.equal (DagShortestPath.pathCount (DagShortestPath.grid 5 5)) 70.0 "C(8, 4) monotone paths"
          }
          test "DAG solver = Bellman-Ford = brute force on random signed costs (grids 2x2..5x5, 300 instances)" {
              let rng = Random 14

              for t in 0..299 do
                  let rows, cols = rng.Next(1, 6), rng.Next(2, 6)
                  let dag = DagShortestPath.grid rows cols
                  let arcs = dag.Arcs
                  // Integer costs half the time (ties), continuous otherwise; both signs.
                  let costs =
                      Array.init arcs.Length (fun _ ->
                          if t % 2 = 0 then
                              float (rng.Next(-3, 4))
                          else
                              4.0 * rng.NextDouble() - 2.0)

                  let all = bruteForcePaths dag.Nodes arcs dag.Source dag.Sink
                  let best = bestValue costs all
                  let z = DagShortestPath.solve dag costs
                  let zb = BellmanFord.solve dag.Nodes arcs dag.Source dag.Sink costs
                  Expect.isTrue (DagShortestPath.isPath dag z) "DAG solver returns a path"
                  Expect.isTrue (all |> Array.exists ((=) zb)) "Bellman-Ford returns a path"
                  Expect.floatClose Accuracy.veryHigh (dot costs z) best "DAG solver is optimal"
                  Expect.floatClose Accuracy.veryHigh (dot costs zb) best "Bellman-Ford is optimal"

                  let value =
                      DagShortestPath.solveInto (dag, ReadOnlySpan costs, Span(Array.zeroCreate arcs.Length))

                  Expect.floatClose Accuracy.veryHigh value best "solveInto returns the optimal value"
          }
          test "DAG solver = brute force on random DAGs (not grids), 200 instances" {
              let rng = Random 15

              for _ in 0..199 do
                  let n = rng.Next(2, 8)
                  // Arcs u -> v with u < v under a random relabelling: acyclic, not in index order.
                  let label = Array.init n id |> Array.sortBy (fun _ -> rng.Next())

                  let arcs =
                      [| for u in 0 .. n - 2 do
                             for v in u + 1 .. n - 1 do
                                 if v = u + 1 || rng.NextDouble() < 0.5 then
                                     yield label.[u], label.[v] |]

                  let dag = DagShortestPath.create n arcs label.[0] label.[n - 1]
                  let costs = Array.init arcs.Length (fun _ -> 6.0 * rng.NextDouble() - 3.0)
                  let all = bruteForcePaths n arcs label.[0] label.[n - 1]
                  Expect.equal (DagShortestPath.pathCount dag) (float all.Length) "path count"

                  Expect.equal
                      (Set.ofArray (DagShortestPath.paths 1000 dag))
                      (Set.ofArray all)
                      "paths enumerates every path"

                  Expect.floatClose
                      Accuracy.veryHigh
                      (dot costs (DagShortestPath.solve dag costs))
                      (bestValue costs all)
                      "optimal"
          }
          test "Bellman-Ford = brute force on random graphs with cycles and non-negative cycle sums, 200 instances" {
              let rng = Random 16

              for _ in 0..199 do
                  let n = rng.Next(2, 7)
                  // Potentials keep every cycle's cost >= 0 while arcs take both signs: c(u,v) = base + p(u) − p(v).
                  let p = Array.init n (fun _ -> 4.0 * rng.NextDouble())

                  let arcs =
                      [| for u in 0 .. n - 1 do
                             for v in 0 .. n - 1 do
                                 if u <> v && (v = u + 1 || rng.NextDouble() < 0.4) then
                                     yield u, v |]

                  let costs = arcs |> Array.map (fun (u, v) -> rng.NextDouble() + p.[u] - p.[v])
                  let all = bruteForcePaths n arcs 0 (n - 1)
                  let z = BellmanFord.solve n arcs 0 (n - 1) costs
                  Expect.floatClose Accuracy.veryHigh (dot costs z) (bestValue costs all) "optimal over simple paths"
          }
          test "Bellman-Ford reports a negative cycle with its nodes" {
              let arcs = [| (0, 1); (1, 2); (2, 1); (2, 3) |]

              try
                  BellmanFord.solve 4 arcs 0 3 [| 1.0; 1.0; -3.0; 1.0 |] |> ignore
                  failtest "expected an error"
              with :? ArgumentException as e ->
                  Expect.equal e.ParamName "costs" "names the parameter"
                  Expect.stringContains e.Message "negative cycle" "says what is wrong"

                  Expect.isTrue
                      (e.Message.Contains "1 -> 2 -> 1" || e.Message.Contains "2 -> 1 -> 2")
                      (sprintf "lists the cycle: %s" e.Message)
          }
          test "Held-Karp = brute force on random signed instances (3..8 cities, 150 instances)" {
              let rng = Random 17

              for t in 0..149 do
                  let n = 3 + t % 6
                  let m = n * (n - 1) / 2

                  let costs =
                      Array.init m (fun _ ->
                          if t % 3 = 0 then
                              float (rng.Next(-2, 3))
                          else
                              10.0 * rng.NextDouble() - 3.0)

                  let z = HeldKarp.solve n costs
                  let all = bruteForceTours n
                  Expect.isTrue (HeldKarp.isTour n z) "a tour"
                  Expect.floatClose Accuracy.veryHigh (dot costs z) (bestValue costs all) "optimal"

                  if n <= 7 then
                      Expect.equal (Set.ofArray (HeldKarp.tours n)) (Set.ofArray all) "tours enumerates every tour"
          }
          test "isTour rejects subtours and wrong degrees" {
              let n = 6
              let z = Array.zeroCreate 15

              for (a, b) in [ (0, 1); (1, 2); (0, 2); (3, 4); (4, 5); (3, 5) ] do
                  z.[HeldKarp.edgeIndex n a b] <- 1.0

              Expect.isFalse (HeldKarp.isTour n z) "two triangles"
              Expect.isFalse (HeldKarp.isTour n (Array.zeroCreate 15)) "empty"
              Expect.isTrue (HeldKarp.isTour n (HeldKarp.solve n (Array.create 15 1.0))) "a solved tour"
          }
          test "Held-Karp solves 12 cities (a tour, no worse than 200 random tours)" {
              let rng = Random 18
              let n = 12
              let costs = Array.init (n * (n - 1) / 2) (fun _ -> rng.NextDouble())
              let z = HeldKarp.solve n costs
              Expect.isTrue (HeldKarp.isTour n z) "a tour"

              for _ in 1..200 do
                  let order =
                      Array.append [| 0 |] (Array.init (n - 1) (fun i -> i + 1) |> Array.sortBy (fun _ -> rng.Next()))

                  let cost =
                      Seq.sum (
                          seq { for i in 0 .. n - 1 -> costs.[HeldKarp.edgeIndex n order.[i] order.[(i + 1) % n]] }
                      )

                  Expect.isLessThanOrEqual (dot costs z) (cost + 1e-12) "no random tour is cheaper"
          }
          test "problems: grid DAG and TSP through Problem.solve, enumeration and feasibility" {
              let p = Problem.gridDagShortestPath 5 5
              Expect.equal p.Shape [| 40 |] "40 arcs"
              Expect.equal p.Sense Minimise "minimises"
              Expect.equal (Problem.states p).Length 70 "70 paths"
              let rng = Random 19
              let c = Array.init 40 (fun _ -> 2.0 * rng.NextDouble() - 1.0)
              let z = Problem.solve p c

              Expect.floatClose
                  Accuracy.veryHigh
                  (dot c z)
                  (bestValue c (Problem.states p))
                  "optimal over the enumeration"

              let tsp = Problem.travellingSalesperson 6
              Expect.equal tsp.Shape [| 15 |] "15 edges"
              Expect.equal (Problem.states tsp).Length 60 "5!/2 tours"
              let ct = Array.init 15 (fun _ -> rng.NextDouble())

              Expect.floatClose
                  Accuracy.veryHigh
                  (dot ct (Problem.solve tsp ct))
                  (bestValue ct (Problem.states tsp))
                  "optimal"
          }
          test "argument errors name the parameter" {
              let dag = DagShortestPath.grid 3 3
              TestUtil.throwsNaming "costs" (fun () -> DagShortestPath.solve dag (Array.zeroCreate 5))

              TestUtil.throwsNaming "costs" (fun () ->
                  DagShortestPath.solve dag (Array.init 12 (fun i -> if i = 3 then nan else 1.0)))

              TestUtil.throwsNaming "arcs" (fun () -> DagShortestPath.create 3 [| (0, 1); (1, 2); (2, 0) |] 0 2)
              TestUtil.throwsNaming "arcs" (fun () -> DagShortestPath.create 3 [| (0, 1); (1, 5) |] 0 2)
              TestUtil.throwsNaming "arcs" (fun () -> DagShortestPath.create 3 [| (1, 1) |] 0 2)
              TestUtil.throwsNaming "sink" (fun () -> DagShortestPath.create 3 [| (0, 1) |] 0 2)
              TestUtil.throwsNaming "source" (fun () -> DagShortestPath.create 3 [| (0, 1) |] 7 2)
              TestUtil.throwsNaming "rows" (fun () -> DagShortestPath.grid 0 3)
              TestUtil.throwsNaming "maxPaths" (fun () -> DagShortestPath.paths 10 (DagShortestPath.grid 5 5))
              TestUtil.throwsNaming "sink" (fun () -> BellmanFord.solve 3 [| (0, 1) |] 0 2 [| 1.0 |])
              TestUtil.throwsNaming "costs" (fun () -> BellmanFord.solve 3 [| (0, 1) |] 0 1 [| 1.0; 2.0 |])
              TestUtil.throwsNaming "cities" (fun () -> HeldKarp.solve 2 [| 1.0 |])
              TestUtil.throwsNaming "cities" (fun () -> HeldKarp.solve (HeldKarp.maxCities + 1) (Array.zeroCreate 200))
              TestUtil.throwsNaming "costs" (fun () -> HeldKarp.solve 4 (Array.zeroCreate 5))
              TestUtil.throwsNaming "cities" (fun () -> Problem.travellingSalesperson 20)

              TestUtil.throwsNaming "weights" (fun () ->
                  Problem.solve (Problem.gridDagShortestPath 5 5) (Array.zeroCreate 39))
          } ]


let private dataTests =
    testList
        "data and regret"
        [ test "costFormula matches PyEPO's formula on a hand-worked case" {
              // p = 2, deg = 2, B = [[1, 0], [1, 1]], x = [1, 2]: (Bx) = [1, 3];
              // c_j = ((Bx_j/sqrt 2 + 3)^2 + 1) / 3.5^2 = 1.2034808724179007, 2.2226875152128858 (computed by hand/Python).
              let c = Generators.costFormula [| [| 1.0; 0.0 |]; [| 1.0; 1.0 |] |] [| 1.0; 2.0 |] 2
              Expect.floatClose Accuracy.veryHigh c.[0] 1.2034808724179007 "arc 0"
              Expect.floatClose Accuracy.veryHigh c.[1] 2.2226875152128858 "arc 1"
              // deg = 1 is affine: ((Bx)/sqrt p + 3 + 1) / 3.5.
              let c1 = Generators.costFormula [| [| 1.0; 1.0 |] |] [| 0.5; -0.5 |] 1
              Expect.floatClose Accuracy.veryHigh c1.[0] (4.0 / 3.5) "deg 1, Bx = 0"
          }
          test "tspCostFormula matches PyEPO's TSP formula on a hand-worked case" {
              // Cities (0,0), (3,4), (0,4): edges (0,1), (0,2), (1,2) have lengths 5, 4, 3. p = 1, x = [2], deg = 2,
              // B = [1; 0; -0.5]: Bx/sqrt 1 + 3 = 5, 3, 2; squared / 3^(2-1) = 25/3, 3, 4/3.
              let coords = [| [| 0.0; 0.0 |]; [| 3.0; 4.0 |]; [| 0.0; 4.0 |] |]

              let c =
                  Generators.tspCostFormula coords [| [| 1.0 |]; [| 0.0 |]; [| -0.5 |] |] [| 2.0 |] 2

              Expect.floatClose Accuracy.veryHigh c.[0] (5.0 + 25.0 / 3.0) "edge (0,1)"
              Expect.floatClose Accuracy.veryHigh c.[1] (4.0 + 3.0) "edge (0,2)"
              Expect.floatClose Accuracy.veryHigh c.[2] (3.0 + 4.0 / 3.0) "edge (1,2)"
              // deg = 1: dist + Bx/sqrt p + 3.
              let c1 =
                  Generators.tspCostFormula coords [| [| 1.0 |]; [| 0.0 |]; [| -0.5 |] |] [| 2.0 |] 1

              Expect.floatClose Accuracy.veryHigh c1.[0] 10.0 "deg 1, edge (0,1)"

              Expect.throwsT<ArgumentException>
                  (fun () -> Generators.tspCostFormula coords [| [| 1.0 |] |] [| 2.0 |] 2 |> ignore)
                  "b needs one row per edge"
          }
          test "TSP generator: shapes, coordinates, B, noise, deterministic per seed, solvable by Held-Karp" {
              let coords, d = Generators.tsp 50 4 7 2 0.5 11
              Expect.equal coords.Length 7 "cities"
              Expect.equal d.Costs.[0].Length 21 "7*6/2 edges"
              Expect.equal d.B.Length 21 "B is [edges][p]"
              Expect.equal d.Features.[0].Length 4 "p"

              Expect.isTrue
                  (coords.[0..2] |> Array.concat |> Array.forall (fun u -> u >= -2.0 && u <= 2.0))
                  "first n/2 cities are U(-2, 2)"

              Expect.isTrue (d.B |> Array.concat |> Array.forall (fun v -> v >= -2.0 && v <= 2.0)) "B in [-2, 2]"
              Expect.isTrue (d.B |> Array.concat |> Array.exists ((=) 0.0)) "B has Bernoulli zeros"

              let dist =
                  Generators.tspCostFormula coords (Array.init 21 (fun _ -> Array.zeroCreate 4)) (Array.zeroCreate 4) 2

              for i in 0..49 do
                  let full = Generators.tspCostFormula coords d.B d.Features.[i] 2

                  for e in 0..20 do
                      // dist entries include the +3 of B = 0; the feature term is full - (dist - 3).
                      let term = full.[e] - (dist.[e] - 3.0)
                      let ratio = (d.Costs.[i].[e] - (dist.[e] - 3.0)) / term
                      Expect.isTrue (abs (ratio - 1.0) <= 0.5 + 1e-3 / term) (sprintf "noise ratio %g" ratio)

              let again = Generators.tsp 50 4 7 2 0.5 11
              Expect.equal (snd again).Costs d.Costs "same seed, same costs"
              Expect.equal (fst again) coords "same seed, same coordinates"
              Expect.notEqual (snd (Generators.tsp 50 4 7 2 0.5 12)).Costs d.Costs "another seed, other costs"
              let coords0, noiseless = Generators.tsp 5 4 7 2 0.0 11

              for i in 0..4 do
                  let expected =
                      Generators.tspCostFormula coords0 noiseless.B noiseless.Features.[i] 2
                      |> Array.map (fun c -> Math.Round(c, 4))

                  Expect.equal noiseless.Costs.[i] expected "no noise: the formula, rounded to 4 decimals"

              let z = HeldKarp.solve 7 d.Costs.[0]
              Expect.isTrue (HeldKarp.isTour 7 z) "Held-Karp solves a generated instance"

              Expect.throwsT<ArgumentOutOfRangeException>
                  (fun () -> Generators.tsp 5 4 1 2 0.0 1 |> ignore)
                  "cities >= 2"
          }
          test "shortest-path generator: shapes, B binary, noise within its half-width, deterministic per seed" {
              let d = Generators.shortestPath 200 5 5 5 4 0.5 7
              Expect.equal d.Features.Length 200 "instances"
              Expect.equal d.Features.[0].Length 5 "p"
              Expect.equal d.Costs.[0].Length 40 "40 arcs on 5x5"
              Expect.equal d.B.Length 40 "B is [m][p]"
              Expect.isTrue (d.B |> Array.forall (Array.forall (fun b -> b = 0.0 || b = 1.0))) "B is binary"

              Expect.isTrue
                  (d.B |> Array.concat |> Array.exists ((=) 0.0)
                   && d.B |> Array.concat |> Array.exists ((=) 1.0))
                  "B has both values"

              for i in 0..199 do
                  let clean = Generators.costFormula d.B d.Features.[i] 4

                  for j in 0..39 do
                      let ratio = d.Costs.[i].[j] / clean.[j]
                      Expect.isTrue (ratio >= 0.5 && ratio <= 1.5) (sprintf "noise ratio %g within [0.5, 1.5]" ratio)

              let again = Generators.shortestPath 200 5 5 5 4 0.5 7
              Expect.equal again.Costs d.Costs "same seed, same costs"
              Expect.equal again.Features d.Features "same seed, same features"
              let other = Generators.shortestPath 200 5 5 5 4 0.5 8
              Expect.notEqual other.Costs d.Costs "another seed, other costs"
              let noiseless = Generators.shortestPath 20 5 5 5 2 0.0 7

              for i in 0..19 do
                  Expect.equal
                      noiseless.Costs.[i]
                      (Generators.costFormula noiseless.B noiseless.Features.[i] 2)
                      "no noise: the formula exactly"

              let mean = d.Features |> Array.concat |> Array.average
              Expect.isLessThan (abs mean) 0.15 "features ~ N(0, 1) (mean of 1,000 draws; 3.4 sd)"
          }
          test "knapsack generator: integer weights in [300, 799], values = ceil(5 * formula * noise)" {
              let weights, d = Generators.knapsack 100 5 32 2 2 0.5 3
              Expect.equal weights.Length 2 "dim"
              Expect.equal weights.[0].Length 32 "items"

              Expect.isTrue
                  (weights |> Array.concat |> Array.forall (fun w -> w >= 300 && w <= 799))
                  "weights in hundredths"

              for i in 0..99 do
                  let clean = Generators.costFormula d.B d.Features.[i] 2

                  for j in 0..31 do
                      let v = d.Costs.[i].[j]
                      Expect.equal v (Math.Ceiling v) "integer"

                      Expect.isTrue
                          (v >= Math.Ceiling(5.0 * clean.[j] * 0.5)
                           && v <= Math.Ceiling(5.0 * clean.[j] * 1.5))
                          "within the noise band"

              let _, noiseless = Generators.knapsack 5 5 32 1 2 0.0 3

              for i in 0..4 do
                  Expect.equal
                      noiseless.Costs.[i]
                      (Generators.costFormula noiseless.B noiseless.Features.[i] 2
                       |> Array.map (fun c -> Math.Ceiling(5.0 * c)))
                      "no noise"
          }
          test "dataset holds the optimal solutions and values" {
              let problem = Problem.gridDagShortestPath 5 5
              let d = Generators.shortestPath 50 5 5 5 2 0.5 1
              let ds = DflDataset.ofGenerated problem d
              Expect.equal ds.Count 50 "count"

              for i in 0..49 do
                  Expect.equal ds.Solutions.[i] (Problem.solve problem d.Costs.[i]) "w*(c)"
                  Expect.floatClose Accuracy.veryHigh ds.Objectives.[i] (dot d.Costs.[i] ds.Solutions.[i]) "z*(c)"

              let sub = DflDataset.subset [| 3; 7 |] ds
              Expect.equal sub.Count 2 "subset count"
              Expect.equal sub.Solutions.[1] ds.Solutions.[7] "subset keeps solutions"
          }
          test "regret is 0 for the true costs and >= 0 for any prediction (shortest path and knapsack)" {
              let rng = Random 5

              let sp =
                  DflDataset.ofGenerated (Problem.gridDagShortestPath 5 5) (Generators.shortestPath 100 5 5 5 4 0.5 2)

              let weights, kd = Generators.knapsack 100 5 16 1 2 0.5 2
              let ks = DflDataset.ofGenerated (Problem.knapsack weights.[0] 2000) kd

              for ds in [ sp; ks ] do
                  let exact = Regret.perInstance ds ds.Costs
                  Expect.isTrue (exact |> Array.forall (fun r -> abs r <= 1e-9)) "0 at the true costs"
                  Expect.floatClose Accuracy.veryHigh (Regret.normalised ds ds.Costs) 0.0 "normalised 0"
                  let m = ds.Problem.Size

                  let predictions =
                      Array.init ds.Count (fun _ -> Array.init m (fun _ -> 4.0 * rng.NextDouble() - 2.0))

                  let r = Regret.perInstance ds predictions
                  Expect.isTrue (r |> Array.forall (fun x -> x >= -1e-9)) "regret >= 0"
                  Expect.isGreaterThan (Array.sum r) 0.0 "random predictions have some regret"
                  let expected = Array.sum r / (ds.Objectives |> Array.sumBy abs)

                  Expect.floatClose
                      Accuracy.veryHigh
                      (Regret.normalised ds predictions)
                      expected
                      "normalised = sum / sum |z*|"

                  for i in 0..9 do
                      Expect.floatClose
                          Accuracy.veryHigh
                          (Regret.regret ds.Problem predictions.[i] ds.Costs.[i] ds.Objectives.[i])
                          r.[i]
                          "regret = perInstance"
          }
          test "argument errors name the parameter" {
              TestUtil.throwsNaming "deg" (fun () -> Generators.shortestPath 10 5 5 5 0 0.5 1)
              TestUtil.throwsNaming "noiseWidth" (fun () -> Generators.shortestPath 10 5 5 5 1 1.5 1)
              TestUtil.throwsNaming "noiseWidth" (fun () -> Generators.shortestPath 10 5 5 5 1 -0.1 1)
              TestUtil.throwsNaming "instances" (fun () -> Generators.knapsack 0 5 10 1 1 0.5 1)
              TestUtil.throwsNaming "items" (fun () -> Generators.knapsack 10 5 0 1 1 0.5 1)
              TestUtil.throwsNaming "b" (fun () -> Generators.costFormula [| [| 1.0 |] |] [| 1.0; 2.0 |] 1)
              let problem = Problem.gridDagShortestPath 5 5

              TestUtil.throwsNaming "costs" (fun () ->
                  DflDataset.create problem [| [| 1.0 |] |] [| Array.zeroCreate 39 |])

              TestUtil.throwsNaming "costs" (fun () ->
                  DflDataset.create problem [| [| 1.0 |]; [| 2.0 |] |] [| Array.zeroCreate 40 |])

              let ds = DflDataset.create problem [| [| 1.0 |] |] [| Array.create 40 1.0 |]
              TestUtil.throwsNaming "predictions" (fun () -> Regret.normalised ds [| Array.zeroCreate 39 |])
              TestUtil.throwsNaming "predictions" (fun () -> Regret.normalised ds [||])
              TestUtil.throwsNaming "indices" (fun () -> DflDataset.subset [| 1 |] ds)
          } ]

/// SPO+ through the library on rows [B][m]: the loss (batch mean) and its gradient w.r.t. the predictions.
let private spo (problem: Problem) (predicted: float[][]) (costs: float[][]) : float * float[][] =
    let m = problem.Size
    let b = predicted.Length
    use _scope = torch.NewDisposeScope()

    let tensor (rows: float[][]) =
        torch.tensor(Array.concat rows, dtype = torch.float64).reshape(int64 b, int64 m)

    let solutions = costs |> Array.map (Problem.solve problem)
    let chat = (tensor predicted).requires_grad_(true)
    let loss = DflLosses.spoPlus problem chat (tensor costs) (tensor solutions)
    Training.backward loss
    let g = chat.grad.contiguous().data<float>().ToArray()
    loss.ToDouble(), Array.chunkBySize m g

/// SPO+ of one instance from its definition, on arrays, in the problem's own sense (the test's own formula).
let private spoByHand (problem: Problem) (chat: float[]) (c: float[]) =
    let wc = Problem.solve problem c
    let a = Array.map2 (fun x y -> 2.0 * x - y) chat c
    let wa = Problem.solve problem a
    let value = -(dot a wa) + 2.0 * dot chat wc - dot c wc

    match problem.Sense with
    | Minimise -> value
    | Maximise -> -value

let private spoProblems () =
    let weights, _ = Generators.knapsack 1 5 10 1 1 0.0 4

    [ Problem.gridDagShortestPath 5 5, (fun (rng: Random) -> 2.0 * rng.NextDouble() - 0.5)
      Problem.knapsack weights.[0] 2500, (fun (rng: Random) -> 10.0 * rng.NextDouble() - 1.0) ]

/// A perturbed optimizer as the control-variate check calls it: problem, σ, S, generator, weights → mean solution.
type private PerturbedCall = Problem -> float -> int -> torch.Generator -> Tensor -> Tensor

/// The control-variate check shared by the additive and multiplicative perturbed optimizers, on two classes with
/// weights (a, b): per seed 1..r the plain and baselined estimators draw the same noise; the forward values must be
/// equal, the plain and the baselined (leave-one-out) mean gradients dP_1/da must both be `exact` (each within 4 standard
/// errors: a false failure with fresh seeds has probability ~6e-5; the seeds are fixed, so the check is
/// deterministic), and the baselined variance below 0.6 of the plain one.
let private expectControlVariate
    (plain: PerturbedCall)
    (based: PerturbedCall)
    (a: float, b: float)
    (sigma: float)
    (s: int)
    (r: int)
    (exact: float)
    =
    let problem = Problem.categorical 2

    let estimate (f: PerturbedCall) (seed: int) =
        use _scope = torch.NewDisposeScope()

        let w =
            torch.tensor([| a; b |], dtype = torch.float64).reshape(1L, 2L).requires_grad_(true)

        let y = f problem sigma s (new torch.Generator(uint64 seed)) w
        let dy = torch.tensor([| 1.0; 0.0 |], dtype = torch.float64).reshape(1L, 2L)
        Training.backward ((y * dy).sum())
        y.detach().data<float>().ToArray().[0], w.grad.data<float>().ToArray().[0]

    let plainRuns = Array.init r (fun i -> estimate plain (i + 1))
    let basedRuns = Array.init r (fun i -> estimate based (i + 1))
    Expect.equal (Array.map fst basedRuns) (Array.map fst plainRuns) "same forward values"

    let stats (xs: float[]) =
        let m = Array.average xs
        m, (xs |> Array.averageBy (fun x -> (x - m) * (x - m)))

    let mp, vp = stats (Array.map snd plainRuns)
    let mb, vb = stats (Array.map snd basedRuns)
    Expect.isLessThan (abs (mp - exact)) (4.0 * sqrt (vp / float r)) "plain mean = dP_1/da"

    Expect.isLessThan (abs (mb - exact)) (4.0 * sqrt (vb / float r)) "baselined mean = dP_1/da (leave-one-out)"

    Expect.isLessThan vb (0.6 * vp) (sprintf "variance %g with the baseline, %g without" vb vp)

let private spoTests =
    testList
        "SPO+"
        [ test "loss >= 0, = 0 at the true costs, equals the definition (shortest path: Minimise; knapsack: Maximise)" {
              let rng = Random 21

              for problem, draw in spoProblems () do
                  let m = problem.Size

                  for _ in 1..30 do
                      let c = Array.init 3 (fun _ -> Array.init m (fun _ -> draw rng))
                      let chat = Array.init 3 (fun _ -> Array.init m (fun _ -> draw rng))
                      let loss, _ = spo problem chat c
                      Expect.isGreaterThanOrEqual loss -1e-9 (sprintf "%s: loss >= 0" problem.Name)
                      let expected = Array.map2 (spoByHand problem) chat c |> Array.average
                      Expect.floatClose Accuracy.high loss expected "the definition, batch mean"
                      let atTruth, _ = spo problem c c
                      Expect.floatClose Accuracy.veryHigh atTruth 0.0 "0 at the true costs"
          }
          test "the gradient is 2(w*(c) - w*(2c^ - c))/B for Minimise and 2(w*(2v^ - v) - w*(v))/B for Maximise" {
              let rng = Random 22

              for problem, draw in spoProblems () do
                  let m = problem.Size
                  let c = Array.init 4 (fun _ -> Array.init m (fun _ -> draw rng))
                  let chat = Array.init 4 (fun _ -> Array.init m (fun _ -> draw rng))
                  let _, g = spo problem chat c

                  for i in 0..3 do
                      let wc = Problem.solve problem c.[i]
                      let wa = Problem.solve problem (Array.map2 (fun x y -> 2.0 * x - y) chat.[i] c.[i])

                      let expected =
                          match problem.Sense with
                          | Minimise -> Array.map2 (fun x y -> 2.0 * (x - y) / 4.0) wc wa
                          | Maximise -> Array.map2 (fun x y -> 2.0 * (y - x) / 4.0) wc wa

                      Expect.equal g.[i] expected (sprintf "%s row %d" problem.Name i)
          }
          test "convex in the prediction: midpoint inequality on 200 random pairs per problem" {
              let rng = Random 23

              for problem, draw in spoProblems () do
                  let m = problem.Size

                  for _ in 1..200 do
                      let c = Array.init m (fun _ -> draw rng)
                      let x = Array.init m (fun _ -> draw rng)
                      let y = Array.init m (fun _ -> draw rng)
                      let mid = Array.map2 (fun a b -> 0.5 * (a + b)) x y
                      let f v = fst (spo problem [| v |] [| c |])
                      Expect.isLessThanOrEqual (f mid) (0.5 * (f x + f y) + 1e-9) (sprintf "%s: midpoint" problem.Name)
          }
          test "the gradient matches central finite differences where the loss is differentiable" {
              let rng = Random 24
              let h = 1e-6

              for problem, draw in spoProblems () do
                  let m = problem.Size

                  for _ in 1..5 do
                      let c = Array.init m (fun _ -> draw rng)
                      let chat = Array.init m (fun _ -> draw rng)
                      let _, g = spo problem [| chat |] [| c |]

                      let a (v: float[]) =
                          Problem.solve problem (Array.map2 (fun x y -> 2.0 * x - y) v c)

                      let atChat = a chat
                      let mutable checkedCoordinates = 0

                      for j in 0 .. m - 1 do
                          let up = Array.copy chat
                          up.[j] <- up.[j] + h
                          let down = Array.copy chat
                          down.[j] <- down.[j] - h
                          // Piecewise linear: differentiable at chat along j when w*(2c^ - c) does not change within +-h.
                          if a up = atChat && a down = atChat then
                              checkedCoordinates <- checkedCoordinates + 1
                              let fd = (spoByHand problem up c - spoByHand problem down c) / (2.0 * h)

                              Expect.floatClose
                                  { absolute = 1e-6; relative = 1e-6 }
                                  g.[0].[j]
                                  fd
                                  (sprintf "%s coordinate %d" problem.Name j)

                      Expect.isGreaterThan checkedCoordinates (m / 2) "most coordinates are differentiable points"
          }
          test "argument errors name the parameter; errors do not reach libtorch" {
              let problem = Problem.gridDagShortestPath 5 5
              use ok = torch.ones (2L, 40L, dtype = torch.float64)
              use wrong = torch.ones (2L, 39L, dtype = torch.float64)
              use other = torch.ones (3L, 40L, dtype = torch.float64)
              use bad = torch.full (2L, 40L, Double.NaN, dtype = torch.float64)
              TestUtil.throwsNaming "predicted" (fun () -> DflLosses.spoPlus problem wrong ok ok)
              TestUtil.throwsNaming "trueCosts" (fun () -> DflLosses.spoPlus problem ok other ok)
              TestUtil.throwsNaming "trueCosts" (fun () -> DflLosses.spoPlus problem ok bad ok)
              TestUtil.throwsNaming "trueSolutions" (fun () -> DflLosses.spoPlus problem ok ok other)
              // A NaN upstream gradient is recorded and rethrown by Training.backward, not thrown into native code.
              use chat = torch.ones(2L, 40L, dtype = torch.float64).requires_grad_(true)
              use loss = DflLosses.spoPlus problem chat ok ok
              use nanLoss = loss * torch.tensor (Double.NaN, dtype = torch.float64)
              Expect.throwsT<InvalidOperationException> (fun () -> Training.backward nanLoss) "NaN dL/dloss surfaces"
          } ]

/// Φ, the standard normal CDF (Abramowitz–Stegun 7.1.26 through erf; absolute error < 1.5e-7).
let private normalCdf (x: float) =
    let z = abs x / sqrt 2.0
    let t = 1.0 / (1.0 + 0.3275911 * z)

    let erf =
        1.0
        - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t
           + 0.254829592)
          * t
          * exp (-z * z)

    if x >= 0.0 then 0.5 * (1.0 + erf) else 0.5 * (1.0 - erf)

let private multiplicativeTests =
    testList
        "multiplicative perturbation"
        [ test "perturbed optimizer: mean and Jacobian match the closed form on two classes (S = 200,000; 6 sd)" {
              // Categorical over 2 with scores (a, b) > 0: y_1 = 1 iff log a + σZ_1 > log b + σZ_2, so
              // P_1 = Φ(d), d = (log a − log b)/(σ√2), and dP_1/da = φ(d)/(σ√2·a), dP_1/db = −φ(d)/(σ√2·b).
              let a, b, sigma = 1.3, 0.8, 0.7
              let problem = Problem.categorical 2
              use _scope = torch.NewDisposeScope()

              let w =
                  torch.tensor([| a; b |], dtype = torch.float64).reshape(1L, 2L).requires_grad_(true)

              let y =
                  Multiplicative.perturbedOptimizer problem sigma 200000 (new torch.Generator(7UL)) w

              let dy = torch.tensor([| 1.0; 0.0 |], dtype = torch.float64).reshape(1L, 2L)
              Training.backward ((y * dy).sum())
              let d = (log a - log b) / (sigma * sqrt 2.0)
              let density = exp (-0.5 * d * d) / sqrt (2.0 * Math.PI)
              let p1 = y.detach().data<float>().ToArray().[0]

              Expect.floatClose
                  { absolute = 6.0 * 0.5 / sqrt 200000.0
                    relative = 0.0 }
                  p1
                  (normalCdf d)
                  "P(y_1 = 1)"

              let g = w.grad.data<float>().ToArray()
              // sd of Z_1·y_1/(σa) is at most 1/(σa) per draw.
              Expect.floatClose
                  { absolute = 6.0 / (sigma * a * sqrt 200000.0)
                    relative = 0.0 }
                  g.[0]
                  (density / (sigma * sqrt 2.0 * a))
                  "dP_1/da"

              Expect.floatClose
                  { absolute = 6.0 / (sigma * b * sqrt 200000.0)
                    relative = 0.0 }
                  g.[1]
                  (-density / (sigma * sqrt 2.0 * b))
                  "dP_1/db"
          }
          test "baseline (control variate): same forward value, same mean gradient, lower variance (200 seeds, S = 20)" {
              // Two classes as above, a = 2, b = 0.8 (P_1 ~ 0.82). Per seed the plain and baselined estimates use the
              // same Z. The baselined (leave-one-out) estimate has the plain one's mean. Seeds are fixed, so the test is
              // deterministic; with fresh seeds each mean check (4 standard errors) fails with probability ~6e-5, and
              // the variance ratio is well below the 0.6 checked (P_1 far from 1/2 makes y_1 - mean small).
              let a, b, sigma, s, r = 2.0, 0.8, 0.7, 20, 200
              let d = (log a - log b) / (sigma * sqrt 2.0)
              let exact = exp (-0.5 * d * d) / sqrt (2.0 * Math.PI) / (sigma * sqrt 2.0 * a)

              expectControlVariate
                  Multiplicative.perturbedOptimizer
                  Multiplicative.perturbedOptimizerWithBaseline
                  (a, b)
                  sigma
                  s
                  r
                  exact
          }
          test
              "additive perturbed optimizer with baseline: same forward value, same mean gradient, lower variance (200 seeds, S = 20)" {
              // Scores θ = (a, b) of two classes, Normal(σ) noise: P_1 = Φ((a − b)/(σ√2)), dP_1/da = φ(d)/(σ√2). Per seed
              // the plain and baselined estimates use the same ε (same generator seed). Seeds are fixed, so the test is
              // deterministic; with fresh seeds each mean check (4 standard errors) fails with probability ~6e-5, and
              // the variance ratio (about 1 − P_1 ≈ 0.2 in theory) is well below the 0.6 checked.
              let a, b, sigma, s, r = 1.0, 0.2, 0.7, 20, 200
              let d = (a - b) / (sigma * sqrt 2.0)
              let exact = exp (-0.5 * d * d) / sqrt (2.0 * Math.PI) / (sigma * sqrt 2.0)

              expectControlVariate
                  (fun problem sigma s g w -> Discrete.apply problem (Perturbed(Normal sigma, s)) g w)
                  (fun problem sigma s g w -> Discrete.perturbedWithBaseline problem (Normal sigma) s g w)
                  (a, b)
                  sigma
                  s
                  r
                  exact

              let problem = Problem.categorical 2
              use g0 = new torch.Generator(7UL)

              TestUtil.throwsNaming "samples" (fun () ->
                  Discrete.perturbedWithBaseline problem (Normal sigma) 1 g0 (torch.zeros (1L, 2L))
                  |> ignore)
          }
          test "the perturbation keeps signs: costs all negative stay negative on a non-negative-only oracle" {
              // A user oracle that refuses any non-negative cost: additive noise would trip it, multiplicative cannot.
              let strict =
                  Problem.create "negative-costs-only" [| 3 |] Minimise (fun c ->
                      if c |> Array.exists (fun x -> x >= 0.0) then
                          invalidOp "a cost crossed 0"

                      let i = Array.findIndex ((=) (Array.min c)) c
                      Array.init 3 (fun j -> if j = i then 1.0 else 0.0))

              use _scope = torch.NewDisposeScope()
              let w = torch.tensor([| -1.0; -2.0; -0.5 |], dtype = torch.float64).reshape(1L, 3L)

              let y =
                  Multiplicative.perturbedOptimizer strict 2.0 500 (new torch.Generator(3UL)) w

              let total = y.sum().ToDouble()
              Expect.floatClose Accuracy.veryHigh total 1.0 "a distribution over states"
          }
          test
              "Fenchel-Young: >= 0 in both senses, gradient w - E[y f] (Minimise) and E[y f] - w (Maximise) as sigma -> 0" {
              let rng = Random 31

              for problem, draw in spoProblems () do
                  let m = problem.Size

                  for _ in 1..10 do
                      use _scope = torch.NewDisposeScope()
                      let c = Array.init 2 (fun _ -> Array.init m (fun _ -> abs (draw rng) + 0.1))
                      let truth = Array.init 2 (fun _ -> Array.init m (fun _ -> abs (draw rng) + 0.1))
                      let wTrue = truth |> Array.map (Problem.solve problem)

                      let ct =
                          torch.tensor(Array.concat c, dtype = torch.float64).reshape(2L, int64 m).requires_grad_(true)

                      let target =
                          torch.tensor(Array.concat wTrue, dtype = torch.float64).reshape(2L, int64 m)

                      let loss =
                          Multiplicative.fenchelYoung problem 0.5 20 (new torch.Generator(5UL)) ct target

                      Expect.isGreaterThanOrEqual (loss.ToDouble()) -1e-9 (sprintf "%s: loss >= 0" problem.Name)
                      // σ → 0: ℓ → sign·(⟨c, w⟩ − ⟨c, y(c)⟩) and the gradient → sign·(w − y(c))/B.
                      let ct0 =
                          torch.tensor(Array.concat c, dtype = torch.float64).reshape(2L, int64 m).requires_grad_(true)

                      let loss0 =
                          Multiplicative.fenchelYoung problem 1e-9 1 (new torch.Generator(5UL)) ct0 target

                      Training.backward loss0

                      let sign =
                          match problem.Sense with
                          | Minimise -> 1.0
                          | Maximise -> -1.0

                      let expected =
                          Array.init 2 (fun i -> sign * (dot c.[i] wTrue.[i] - dot c.[i] (Problem.solve problem c.[i])))
                          |> Array.average

                      Expect.floatClose
                          { absolute = 1e-6; relative = 1e-6 }
                          (loss0.ToDouble())
                          expected
                          "sigma -> 0 loss"

                      let g = ct0.grad.data<float>().ToArray() |> Array.chunkBySize m

                      for i in 0..1 do
                          let y = Problem.solve problem c.[i]
                          let e = Array.map2 (fun wt yi -> sign * (wt - yi) / 2.0) wTrue.[i] y

                          for j in 0 .. m - 1 do
                              Expect.floatClose
                                  { absolute = 1e-6; relative = 1e-6 }
                                  g.[i].[j]
                                  e.[j]
                                  "sigma -> 0 gradient"
          }
          test "argument errors name the parameter" {
              let problem = Problem.gridDagShortestPath 3 3
              use ok = torch.ones (2L, 12L, dtype = torch.float64)
              use zero = torch.zeros (2L, 12L, dtype = torch.float64)
              use gen = new torch.Generator(1UL)
              TestUtil.throwsNaming "weights" (fun () -> Multiplicative.perturbedOptimizer problem 1.0 1 gen zero)
              TestUtil.throwsNaming "sigma" (fun () -> Multiplicative.perturbedOptimizer problem 0.0 1 gen ok)
              TestUtil.throwsNaming "samples" (fun () -> Multiplicative.perturbedOptimizer problem 1.0 0 gen ok)

              TestUtil.throwsNaming "target" (fun () ->
                  Multiplicative.fenchelYoung problem 1.0 1 gen ok (torch.ones (2L, 11L)))

              TestUtil.throwsNaming "weights" (fun () ->
                  Multiplicative.fenchelYoung problem 1.0 1 gen (torch.ones (2L, 11L)) (torch.ones (2L, 11L)))
          } ]

let private contrastiveTests =
    testList
        "contrastive losses"
        [ test
              "NCE and CMAP: values and gradients by hand, both senses; CMAP = 0 at the true costs, >= 0 with w* in the pool" {
              let rng = Random 41

              for problem, draw in spoProblems () do
                  let m = problem.Size
                  let costs = Array.init 6 (fun _ -> Array.init m (fun _ -> draw rng))
                  let solutions = costs |> Array.map (Problem.solve problem)
                  let pool = SolutionPool(problem, solutions, 0.0, 1)
                  let gamma = pool.States
                  Expect.isLessThanOrEqual gamma.Length 6 "deduplicated"

                  let sign =
                      match problem.Sense with
                      | Minimise -> 1.0
                      | Maximise -> -1.0

                  use _scope = torch.NewDisposeScope()
                  let chat = Array.init 2 (fun _ -> Array.init m (fun _ -> draw rng))

                  let predicted () =
                      torch.tensor(Array.concat chat, dtype = torch.float64).reshape(2L, int64 m).requires_grad_(true)

                  let target =
                      torch.tensor(Array.concat solutions.[0..1], dtype = torch.float64).reshape(2L, int64 m)

                  let margin i (s: float[]) =
                      sign * (dot chat.[i] solutions.[i] - dot chat.[i] s)
                  // NCE
                  let p1 = predicted ()
                  let nce = Contrastive.nce pool p1 target
                  Training.backward nce

                  let nceByHand =
                      Array.init 2 (fun i -> gamma |> Array.averageBy (margin i)) |> Array.average

                  Expect.floatClose Accuracy.high (nce.ToDouble()) nceByHand "NCE value"
                  let g = p1.grad.data<float>().ToArray() |> Array.chunkBySize m

                  for i in 0..1 do
                      for j in 0 .. m - 1 do
                          let e =
                              sign * (solutions.[i].[j] - (gamma |> Array.averageBy (fun s -> s.[j]))) / 2.0

                          Expect.floatClose Accuracy.high g.[i].[j] e "NCE gradient (w* - mean of the pool)/B"
                  // CMAP
                  let cmap = Contrastive.cmap pool (predicted ()) target

                  let cmapByHand =
                      Array.init 2 (fun i -> gamma |> Array.map (margin i) |> Array.max)
                      |> Array.average

                  Expect.floatClose Accuracy.high (cmap.ToDouble()) cmapByHand "CMAP value"
                  Expect.isGreaterThanOrEqual (cmap.ToDouble()) 0.0 "CMAP >= 0 with w* in the pool"

                  let atTruth =
                      torch.tensor(Array.concat costs.[0..1], dtype = torch.float64).reshape(2L, int64 m)

                  Expect.floatClose
                      Accuracy.veryHigh
                      ((Contrastive.cmap pool atTruth target).ToDouble())
                      0.0
                      "CMAP = 0 at the true costs"

                  Expect.isLessThanOrEqual
                      ((Contrastive.nce pool atTruth target).ToDouble())
                      1e-9
                      "NCE <= 0 at the true costs"
          }
          test
              "the pool grows by solving with the solve ratio (1: every call adds w*(c^); 0: never), deterministic per seed" {
              let problem = Problem.gridDagShortestPath 5 5
              let rng = Random 42
              let start = [| Problem.solve problem (Array.create 40 1.0) |]
              use _scope = torch.NewDisposeScope()

              let chat =
                  Array.init 8 (fun _ -> Array.init 40 (fun _ -> 2.0 * rng.NextDouble() - 1.0))

              let predicted =
                  torch.tensor(Array.concat chat, dtype = torch.float64).reshape(8L, 40L)

              let target =
                  torch.tensor(Array.concat (Array.replicate 8 start.[0]), dtype = torch.float64).reshape(8L, 40L)

              let always = SolutionPool(problem, start, 1.0, 3)
              Contrastive.nce always predicted target |> ignore

              let expected =
                  Set.ofArray (Array.append start (chat |> Array.map (Problem.solve problem)))

              Expect.equal (Set.ofArray always.States) expected "pool = seed + solutions of the batch"
              let never = SolutionPool(problem, start, 0.0, 3)
              Contrastive.cmap never predicted target |> ignore
              Expect.equal never.Count 1 "solve ratio 0 never solves"

              let counts seed =
                  let pool = SolutionPool(problem, start, 0.5, seed)

                  [ for k in 0..19 do
                        let p =
                            torch
                                .tensor(
                                    Array.concat (
                                        Array.init 8 (fun i ->
                                            Array.init 40 (fun j -> sin (float (k * 331 + i * 41 + j))))
                                    ),
                                    dtype = torch.float64
                                )
                                .reshape(8L, 40L)

                        Contrastive.nce pool p target |> ignore
                        yield pool.Count ]

              Expect.equal (counts 9) (counts 9) "same seed, same pool history"
              let grown = counts 9
              // One dispose scope per training step (as a training loop has): the pool's tensor must outlive each scope.
              let pool = SolutionPool(problem, start, 0.0, 4)

              for _ in 1..3 do
                  use _step = torch.NewDisposeScope()
                  let p = torch.tensor(Array.concat chat, dtype = torch.float32).reshape(8L, 40L)

                  let t =
                      torch.tensor(Array.concat (Array.replicate 8 start.[0]), dtype = torch.float32).reshape(8L, 40L)

                  Expect.isTrue (Double.IsFinite((Contrastive.nce pool p t).ToDouble())) "NCE in a fresh dispose scope"

                  Expect.isTrue
                      (Double.IsFinite((Contrastive.cmap pool p t).ToDouble()))
                      "CMAP in a fresh dispose scope"

              Expect.isTrue
                  (List.last grown > 1 && List.last grown < 1 + 8 * 20)
                  "ratio 0.5 solves some batches, not all"
          }
          test "argument errors name the parameter" {
              let problem = Problem.gridDagShortestPath 3 3
              let z = Problem.solve problem (Array.create 12 1.0)
              TestUtil.throwsNaming "solveRatio" (fun () -> SolutionPool(problem, [| z |], 1.5, 0))
              TestUtil.throwsNaming "solveRatio" (fun () -> SolutionPool(problem, [| z |], nan, 0))
              TestUtil.throwsNaming "initial" (fun () -> SolutionPool(problem, [||], 0.5, 0))
              TestUtil.throwsNaming "initial" (fun () -> SolutionPool(problem, [| Array.zeroCreate 11 |], 0.5, 0))
              TestUtil.throwsNaming "initial" (fun () -> SolutionPool(problem, [| Array.create 12 0.5 |], 0.5, 0))
              let pool = SolutionPool(problem, [| z |], 0.0, 0)
              TestUtil.throwsNaming "solutions" (fun () -> pool.Add [| Array.zeroCreate 3 |])
              use ok = torch.ones (2L, 12L, dtype = torch.float64)

              TestUtil.throwsNaming "predicted" (fun () ->
                  Contrastive.nce pool (torch.ones (2L, 11L, dtype = torch.float64)) ok)

              TestUtil.throwsNaming "trueSolutions" (fun () ->
                  Contrastive.cmap pool ok (torch.ones (3L, 12L, dtype = torch.float64)))
          } ]


let private rankingTests =
    testList
        "learning-to-rank losses"
        [ test "listwise, pairwise, pointwise: values and gradients by hand on a three-member pool, both senses" {
              // Pool {[1,0], [0,1], [1,1]}, c = [1, 2] (true objectives 1, 2, 3), c^ = [2, 1] (predicted 2, 1, 3).
              let gamma = [| [| 1.0; 0.0 |]; [| 0.0; 1.0 |]; [| 1.0; 1.0 |] |]
              let c = [| 1.0; 2.0 |]
              let chat = [| 2.0; 1.0 |]

              for sense in [ Minimise; Maximise ] do
                  let problem = Problem.create "pool of 2" [| 2 |] sense id
                  let pool = SolutionPool(problem, gamma, 0.0, 1)
                  use _scope = torch.NewDisposeScope()

                  let predicted () =
                      torch.tensor(chat, dtype = torch.float64).reshape(1L, 2L).requires_grad_(true)

                  let target = torch.tensor(c, dtype = torch.float64).reshape(1L, 2L)
                  let sign = if sense = Minimise then -1.0 else 1.0
                  let pObj = gamma |> Array.map (dot chat)
                  let tObj = gamma |> Array.map (dot c)

                  let softmax (v: float[]) =
                      let e = v |> Array.map (fun x -> exp (sign * x))
                      let z = Array.sum e
                      e |> Array.map (fun x -> x / z)

                  let q, r = softmax pObj, softmax tObj
                  // Listwise: -(1/3) sum_s r_s log q_s; gradient -(1/3) sign * sum_s s (r_s - q_s) (as sum r = 1).
                  let p1 = predicted ()
                  let lw = Ranking.listwise pool p1 target
                  Training.backward lw
                  let byHand = -(Array.map2 (fun rs qs -> rs * log qs) r q |> Array.sum) / 3.0
                  Expect.floatClose Accuracy.veryHigh (lw.ToDouble()) byHand (sprintf "listwise value (%A)" sense)
                  let g = p1.grad.data<float>().ToArray()

                  for j in 0..1 do
                      let gj =
                          -sign * (Array.init 3 (fun s -> gamma.[s].[j] * (r.[s] - q.[s])) |> Array.sum)
                          / 3.0

                      Expect.floatClose Accuracy.veryHigh g.[j] gj "listwise gradient"
                  // Pairwise. Minimise: s* = [1,0] (true 1), predicted 2 - [2,1,3] -> hinge [0,1,0], / 2 = 0.5,
                  // gradient (s* - [0,1]) / 2 = [0.5, -0.5]. Maximise: s* = [1,1] (true 3), [2,1,3] - 3 <= 0 -> 0.
                  let p2 = predicted ()
                  let pw = Ranking.pairwise pool p2 target
                  Training.backward pw
                  let g2 = p2.grad.data<float>().ToArray()

                  if sense = Minimise then
                      Expect.floatClose Accuracy.veryHigh (pw.ToDouble()) 0.5 "pairwise value (Minimise)"
                      Expect.sequenceEqual g2 [| 0.5; -0.5 |] "pairwise gradient (Minimise)"
                  else
                      Expect.equal (pw.ToDouble()) 0.0 "pairwise value (Maximise): s* is best under c^ too"
                      Expect.sequenceEqual g2 [| 0.0; 0.0 |] "pairwise gradient (Maximise)"
                  // Pointwise: (c - c^)s = -1, 1, 0 -> mean square 2/3; gradient -(2/3) sum_s ((c-c^)s) s = [2/3, -2/3].
                  let p3 = predicted ()
                  let pt = Ranking.pointwise pool p3 target
                  Training.backward pt
                  Expect.floatClose Accuracy.veryHigh (pt.ToDouble()) (2.0 / 3.0) "pointwise value"
                  let g3 = p3.grad.data<float>().ToArray()
                  Expect.floatClose Accuracy.veryHigh g3.[0] (2.0 / 3.0) "pointwise gradient 0"
                  Expect.floatClose Accuracy.veryHigh g3.[1] (-2.0 / 3.0) "pointwise gradient 1"
          }
          test "pairwise and pointwise are zero at the true costs; argument errors name the parameter" {
              let problem = Problem.create "pool of 2" [| 2 |] Minimise id
              let pool = SolutionPool(problem, [| [| 1.0; 0.0 |]; [| 0.0; 1.0 |] |], 0.0, 1)
              use _scope = torch.NewDisposeScope()

              let c =
                  torch.tensor([| 1.0; 2.0; 3.0; -1.0 |], dtype = torch.float64).reshape(2L, 2L)

              Expect.equal ((Ranking.pairwise pool c c).ToDouble()) 0.0 "pairwise at the true costs"
              Expect.equal ((Ranking.pointwise pool c c).ToDouble()) 0.0 "pointwise at the true costs"
              let wrong = torch.zeros (2L, 3L, dtype = torch.float64)

              let paramOf (f: unit -> Tensor) =
                  try
                      f () |> ignore
                      "no error"
                  with :? ArgumentException as e ->
                      e.ParamName

              Expect.equal (paramOf (fun () -> Ranking.listwise pool c wrong)) "trueCosts" "names trueCosts"
              Expect.equal (paramOf (fun () -> Ranking.pointwise pool wrong c)) "predicted" "names predicted"
              Expect.equal (paramOf (fun () -> Ranking.pairwise Unchecked.defaultof<_> c c)) "pool" "names pool"
          } ]

[<Tests>]
let tests =
    testList
        "DFL"
        [ solverTests
          dataTests
          spoTests
          multiplicativeTests
          contrastiveTests
          rankingTests ]
