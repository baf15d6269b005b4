/// The decision-focused losses of PyEPO 2.2 / InferOpt 0.7 against brute force and finite differences on small
/// enumerable problems (a k-subset problem, maximising; a 3×3 grid shortest path, minimising), and their tensor
/// versions against the reference. Deterministic: fixed seeds, no statistical test.
module Imle.Tests.DecisionLossTests

open System
open Expecto
open TorchSharp
open Imle
open Imle.Dfl
open Imle.Torch
open Imle.Tests.TestUtil

let private normals (rng: Random) (n: int) =
    Array.init n (fun _ -> Sampling.standardNormal rng)

/// The optimal value by enumeration, in the problem's sense.
let private bruteValue (problem: Problem) (w: float[]) =
    let values = Problem.states problem |> Array.map (dot w)

    match problem.Sense with
    | Minimise -> Array.min values
    | Maximise -> Array.max values

/// Central finite differences of a scalar function.
let private finiteGradient (f: float[] -> float) (x: float[]) (h: float) =
    Array.init x.Length (fun i ->
        let up = Array.copy x
        let down = Array.copy x
        up.[i] <- up.[i] + h
        down.[i] <- down.[i] - h
        (f up - f down) / (2.0 * h))

let private problems () =
    [ Problem.kSubset 6 2; Problem.gridShortestPath 3 3 Imle.Solvers.Eight ]

/// Positive weights for a minimising problem (path costs), any weights otherwise.
let private weightsFor (rng: Random) (problem: Problem) =
    match problem.Sense with
    | Minimise -> Array.init problem.Size (fun _ -> 0.5 + 2.0 * rng.NextDouble())
    | Maximise -> normals rng problem.Size

let private toArray (t: Tensor) =
    use c = t.detach().cpu().``to``(torch.float64).contiguous()
    c.data<float>().ToArray()

[<Tests>]
let tests =
    testList
        "decision losses"
        [ testCase "PG losses: brute-force values, finite-difference gradients, and the true objective as h → 0"
          <| fun () ->
              let rng = Random 61

              for problem in problems () do
                  for variant in [ Pgb; Pgc; Pgf ] do
                      let predicted = weightsFor rng problem
                      let truth = weightsFor rng problem
                      let h = 0.3
                      let r = DecisionLosses.pg variant h problem predicted truth
                      let v (w: float[]) = bruteValue problem w

                      let shift (s: float) =
                          Array.map2 (fun a b -> a + s * b) predicted truth

                      let sign = if problem.Sense = Minimise then 1.0 else -1.0

                      let expected =
                          match variant with
                          | Pgb -> sign * (v predicted - v (shift -h)) / h
                          | Pgc -> sign * (v (shift h) - v (shift -h)) / (2.0 * h)
                          | Pgf -> sign * (v (shift h) - v predicted) / h

                      Expect.floatClose Accuracy.high r.Value expected (sprintf "%s %A value" problem.Name variant)

                      let fd =
                          finiteGradient (fun w -> (DecisionLosses.pg variant h problem w truth).Value) predicted 1e-6

                      expectClose 1e-6 r.Gradient fd (sprintf "%s %A gradient" problem.Name variant)

                      let limit = DecisionLosses.pg variant 1e-7 problem predicted truth
                      let z = Problem.solve problem predicted

                      Expect.floatClose
                          { absolute = 1e-5; relative = 1e-5 }
                          limit.Value
                          (sign * dot truth z)
                          (sprintf "%s %A limit" problem.Name variant)

          testCase "CaVE: gradient equals finite differences of the full loss; zero inside the cone"
          <| fun () ->
              let rng = Random 67
              let problem = Problem.kSubset 4 2

              for trial in 1..5 do
                  let cone = Array.init 3 (fun _ -> normals rng 4)
                  let predicted = normals rng 4
                  let r = DecisionLosses.cave problem cone predicted
                  Expect.isTrue (r.Value >= 0.0 && r.Value <= 2.0) "1 − cos lies in [0, 2]"

                  if r.Value < 1.0 - 1e-9 then
                      let fd =
                          finiteGradient (fun w -> (DecisionLosses.cave problem cone w).Value) predicted 1e-6

                      expectClose 1e-6 r.Gradient fd (sprintf "trial %d gradient" trial)

                  // A point inside the cone (a positive combination of the normals) is its own projection: loss 0.
                  let inside = Array.init 4 (fun i -> cone |> Array.sumBy (fun n -> n.[i]))
                  let r0 = DecisionLosses.cave problem cone inside
                  Expect.floatClose { absolute = 1e-9; relative = 1e-9 } r0.Value 0.0 "inside the cone"

          testCase "structured SVM: brute-force value, non-negative, equal to the imitation loss with Hamming"
          <| fun () ->
              let rng = Random 71

              for problem in problems () do
                  for alpha in [ 0.0; 0.5; 2.0 ] do
                      let predicted = weightsFor rng problem
                      let states = Problem.states problem
                      let target = states.[rng.Next states.Length]
                      let r = DecisionLosses.structuredSvm alpha problem predicted target
                      let theta = Problem.toScores problem predicted

                      let hamming (z: float[]) (y: float[]) =
                          Array.fold2 (fun s a b -> s + abs (a - b)) 0.0 z y

                      let brute =
                          states
                          |> Array.map (fun z -> alpha * hamming z target + dot theta z - dot theta target)
                          |> Array.max

                      Expect.floatClose Accuracy.high r.Value brute (sprintf "%s α=%g" problem.Name alpha)
                      Expect.isGreaterThanOrEqual r.Value -1e-12 "non-negative"

                      let imitation =
                          DecisionLosses.imitation (fun z y -> alpha * hamming z y) problem predicted target

                      Expect.floatClose Accuracy.high imitation.Value r.Value "imitation with Hamming"

                      let fd =
                          finiteGradient
                              (fun w -> (DecisionLosses.structuredSvm alpha problem w target).Value)
                              predicted
                              1e-6

                      expectClose 1e-6 r.Gradient fd (sprintf "%s α=%g gradient" problem.Name alpha)

          testCase "NID flips the gradient for Minimise; zero-one is 0 exactly at the optimum"
          <| fun () ->
              let grid = Problem.gridShortestPath 3 3 Imle.Solvers.Eight
              let subset = Problem.kSubset 5 2
              let g = [| 1.0; -2.0; 3.0; 0.0; 0.5; 1.0; 1.0; 1.0; 1.0 |]
              expectClose 0.0 (DecisionLosses.nidBackward grid g) (Array.map (fun v -> -v) g) "Minimise"
              expectClose 0.0 (DecisionLosses.nidBackward subset g.[..4]) g.[..4] "Maximise"
              let w = [| 0.1; 0.9; 0.3; 0.8; 0.2 |]
              Expect.equal (DecisionLosses.zeroOne subset w (Problem.solve subset w)) 0.0 "optimum"
              Expect.equal (DecisionLosses.zeroOne subset w [| 1.0; 1.0; 0.0; 0.0; 0.0 |]) 1.0 "other state"

          testCase "tensor PG, CaVE, structured SVM and NID match the reference per row"
          <| fun () ->
              let rng = Random 73
              let problem = Problem.gridShortestPath 3 3 Imle.Solvers.Eight
              let b, m = 3, problem.Size
              let predicted = Array.init b (fun _ -> weightsFor rng problem)
              let truth = Array.init b (fun _ -> weightsFor rng problem)
              let states = Problem.states problem
              let targets = Array.init b (fun _ -> states.[rng.Next states.Length])
              let cones = Array.init b (fun _ -> Array.init 2 (fun _ -> normals rng m))

              let tensorOf (rows: float[][]) =
                  torch.tensor(Array.concat rows, dtype = torch.float64).reshape(int64 b, int64 m)

              let check (name: string) (layer: Tensor -> Tensor) (reference: int -> LossWithGradient) =
                  use w = (tensorOf predicted).requires_grad_(true)
                  use l = layer w
                  use total = l.sum ()
                  total.backward ()
                  expectClose 1e-12 (toArray l) (Array.init b (fun r -> (reference r).Value)) (name + " value")

                  expectClose
                      1e-12
                      (toArray w.grad)
                      (Array.init b (fun r -> (reference r).Gradient) |> Array.concat)
                      (name + " gradient")

              use truthT = tensorOf truth
              use targetT = tensorOf targets

              check "PGC" (fun w -> DecisionLossTensor.pg Pgc 0.2 problem w truthT) (fun r ->
                  DecisionLosses.pg Pgc 0.2 problem predicted.[r] truth.[r])

              check "CaVE" (DecisionLossTensor.cave problem cones) (fun r ->
                  DecisionLosses.cave problem cones.[r] predicted.[r])

              check "SSVM" (fun w -> DecisionLossTensor.structuredSvm 1.0 problem w targetT) (fun r ->
                  DecisionLosses.structuredSvm 1.0 problem predicted.[r] targets.[r])

              use w = (tensorOf predicted).requires_grad_(true)
              use z = DecisionLossTensor.nid problem w
              use g = tensorOf truth
              use l = (z * g).sum()
              l.backward ()
              expectClose 0.0 (toArray z) (predicted |> Array.collect (Problem.solve problem)) "NID forward"
              expectClose 0.0 (toArray w.grad) (truth |> Array.concat |> Array.map (fun v -> -v)) "NID backward" ]
