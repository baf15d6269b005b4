/// The solver farm: a client in this process (the cluster's seed) and worker processes of this program, over loopback.
module Imle.Distributed.Tests.FarmTests

open System
open System.Net
open System.Net.Sockets
open System.Threading
open Expecto
open TorchSharp
open Imle
open Imle.Torch
open Imle.Distributed

/// A free TCP port on loopback.
let private freePort () =
    let l = new TcpListener(IPAddress.Loopback, 0)
    l.Start()
    let port = (l.LocalEndpoint :?> IPEndPoint).Port
    l.Stop()
    port

/// The child mode `farm-worker SEED PARALLELISM`: a worker that runs until killed.
let workerMain (seed: string) (parallelism: int) : int =
    let worker =
        SolverWorker.Start(
            { FarmNodeOptions.Default with
                Seeds = [ seed ] },
            parallelism
        )

    Console.WriteLine("worker up at " + worker.Address)
    worker.WhenTerminated.Wait()
    0

let private startWorker (seed: string) (parallelism: int) =
    Children.start "worker" 150 "dotnet" (sprintf "%s farm-worker %s %d" Children.selfDll seed parallelism) []

let private clientOptions () =
    { SolverFarmOptions.Default with
        Node =
            { FarmNodeOptions.Default with
                Port = freePort () }
        AskTimeout = TimeSpan.FromSeconds 10.0
        WorkerDeadline = TimeSpan.FromSeconds 60.0 }

let private randomWeights (seed: int) (rows: int) (size: int) =
    let rng = Random seed
    Array.init rows (fun _ -> Array.init size (fun _ -> 0.1 + rng.NextDouble()))

let private spec = "grid-shortest-path:12:12"

let tests =
    testSequenced
    <| testList
        "farm"
        [ test "messages round-trip through the farm's serializer" {
              use system = Akka.Actor.ActorSystem.Create "serializer-test"
              let s = FarmSerializer(system :?> Akka.Actor.ExtendedActorSystem)
              let job = SolveJob("c", 42L, 2, spec, [| 0.5; -1.25; Double.MaxValue |])
              let job' = s.FromBinary(s.ToBinary job, s.Manifest job) :?> SolveJob

              Expect.equal
                  (job'.Client, job'.JobId, job'.Attempt, job'.Problem, job'.Weights)
                  (job.Client, job.JobId, job.Attempt, job.Problem, job.Weights)
                  "job"

              let r = SolveResult("c", 42L, "w", [| 0; 13 |], "")
              let r' = s.FromBinary(s.ToBinary r, s.Manifest r) :?> SolveResult

              Expect.equal
                  (r'.Client, r'.JobId, r'.Worker, r'.Ones, r'.Error)
                  (r.Client, r.JobId, r.Worker, r.Ones, r.Error)
                  "result"
          }

          test "problem specs resolve, and bad ones are named" {
              Expect.equal (FarmProblems.resolve spec).Size 144 "12 × 12"
              Expect.equal (FarmProblems.resolve "k-subset:10:3").Size 10 "k-subset"
              Expect.equal (FarmProblems.resolve "busy:1:categorical:5").Size 5 "busy wrapper"
              Expect.throwsT<ArgumentException> (fun () -> FarmProblems.resolve "tsp:9" |> ignore) "unknown"
              Expect.throwsT<ArgumentException> (fun () -> FarmProblems.resolve "k-subset:x:1" |> ignore) "not a number"
          }

          test "no worker: a clear error within the deadline, or the local fallback" {
              let o =
                  { clientOptions () with
                      WorkerDeadline = TimeSpan.FromSeconds 2.0 }

              use farm = SolverFarm.Connect o
              let w = randomWeights 1 3 144
              let sw = Diagnostics.Stopwatch.StartNew()

              Expect.throwsT<SolverFarmUnavailableException> (fun () -> farm.SolveBatch(spec, w) |> ignore) "no worker"
              Expect.isLessThan sw.Elapsed.TotalSeconds 20.0 "gave up near the deadline"
              farm.Dispose()

              use local =
                  SolverFarm.Connect
                      { clientOptions () with
                          WorkerDeadline = TimeSpan.FromSeconds 1.0
                          FallbackToLocal = true }

              let states = local.SolveBatch(spec, w)
              let p = FarmProblems.resolve spec
              Expect.equal states (w |> Array.map (Problem.solve p)) "solved locally"
              Expect.equal local.Stats.LocalFallbacks 3L "three fallbacks"
          }

          test "two workers: a batch gives the local states; a farmed problem works in TensorSolve" {
              use farm = SolverFarm.Connect(clientOptions ())
              let w1 = startWorker farm.Address 2
              let w2 = startWorker farm.Address 2

              try
                  Expect.isTrue
                      (farm.WaitForWorkers(2, TimeSpan.FromSeconds 90.0))
                      (sprintf "two workers joined:\n%s\n%s" (Children.output w1) (Children.output w2))

                  let weights = randomWeights 2 40 144
                  let p = FarmProblems.resolve spec
                  let states = farm.SolveBatch(spec, weights)
                  Expect.equal states (weights |> Array.map (Problem.solve p)) "the same states as local solving"
                  Expect.equal farm.Stats.Completed 40L "40 jobs"

                  use t =
                      torch.tensor (
                          Array.concat weights,
                          dimensions = ReadOnlySpan<int64>([| 8L; 5L; 12L; 12L |]),
                          dtype = torch.ScalarType.Float64
                      )

                  use farmed = TensorSolve.solveWithParallelism 8 (farm.Problem spec) t
                  use localStates = TensorSolve.solve p t

                  Expect.equal
                      (farmed.data<float>().ToArray())
                      (localStates.data<float>().ToArray())
                      "tensor rows solved on the farm = locally"
              finally
                  Children.kill w1
                  Children.kill w2
          }

          test "a worker killed mid-batch: every job completes exactly once from the caller's view" {
              use farm =
                  SolverFarm.Connect
                      { clientOptions () with
                          MaxInFlightPerWorker = 2
                          AskTimeout = TimeSpan.FromSeconds 8.0 }

              let w1 = startWorker farm.Address 2
              let w2 = startWorker farm.Address 2

              try
                  Expect.isTrue (farm.WaitForWorkers(2, TimeSpan.FromSeconds 90.0)) "two workers joined"
                  let slow = "busy:100:" + spec
                  let weights = randomWeights 3 60 144
                  let batch = farm.SolveBatchAsync(slow, weights)
                  Thread.Sleep 1500
                  Expect.isFalse batch.IsCompleted "the batch is still running when the worker is killed"
                  Children.killCommand w2
                  let states = batch.Result
                  let p = FarmProblems.resolve spec
                  Expect.equal states (weights |> Array.map (Problem.solve p)) "all 60 states, each the local one"
                  let stats = farm.Stats
                  Expect.equal stats.Completed 60L "60 jobs completed, each once"
                  Expect.isGreaterThan stats.Retries 0L "jobs in flight on the killed worker were sent again"
                  printfn "fault test: %A" stats
              finally
                  Children.kill w1
                  Children.kill w2
          } ]
