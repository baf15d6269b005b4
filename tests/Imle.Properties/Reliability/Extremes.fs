/// Reliability, numerical extremes: SoG with huge κ and s, τ from 1e-6 to 1e6, θ of magnitude 1e6, exact ties.
module Imle.Tests.Reliability.Extremes

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

let tests =
    testList
        "numerical extremes"
        [ test "SoG with κ = 1000 and s = 1000, τ from 1e-6 to 1e6: finite, deterministic (tensor and reference)" {
              for noise in
                  [ SumOfGamma(1000.0, 1.0, 1000)
                    SumOfGammaCorrected(1000.0, 1.0, 1000)
                    SumOfGamma(5.0, 1e-6, 10)
                    SumOfGamma(5.0, 1e6, 10)
                    Gumbel 1e-6
                    Gumbel 1e6
                    Normal 1e6
                    SumOfGamma(1000.0, 1e6, 1000) ] do
                  for dtype in [ f32; f64 ] do
                      use a =
                          TensorNoise.sample noise (new torch.Generator(9UL)) [| 2000L |] dtype torch.CPU

                      use b =
                          TensorNoise.sample noise (new torch.Generator(9UL)) [| 2000L |] dtype torch.CPU

                      let xa = toArray a
                      Expect.isTrue (allFinite xa) (sprintf "%s %A finite" (Noise.describe noise) dtype)

                      Expect.equal
                          (bits xa)
                          (bits (toArray b))
                          (sprintf "%s %A deterministic" (Noise.describe noise) dtype)

                  let r1 = Noise.sample noise (Random 4) 200
                  Expect.isTrue (allFinite r1) (sprintf "reference %s finite" (Noise.describe noise))
                  Expect.equal (bits r1) (bits (Noise.sample noise (Random 4) 200)) "reference deterministic"
          }

          test "θ of magnitude 1e6 through I-MLE, exact k-subset quantities at τ = 1e-6: finite" {
              let problem = Problem.kSubset 10 3
              let rng = Random 5

              for scale in [ 1e6; 1e-6 ] do
                  use _scope = torch.NewDisposeScope()
                  let wArr = Array.init 40 (fun _ -> scale * Sampling.standardNormal rng)
                  let w = torch.tensor(wArr, dtype = f64).reshape(4L, 10L).requires_grad_(true)

                  for estimator in
                      [ Imle(ImleOptions.Create(3.0, 1.0))
                        Imle((ImleOptions.Create(3.0, 1e6)).WithSamples(3))
                        Blackbox 1e-6 ] do
                      let z = applyAny problem estimator (new torch.Generator(3UL)) w

                      let dy =
                          torch.randn ([| 4L; 10L |], dtype = f64, generator = new torch.Generator(4UL))

                      w.grad <- null
                      Training.backward ((z * dy).sum())

                      Expect.isTrue
                          (allFinite (toArray z) && allFinite (toArray w.grad))
                          (sprintf "finite at scale %g, %s" scale (Estimator.describe estimator))

                  let theta = Array.sub wArr 0 10

                  for tau in [ 1e-6; 1.0; 1e6 ] do
                      let mu = KSubset.marginals tau 3 theta

                      Expect.isTrue
                          (allFinite mu && abs (Array.sum mu - 3.0) < 1e-6)
                          (sprintf "marginals finite, sum k (scale %g, τ %g)" scale tau)

                      Expect.isTrue (Double.IsFinite(KSubset.logPartition tau 3 theta)) "log partition finite"
          }

          test
              "exact ties: top-k and argmax break ties deterministically (reference: lowest index; tensor: k-hot, repeatable)" {
              let tied = Array.create 6 2.5
              // Reference solvers: ties go to the lower index (documented in TopK/Argmax).
              Expect.equal (TopK.solve 3 tied) [| 1.0; 1.0; 1.0; 0.0; 0.0; 0.0 |] "top-k ties to lower indices"
              Expect.equal (Argmax.solve tied) [| 1.0; 0.0; 0.0; 0.0; 0.0; 0.0 |] "argmax ties to the first index"

              Expect.equal
                  (Problem.solve (Problem.kSubset 6 3) tied)
                  [| 1.0; 1.0; 1.0; 0.0; 0.0; 0.0 |]
                  "Problem.solve same"
              // Tensor path: libtorch's top-k decides ties; the result is a valid k-hot state and the same every time.
              use w =
                  torch.tensor(Array.replicate 5 tied |> Array.concat, dtype = f64).reshape(5L, 6L)

              let first = toArray (TensorSolve.solve (Problem.kSubset 6 3) w)

              for _ in 1..5 do
                  Expect.equal (toArray (TensorSolve.solve (Problem.kSubset 6 3) w)) first "repeatable"

              for row in Array.chunkBySize 6 first do
                  Expect.equal (Array.sum row) 3.0 "k-hot"

              let argmax = toArray (TensorSolve.solve (Problem.categorical 6) w)

              Expect.equal
                  (Array.sub argmax 0 6)
                  [| 1.0; 0.0; 0.0; 0.0; 0.0; 0.0 |]
                  "tensor argmax: first maximum, like the reference"
              // Tied grid costs: Dijkstra's tie-breaking is deterministic and the tensor path equals the reference.
              let grid = Problem.gridShortestPath 4 4 Eight
              let ones = Array.create 16 1.0
              use wg = torch.tensor(ones, dtype = f64).reshape(1L, 4L, 4L)

              Expect.equal
                  (toArray (TensorSolve.solve grid wg))
                  (Problem.solve grid ones)
                  "tied grid: tensor = reference"
          } ]
