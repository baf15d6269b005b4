/// The k-subset and categorical estimators after I-MLE: SIMPLE's backward equals the exact marginals' Jacobian times
/// the upstream gradient (central finite differences of the marginals); SFESS is unbiased for a nonlinear loss (exact
/// gradient by enumeration, fixed seed, stated false-failure rate); ReinMax's backward is the paper's Algorithm 2 and
/// its expected gradient is exact for quadratic losses at τ = 1 where the first-order straight-through is not; and the
/// tensor versions agree with the reference core.
module Imle.Tests.FrontierTests

open System
open Expecto
open TorchSharp
open Imle
open Imle.Torch
open Imle.Tests.TestUtil

let private normals (rng: Random) (n: int) =
    Array.init n (fun _ -> Sampling.standardNormal rng)

let private maxDiff (a: float[]) (b: float[]) =
    Array.map2 (fun x y -> abs (x - y)) a b |> Array.max

let private expectClose (tolerance: float) (actual: float[]) (expected: float[]) (what: string) =
    let error = maxDiff actual expected

    Expect.isLessThanOrEqual
        error
        tolerance
        (sprintf "%s: max |Δ| %g > %g; got %A, expected %A" what error tolerance actual expected)

let private tensor (values: float[]) (shape: int64[]) =
    torch.tensor(values, dtype = torch.float64).reshape(shape)

let private toArray (t: Tensor) =
    use c = t.detach().cpu().``to``(torch.float64).contiguous()
    c.data<float>().ToArray()

/// Expects an ArgumentException or a subclass (ArgumentOutOfRangeException, ArgumentNullException).
let private throwsArgument (f: unit -> unit) (what: string) =
    let thrown =
        try
            f ()
            None
        with e ->
            Some e

    match thrown with
    | Some(:? ArgumentException) -> ()
    | Some e -> failtestf "%s: expected an ArgumentException, got %s" what (e.GetType().Name)
    | None -> failtestf "%s: expected an ArgumentException, nothing was thrown" what

let private oneHot (m: int) (c: int) =
    Array.init m (fun j -> if j = c then 1.0 else 0.0)

/// Exact expected gradients for the categorical checks: f(D) = DᵀAD + ⟨c, D⟩ (A symmetric) and its gradient.
let private quadratic (rng: Random) (m: int) =
    let a = Array2D.init m m (fun _ _ -> Sampling.standardNormal rng)
    let sym = Array2D.init m m (fun i j -> a.[i, j] + a.[j, i])
    let c = normals rng m

    let f (d: float[]) =
        let mutable acc = dot c d

        for i in 0 .. m - 1 do
            for j in 0 .. m - 1 do
                acc <- acc + d.[i] * sym.[i, j] * d.[j]

        acc

    let grad (d: float[]) =
        Array.init m (fun i -> c.[i] + 2.0 * (Array.init m (fun j -> sym.[i, j] * d.[j]) |> Array.sum))

    f, grad

[<Tests>]
let tests =
    testList
        "frontier estimators"
        [ testCase "SIMPLE's backward equals the Jacobian of the exact marginals times g (finite differences)"
          <| fun () ->
              let rng = Random 3

              for m, k, tau in [ 7, 3, 0.7; 9, 1, 1.0; 6, 5, 2.0 ] do
                  let theta = normals rng m
                  let g = normals rng m
                  let h = 1e-5

                  // J_μ is symmetric (a covariance over τ), so gᵀJ_μ by finite differences of gᵀμ(θ) is also J_μ·g.
                  let fd =
                      Array.init m (fun i ->
                          let up = Array.copy theta
                          let down = Array.copy theta
                          up.[i] <- up.[i] + h
                          down.[i] <- down.[i] - h

                          (dot g (KSubset.marginals tau k up) - dot g (KSubset.marginals tau k down))
                          / (2.0 * h))

                  let backward = KSubsetEstimators.simpleBackward tau k theta g
                  expectClose 1e-7 backward fd (sprintf "m=%d k=%d τ=%g" m k tau)

                  let z, grad =
                      KSubsetEstimators.simple tau k (Random 5) theta (fun z -> Array.map2 (fun zi gi -> zi * gi) z g)

                  Expect.equal (Array.sum z) (float k) "SIMPLE draws k ones"

                  expectClose
                      1e-12
                      grad
                      (KSubset.marginalsJvp tau k theta (Array.map2 (fun zi gi -> zi * gi) z g))
                      "SIMPLE draw"

          testCase "SFESS is unbiased for a nonlinear loss (exact gradient by enumeration)"
          <| fun () ->
              // f(z) = (⟨z, a⟩)² + sin⟨z, b⟩ on 2-subsets of 6 at τ = 0.8; N = 20,000 draws of S = 4. Each coordinate's
              // mean must lie within 4.5 standard errors of the exact gradient: by the CLT a two-sided false-failure
              // rate of about 6.8e-6 per coordinate, 4e-5 for the 6 (the seed is fixed, so the test is deterministic).
              let rng = Random 11
              let m, k, tau, n, s = 6, 2, 0.8, 20000, 4
              let theta = normals rng m
              let a = normals rng m
              let b = normals rng m
              let f (z: float[]) = (dot z a) ** 2.0 + sin (dot z b)
              let problem = Problem.kSubset m k
              let exact = Exact.gradientOf problem tau theta f
              let draws = Array.init n (fun _ -> KSubsetEstimators.sfess tau k s rng theta f)

              for i in 0 .. m - 1 do
                  let xs = draws |> Array.map (fun d -> d.[i])
                  let mean = Array.average xs
                  let sd = sqrt (xs |> Array.averageBy (fun x -> (x - mean) * (x - mean)))
                  let se = sd / sqrt (float n)

                  Expect.isLessThan
                      (abs (mean - exact.[i]))
                      (4.5 * se)
                      (sprintf "coordinate %d: mean %g, exact %g, se %g" i mean exact.[i] se)

          testCase "SFESS with the leave-one-out baseline equals (1/(S−1))·Σ(f − f̄)·z/τ"
          <| fun () ->
              let rng = Random 2
              let m, k, tau = 8, 3, 1.3
              let theta = normals rng m
              let zs = Array.init 5 (fun _ -> KSubset.sample tau k rng theta)
              let values = normals rng 5
              let mean = Array.average values

              let expected =
                  Array.init m (fun i ->
                      Array.fold2 (fun acc (z: float[]) v -> acc + (v - mean) * z.[i]) 0.0 zs values
                      / (4.0 * tau))

              expectClose 1e-12 (KSubsetEstimators.sfessOf tau k theta zs values) expected "sfessOf"

          testCase "the estimators reject bad arguments with the parameter's name"
          <| fun () ->
              let theta = [| 0.1; 0.2; 0.3 |]

              throwsArgument
                  (fun () -> KSubsetEstimators.sfess 1.0 1 1 (Random 0) theta (fun _ -> 0.0) |> ignore)
                  "S = 1"

              throwsArgument (fun () -> KSubsetEstimators.simpleBackward 1.0 4 theta theta |> ignore) "k > m"

              throwsArgument
                  (fun () -> KSubsetEstimators.score 1.0 2 theta [| 1.0; 0.0; 0.0 |] |> ignore)
                  "z with the wrong number of ones"

              throwsArgument (fun () -> ReinMax.backward 1.0 theta [| 1.0; 1.0; 0.0 |] theta |> ignore) "d not one-hot"

              throwsArgument (fun () -> ReinMax.backward 0.0 theta (oneHot 3 0) theta |> ignore) "τ = 0"

          testCase "ReinMax's expected gradient is exact for quadratic losses at τ = 1; the straight-through's is not"
          <| fun () ->
              let rng = Random 17

              for trial in 1..5 do
                  let m = 3 + trial
                  let theta = normals rng m
                  let f, grad = quadratic rng m
                  let exact = ReinMax.exactGradient theta f
                  let reinmax = ReinMax.expectedBackward theta grad (ReinMax.backward 1.0 theta)

                  let ste =
                      ReinMax.expectedBackward theta grad (fun _ g -> ReinMax.straightThroughBackward theta g)

                  expectClose 1e-10 reinmax exact (sprintf "ReinMax, trial %d" trial)

                  Expect.isGreaterThan
                      (maxDiff ste exact)
                      (100.0 * maxDiff reinmax exact + 1e-6)
                      (sprintf "STE is farther from the exact gradient, trial %d" trial)

          testCase "tensor marginals and SIMPLE's backward match the reference"
          <| fun () ->
              let rng = Random 23
              let b, m, k, tau = 3, 12, 4, 0.8
              let theta = normals rng (b * m)
              let g = normals rng (b * m)
              use scores = (tensor theta [| int64 b; int64 m |]).requires_grad_(true)
              use mu = KSubsetTensor.marginals tau k scores

              let muRef =
                  Array.init b (fun r -> KSubset.marginals tau k (Array.sub theta (r * m) m))
                  |> Array.concat

              expectClose 1e-10 (toArray mu) muRef "marginals"
              use gen = new torch.Generator(7UL)
              use z = KSubsetTensor.simple tau k gen scores
              let zs = toArray z

              for r in 0 .. b - 1 do
                  Expect.equal (Array.sum (Array.sub zs (r * m) m)) (float k) "k ones per row"

              use gt = tensor g [| int64 b; int64 m |]
              use l = (z * gt).sum()
              l.backward ()

              let expected =
                  Array.init b (fun r -> KSubset.marginalsJvp tau k (Array.sub theta (r * m) m) (Array.sub g (r * m) m))
                  |> Array.concat

              expectClose 1e-9 (toArray scores.grad) expected "SIMPLE backward"

          testCase "tensor SFESS matches the reference on the same draws"
          <| fun () ->
              let rng = Random 29
              let m, k, tau, s = 9, 3, 1.5, 6
              let theta = normals rng m
              let target = normals rng m
              use scores = (tensor theta [| 1L; int64 m |]).requires_grad_(true)
              use gen = new torch.Generator(3UL)
              use zs = KSubsetTensor.sfess tau k s gen scores // [1, S, m]
              Expect.equal zs.shape [| 1L; int64 s; int64 m |] "shape [B, S, m]"
              use bt = tensor target [| int64 m |]
              use d = zs - bt
              // L = (1/S)·Σₛ ‖zₛ − b‖², whose gradient w.r.t. zₛ is 2(zₛ − b)/S.
              use l = (d * d).sum().div(torch.tensor (float s, dtype = torch.float64))
              l.backward ()
              let flat = toArray zs
              let draws = Array.init s (fun r -> Array.sub flat (r * m) m)

              let values =
                  draws
                  |> Array.map (fun z -> Array.map2 (fun zi bi -> (zi - bi) * (zi - bi)) z target |> Array.sum)

              expectClose 1e-9 (toArray scores.grad) (KSubsetEstimators.sfessOf tau k theta draws values) "SFESS"

          testCase "tensor ReinMax and straight-through match the reference backward passes"
          <| fun () ->
              let rng = Random 31
              let b, m = 4, 5

              for tau in [ 1.0; 0.5; 2.0 ] do
                  let theta = normals rng (b * m)
                  let g = normals rng (b * m)
                  use logits = (tensor theta [| int64 b; int64 m |]).requires_grad_(true)
                  use gen = new torch.Generator(uint64 (100.0 * tau))
                  use out = ReinMaxTensor.reinmax tau gen logits
                  let d = toArray out
                  use gt = tensor g [| int64 b; int64 m |]
                  use l = (out * gt).sum()
                  l.backward ()

                  let expected =
                      Array.init b (fun r ->
                          let row (a: float[]) = Array.sub a (r * m) m
                          ReinMax.backward tau (row theta) (row d) (row g))
                      |> Array.concat

                  expectClose 1e-10 (toArray logits.grad) expected (sprintf "ReinMax τ=%g" tau)

                  use logits2 = (tensor theta [| int64 b; int64 m |]).requires_grad_(true)
                  use out2 = ReinMaxTensor.straightThrough gen logits2
                  use l2 = (out2 * gt).sum()
                  l2.backward ()

                  let expected2 =
                      Array.init b (fun r ->
                          ReinMax.straightThroughBackward (Array.sub theta (r * m) m) (Array.sub g (r * m) m))
                      |> Array.concat

                  expectClose 1e-10 (toArray logits2.grad) expected2 "straight-through" ]
