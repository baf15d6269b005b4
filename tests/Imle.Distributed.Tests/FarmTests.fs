/// The solver farm: a client in this process and worker processes of this program, over loopback. TLS tests use a
/// cluster CA and node certificates made at run time in a temporary folder (and a second CA for the impostors).
module Imle.Distributed.Tests.FarmTests

open System
open System.IO
open System.Net
open System.Net.Sockets
open System.Runtime.Serialization
open System.Threading
open Akka.Actor
open Akka.Configuration
open Akka.Serialization
open Expecto
open TorchSharp
open Imle
open Imle.Torch
open Imle.Distributed
open Imle.Tests

/// A free TCP port on loopback.
let private freePort () =
    let l = new TcpListener(IPAddress.Loopback, 0)
    l.Start()
    let port = (l.LocalEndpoint :?> IPEndPoint).Port
    l.Stop()
    port

/// The tests' catalog: the built-in problems and `sleep:MS:SPEC` (SPEC's solver after sleeping MS ms), so that a
/// batch is still in flight when a worker is killed.
let testCatalog: FarmCatalog =
    FarmProblems.builtIn.Add(
        "sleep",
        "sleep:MS:SPEC",
        Func<string[], FarmCatalog, Problem>(fun fields catalog ->
            let ms = FarmProblems.intField "MS" 0 10000 fields.[0]
            let inner = catalog.Resolve(String.Join(":", fields.[1..]))

            inner
            |> Problem.withSolver (fun w ->
                Thread.Sleep ms
                inner.Solve w))
    )

/// A worker's problem that answers every job with the all-ones state: binary and of the right size (so it passes the
/// worker's own check, as it has no feasibility test), but not a path — what a faulty or malicious worker might send.
let private faulty (spec: string) : Problem =
    let p = testCatalog.Resolve spec
    Problem.create p.Name p.Shape p.Sense (fun _ -> Array.create p.Size 1.0)

/// The child modes `farm-worker ARGS` and `farm-faulty-worker ARGS` (ARGS as Imle.SolverWorker's): a worker until
/// killed.
let workerMain (isFaulty: bool) (args: string list) : int =
    let options, parallelism = FarmCommandLine.parse FarmNodeOptions.Default 2 args

    let worker =
        if isFaulty then
            SolverWorker.Start(options, Func<string, Problem>(faulty), parallelism)
        else
            SolverWorker.Start(options, testCatalog, parallelism)

    Console.WriteLine("worker up at " + worker.Address)
    worker.WhenTerminated.Wait()
    0

let private startWorkerWith (mode: string) (args: string) =
    Children.start mode 150 "dotnet" (sprintf "%s %s %s" Children.selfDll mode args) []

let private startWorker (seed: string) (parallelism: int) =
    startWorkerWith "farm-worker" (sprintf "--seed %s --parallelism %d" seed parallelism)

let private clientOptions () =
    { SolverFarmOptions.Default with
        Node =
            { FarmNodeOptions.Default with
                Port = freePort () }
        AskTimeout = TimeSpan.FromSeconds 10.0
        WorkerDeadline = TimeSpan.FromSeconds 60.0
        Catalog = testCatalog }

let private randomWeights (seed: int) (rows: int) (size: int) =
    let rng = Random seed
    Array.init rows (fun _ -> Array.init size (fun _ -> 0.1 + rng.NextDouble()))

let private spec = "grid-shortest-path:12:12"

/// Solves `weights` on the farm and checks that every state is the local solver's.
let private expectLocalStates (farm: SolverFarm) (weights: float[][]) (message: string) =
    let p = FarmProblems.resolve spec
    Expect.equal (farm.SolveBatch(spec, weights)) (weights |> Array.map (Problem.solve p)) message

/// Waits until `f ()` holds (polling), at most `seconds`.
let private eventually (seconds: float) (f: unit -> bool) =
    let sw = Diagnostics.Stopwatch.StartNew()

    while not (f ()) && sw.Elapsed.TotalSeconds < seconds do
        Thread.Sleep 200

    f ()

/// A message that carries raw bytes under the farm serializer's id and a manifest of our choice: what a peer that
/// writes its own frames can put on the wire.
type RawFrame(manifest: string, bytes: byte[]) =
    member _.Manifest = manifest
    member _.Bytes = bytes

/// Writes a `RawFrame`'s bytes as they are, with the farm serializer's id (4711), so the receiver reads them with
/// `FarmSerializer`.
type RawFrameSerializer(system: ExtendedActorSystem) =
    inherit SerializerWithStringManifest(system)
    override _.Identifier = 4711
    override _.Manifest(o: obj) = (o :?> RawFrame).Manifest
    override _.ToBinary(o: obj) = (o :?> RawFrame).Bytes

    override _.FromBinary(_: byte[], _: string) : obj =
        raise (NotSupportedException "RawFrameSerializer only writes.")

/// A job frame: client, id, attempt, spec, then a count of weights and `weights` of them (the count may lie).
let private jobFrame (count: int) (weights: float[]) =
    use ms = new MemoryStream()
    use w = new BinaryWriter(ms)

    let str (s: string) =
        let b = Text.Encoding.UTF8.GetBytes s
        w.Write b.Length
        w.Write b

    str "c"
    w.Write 7L
    w.Write 1
    str spec
    w.Write count

    for x in weights do
        w.Write x

    w.Flush()
    ms.ToArray()

/// Bytes allocated on this thread while `f` runs, and its exception (if any).
let private allocationOf (f: unit -> unit) =
    let before = GC.GetAllocatedBytesForCurrentThread()

    let error =
        try
            f ()
            None
        with e ->
            Some e

    GC.GetAllocatedBytesForCurrentThread() - before, error

let private serializerTests =
    [ test "messages round-trip through the farm's serializer" {
          use system = ActorSystem.Create "serializer-test"
          let s = FarmSerializer(system :?> ExtendedActorSystem)
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

      test "malformed frames are rejected before any large allocation" {
          use system = ActorSystem.Create "serializer-limits"
          let s = FarmSerializer(system :?> ExtendedActorSystem)
          let good = jobFrame 3 [| 1.0; 2.0; 3.0 |]

          let frames =
              [ "a job claiming 2^31 - 1 weights", "J", jobFrame Int32.MaxValue [| 1.0 |]
                "a job claiming more weights than a frame holds", "J", jobFrame (FarmLimits.MaxWeights + 1) [||]
                "a negative count", "J", jobFrame -1 [||]
                "a truncated job", "J", good.[.. good.Length - 5]
                "a job cut inside its id", "J", good.[..8]
                "trailing bytes", "J", Array.append good [| 0uy |]
                "a result claiming 2^31 - 1 ones",
                "R",
                Array.concat
                    [ s.ToBinary(SolveResult("c", 1L, "w", [||], "")).[..21]
                      BitConverter.GetBytes Int32.MaxValue ]
                "a string length of 2^31 - 1", "J", BitConverter.GetBytes Int32.MaxValue
                "an empty frame", "R", [||]
                "an unknown manifest", "X", good ]

          for name, manifest, bytes in frames do
              let allocated, error =
                  allocationOf (fun () -> s.FromBinary(bytes, manifest) |> ignore)

              match error with
              | Some(:? SerializationException as e) ->
                  Expect.stringContains e.Message "FarmSerializer" (name + ": the message names the serializer")
              | other -> failtestf "%s: expected SerializationException, got %A" name other

              Expect.isLessThan allocated (256L * 1024L) (sprintf "%s: allocated %d bytes" name allocated)

          let job = s.FromBinary(good, "J") :?> SolveJob
          Expect.equal job.Weights [| 1.0; 2.0; 3.0 |] "the well-formed frame still reads"

          Expect.throwsT<SerializationException>
              (fun () ->
                  s.ToBinary(SolveJob("c", 1L, 1, spec, Array.zeroCreate (FarmLimits.MaxWeights + 1)))
                  |> ignore)
              "an oversized job is refused on the way out too"
      } ]

let private optionTests =
    [ test "problem specs resolve through catalogs, and bad ones are named" {
          Expect.equal (FarmProblems.resolve spec).Size 144 "12 × 12"
          Expect.equal (FarmProblems.resolve "k-subset:10:3").Size 10 "k-subset"
          Expect.equal (testCatalog.Resolve "sleep:1:categorical:5").Size 5 "a registered wrapper"
          Expect.isFalse (List.contains "busy" FarmProblems.builtIn.Names) "no benchmark job in the library"
          Expect.throwsT<ArgumentException> (fun () -> FarmProblems.resolve "busy:1:categorical:5" |> ignore) "busy"
          Expect.throwsT<ArgumentException> (fun () -> FarmProblems.resolve "tsp:9" |> ignore) "unknown"
          Expect.throwsT<ArgumentException> (fun () -> FarmProblems.resolve "k-subset:x:1" |> ignore) "not a number"

          // The three negative-cost rules pick three different paths on this map (see the solver tests).
          let negativeMap = [| -2.0; -1.0; 1.0; -2.0; -2.0; 2.0 |]

          for rule, path in
              [ "clamp", [| 1.0; 1.0; 0.0; 0.0; 0.0; 1.0 |]
                "shift", [| 1.0; 0.0; 0.0; 0.0; 1.0; 1.0 |]
                "unchanged", [| 1.0; 1.0; 0.0; 1.0; 1.0; 1.0 |] ] do
              let p = FarmProblems.resolve ("grid-shortest-path:2:3:8:" + rule)
              Expect.equal (Problem.solve p negativeMap) path rule

          Expect.throwsT<ArgumentException>
              (fun () -> FarmProblems.resolve "grid-shortest-path:2:3:8:drop" |> ignore)
              "an unknown negative-cost rule"

          Expect.throwsT<ArgumentException>
              (fun () -> FarmProblems.resolve "grid-shortest-path:100000:100000" |> ignore)
              "larger than a frame"

          Expect.throwsT<ArgumentException>
              (fun () ->
                  testCatalog.Add("sleep", "sleep:MS", Func<_, _, _>(fun _ _ -> FarmProblems.resolve spec))
                  |> ignore)
              "a name twice"
      }

      test "plain TCP is refused off loopback; seeds must match the transport; the command line builds TLS options" {
          let off =
              { FarmNodeOptions.Default with
                  Host = "10.11.12.13" }

          let e = Expect.throwsC (fun () -> SolverWorker.Start(off, 1) |> ignore) id

          Expect.stringContains e.Message "--insecure" "the message names the way out"

          let tls = FarmTls.Create("/nonexistent/node.pfx", "", "/nonexistent/ca.pem")

          Expect.throwsT<ArgumentException>
              (fun () ->
                  SolverWorker.Start(
                      { FarmNodeOptions.Default with
                          Tls = Some tls
                          Seeds = [ "akka.tcp://imle-farm@127.0.0.1:4053" ] },
                      1
                  )
                  |> ignore)
              "a plain seed for a TLS node"

          let o, p =
              FarmCommandLine.parse
                  FarmNodeOptions.Default
                  1
                  [ "--host"
                    "10.0.0.2"
                    "--cert"
                    "n.pem"
                    "--key"
                    "n.key"
                    "--ca"
                    "ca.pem"
                    "--pin"
                    "AB:CD"
                    "--parallelism"
                    "3" ]

          Expect.equal (o.Host, p) ("10.0.0.2", 3) "host and parallelism"

          Expect.equal
              o.Tls
              (Some
                  { tls with
                      Certificate = "n.pem"
                      Key = "n.key"
                      CaCertificate = "ca.pem"
                      PinnedThumbprints = [ "AB:CD" ] })
              "TLS"

          Expect.isTrue (fst (FarmCommandLine.parse FarmNodeOptions.Default 1 [ "--insecure" ])).Insecure "--insecure"

          Expect.throwsT<ArgumentException>
              (fun () -> FarmCommandLine.parse FarmNodeOptions.Default 1 [ "--cert"; "n.pfx" ] |> ignore)
              "no CA"

          Expect.throwsT<ArgumentException>
              (fun () -> FarmCommandLine.parse FarmNodeOptions.Default 1 [ "--ca"; "ca.pem" ] |> ignore)
              "no cert"
      } ]

/// A remote-only node with the farm's serializer and TLS on (its certificate comes through a DotNettySslSetup).
let private recklessHocon =
    """
akka {
  loglevel = WARNING
  actor {
    provider = remote
    serializers { imle-farm = "Imle.Distributed.FarmSerializer, Imle.Distributed" }
    serialization-bindings {
      "Imle.Distributed.SolveJob, Imle.Distributed" = imle-farm
      "Imle.Distributed.SolveResult, Imle.Distributed" = imle-farm
    }
  }
  remote.dot-netty.tcp { hostname = "127.0.0.1", port = 0, enable-ssl = on }
}"""

let private certificateTests =
    [ test "TLS settings: a certificate without its key, no CA and no pins, or a missing file are named" {
          let folder = TestCertificates.tempFolder "imle-farm-options"

          try
              let ca = TestCertificates.createCa folder "options"
              let cert, key = TestCertificates.issue ca "node" true

              let refusal (tls: FarmTls) =
                  let e =
                      Expect.throwsC
                          (fun () ->
                              SolverWorker.Start(
                                  { FarmNodeOptions.Default with
                                      Tls = Some tls },
                                  1
                              )
                              |> ignore)
                          id

                  Expect.isTrue (e :? ArgumentException) (sprintf "ArgumentException, got %O" e)
                  e.Message

              Expect.stringContains
                  (refusal (FarmTls.Create(cert, "", ca.CaPath)))
                  "Could not read the certificate"
                  "no key"

              Expect.stringContains (refusal (FarmTls.Create(cert, key, ""))) "Tls.CaCertificate" "no CA, no pins"

              Expect.stringContains
                  (refusal (FarmTls.Create(cert, key, Path.Combine(folder, "absent.pem"))))
                  "does not exist"
                  "a missing CA file"
          finally
              Directory.Delete(folder, true)
      } ]

let private clusterTests =
    [ test "no worker: a clear error within the deadline, or the local fallback" {
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
              expectLocalStates farm weights "the same states as local solving"
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
              let slow = "sleep:100:" + spec
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
      }

      test "a worker answering with infeasible states is caught: each job completes once with the right state" {
          use farm =
              SolverFarm.Connect
                  { clientOptions () with
                      MaxInFlightPerWorker = 2
                      WorkerDeadline = TimeSpan.FromSeconds 3.0
                      FallbackToLocal = true }

          let bad = startWorkerWith "farm-faulty-worker" (sprintf "--seed %s" farm.Address)
          let good = startWorker farm.Address 2

          try
              Expect.isTrue
                  (farm.WaitForWorkers(2, TimeSpan.FromSeconds 90.0))
                  (sprintf "both workers joined:\n%s\n%s" (Children.output bad) (Children.output good))

              expectLocalStates farm (randomWeights 4 30 144) "every state is the local one"
              let stats = farm.Stats
              Expect.equal stats.Completed 30L "30 jobs completed, each once"
              Expect.isGreaterThan stats.Rejected 0L "the faulty worker's answers were rejected"
              Expect.equal stats.LocalFallbacks 0L "the good worker solved them"
              Expect.equal farm.Workers 1 "the faulty worker is no longer used"
              printfn "faulty-worker test: %A" stats

              // With the good worker gone, jobs fall back to local solving (the faulty one stays banned).
              Children.killCommand good
              Expect.isTrue (eventually 30.0 (fun () -> farm.Workers = 0)) "the killed worker left the pool"
              expectLocalStates farm (randomWeights 5 3 144) "solved locally"
              Expect.equal farm.Stats.LocalFallbacks 3L "three local fallbacks"
          finally
              Children.kill bad
              Children.kill good
      }

      test "a malformed frame over the wire is dropped with a log line, and the worker keeps serving" {
          let port = freePort ()
          let worker = startWorkerWith "farm-worker" (sprintf "--port %d" port)
          let address = sprintf "akka.tcp://imle-farm@127.0.0.1:%d" port

          let hocon =
              sprintf
                  """
akka {
  loglevel = WARNING
  actor {
    provider = remote
    serializers { raw = "%s" }
    serialization-bindings { "%s" = raw }
  }
  remote.dot-netty.tcp { hostname = "127.0.0.1", port = 0 }
}"""
                  typeof<RawFrameSerializer>.AssemblyQualifiedName
                  typeof<RawFrame>.AssemblyQualifiedName

          use sender = ActorSystem.Create("imle-farm", ConfigurationFactory.ParseString hocon)

          try
              Expect.isTrue
                  (eventually 90.0 (fun () -> (Children.output worker).Contains "worker up at"))
                  (sprintf "the worker started:\n%s" (Children.output worker))

              let target = sender.ActorSelection(address + "/user/imle-solver")
              target.Tell(RawFrame("J", jobFrame Int32.MaxValue [| 1.0 |]))
              let truncated = jobFrame 144 (Array.create 144 1.0)
              target.Tell(RawFrame("J", truncated.[.. truncated.Length - 9]))

              Expect.isTrue
                  (eventually 30.0 (fun () ->
                      let out = Children.output worker
                      out.Split("Deserialization failed").Length - 1 >= 2))
                  (sprintf "both frames were dropped with a log line:\n%s" (Children.output worker))

              printfn "malformed-frame test, the worker's log:\n%s" (Children.output worker)
              Expect.stringContains (Children.output worker) "2147483647 entries claimed" "the log names the fault"

              use farm =
                  SolverFarm.Connect
                      { clientOptions () with
                          Node =
                              { FarmNodeOptions.Default with
                                  Seeds = [ address ] } }

              Expect.isTrue (farm.WaitForWorkers(1, TimeSpan.FromSeconds 60.0)) "the worker is still a member"
              expectLocalStates farm (randomWeights 6 10 144) "it still solves"
              Expect.isFalse worker.Process.HasExited "the worker process is up"
          finally
              Children.kill worker
      }

      test
          "mutual TLS: a node with the cluster's certificate joins and solves; no certificate or another CA's cannot join or submit" {
          let folder = TestCertificates.tempFolder "imle-farm-tls"

          try
              let ca = TestCertificates.createCa folder "cluster"
              let other = TestCertificates.createCa folder "impostor"
              let seedCert, _ = TestCertificates.issue ca "seed-worker" false
              let clientCert, clientKey = TestCertificates.issue ca "client" true
              let rogueCert, _ = TestCertificates.issue other "rogue" false
              let port = freePort ()
              let tlsSeed = sprintf "akka.ssl.tcp://imle-farm@127.0.0.1:%d" port
              let plainSeed = sprintf "akka.tcp://imle-farm@127.0.0.1:%d" port

              let seed =
                  startWorkerWith "farm-worker" (sprintf "--port %d --cert %s --ca %s" port seedCert ca.CaPath)

              let client (tls: FarmTls option) (seeds: string list) (deadline: float) =
                  SolverFarm.Connect
                      { clientOptions () with
                          Node =
                              { FarmNodeOptions.Default with
                                  Seeds = seeds
                                  Tls = tls }
                          WorkerDeadline = TimeSpan.FromSeconds deadline }

              let rogueWorker =
                  startWorkerWith "farm-worker" (sprintf "--seed %s --cert %s --ca %s" tlsSeed rogueCert other.CaPath)

              let plainWorker = startWorker plainSeed 1
              let weights = randomWeights 7 12 144
              let p = FarmProblems.resolve spec

              try
                  use good =
                      client (Some(FarmTls.Create(clientCert, clientKey, ca.CaPath))) [ tlsSeed ] 60.0

                  Expect.isTrue
                      (good.WaitForWorkers(1, TimeSpan.FromSeconds 90.0))
                      (sprintf "the TLS worker joined:\n%s" (Children.output seed))

                  Expect.equal
                      (good.SolveBatch(spec, weights))
                      (weights |> Array.map (Problem.solve p))
                      "solved over TLS"

                  use impostor =
                      client (Some(FarmTls.Create(rogueCert, "", other.CaPath))) [ tlsSeed ] 8.0

                  Expect.throwsT<SolverFarmUnavailableException>
                      (fun () -> impostor.SolveBatch(spec, weights) |> ignore)
                      "another CA's client cannot submit"

                  use plain = client None [ plainSeed ] 8.0

                  Expect.throwsT<SolverFarmUnavailableException>
                      (fun () -> plain.SolveBatch(spec, weights) |> ignore)
                      "a client without a certificate cannot submit"

                  // An impostor that accepts any server certificate: only the seed's check of the client's
                  // certificate stands between it and the solver.
                  use reckless =
                      ActorSystem.Create(
                          "imle-farm",
                          Akka.Actor.Setup.ActorSystemSetup.Create(
                              Akka.Actor.BootstrapSetup
                                  .Create()
                                  .WithConfig(ConfigurationFactory.ParseString recklessHocon),
                              Akka.Remote.Transport.DotNetty.DotNettySslSetup(
                                  Security.Cryptography.X509Certificates.X509CertificateLoader.LoadPkcs12FromFile(
                                      rogueCert,
                                      null
                                  ),
                                  true,
                                  true
                              )
                          )
                      )

                  let ask =
                      reckless
                          .ActorSelection(tlsSeed + "/user/imle-solver")
                          .Ask<SolveResult>(
                              SolveJob("impostor", 1L, 1, spec, weights.[0]),
                              Nullable(TimeSpan.FromSeconds 8.0)
                          )

                  Expect.throws (fun () -> ask.Wait()) "a job from a certificate of another CA gets no answer"

                  Expect.isTrue
                      (eventually 30.0 (fun () -> (Children.output seed).Contains "Imle farm TLS: refused"))
                      (sprintf "the seed logged the refused handshakes:\n%s" (Children.output seed))

                  Expect.stringContains
                      (Children.output seed)
                      "(CN=rogue) does not chain to the cluster CA"
                      "the seed named the impostor"

                  Expect.equal good.Workers 1 "the impostor workers never joined"
                  Expect.equal impostor.Workers 0 "the impostor client sees no worker"
                  Expect.isFalse seed.Process.HasExited "the seed is up"

                  Expect.equal
                      (good.SolveBatch(spec, weights))
                      (weights |> Array.map (Problem.solve p))
                      "and still solves"
              finally
                  Children.kill rogueWorker
                  Children.kill plainWorker
                  Children.kill seed
          finally
              try
                  Directory.Delete(folder, true)
              with _ ->
                  ()
      } ]

[<Tests>]
let tests =
    testSequenced
    <| testList "farm" (serializerTests @ optionTests @ certificateTests @ clusterTests)
