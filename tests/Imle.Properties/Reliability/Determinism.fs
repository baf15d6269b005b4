/// Reliability, determinism: the same seed gives bit-identical noise, states and gradients, whatever the number of
/// solver threads.
module Imle.Tests.Reliability.Determinism

open System
open System.IO
open System.Threading
open System.Threading.Tasks
open Expecto
open FsCheck
open FsCheck.FSharp
open TorchSharp
open Imle
open Imle.Solvers
open Imle.Torch
open Imle.Tests.Reliability.Common

/// One I-MLE forward/backward on a batch: the noise, the states and the gradient, as bits.
let private layerRunWith (parallelism: int) (problem: Problem) (estimator: Estimator) (seed: uint64) (batch: int) =
    use _scope = torch.NewDisposeScope()
    let shape = Array.append [| int64 batch |] (Array.map int64 problem.Shape)
    let dataGen = new torch.Generator(seed + 100UL)
    let w = torch.rand (shape, dtype = f64, generator = dataGen) * 3.0
    w.requires_grad_ (true) |> ignore
    let dy = torch.randn (shape, dtype = f64, generator = dataGen)
    let z = applyAnyWith parallelism problem estimator (new torch.Generator(seed)) w
    Training.backward ((z * dy).sum())
    bits (toArray z), bits (toArray w.grad)

let private layerRun problem estimator seed batch =
    layerRunWith TensorSolve.defaultParallelism problem estimator seed batch

let tests =
    testList
        "determinism"
        [ test "same seed → bit-identical noise (every noise type, both dtypes)" {
              for noise in
                  [ Gumbel 1.0
                    SumOfGamma(3.0, 1.0, 10)
                    SumOfGammaCorrected(3.0, 2.0, 5)
                    Normal 0.5
                    Custom("u", fun r -> r.NextDouble()) ] do
                  for dtype in [ f32; f64 ] do
                      use a =
                          TensorNoise.sample noise (new torch.Generator(77UL)) [| 64L; 9L |] dtype torch.CPU

                      use b =
                          TensorNoise.sample noise (new torch.Generator(77UL)) [| 64L; 9L |] dtype torch.CPU

                      Expect.equal (bits (toArray a)) (bits (toArray b)) (sprintf "%s %A" (Noise.describe noise) dtype)
          }

          test
              "same seed → bit-identical states and gradients (k-subset, grid, spanning tree, user solver; several estimators)" {
              let user =
                  Problem.createSpan "user-argmax" [| 7 |] Maximise (SpanSolver(fun w z -> Argmax.solveInto (w, z)))

              let cycle =
                  Problem.spanningTree 6 (Array.append (Array.init 5 (fun i -> i, i + 1)) [| 0, 5; 1, 4 |])

              for problem in [ Problem.kSubset 8 3; Problem.gridShortestPath 4 4 Eight; cycle; user ] do
                  for estimator in
                      [ Imle((ImleOptions.Create(3.0, 2.0)).WithSamples(3))
                        Imle((ImleOptions.Create(2.0, 1.0)).WithTarget(CombOpt))
                        Estimator.perturbed (Normal 1.0) 3 ] do
                      let a = layerRun problem estimator 11UL 16
                      let b = layerRun problem estimator 11UL 16
                      Expect.equal a b (sprintf "%s, %s" problem.Name (Estimator.describe estimator))
          }

          test "CPU solvers: 1 thread = default parallelism = 8 threads, bit for bit (solve and full forward/backward)" {
              let problems =
                  [ Problem.gridShortestPath 5 5 Eight
                    Problem.matching 4 5
                    Problem.alignment 4 4 0.3
                    Problem.knapsack [| 1; 2; 3; 4; 5 |] 7 ]

              let dop = TensorSolve.defaultParallelism

              for problem in problems do
                  use _scope = torch.NewDisposeScope()
                  let shape = Array.append [| 96L |] (Array.map int64 problem.Shape)
                  let w = torch.rand (shape, dtype = f64, generator = new torch.Generator(5UL)) * 4.0
                  let one = toArray (TensorSolve.solveWithParallelism 1 problem w)

                  Expect.equal
                      (toArray (TensorSolve.solveWithParallelism dop problem w))
                      one
                      (sprintf "%s: default (%d) = 1" problem.Name dop)

                  Expect.equal
                      (toArray (TensorSolve.solveWithParallelism 8 problem w))
                      one
                      (sprintf "%s: 8 = 1" problem.Name)
              // Whole forward/backward passes with 1 and with several solver threads (a per-call option, no global state).
              let estimator = Imle((ImleOptions.Create(2.0, 1.0)).WithSamples(2))
              let serial = problems |> List.map (fun p -> layerRunWith 1 p estimator 21UL 64)

              let parallel' =
                  problems |> List.map (fun p -> layerRunWith (max 2 dop) p estimator 21UL 64)

              Expect.equal parallel' serial "layer states and gradients independent of the degree of parallelism"
          } ]
