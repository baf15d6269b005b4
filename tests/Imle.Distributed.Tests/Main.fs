module Imle.Distributed.Tests.Main

open Expecto

let tests = testList "distributed" [ MpiTests.tests; FarmTests.tests ]

[<EntryPoint>]
let main argv =
    match List.ofArray argv with
    | [ "mpi-rank"; dir; steps; at; resume ] -> Training.rankMain dir (int steps) (int at) (resume = "1")
    | "farm-worker" :: args -> FarmTests.workerMain false args
    | "farm-faulty-worker" :: args -> FarmTests.workerMain true args
    | _ -> Imle.Tests.CountingRunner.run argv tests
