/// The signed-cost shortest-path solvers (DAG dynamic programme, Bellman–Ford) and Held–Karp TSP against brute force.
module Imle.Tests.SignedCostSolverTests

open System
open Expecto
open Imle
open Imle.Solvers
open Imle.Dfl
open TorchSharp
open Imle.Torch
open Imle.Tests.DflTestUtil

let solverTests =
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

[<Tests>]
let tests = testList "DFL" [ solverTests ]
