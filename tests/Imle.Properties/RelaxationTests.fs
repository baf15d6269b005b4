/// The pure reference core's relaxations and their exact derivatives, checked against what theory gives: SIMPLE's
/// backward (KSubset.marginalsJvp) equals the covariance of the exact distribution times g/τ (enumeration); sparsemax
/// lies on the simplex and is the Euclidean projection (KKT conditions); soft sort and soft rank are projections onto
/// the permutahedron (optimality against every vertex), tend to the hard sort and ranks as ε → 0 and to constants as
/// ε → ∞; every Jacobian product matches central finite differences; Lawson–Hanson NNLS matches brute force over
/// active sets. Deterministic: fixed seeds, no statistical test.
module Imle.Tests.RelaxationTests

open System
open Expecto
open Imle
open Imle.Tests.TestUtil

let private normals (rng: Random) (n: int) =
    Array.init n (fun _ -> Sampling.standardNormal rng)

/// Central finite differences of gᵀf(θ) at θ (step h).
let private finiteVjp (f: float[] -> float[]) (theta: float[]) (g: float[]) (h: float) =
    Array.init theta.Length (fun i ->
        let up = Array.copy theta
        let down = Array.copy theta
        up.[i] <- up.[i] + h
        down.[i] <- down.[i] - h
        (dot g (f up) - dot g (f down)) / (2.0 * h))

let rec private permutations (xs: float list) : float list list =
    match xs with
    | [] -> [ [] ]
    | _ ->
        xs
        |> List.indexed
        |> List.collect (fun (i, x) ->
            let rest = xs |> List.indexed |> List.filter (fun (j, _) -> j <> i) |> List.map snd
            permutations rest |> List.map (fun p -> x :: p))

/// A projection μ of z onto the permutahedron of w: μ is in it (a permutation-invariant majorisation check) and
/// ⟨z − μ, y − μ⟩ ≤ 0 for every vertex y.
let private expectPermutahedronProjection (z: float[]) (w: float[]) (mu: float[]) (what: string) =
    let sortedMu = Array.sortDescending mu
    let sortedW = Array.sortDescending w
    let scale = 1.0 + (Array.map abs w |> Array.max) + (Array.map abs z |> Array.max)

    Expect.floatClose Accuracy.high (Array.sum mu) (Array.sum w) (what + ": sum")

    for j in 1 .. mu.Length - 1 do
        Expect.isLessThanOrEqual
            (Array.sum sortedMu.[.. j - 1])
            (Array.sum sortedW.[.. j - 1] + 1e-9 * scale)
            (sprintf "%s: majorisation at %d" what j)

    for y in permutations (List.ofArray w) do
        let y = Array.ofList y
        let d = Array.map2 (-) z mu
        let e = Array.map2 (-) y mu

        Expect.isLessThanOrEqual (dot d e) (1e-8 * scale * scale) (sprintf "%s: optimality against %A" what y)

[<Tests>]
let tests =
    testList
        "relaxations (reference core)"
        [ test "SIMPLE's backward: KSubset.marginalsJvp = Cov(z)·g/τ by enumeration, and it is symmetric" {
              let rng = Random 11

              for case in 1..150 do
                  let m = 2 + case % 7
                  let k = 1 + rng.Next m
                  let tau = [| 0.3; 1.0; 2.5 |].[case % 3]
                  let theta = normals rng m |> Array.map (fun v -> 2.0 * v)
                  let g = normals rng m
                  let states = Problem.states (Problem.kSubset m k)
                  let p = Exact.probabilities tau states theta
                  let mu = Exact.marginals tau states theta

                  let expected =
                      Array.init m (fun i ->
                          let mutable acc = 0.0

                          for s in 0 .. states.Length - 1 do
                              acc <- acc + p.[s] * states.[s].[i] * dot states.[s] g

                          (acc - mu.[i] * dot mu g) / tau)

                  expectClose 1e-9 (KSubset.marginalsJvp tau k theta g) expected (sprintf "m %d k %d τ %g" m k tau)
                  let u = normals rng m

                  Expect.floatClose
                      Accuracy.high
                      (dot u (KSubset.marginalsJvp tau k theta g))
                      (dot g (KSubset.marginalsJvp tau k theta u))
                      "uᵀJg = gᵀJu"
          }

          test "SIMPLE's backward stays finite and exact for large scores (m = 200, |θ|/τ ~ 1e4)" {
              let rng = Random 12
              let theta = normals rng 200 |> Array.map (fun v -> 1e4 * v)
              let g = normals rng 200
              let jvp = KSubset.marginalsJvp 1.0 20 theta g
              Expect.isTrue (jvp |> Array.forall Double.IsFinite) "finite"
              // A point mass: the covariance is 0 up to rounding.
              expectClose 1e-9 jvp (Array.zeroCreate 200) "point mass"
          }

          test "sparsemax lies on the simplex, satisfies the projection's KKT conditions and has the exact Jacobian" {
              let rng = Random 13

              for case in 1..300 do
                  let n = 1 + case % 12
                  let theta = normals rng n |> Array.map (fun v -> v * (0.1 + float (case % 5)))
                  let p = Sparsemax.project theta
                  Expect.isTrue (p |> Array.forall (fun v -> v >= 0.0)) "non-negative"
                  Expect.floatClose Accuracy.high (Array.sum p) 1.0 "sums to 1"
                  // KKT: θ_i − p_i is the same t on the support and θ_i ≤ t off it.
                  let support =
                      [| for i in 0 .. n - 1 do
                             if p.[i] > 0.0 then
                                 yield i |]

                  let t = theta.[support.[0]] - p.[support.[0]]

                  for i in 0 .. n - 1 do
                      if p.[i] > 0.0 then
                          Expect.floatClose Accuracy.high (theta.[i] - p.[i]) t "θ − p constant on the support"
                      else
                          Expect.isLessThanOrEqual theta.[i] (t + 1e-12) "θ ≤ t off the support"

                  let g = normals rng n
                  expectClose 1e-6 (Sparsemax.jvp theta g) (finiteVjp Sparsemax.project theta g 1e-7) "Jacobian"
          }

          test "soft sort and soft rank are projections onto the permutahedron (every vertex checked, n ≤ 6)" {
              let rng = Random 14

              for case in 1..60 do
                  let n = 1 + case % 6
                  let theta = normals rng n
                  let epsilon = [| 0.05; 0.5; 2.0; 20.0 |].[case % 4]
                  let rho = Array.init n (fun i -> float (n - i))
                  let s = SoftSort.softSort epsilon theta
                  expectPermutahedronProjection (rho |> Array.map (fun v -> v / epsilon)) theta s "soft sort"
                  let r = SoftSort.softRank epsilon theta
                  expectPermutahedronProjection (theta |> Array.map (fun v -> -v / epsilon)) rho r "soft rank"

                  for i in 1 .. n - 1 do
                      Expect.isLessThanOrEqual s.[i] (s.[i - 1] + 1e-12) "the soft sort is descending"
          }

          test
              "ε → 0 gives the hard sort and ranks (exactly: sort once 1/ε exceeds θ's largest gap, rank once ε is below its smallest); ε → ∞ gives the mean and the mean rank" {
              let rng = Random 15

              for case in 1..100 do
                  let n = 1 + case % 15
                  let theta = normals rng n
                  let sorted = Array.sortDescending theta
                  let gaps = Array.init (n - 1) (fun i -> sorted.[i] - sorted.[i + 1])
                  let minGap = if n = 1 then 1.0 else Array.min gaps
                  let maxGap = if n = 1 then 0.0 else Array.max gaps

                  expectClose
                      1e-9
                      (SoftSort.softSort (0.5 / (1.0 + maxGap)) theta)
                      sorted
                      "soft sort, 1/ε above the largest gap"

                  let ranks =
                      theta
                      |> Array.map (fun v -> 1.0 + float (theta |> Array.filter (fun u -> u > v) |> Array.length))

                  expectClose 1e-9 (SoftSort.softRank (0.5 * minGap) theta) ranks "soft rank, ε below the smallest gap"
                  let mean = Array.average theta
                  expectClose 1e-6 (SoftSort.softSort 1e9 theta) (Array.create n mean) "soft sort, ε = 1e9"

                  expectClose
                      1e-6
                      (SoftSort.softRank 1e9 theta)
                      (Array.create n (float (n + 1) / 2.0))
                      "soft rank, ε = 1e9"
          }

          test "soft sort and soft rank: vector–Jacobian products match central finite differences" {
              let rng = Random 16

              for case in 1..120 do
                  let n = 2 + case % 10
                  let theta = normals rng n
                  let epsilon = [| 0.1; 0.7; 3.0 |].[case % 3]
                  let g = normals rng n

                  expectClose
                      1e-5
                      (SoftSort.softSortVjp epsilon theta g)
                      (finiteVjp (SoftSort.softSort epsilon) theta g 1e-7)
                      "soft sort"

                  expectClose
                      1e-5
                      (SoftSort.softRankVjp epsilon theta g)
                      (finiteVjp (SoftSort.softRank epsilon) theta g 1e-7)
                      "soft rank"
          }

          test "isotonic regression (PAV) is non-increasing and optimal (KKT by blocks)" {
              let rng = Random 17

              for case in 1..200 do
                  let y = normals rng (1 + case % 20)
                  let v, block = SoftSort.isotonicDecreasing y

                  for i in 1 .. v.Length - 1 do
                      Expect.isLessThanOrEqual v.[i] v.[i - 1] "non-increasing"

                  // Each block's value is its mean, and every prefix of a block sums at most its share (a block only
                  // pools values that rise: splitting it would violate the order).
                  for b in Array.distinct block do
                      let idx =
                          [| for i in 0 .. y.Length - 1 do
                                 if block.[i] = b then
                                     yield i |]

                      let mean = idx |> Array.averageBy (fun i -> y.[i])

                      for i in idx do
                          Expect.floatClose Accuracy.high v.[i] mean "block mean"

                      let mutable prefix = 0.0

                      idx
                      |> Array.iteri (fun j i ->
                          prefix <- prefix + y.[i]
                          Expect.isLessThanOrEqual prefix (float (j + 1) * mean + 1e-9) "prefix condition")
          }

          test "NNLS (Lawson–Hanson) matches brute force over every active set, with x ≥ 0 and the KKT conditions" {
              let rng = Random 18

              for case in 1..150 do
                  let n = 1 + case % 6
                  let m = n + rng.Next 4
                  let a = Array2D.init m n (fun _ _ -> Sampling.standardNormal rng)
                  let b = normals rng m
                  let solution = Nnls.solve a b
                  Expect.isTrue (solution.X |> Array.forall (fun v -> v >= 0.0)) "x ≥ 0"

                  let residualOf (x: float[]) =
                      sqrt (
                          Array.init m (fun i -> Seq.sum (seq { for j in 0 .. n - 1 -> a.[i, j] * x.[j] }) - b.[i])
                          |> Array.sumBy (fun r -> r * r)
                      )

                  Expect.floatClose Accuracy.high solution.ResidualNorm (residualOf solution.X) "residual norm"
                  // Brute force: every subset S, unconstrained least squares on S by the normal equations (Gauss–Jordan),
                  // kept where feasible; the best of them is the optimum.
                  let mutable best = residualOf (Array.zeroCreate n)

                  for mask in 1 .. (1 <<< n) - 1 do
                      let cols =
                          [| for j in 0 .. n - 1 do
                                 if mask &&& (1 <<< j) <> 0 then
                                     yield j |]

                      let p = cols.Length

                      let mat =
                          Array2D.init p (p + 1) (fun r c ->
                              if c < p then
                                  Seq.sum (seq { for i in 0 .. m - 1 -> a.[i, cols.[r]] * a.[i, cols.[c]] })
                              else
                                  Seq.sum (seq { for i in 0 .. m - 1 -> a.[i, cols.[r]] * b.[i] }))

                      for piv in 0 .. p - 1 do
                          let d = mat.[piv, piv]

                          for c in 0..p do
                              mat.[piv, c] <- mat.[piv, c] / d

                          for r in 0 .. p - 1 do
                              if r <> piv then
                                  let f = mat.[r, piv]

                                  for c in 0..p do
                                      mat.[r, c] <- mat.[r, c] - f * mat.[piv, c]

                      let x = Array.zeroCreate n
                      cols |> Array.iteri (fun r c -> x.[c] <- mat.[r, p])

                      if x |> Array.forall (fun v -> v >= 0.0) then
                          best <- min best (residualOf x)

                  Expect.isLessThanOrEqual solution.ResidualNorm (best + 1e-9) "no feasible active set does better"
                  Expect.isGreaterThanOrEqual solution.ResidualNorm (best - 1e-9) "and it is attained"
          }

          test "bad input: empty, NaN and mismatched lengths are refused naming the parameter" {
              let refused (name: string) (f: unit -> obj) =
                  match
                      (try
                          f () |> ignore
                          None
                       with :? ArgumentException as e ->
                           Some e)
                  with
                  | Some e -> Expect.equal e.ParamName name (sprintf "the message names %s: %s" name e.Message)
                  | None -> failtestf "%s: not refused" name

              refused "theta" (fun () -> box (Sparsemax.project [||]))
              refused "theta" (fun () -> box (Sparsemax.project [| nan |]))
              refused "epsilon" (fun () -> box (SoftSort.softSort 0.0 [| 1.0 |]))

              refused "g" (fun () -> box (SoftSort.softRankVjp 1.0 [| 1.0 |] [| 1.0; 2.0 |]))

              refused "g" (fun () -> box (KSubset.marginalsJvp 1.0 1 [| 1.0 |] [| nan |]))

              refused "b" (fun () -> box (Nnls.solve (Array2D.zeroCreate 2 1) [| 1.0 |]))
          } ]
