/// The SPO+ loss on tensors: values, subgradients, argument errors.
module Imle.Tests.SpoPlusTests

open System
open Expecto
open Imle
open Imle.Solvers
open Imle.Dfl
open TorchSharp
open Imle.Torch
open Imle.Tests.DflTestUtil

let spoTests =
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
              TestUtil.throwsNaming "predicted" (fun () -> spoPlus problem wrong ok ok)
              TestUtil.throwsNaming "trueCosts" (fun () -> spoPlus problem ok other ok)
              TestUtil.throwsNaming "trueCosts" (fun () -> spoPlus problem ok bad ok)
              TestUtil.throwsNaming "trueSolutions" (fun () -> spoPlus problem ok ok other)
              // A NaN upstream gradient is recorded and rethrown by Training.backward, not thrown into native code.
              use chat = torch.ones(2L, 40L, dtype = torch.float64).requires_grad_(true)
              use loss = spoPlus problem chat ok ok
              use nanLoss = loss * torch.tensor (Double.NaN, dtype = torch.float64)
              Expect.throwsT<InvalidOperationException> (fun () -> Training.backward nanLoss) "NaN dL/dloss surfaces"
          } ]

/// Φ, the standard normal CDF (Abramowitz–Stegun 7.1.26 through erf; absolute error < 1.5e-7).

[<Tests>]
let tests = testList "DFL" [ spoTests ]
