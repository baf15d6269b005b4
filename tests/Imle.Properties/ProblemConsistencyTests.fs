/// A problem's representation cannot make the two backends disagree (issue #11): replacing the oracle of a ready-made
/// problem makes it user-defined, so the torch backend stops using the device-native solver for its old kind.
module Imle.Tests.ProblemConsistencyTests

open Expecto
open TorchSharp
open Imle
open Imle.Torch

/// A deliberately different 3-subset oracle: the three LOWEST scores (top-k would pick the highest).
let private mine (w: float[]) =
    let chosen =
        w
        |> Array.mapi (fun i x -> x, i)
        |> Array.sortBy fst
        |> Array.take 3
        |> Array.map snd
        |> set

    Array.init w.Length (fun i -> if chosen.Contains i then 1.0 else 0.0)

[<Tests>]
let tests =
    testList
        "problem consistency"
        [ test "a k-subset problem with another oracle is solved by that oracle in both backends" {
              let p = Problem.kSubset 10 3 |> Problem.withSolver mine
              Expect.equal p.Kind UserDefined "the kind no longer claims a k-subset top-k"
              let rng = System.Random 5
              let rows = Array.init 6 (fun _ -> Array.init 10 (fun _ -> rng.NextDouble()))
              let reference = rows |> Array.map (Problem.solve p)
              Expect.equal reference (rows |> Array.map mine) "reference core calls the new oracle"
              use w = torch.tensor(Array.concat rows, dtype = torch.float64).reshape(6L, 10L)
              use z = TensorSolve.solve p w
              let torchRows = z.data<float>().ToArray() |> Array.chunkBySize 10
              Expect.equal torchRows reference "torch backend calls the same oracle"
              use zMap = Discrete.map p w

              Expect.equal
                  (zMap.data<float>().ToArray() |> Array.chunkBySize 10)
                  reference
                  "so does a layer's eval-mode MAP"
          }
          test "the new oracle's output is still checked against the problem's feasible set" {
              let p =
                  Problem.kSubset 4 2 |> Problem.withSolver (fun _ -> [| 1.0; 1.0; 1.0; 0.0 |])

              Expect.throwsT<System.InvalidOperationException>
                  (fun () -> Problem.solve p [| 1.0; 2.0; 3.0; 4.0 |] |> ignore)
                  "reference"

              use w =
                  torch.tensor([| 1.0; 2.0; 3.0; 4.0 |], dtype = torch.float64).reshape(1L, 4L)

              Expect.throwsT<System.InvalidOperationException> (fun () -> TensorSolve.solve p w |> ignore) "torch"
          }
          test "grid shortest paths with negative costs: clamp (default) or tf-imle's per-map shift, in both backends" {
              let rng = System.Random 11

              for _ in 1..50 do
                  let w = Array.init 36 (fun _ -> rng.NextDouble() * 4.0 - 1.0) // about a quarter negative
                  let lowest = Array.min w
                  let clamp = Problem.gridShortestPath 6 6 Imle.Solvers.Eight
                  let shift = Problem.gridShortestPathWith ShiftToZero 6 6 Imle.Solvers.Eight

                  let expectedClamp =
                      Imle.Solvers.GridShortestPath.solve 6 6 Imle.Solvers.Eight (Array.map (max 0.0) w)

                  let expectedShift =
                      Imle.Solvers.GridShortestPath.solve
                          6
                          6
                          Imle.Solvers.Eight
                          (Array.map (fun c -> c - min 0.0 lowest) w)

                  Expect.equal (Problem.solve clamp w) expectedClamp "clamped"
                  Expect.equal (Problem.solve shift w) expectedShift "shifted"
                  use t = torch.tensor(w, dtype = torch.float64).reshape(1L, 6L, 6L)
                  use zs = TensorSolve.solve shift t
                  Expect.equal (zs.data<float>().ToArray()) expectedShift "torch backend, shifted"
          }
          test "grid shortest paths with negative costs unchanged: Dijkstra settling each cell once, host solver only" {
              let rng = System.Random 12
              let unchanged = Problem.gridShortestPathWith Unchanged 6 6 Imle.Solvers.Eight

              for _ in 1..50 do
                  let w = Array.init 36 (fun _ -> rng.NextDouble() * 4.0 - 1.0)
                  let expected = Array.zeroCreate 36

                  Imle.Solvers.GridShortestPath.solveSettlingOnceInto (
                      6,
                      6,
                      Imle.Solvers.Eight,
                      System.ReadOnlySpan w,
                      System.Span expected
                  )
                  |> ignore

                  Expect.equal (Problem.solve unchanged w) expected "the settling-once path"
                  use t = torch.tensor(w, dtype = torch.float64).reshape(1L, 6L, 6L)
                  use zs = TensorSolve.solve unchanged t
                  Expect.equal (zs.data<float>().ToArray()) expected "torch backend, through the host solver"

              TestUtil.throwsNaming "negativeCosts" (fun () ->
                  Problem.gridShortestPathTensorWith Unchanged 6 6 Imle.Solvers.Eight |> ignore)
          }
          test "ready-made problems keep their kind and shape is copied out" {
              let p = Problem.kSubset 10 3
              Expect.equal p.Kind (KSubsetKind 3) "kind"
              p.Shape.[0] <- 99
              Expect.equal p.Shape [| 10 |] "Shape returns a copy: the problem cannot be changed through it"
          }
          test "a problem's shape is checked by the one shape rule, with the messages it always had" {
              let message (shape: int[]) =
                  try
                      Problem.create "p" shape Maximise id |> ignore
                      failtest "expected an ArgumentException"
                  with :? System.ArgumentException as e ->
                      Expect.equal e.ParamName "shape" "names the parameter"
                      e.Message

              Expect.stringStarts (message [||]) "shape must have at least one dimension." "no dimension"
              Expect.stringStarts (message [| 3; 0 |]) "shape[1] must be >= 1; got 0." "a zero dimension"
              Expect.stringStarts (message null) "shape must not be null." "null"
          } ]
