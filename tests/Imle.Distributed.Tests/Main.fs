/// The test program: every test list marked `[<Tests>]` in this assembly (Expecto's discovery) under the root
/// "distributed", or a child process the tests start (an MPI rank, a farm worker).
module Imle.Distributed.Tests.Main

[<EntryPoint>]
let main argv =
    match List.ofArray argv with
    | [ "mpi-rank"; dir; steps; at; resume ] -> Training.rankMain dir (int steps) (int at) (resume = "1")
    | "farm-worker" :: args -> FarmTests.workerMain false args
    | "farm-faulty-worker" :: args -> FarmTests.workerMain true args
    | _ ->
        Imle.Tests.CountingRunner.runInAssembly argv "distributed" (System.Reflection.Assembly.GetExecutingAssembly())
