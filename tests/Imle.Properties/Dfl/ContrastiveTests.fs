/// The contrastive losses (NCE, CMAP) and the solution pool on tensors.
module Imle.Tests.ContrastiveTests

open System
open Expecto
open Imle
open Imle.Solvers
open Imle.Dfl
open TorchSharp
open Imle.Torch
open Imle.Tests.DflTestUtil

let contrastiveTests =
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
                  let nce = pooled Nce pool p1 target
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
                  let cmap = pooled Cmap pool (predicted ()) target

                  let cmapByHand =
                      Array.init 2 (fun i -> gamma |> Array.map (margin i) |> Array.max)
                      |> Array.average

                  Expect.floatClose Accuracy.high (cmap.ToDouble()) cmapByHand "CMAP value"
                  Expect.isGreaterThanOrEqual (cmap.ToDouble()) 0.0 "CMAP >= 0 with w* in the pool"

                  let atTruth =
                      torch.tensor(Array.concat costs.[0..1], dtype = torch.float64).reshape(2L, int64 m)

                  Expect.floatClose
                      Accuracy.veryHigh
                      ((pooled Cmap pool atTruth target).ToDouble())
                      0.0
                      "CMAP = 0 at the true costs"

                  Expect.isLessThanOrEqual
                      ((pooled Nce pool atTruth target).ToDouble())
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
              pooled Nce always predicted target |> ignore

              let expected =
                  Set.ofArray (Array.append start (chat |> Array.map (Problem.solve problem)))

              Expect.equal (Set.ofArray always.States) expected "pool = seed + solutions of the batch"
              let never = SolutionPool(problem, start, 0.0, 3)
              pooled Cmap never predicted target |> ignore
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

                        pooled Nce pool p target |> ignore
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

                  Expect.isTrue (Double.IsFinite((pooled Nce pool p t).ToDouble())) "NCE in a fresh dispose scope"

                  Expect.isTrue (Double.IsFinite((pooled Cmap pool p t).ToDouble())) "CMAP in a fresh dispose scope"

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
                  pooled Nce pool (torch.ones (2L, 11L, dtype = torch.float64)) ok)

              TestUtil.throwsNaming "trueSolutions" (fun () ->
                  pooled Cmap pool ok (torch.ones (3L, 12L, dtype = torch.float64)))
          } ]

[<Tests>]
let tests = testList "DFL" [ contrastiveTests ]
