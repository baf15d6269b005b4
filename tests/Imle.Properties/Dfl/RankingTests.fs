/// The learning-to-rank losses on tensors.
module Imle.Tests.RankingTests

open System
open Expecto
open Imle
open Imle.Solvers
open Imle.Dfl
open TorchSharp
open Imle.Torch
open Imle.Tests.DflTestUtil

let rankingTests =
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
                  let lw = pooled ListwiseLtr pool p1 target
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
                  let pw = pooled PairwiseLtr pool p2 target
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
                  let pt = pooled PointwiseLtr pool p3 target
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

              Expect.equal ((pooled PairwiseLtr pool c c).ToDouble()) 0.0 "pairwise at the true costs"
              Expect.equal ((pooled PointwiseLtr pool c c).ToDouble()) 0.0 "pointwise at the true costs"
              let wrong = torch.zeros (2L, 3L, dtype = torch.float64)

              let paramOf (f: unit -> Tensor) =
                  try
                      f () |> ignore
                      "no error"
                  with :? ArgumentException as e ->
                      e.ParamName

              Expect.equal (paramOf (fun () -> pooled ListwiseLtr pool c wrong)) "trueCosts" "names trueCosts"
              Expect.equal (paramOf (fun () -> pooled PointwiseLtr pool wrong c)) "predicted" "names predicted"

              Expect.equal
                  (paramOf (fun () -> DflLosses.compute problem PairwiseLtr DflSources.None (batch c c null)))
                  "Pool"
                  "names Pool"
          } ]

[<Tests>]
let tests = testList "DFL" [ rankingTests ]
