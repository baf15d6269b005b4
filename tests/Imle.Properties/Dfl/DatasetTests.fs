/// PyEPO's data generators, DFL datasets and regret.
module Imle.Tests.DflDatasetTests

open System
open Expecto
open Imle
open Imle.Solvers
open Imle.Dfl
open TorchSharp
open Imle.Torch
open Imle.Tests.DflTestUtil

let dataTests =
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

[<Tests>]
let tests = testList "DFL" [ dataTests ]
