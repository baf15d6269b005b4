/// The OR-Tools TSP (subtour cuts) against Held–Karp, and beyond Held–Karp's 13 cities.
module Imle.OrTools.Tests.TspTests

open System
open Expecto
open Imle
open Imle.Solvers
open Imle.OrTools

let private dot (a: float[]) (b: float[]) =
    Array.fold2 (fun s x y -> s + x * y) 0.0 a b

[<Tests>]
let tspTests =
    testList
        "tsp"
        [ test "equals Held-Karp on random signed instances (4..9 cities, 40 instances)" {
              let rng = Random 81

              for trial in 1..40 do
                  let n = rng.Next(4, 10)
                  let m = n * (n - 1) / 2
                  let c = Array.init m (fun _ -> 2.0 * rng.NextDouble() - 0.5)
                  let tour = Tsp.solve n c
                  Expect.isTrue (Tsp.isTour n tour) "a tour"

                  Expect.floatClose
                      Accuracy.high
                      (dot c tour)
                      (dot c (HeldKarp.solve n c))
                      (sprintf "trial %d (%d cities): the optimal cost" trial n)
          }
          test "20 Euclidean cities: a tour through Problem.solve, no worse than 500 random tours" {
              let rng = Random 82
              let n = 20
              let pts = Array.init n (fun _ -> rng.NextDouble(), rng.NextDouble())

              let c =
                  HeldKarp.edges n
                  |> Array.map (fun (i, j) ->
                      let (xi, yi), (xj, yj) = pts.[i], pts.[j]
                      sqrt ((xi - xj) ** 2.0 + (yi - yj) ** 2.0))

              let problem = Tsp.problem n
              let tour = Problem.solve problem c
              Expect.isTrue (Tsp.isTour n tour) "a tour"

              for _ in 1..500 do
                  let order = Array.init n id |> Array.sortBy (fun _ -> rng.Next())
                  let state = Array.zeroCreate c.Length

                  for k in 0 .. n - 1 do
                      let a, b = order.[k], order.[(k + 1) % n]
                      state.[HeldKarp.edgeIndex n (min a b) (max a b)] <- 1.0

                  Expect.isLessThanOrEqual (dot c tour) (dot c state + 1e-9) "no worse than a random tour"
          }
          test "isTour rejects two subtours; bad arguments name the parameter" {
              let n = 6
              let state = Array.zeroCreate 15

              for (i, j) in [ 0, 1; 1, 2; 0, 2; 3, 4; 4, 5; 3, 5 ] do
                  state.[HeldKarp.edgeIndex n i j] <- 1.0

              Expect.isFalse (Tsp.isTour n state) "two triangles"

              let throwsArg (param: string) (f: unit -> unit) =
                  try
                      f ()
                      failtestf "expected an ArgumentException naming '%s'" param
                  with :? ArgumentException as e ->
                      Expect.equal e.ParamName param e.Message

              throwsArg "cities" (fun () -> Tsp.solve 2 [| 1.0 |] |> ignore)
              throwsArg "cities" (fun () -> Tsp.problem 61 |> ignore)
              throwsArg "costs" (fun () -> Tsp.solve 4 [| 1.0 |] |> ignore)
              throwsArg "costs" (fun () -> Tsp.solve 3 [| 1.0; nan; 1.0 |] |> ignore)
          } ]
