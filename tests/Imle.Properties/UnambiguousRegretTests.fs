/// Unambiguous regret (the worst decision among the ties of the predicted costs) against brute force.
module Imle.Tests.UnambiguousRegretTests

open System
open Expecto
open Imle
open Imle.Dfl

let private dot (a: float[]) (b: float[]) =
    Array.fold2 (fun s x y -> s + x * y) 0.0 a b

/// The worst regret among the states optimal for `predicted`, by enumeration (ties within 1e-9).
let private bruteForce (problem: Problem) (predicted: float[]) (c: float[]) =
    let states = Problem.states problem

    let zStar =
        states
        |> Array.map (dot c)
        |> (if problem.Sense = Minimise then Array.min else Array.max)

    let values = states |> Array.map (dot predicted)

    let best =
        if problem.Sense = Minimise then
            Array.min values
        else
            Array.max values

    states
    |> Array.filter (fun s -> abs (dot predicted s - best) <= 1e-9)
    |> Array.map (fun s -> Regret.ofDecision problem c zStar s)
    |> Array.max,
    zStar

[<Tests>]
let tests =
    testList
        "unambiguous regret"
        [ test
              "equals the worst tied decision by brute force: 3x3 grid DAG (Minimise) and categorical (Maximise), 200 instances" {
              let rng = Random 71

              for problem in [ Problem.gridDagShortestPath 3 3; Problem.categorical 6 ] do
                  for trial in 1..100 do
                      let m = problem.Size
                      let c = Array.init m (fun _ -> 0.1 + rng.NextDouble())
                      // Coarse predictions: many exact ties (every fourth instance all zero: everything ties).
                      let predicted =
                          if trial % 4 = 0 then
                              Array.zeroCreate m
                          else
                              Array.init m (fun _ -> float (rng.Next(0, 3)))

                      let expected, zStar = bruteForce problem predicted c
                      let actual = Regret.unambiguous problem 1e-7 predicted c zStar

                      Expect.floatClose
                          Accuracy.high
                          actual
                          expected
                          (sprintf "%s trial %d: the worst tied decision" problem.Name trial)

                      Expect.isGreaterThanOrEqual
                          (actual + 1e-12)
                          (Regret.regret problem predicted c zStar)
                          "never below the regret"
          }
          test "continuous predictions (no ties): equal to the regret; normalised over a dataset" {
              let rng = Random 72
              let problem = Problem.gridDagShortestPath 4 4
              let data = Generators.shortestPath 50 5 4 4 2 0.5 3
              let dataset = DflDataset.create problem data.Features data.Costs

              let predictions =
                  dataset.Costs |> Array.map (Array.map (fun x -> x + 0.3 * rng.NextDouble()))

              Expect.floatClose
                  Accuracy.high
                  (Regret.normalisedUnambiguous 1e-7 dataset predictions)
                  (Regret.normalised dataset predictions)
                  "no ties: the same"

              let zeros = Array.init 50 (fun _ -> Array.zeroCreate problem.Size)

              Expect.isGreaterThan
                  (Regret.normalisedUnambiguous 1e-7 dataset zeros)
                  (Regret.normalised dataset zeros)
                  "all-zero predictions: the worst path, not the solver's tie-break"
          }
          test "argument errors name the parameter" {
              let problem = Problem.categorical 3

              TestUtil.throwsNaming "epsilon" (fun () ->
                  Regret.unambiguous problem 0.0 [| 1.0; 2.0; 3.0 |] [| 1.0; 1.0; 1.0 |] 1.0)

              TestUtil.throwsNaming "predicted" (fun () ->
                  Regret.unambiguous problem 1e-7 [| 1.0 |] [| 1.0; 1.0; 1.0 |] 1.0)

              TestUtil.throwsNaming "trueCosts" (fun () ->
                  Regret.unambiguous problem 1e-7 [| 1.0; 2.0; 3.0 |] [| nan; 1.0; 1.0 |] 1.0)
          } ]
