/// The relaxation layers on tensors against the reference core: soft sort and soft rank (values and VJPs), sparsemax
/// (values on the simplex and its Jacobian), soft argmax, and the perturbed oracle (tensor and array versions agree on
/// the same draws; its VJP is unbiased for a linear oracle, whose smoothed map is the oracle itself).
module Imle.Tests.RelaxationTensorTests

open System
open Expecto
open TorchSharp
open Imle
open Imle.Torch
open Imle.Tests.TestUtil

let private normals (rng: Random) (n: int) =
    Array.init n (fun _ -> Sampling.standardNormal rng)

let private toArray (t: Tensor) =
    use c = t.detach().cpu().``to``(torch.float64).contiguous()
    c.data<float>().ToArray()

/// Rows of a flat [b, m] array.
let private rows (b: int) (m: int) (a: float[]) =
    Array.init b (fun r -> Array.sub a (r * m) m)

/// Applies a layer to θ [b, m] (float64, requiring grad), backpropagates ⟨out, g⟩ and returns (out, dθ).
let private valueAndVjp (layer: Tensor -> Tensor) (b: int) (m: int) (theta: float[]) (g: float[]) =
    use t =
        torch.tensor(theta, dtype = torch.float64).reshape(int64 b, int64 m).requires_grad_(true)

    use out = layer t
    use gt = torch.tensor(g, dtype = torch.float64).reshape(out.shape)
    use l = (out * gt).sum()
    l.backward ()
    toArray out, toArray t.grad

[<Tests>]
let tests =
    testList
        "relaxation layers on tensors"
        [ testCase "soft sort and soft rank match the core per row, values and VJPs"
          <| fun () ->
              let rng = Random 41
              let b, m = 3, 7

              for epsilon in [ 0.1; 1.0; 10.0 ] do
                  let theta = normals rng (b * m)
                  let g = normals rng (b * m)
                  let sortOut, sortGrad = valueAndVjp (RelaxationTensor.softSort epsilon) b m theta g
                  let rankOut, rankGrad = valueAndVjp (RelaxationTensor.softRank epsilon) b m theta g
                  let th, gs = rows b m theta, rows b m g

                  expectClose 1e-12 sortOut (th |> Array.collect (SoftSort.softSort epsilon)) "soft sort"

                  expectClose
                      1e-12
                      sortGrad
                      (Array.map2 (SoftSort.softSortVjp epsilon) th gs |> Array.concat)
                      "soft sort VJP"

                  expectClose 1e-12 rankOut (th |> Array.collect (SoftSort.softRank epsilon)) "soft rank"

                  expectClose
                      1e-12
                      rankGrad
                      (Array.map2 (SoftSort.softRankVjp epsilon) th gs |> Array.concat)
                      "soft rank VJP"

          testCase "sparsemax on tensors lies on the simplex and matches the core, values and Jacobian"
          <| fun () ->
              let rng = Random 43
              let b, m = 5, 6

              for scale in [ 0.1; 1.0; 5.0 ] do
                  let theta = normals rng (b * m) |> Array.map (fun v -> scale * v)
                  let g = normals rng (b * m)
                  let out, grad = valueAndVjp RelaxationTensor.sparsemax b m theta g
                  let th, gs = rows b m theta, rows b m g

                  for row in rows b m out do
                      Expect.floatClose Accuracy.high (Array.sum row) 1.0 "sums to 1"
                      Expect.isTrue (Array.forall (fun v -> v >= 0.0) row) "non-negative"

                  expectClose 1e-12 out (th |> Array.collect Sparsemax.project) "sparsemax"
                  expectClose 1e-12 grad (Array.map2 Sparsemax.jvp th gs |> Array.concat) "sparsemax Jacobian"

          testCase "soft argmax is softmax(θ/τ) and tends to the argmax as τ → 0"
          <| fun () ->
              use theta = torch.tensor ([| 0.3; -1.0; 2.0; 0.5 |], dtype = torch.float64)
              use soft = RelaxationTensor.softArgmax 2.0 theta
              let e = [| 0.3; -1.0; 2.0; 0.5 |] |> Array.map (fun v -> exp (v / 2.0))
              expectClose 1e-12 (toArray soft) (e |> Array.map (fun v -> v / Array.sum e)) "softmax(θ/2)"
              use hard = RelaxationTensor.softArgmax 1e-3 theta
              expectClose 1e-9 (toArray hard) [| 0.0; 0.0; 1.0; 0.0 |] "τ → 0"

          testCase "the perturbed oracle on tensors matches the core on the same draws"
          <| fun () ->
              let rng = Random 47
              let b, m, s, sigma = 2, 5, 8, 0.7
              let theta = normals rng (b * m)
              let g = normals rng (b * m)
              let argmax (v: float[]) = Imle.Solvers.Argmax.solve v

              use gen = new torch.Generator(5UL)

              let out, grad =
                  valueAndVjp (RelaxationTensor.perturbedOracle argmax m sigma s gen) b m theta g

              // The tensor layer seeds row r's Random with (seed + r), the seed drawn once from the generator.
              use gen2 = new torch.Generator(5UL)

              use seedTensor =
                  torch.randint (int64 Int32.MaxValue, [| 1L |], dtype = torch.int64, generator = gen2)

              let seed = int (seedTensor.item<int64>())

              let evaluations =
                  rows b m theta
                  |> Array.mapi (fun r row -> PerturbedOracle.evaluate argmax sigma s (Random(seed + r)) row)

              expectClose 1e-12 out (evaluations |> Array.collect (fun e -> e.Mean)) "forward"

              expectClose
                  1e-12
                  grad
                  (Array.map2 PerturbedOracle.vjp evaluations (rows b m g) |> Array.concat)
                  "backward"

          testCase "the perturbed oracle's VJP is unbiased for a linear oracle"
          <| fun () ->
              // oracle(θ) = Aθ: the smoothed map is Aθ itself, so E[vjp g] = Aᵀg. N = 4,000 evaluations of S = 5; each
              // coordinate within 4.5 standard errors (CLT false-failure rate about 6.8e-6 each, 3e-5 for the 4).
              let rng = Random 53
              let m = 4
              let a = Array.init m (fun _ -> normals rng m)

              let oracle (v: float[]) =
                  a |> Array.map (fun row -> Array.fold2 (fun acc x y -> acc + x * y) 0.0 row v)

              let theta = normals rng m
              let g = normals rng m

              let expected =
                  Array.init m (fun j -> Array.fold2 (fun acc (row: float[]) gi -> acc + row.[j] * gi) 0.0 a g)

              let draws =
                  Array.init 4000 (fun _ -> PerturbedOracle.vjp (PerturbedOracle.evaluate oracle 0.5 5 rng theta) g)

              for j in 0 .. m - 1 do
                  let xs = draws |> Array.map (fun d -> d.[j])
                  let mean = Array.average xs

                  let se =
                      sqrt ((xs |> Array.averageBy (fun x -> (x - mean) ** 2.0)) / float xs.Length)

                  Expect.isLessThan (abs (mean - expected.[j])) (4.5 * se) (sprintf "coordinate %d" j)

          testCase "the layers reject bad arguments with the parameter's name"
          <| fun () ->
              use theta = torch.tensor ([| 1.0; 2.0 |], dtype = torch.float64)
              use ints = torch.tensor ([| 1L; 2L |])

              for f, what in
                  [ (fun () -> RelaxationTensor.softSort 0.0 theta |> ignore), "ε = 0"
                    (fun () -> RelaxationTensor.sparsemax ints |> ignore), "integer scores"
                    (fun () -> RelaxationTensor.softArgmax -1.0 theta |> ignore), "τ < 0"
                    (fun () -> PerturbedOracle.evaluate id 1.0 0 (Random 0) [| 1.0 |] |> ignore), "S = 0" ] do
                  let ok =
                      try
                          f ()
                          false
                      with :? ArgumentException ->
                          true

                  Expect.isTrue ok what ]
