module Imle.OrTools.Tests.IlpTests

open System
open System.Threading.Tasks
open Expecto
open Expecto.Impl
open Imle
open Imle.Solvers
open Imle.OrTools

// ----- helpers --------------------------------------------------------------------------------------------------------

let private objective (weights: float[]) (state: float[]) = Problem.objective weights state

let private close (what: string) (expected: float) (actual: float) =
    let tol = 1e-7 * (1.0 + abs expected)

    if abs (expected - actual) > tol then
        failtestf "%s: objectives differ: dedicated %.12g, ILP %.12g (tolerance %g)" what expected actual tol

let private uniform (rng: Random) lo hi n =
    Array.init n (fun _ -> lo + (hi - lo) * rng.NextDouble())

let private normal (rng: Random) n =
    Array.init n (fun _ ->
        let u1 = 1.0 - rng.NextDouble()
        let u2 = rng.NextDouble()
        sqrt (-2.0 * log u1) * cos (2.0 * Math.PI * u2))

let private throwsArg (param: string) (f: unit -> unit) =
    try
        f ()
        failtestf "expected an ArgumentException naming '%s'; nothing was raised" param
    with :? ArgumentException as e ->
        Expect.equal e.ParamName param (sprintf "ArgumentException should name '%s' (message: %s)" param e.Message)

let private throwsInvalidOp (fragment: string) (f: unit -> unit) =
    try
        f ()
        failtestf "expected an InvalidOperationException containing '%s'; nothing was raised" fragment
    with :? InvalidOperationException as e ->
        Expect.stringContains e.Message fragment "the message should say what went wrong"

// ----- agreement with the dedicated solvers ---------------------------------------------------------------------------

let agreementTests =
    testList
        "agreement with dedicated solvers"
        [ test "backend is SCIP" { Expect.equal Lp.mipBackend.Value "SCIP" "SCIP ships with the OR-Tools 9.15 runtime" }

          test "k-subset: 50 random instances vs TopK and Problem.kSubset" {
              let rng = Random 11

              for trial in 1..50 do
                  let m = rng.Next(1, 21)
                  let k = rng.Next(1, m + 1)
                  let scores = normal rng m
                  let model = Ilp.kSubsetModel m k
                  let ilp = Lp.solve model scores
                  let dedicated = TopK.solve k scores
                  close (sprintf "trial %d (m=%d, k=%d)" trial m k) (objective scores dedicated) (objective scores ilp)
                  // Continuous scores: the top-k set is unique almost surely, so the states agree exactly.
                  Expect.equal ilp dedicated (sprintf "trial %d: states" trial)
                  let viaProblem = Problem.solve (Lp.problem "k-subset ILP" model) scores

                  Expect.equal
                      viaProblem
                      (Problem.solve (Problem.kSubset m k) scores)
                      (sprintf "trial %d: via Problem" trial)
          }

          for neighbourhood in [ Four; Eight ] do
              test (
                  sprintf
                      "grid shortest path %A: 3x3..6x6, 52 random instances vs Problem.gridShortestPath"
                      neighbourhood
              ) {
                  let rng = Random(if neighbourhood = Four then 21 else 22)

                  for size in 3..6 do
                      let model = Ilp.gridPathModel size size neighbourhood
                      let ilpProblem = Lp.problem "grid ILP" model
                      let dedicated = Problem.gridShortestPath size size neighbourhood

                      for trial in 1..13 do
                          // Integer-valued costs in some trials (many ties: states may differ, objectives must not).
                          let costs =
                              if trial % 3 = 0 then
                                  Array.init (size * size) (fun _ -> float (rng.Next(0, 4)))
                              else
                                  uniform rng 0.1 10.0 (size * size)

                          let ilp = Problem.solve ilpProblem costs
                          let best = Problem.solve dedicated costs
                          close (sprintf "%dx%d trial %d" size size trial) (objective costs best) (objective costs ilp)

                          if Array.forall (fun c -> c > 0.0) costs then
                              Expect.isTrue
                                  (GridShortestPath.isPath size size neighbourhood ilp)
                                  (sprintf "%dx%d trial %d: the ILP state is a simple path" size size trial)
              }

          test "assignment: 50 random instances vs Problem.matching" {
              let rng = Random 31

              for trial in 1..50 do
                  let rows = rng.Next(1, 7)
                  let cols = rows + rng.Next(0, 4)

                  let costs =
                      if trial % 5 = 0 then
                          Array.init (rows * cols) (fun _ -> float (rng.Next(0, 3)))
                      else
                          uniform rng -5.0 5.0 (rows * cols)

                  let model = Ilp.assignmentModel rows cols
                  let ilp = Problem.solve (Lp.problem "assignment ILP" model) costs
                  let best = Problem.solve (Problem.matching rows cols) costs
                  close (sprintf "trial %d (%dx%d)" trial rows cols) (objective costs best) (objective costs ilp)

                  Expect.isTrue
                      (Matching.isMatching rows cols ilp)
                      (sprintf "trial %d: the ILP state is a matching" trial)
          }

          test "knapsack written as a user ILP: 30 random instances vs Problem.knapsack" {
              let rng = Random 41

              for trial in 1..30 do
                  let n = rng.Next(1, 13)
                  let itemWeights = Array.init n (fun _ -> rng.Next(0, 10))
                  let capacity = rng.Next(0, 25)
                  let values = uniform rng -1.0 5.0 n

                  let model =
                      Ilp.model [| n |] Maximise
                      |> Lp.addConstraint
                          (itemWeights |> Array.mapi (fun i w -> i, float w))
                          Double.NegativeInfinity
                          (float capacity)

                  let ilp = Problem.solve (Lp.problem "knapsack ILP" model) values
                  let best = Problem.solve (Problem.knapsack itemWeights capacity) values
                  close (sprintf "trial %d" trial) (objective values best) (objective values ilp)
          } ]

// ----- the feasible set -----------------------------------------------------------------------------------------------

let feasibilityTests =
    testList
        "feasible set"
        [ test "every simple path of a 3x3 grid is feasible for the grid ILP, and non-paths are not" {
              for neighbourhood in [ Four; Eight ] do
                  let model = Ilp.gridPathModel 3 3 neighbourhood

                  for path in Problem.gridPaths 3 3 neighbourhood do
                      Expect.isTrue (Lp.isFeasible model path) (sprintf "%A path %A" neighbourhood path)

                  Expect.isFalse (Lp.isFeasible model (Array.zeroCreate 9)) "the empty state"
                  Expect.isFalse (Lp.isFeasible model [| 1.; 0.; 0.; 0.; 0.; 0.; 0.; 0.; 1. |]) "endpoints only"
                  Expect.isFalse (Lp.isFeasible model [| 1.; 1.; 1.; 1.; 1.; 1.; 1.; 1.; 0.5 |]) "non-binary"
          }

          test "k-subset ILP: feasible exactly for the k-subsets" {
              let model = Ilp.kSubsetModel 5 2

              for z in Problem.kSubsets 5 2 do
                  Expect.isTrue (Lp.isFeasible model z) "a 2-subset"

              Expect.isFalse (Lp.isFeasible model [| 1.; 1.; 1.; 0.; 0. |]) "three ones"
              Expect.isFalse (Lp.isFeasible model [| 1.; 0.; 0.; 0.; 0. |]) "one one"
          }

          test
              "Lp.problem of a binary model: UserDefined kind, binary states, shape and sense, and checkState rejects infeasible states" {
              let p = Lp.problem "pairs" (Ilp.kSubsetModel 3 2)
              Expect.equal p.Kind UserDefined "kind"
              Expect.equal p.Shape [| 3 |] "shape"
              Expect.equal p.Sense Maximise "sense"
              Expect.isFalse p.RealStates "every state variable is binary, so the states are binary"
              Expect.equal (Problem.checkState p [| 1.; 0.; 1. |]) [| 1.; 0.; 1. |] "a feasible state passes"
              throwsInvalidOp "outside the feasible set" (fun () -> Problem.checkState p [| 1.; 1.; 1. |] |> ignore)
              let grid = Lp.problem "grid" (Ilp.gridPathModel 2 3 Four)
              Expect.equal grid.Shape [| 2; 3 |] "grid shape"
              Expect.equal grid.Sense Minimise "grid sense"
          }

          test "solveAssignment returns auxiliary variables that form the path's flow" {
              let model = Ilp.gridPathModel 3 3 Four

              let costs =
                  Array.append (Array.create 9 1.0) (Array.zeroCreate (model.Variables.Length - 9))

              let full = Lp.solveAssignment model costs
              Expect.equal full.Length model.Variables.Length "length"
              Expect.isTrue (Lp.isFeasibleAssignment model full) "the full assignment satisfies the constraints"
              Expect.equal (Array.sum full.[0..8]) 5.0 "a shortest 4-neighbour path in 3x3 has 5 cells"
              Expect.equal (Array.sum full.[9..]) 4.0 "and 4 edges"
          }

          test "a 1x1 grid has the single-cell path" {
              Expect.equal (Lp.solve (Ilp.gridPathModel 1 1 Eight) [| 2.5 |]) [| 1.0 |] "one cell"
          }

          test "an unconstrained model sets exactly the positive scores (Maximise) / negative costs (Minimise)" {
              let w = [| 1.0; -2.0; 0.5; -0.1 |]
              Expect.equal (Lp.solve (Ilp.model [| 4 |] Maximise) w) [| 1.; 0.; 1.; 0. |] "maximise"
              Expect.equal (Lp.solve (Ilp.model [| 4 |] Minimise) w) [| 0.; 1.; 0.; 1. |] "minimise"
          }

          test "a general constraint built with Lp.linear and Lp.add (z0 = z1)" {
              let model =
                  Ilp.model [| 3 |] Maximise |> Lp.add (Lp.linear [| 0, 1.0; 1, -1.0 |] 0.0 0.0)

              Expect.equal (Lp.solve model [| 2.0; -1.0; 1.0 |]) [| 1.; 1.; 1. |] "z0 = z1 = 1 pays 1"
              Expect.equal (Lp.solve model [| 0.5; -1.0; -1.0 |]) [| 0.; 0.; 0. |] "z0 = z1 = 1 would cost 0.5"
              Expect.isFalse (Lp.isFeasible model [| 1.; 0.; 0. |]) "z0 <> z1"
          }

          test "atLeast and atMost constraints are respected" {
              let model =
                  Ilp.model [| 6 |] Maximise
                  |> Ilp.atLeast [| 0; 1; 2 |] 2
                  |> Ilp.atMost [| 3; 4; 5 |] 1

              let z = Lp.solve model [| -1.; -2.; -3.; 4.; 5.; 6. |]
              Expect.equal z [| 1.; 1.; 0.; 0.; 0.; 1. |] "two cheapest of the first block, best of the second"
          } ]

// ----- batches --------------------------------------------------------------------------------------------------------

let batchTests =
    testList
        "batches"
        [ test "Parallel.For over rows gives the sequential results (grid 5x5 Eight, k-subset, assignment)" {
              let rng = Random 51

              let cases =
                  [ Lp.problem "grid" (Ilp.gridPathModel 5 5 Eight), (fun () -> uniform rng 0.1 5.0 25)
                    Lp.problem "k-subset" (Ilp.kSubsetModel 12 4), (fun () -> normal rng 12)
                    Lp.problem "assignment" (Ilp.assignmentModel 4 6), (fun () -> normal rng 24) ]

              for (p, draw) in cases do
                  let batch = Array.init 40 (fun _ -> draw ())
                  let sequential = batch |> Array.map (Problem.solve p)
                  let concurrent = Array.zeroCreate batch.Length

                  Parallel.For(0, batch.Length, fun i -> concurrent.[i] <- Problem.solve p batch.[i])
                  |> ignore

                  Expect.equal concurrent sequential (sprintf "%s: concurrent = sequential" p.Name)
          } ]

// ----- errors ---------------------------------------------------------------------------------------------------------

let errorTests =
    testList
        "errors"
        [ test "an infeasible model (exactly 3 of 2 variables) raises InvalidOperationException" {
              let model = Ilp.model [| 2 |] Maximise |> Ilp.exactlyK [| 0; 1 |] 3
              throwsInvalidOp "is infeasible" (fun () -> Lp.solve model [| 1.0; 2.0 |] |> ignore)

              throwsInvalidOp "is infeasible" (fun () ->
                  Problem.solve (Lp.problem "impossible" model) [| 1.0; 2.0 |] |> ignore)
          }

          test "contradictory constraints are infeasible" {
              let model =
                  Ilp.model [| 3 |] Minimise
                  |> Ilp.atLeast [| 0; 1 |] 2
                  |> Ilp.atMost [| 1; 2 |] 0

              throwsInvalidOp "the linear model" (fun () -> Lp.solve model [| 0.; 0.; 0. |] |> ignore)
          }

          test "a model's shape is checked by the core's shape rule" {
              throwsArg "shape" (fun () -> Ilp.model [||] Maximise |> ignore)
              throwsArg "shape" (fun () -> Ilp.model [| 2; 0 |] Maximise |> ignore)
              throwsArg "shape" (fun () -> Ilp.model null Maximise |> ignore)
              throwsArg "shape" (fun () -> Ilp.model [| 65536; 65536 |] Maximise |> ignore)
          }

          test "bad indices name the parameter" {
              let m = Ilp.model [| 3 |] Maximise
              throwsArg "indices" (fun () -> Ilp.exactlyK [| 0; 5 |] 1 m |> ignore)
              throwsArg "indices" (fun () -> Ilp.atMost [| -1 |] 1 m |> ignore)
              throwsArg "indices" (fun () -> Ilp.atLeast [| 1; 1 |] 1 m |> ignore)
              throwsArg "coefficients" (fun () -> Lp.addConstraint [| 3, 1.0 |] 0.0 1.0 m |> ignore)
              throwsArg "coefficients" (fun () -> Lp.addConstraint [| 0, nan |] 0.0 1.0 m |> ignore)
              throwsArg "lower" (fun () -> Lp.addConstraint [| 0, 1.0 |] nan 1.0 m |> ignore)
              throwsArg "lower" (fun () -> Lp.addConstraint [| 0, 1.0 |] 2.0 1.0 m |> ignore)
              throwsArg "upper" (fun () -> Lp.addConstraint [| 0, 1.0 |] 0.0 nan m |> ignore)
              throwsArg "k" (fun () -> Ilp.exactlyK [| 0 |] -1 m |> ignore)
              throwsArg "shape" (fun () -> Ilp.model [| 2; 0 |] Maximise |> ignore)
              throwsArg "count" (fun () -> Ilp.withAuxiliary -1 m |> ignore)
              throwsArg "lower" (fun () -> Lp.linear [| 0, 1.0 |] nan 1.0 |> ignore)
              throwsArg "constraintToAdd" (fun () -> Lp.add (Lp.linear [| 9, 1.0 |] 0.0 1.0) m |> ignore)
              // A hand-built record with an out-of-range index is caught when solving.
              let bad =
                  { m with
                      Constraints =
                          [| { Coefficients = [| 7, 1.0 |]
                               Lower = 0.0
                               Upper = 1.0 } |] }

              throwsArg "model" (fun () -> Lp.solve bad [| 1.; 1.; 1. |] |> ignore)
              throwsArg "model" (fun () -> Lp.problem "bad" bad |> ignore)

              throwsArg "model" (fun () ->
                  Lp.solve
                      { m with
                          Variables = Array.sub m.Variables 0 2 }
                      [| 1.; 1.; 1. |]
                  |> ignore)
          }

          test "NaN, infinite or wrongly sized weights name 'weights'" {
              let m = Ilp.kSubsetModel 3 1
              throwsArg "weights" (fun () -> Lp.solve m [| 1.0; nan; 0.0 |] |> ignore)
              throwsArg "weights" (fun () -> Lp.solve m [| 1.0; infinity; 0.0 |] |> ignore)
              throwsArg "weights" (fun () -> Lp.solve m [| 1.0; 0.0 |] |> ignore)
              throwsArg "weights" (fun () -> Problem.solve (Lp.problem "p" m) [| nan; 0.0; 0.0 |] |> ignore)
              throwsArg "weights" (fun () -> (Lp.problem "p" m).Solve [| nan; 0.0; 0.0 |] |> ignore)
          }

          test "ready-made models validate their arguments" {
              throwsArg "k" (fun () -> Ilp.kSubsetModel 3 4 |> ignore)
              throwsArg "m" (fun () -> Ilp.kSubsetModel 0 0 |> ignore)
              throwsArg "cols" (fun () -> Ilp.assignmentModel 3 2 |> ignore)
              throwsArg "rows" (fun () -> Ilp.gridPathModel 0 3 Four |> ignore)
              throwsArg "name" (fun () -> Lp.problem " " (Ilp.kSubsetModel 3 1) |> ignore)
          } ]

[<Tests>]
let tests =
    testList "ilp" [ agreementTests; feasibilityTests; batchTests; errorTests ]
