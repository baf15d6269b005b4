module Imle.Distributed.Tests.Main

open Expecto

let tests = testList "distributed" [ MpiTests.tests; FarmTests.tests ]

[<EntryPoint>]
let main argv =
    match argv with
    | [| "mpi-rank"; dir; steps; at; resume |] -> Training.rankMain dir (int steps) (int at) (resume = "1")
    | [| "farm-worker"; seed; parallelism |] -> FarmTests.workerMain seed (int parallelism)
    | _ -> Imle.Tests.CountingRunner.run argv tests
