/// The DecisionFocusedLearningBenchmarks generators: every optimum checked by brute force on small sizes (all
/// one-hots, all permutations, all k-subsets, all grid paths), and the same seed giving the same data.
module Imle.Tests.BenchmarkTests

open System
open Expecto
open Imle
open Imle.Dfl
open Imle.Solvers

let private dot (a: float[]) (b: float[]) =
    Array.fold2 (fun s x y -> s + x * y) 0.0 a b

let rec private permutations (xs: float list) : float list list =
    match xs with
    | [] -> [ [] ]
    | _ ->
        xs
        |> List.indexed
        |> List.collect (fun (i, x) ->
            let rest = xs |> List.indexed |> List.filter (fun (j, _) -> j <> i) |> List.map snd
            permutations rest |> List.map (fun p -> x :: p))

/// The optimum attains the best objective over the candidates (and is one of them).
let private expectBest (better: float -> float -> bool) (candidates: float[][]) (theta: float[]) (optimum: float[]) =
    let value = dot theta optimum
    Expect.isTrue (candidates |> Array.exists (fun c -> c = optimum)) "the optimum is feasible"

    for c in candidates do
        Expect.isFalse (better (dot theta c) (value + (if better 1.0 0.0 then 1e-12 else -1e-12))) "no better state"

[<Tests>]
let tests =
    testList
        "dfl benchmarks"
        [ testCase "argmax, ranking and subset selection optima are the brute-force maximisers"
          <| fun () ->
              let m, k = 5, 2
              let argmax = Benchmarks.argmax 20 3 m 0.5 1
              let ranking = Benchmarks.ranking 20 3 m 0.5 2
              let subset = Benchmarks.subsetSelection 20 3 m k 0.5 3
              let oneHots = Problem.states (Problem.categorical m)
              let subsets = Problem.states (Problem.kSubset m k)

              let perms =
                  permutations [ for i in m .. -1 .. 1 -> float i ]
                  |> List.map Array.ofList
                  |> Array.ofList

              for i in 0..19 do
                  expectBest (>) oneHots argmax.Scores.[i] argmax.Optima.[i]
                  expectBest (>) subsets subset.Scores.[i] subset.Optima.[i]
                  // The rank vector r maximises ⟨m + 1 − r, θ⟩ over the permutations.
                  let y = ranking.Optima.[i] |> Array.map (fun r -> float (m + 1) - r)
                  expectBest (>) perms ranking.Scores.[i] y
                  Expect.equal argmax.Features.[i].Length 3 "p features"

          testCase "fixed-size shortest path optima are the cheapest of all grid paths"
          <| fun () ->
              let data = Benchmarks.fixedSizeShortestPath 10 4 3 3 2 0.5 7
              let dag = DagShortestPath.grid 3 3
              let paths = DagShortestPath.paths 1000 dag

              for i in 0..9 do
                  Expect.isTrue (DagShortestPath.isPath dag data.Optima.[i]) "a path"
                  expectBest (<) paths data.Scores.[i] data.Optima.[i]

          testCase "the same seed gives the same data; ranks put 1 on the largest score"
          <| fun () ->
              let a = Benchmarks.subsetSelection 5 2 6 3 0.1 11
              let b = Benchmarks.subsetSelection 5 2 6 3 0.1 11
              Expect.equal a.Scores b.Scores "same seed"
              Expect.equal (Benchmarks.ranks [| 0.5; 2.0; -1.0; 2.0 |]) [| 3.0; 1.0; 4.0; 2.0 |] "ranks with a tie"

              Expect.throwsT<ArgumentOutOfRangeException>
                  (fun () -> Benchmarks.subsetSelection 5 2 6 7 0.1 11 |> ignore)
                  "k > size" ]

[<Tests>]
let knnTests =
    testList
        "knn-robust dataset"
        [ testCase "weight 1 keeps the costs and labels the optima; otherwise the means over the brute-force neighbours"
          <| fun () ->
              let problem = Problem.kSubset 5 2
              let rng = Random 83
              let n = 6

              let features =
                  Array.init n (fun _ -> Array.init 2 (fun _ -> Sampling.standardNormal rng))

              let costs =
                  Array.init n (fun _ -> Array.init 5 (fun _ -> Sampling.standardNormal rng))

              let plain = KnnRobust.create problem 3 1.0 features costs

              for i in 0 .. n - 1 do
                  let gap = Array.map2 (fun a b -> abs (a - b)) plain.Costs.[i] costs.[i] |> Array.max
                  Expect.isLessThan gap 1e-12 "w = 1: the costs (up to rounding of the mean)"
                  Expect.equal plain.Solutions.[i] (Problem.solve problem costs.[i]) "w = 1: the optimum"

              let smoothed = KnnRobust.create problem 2 0.3 features costs

              for i in 0 .. n - 1 do
                  // The two nearest others, by brute force over all pairs.
                  let near =
                      [ for j in 0 .. n - 1 do
                            if j <> i then
                                let d =
                                    Array.fold2 (fun s a b -> s + (a - b) * (a - b)) 0.0 features.[i] features.[j]

                                yield d, j ]
                      |> List.sort
                      |> List.take 2
                      |> List.map snd

                  let mix j =
                      Array.map2 (fun a b -> 0.3 * a + 0.7 * b) costs.[i] costs.[j]

                  let sols = near |> List.map (fun j -> Problem.solve problem (mix j))

                  let expected = Array.init 5 (fun d -> (sols |> List.sumBy (fun s -> s.[d])) / 2.0)

                  let gap2 =
                      Array.map2 (fun a b -> abs (a - b)) smoothed.Solutions.[i] expected |> Array.max

                  Expect.isLessThan gap2 1e-12 (sprintf "instance %d: mean solution" i)

                  let objective =
                      (near |> List.sumBy (fun j -> dot (mix j) (Problem.solve problem (mix j))))
                      / 2.0

                  Expect.floatClose Accuracy.high smoothed.Objectives.[i] objective "mean value" ]
