/// Benchmark cases of Imle.Distributed: the cost of averaging the gradients of a 1 M-parameter model over 2 MPI ranks
/// (case 7, run under `mpirun -np 2`), and the throughput of a solver farm with 1 and 2 worker nodes over plain TCP and
/// with 2 nodes over mutual TLS (case 8, worker processes over loopback). Both start child processes of this program
/// (`--mpi-allreduce-rank`, `--farm-worker`), each under `timeout -s KILL` and killed by PID afterwards. The farm's
/// CPU-bound job type, `busy:MS:SPEC`, is the bench's own: it is registered in the catalog that the client and the
/// workers of case 8 share (the library's built-in catalog has no such job).
module Imle.Bench.DistributedCases

open System
open System.Diagnostics
open System.IO
open System.Net
open System.Net.Sockets
open System.Text.Json.Nodes
open TorchSharp
open Imle
open Imle.Torch
open Imle.Distributed
open Imle.Tests
open Imle.Bench.Timing
open Imle.Bench.Cases

/// 1000 → 1000 → 58: 1,059,058 parameters.
type private Mlp() as this =
    inherit torch.nn.Module<torch.Tensor, torch.Tensor>("mlp")
    let l1 = torch.nn.Linear(1000L, 1000L)
    let l2 = torch.nn.Linear(1000L, 58L)
    do this.RegisterComponents()

    override _.forward(x: torch.Tensor) =
        use h = l1.forward x
        use a = torch.nn.functional.relu h
        l2.forward a

let private selfDll = typeof<Mlp>.Assembly.Location

/// `timeout -s KILL seconds file args`, output collected.
let private start (seconds: int) (file: string) (args: string) (env: (string * string) list) =
    let psi =
        ProcessStartInfo("timeout", sprintf "-s KILL %d %s %s" seconds file args, UseShellExecute = false)

    psi.RedirectStandardOutput <- true
    psi.RedirectStandardError <- true

    for k, v in env do
        psi.Environment.[k] <- v

    let out = Text.StringBuilder()
    let p = new Process(StartInfo = psi)

    let add (e: DataReceivedEventArgs) =
        if not (isNull e.Data) then
            lock out (fun () -> out.AppendLine e.Data |> ignore)

    p.OutputDataReceived.Add add
    p.ErrorDataReceived.Add add
    p.Start() |> ignore
    p.BeginOutputReadLine()
    p.BeginErrorReadLine()
    p, out

/// SIGKILL to the command under `timeout` (its child processes) and to `timeout` itself.
let private kill (p: Process) =
    if not p.HasExited then
        let children =
            try
                File
                    .ReadAllText(sprintf "/proc/%d/task/%d/children" p.Id p.Id)
                    .Split(' ', StringSplitOptions.RemoveEmptyEntries)
            with _ ->
                [||]

        for c in children do
            try
                Process.GetProcessById(int c).Kill(true)
            with _ ->
                ()

        try
            p.Kill()
        with _ ->
            ()

/// The child mode `--mpi-allreduce-rank FILE REPS`: one of 2 ranks. Times a training step (batch 64, SGD) with and
/// without `AverageGradients`, alternately, and `AverageGradients` alone; rank 0 writes the medians to FILE.
let private allreduceRank (file: string) (reps: int) =
    torch.set_num_threads 1
    let dp = DataParallel()
    torch.random.manual_seed 1L |> ignore
    let model = new Mlp()
    let optimizer = torch.optim.SGD(model.parameters (), 0.001)
    let x = torch.randn (64L, 1000L)
    let y = torch.randn (64L, 58L)
    dp.CheckIdentical model

    let backward () =
        optimizer.zero_grad ()

        let loss =
            torch.nn.functional.mse_loss (model.forward x, y, torch.nn.Reduction.Mean)

        Training.backward loss

    let stepWith (average: bool) () =
        backward ()

        if average then
            dp.AverageGradients model

        optimizer.step () |> ignore

    let timeOne (f: unit -> unit) =
        dp.Communicator.Barrier()
        let sw = Stopwatch.StartNew()
        scoped f
        sw.Elapsed.TotalMilliseconds

    for _ in 1..5 do
        timeOne (stepWith true) |> ignore

    let withAvg = Array.init reps (fun _ -> timeOne (stepWith true))
    let identical = dp.AreIdentical model

    let reduceOnly =
        Array.init reps (fun _ ->
            scoped backward
            timeOne (fun () -> dp.AverageGradients model))

    let without = Array.init reps (fun _ -> timeOne (stepWith false))
    let parameters = model.parameters () |> Seq.sumBy (fun p -> p.numel ())

    if dp.IsRoot then
        let o = JsonObject()
        let put (k: string) (s: Stat) = o.[k] <- JsonValue.Create s.Median
        put "withMs" (stat withAvg)
        put "withoutMs" (stat without)
        put "reduceMs" (stat reduceOnly)
        o.["reduceMinMs"] <- JsonValue.Create (stat reduceOnly).Min
        o.["parameters"] <- JsonValue.Create parameters
        o.["identical"] <- JsonValue.Create identical
        o.["backend"] <- JsonValue.Create(string dp.Communicator.Backend)
        File.WriteAllText(file, o.ToJsonString())

    dp.Communicator.Shutdown()
    0

/// The child mode `--mpi-warcraft-rank FILE STEPS`: one data-parallel rank (or, without a launcher, the single process)
/// of case 11. The Warcraft step of case 10 (ResNet18's first block, batch 70 per rank, K = 12, I-MLE S = 1, Philox
/// noise) on one intra-op thread and one solver thread; after a barrier, `steps` steps back to back with
/// `AverageGradients` before each optimizer step, then `steps` without it, three rounds alternating; rank 0 writes the
/// median ms per step of each and of the averaging alone.
let private warcraftRank (file: string) (steps: int) =
    torch.set_num_threads 1
    let dp = DataParallel()
    let setup = WarcraftStep.Setup(false, 1, Philox, 1)
    dp.CheckIdentical setup.Model
    let averaging = Collections.Generic.List<float>()

    let average () =
        let sw = Stopwatch.StartNew()
        dp.AverageGradients setup.Model
        averaging.Add sw.Elapsed.TotalMilliseconds

    let perStep (withAveraging: bool) =
        dp.Communicator.Barrier()
        let sw = Stopwatch.StartNew()

        for _ in 1..steps do
            setup.StepWith(if withAveraging then average else ignore) |> ignore

        dp.Communicator.Barrier()
        sw.Elapsed.TotalMilliseconds / float steps

    for _ in 1..2 do
        setup.StepWith average |> ignore

    averaging.Clear()

    let rounds =
        Array.init 3 (fun _ ->
            let w = perStep true
            w, perStep false)

    let identical = dp.AreIdentical setup.Model

    if dp.IsRoot then
        let o = JsonObject()
        o.["withMs"] <- JsonValue.Create (stat (Array.map fst rounds)).Median
        o.["withoutMs"] <- JsonValue.Create (stat (Array.map snd rounds)).Median
        o.["averageMs"] <- JsonValue.Create (stat (averaging.ToArray())).Median
        o.["ranks"] <- JsonValue.Create dp.Communicator.Size
        o.["identical"] <- JsonValue.Create identical
        o.["backend"] <- JsonValue.Create(string dp.Communicator.Backend)
        File.WriteAllText(file, o.ToJsonString())

    dp.Communicator.Shutdown()
    0

/// CPU work for `ms` milliseconds (a stand-in for an expensive MILP).
let private spin (ms: int) =
    let sw = Stopwatch.StartNew()
    let mutable x = 0.0

    while sw.Elapsed.TotalMilliseconds < float ms do
        x <- x + 1.0

    x

/// The farm catalog of case 8: the built-in problems and `busy:MS:SPEC`, SPEC's solver after MS ms of CPU work.
let farmCatalog: FarmCatalog =
    FarmProblems.builtIn.Add(
        "busy",
        "busy:MS:SPEC",
        Func<string[], FarmCatalog, Problem>(fun fields catalog ->
            if fields.Length < 2 then
                invalidArg "spec" "busy needs MS and an inner spec: busy:MS:SPEC."

            let ms = FarmProblems.intField "MS" 0 60000 fields.[0]
            let inner = catalog.Resolve(String.Join(":", fields.[1..]))

            inner
            |> Problem.withSolver (fun w ->
                spin ms |> ignore
                inner.Solve w)
            |> fun p -> p.WithName(sprintf "busy:%d:%s" ms inner.Name))
    )

/// The child mode `--farm-worker ARGS`: a solver worker of `farmCatalog` until killed (ARGS as Imle.SolverWorker's).
let private farmWorker (args: string list) =
    let options, parallelism = FarmCommandLine.parse FarmNodeOptions.Default 1 args
    let w = SolverWorker.Start(options, farmCatalog, parallelism)
    w.WhenTerminated.Wait()
    0

/// Runs a child mode of this program when `argv` asks for one.
let childMode (argv: string[]) : int option =
    match List.ofArray argv with
    | [ "--mpi-allreduce-rank"; file; reps ] -> Some(allreduceRank file (int reps))
    | [ "--mpi-warcraft-rank"; file; steps ] -> Some(warcraftRank file (int steps))
    | "--farm-worker" :: args -> Some(farmWorker args)
    | _ -> None

let private row case ours floor target notes extra =
    { Case = case
      Ours = ours
      Reference = None
      Floor = floor
      Target = target
      Met = None
      Notes = notes
      Extra = extra }

/// Whether `mpirun` (Open MPI or MPICH) is on PATH: case 7 needs it.
let mpirunAvailable () : bool =
    match Environment.GetEnvironmentVariable "PATH" with
    | null -> false
    | path ->
        path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
        |> Array.exists (fun dir -> File.Exists(Path.Combine(dir, "mpirun")))

/// Case 7: `mpirun -np 2` over shared memory; ours = a step with the gradient averaging, floor = the same step without.
let caseAllreduce (quick: bool) : Row =
    let file =
        Path.Combine(Path.GetTempPath(), sprintf "imle-bench-allreduce-%d.json" (Environment.ProcessId))

    let reps = if quick then 20 else 60

    let env =
        [ "OMPI_ALLOW_RUN_AS_ROOT", "1"
          "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"
          "OMPI_MCA_btl_vader_single_copy_mechanism", "none" ]

    let args =
        sprintf
            "-np 2 --oversubscribe --bind-to none --mca btl self,vader -x TERM=dumb -x OMPI_MCA_btl_vader_single_copy_mechanism dotnet %s --mpi-allreduce-rank %s %d"
            selfDll
            file
            reps

    let p, out = start 300 "mpirun" args env

    try
        p.WaitForExit()

        if p.ExitCode <> 0 || not (File.Exists file) then
            failwithf "mpirun -np 2 (case 7) failed with exit code %d:\n%s" p.ExitCode (out.ToString())
    finally
        kill p

    let o = JsonNode.Parse(File.ReadAllText file)
    File.Delete file
    let ms (k: string) = o.[k].GetValue<float>()

    let s v =
        Some
            { Median = v
              Min = v
              Max = v
              Reps = reps }

    row
        "7. data-parallel step, 1,059,058-parameter MLP, batch 64 per rank, 2 MPI ranks (Allreduce of the gradients)"
        (s (ms "withMs"))
        (s (ms "withoutMs"))
        "report the Allreduce cost"
        (sprintf
            "ours = one SGD step with DataParallel.AverageGradients (one flattened float32 buffer, MPI_Allreduce in place, divide, copy back), floor = the same step without it; AverageGradients alone %.2f ms (median; min %.2f). %s, 2 local ranks (mpirun --mca btl self,vader), 1 torch thread per rank; ranks bit-identical after the averaged steps: %b."
            (ms "reduceMs")
            (ms "reduceMinMs")
            (o.["backend"].GetValue<string>())
            (o.["identical"].GetValue<bool>()))
        [ "allreduceMs", JsonValue.Create(ms "reduceMs") :> JsonNode
          "parameters", JsonValue.Create(o.["parameters"].GetValue<int64>()) :> JsonNode ]

/// Runs `dotnet <this program> args` under `mpirun -np ranks` (ranks > 1) or directly (ranks = 1), then reads the JSON
/// the root rank wrote to `file`.
let private runRanks (ranks: int) (case: string) (childArgs: string -> string) : JsonNode =
    let file =
        Path.Combine(Path.GetTempPath(), sprintf "imle-bench-%s-%d-%d.json" case ranks Environment.ProcessId)

    let env =
        [ "OMPI_ALLOW_RUN_AS_ROOT", "1"
          "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"
          "OMPI_MCA_btl_vader_single_copy_mechanism", "none" ]

    let p, out =
        if ranks = 1 then
            start 900 "dotnet" (sprintf "%s %s" selfDll (childArgs file)) env
        else
            start
                900
                "mpirun"
                (sprintf
                    "-np %d --oversubscribe --bind-to none --mca btl self,vader -x TERM=dumb -x OMPI_MCA_btl_vader_single_copy_mechanism dotnet %s %s"
                    ranks
                    selfDll
                    (childArgs file))
                env

    try
        p.WaitForExit()

        if p.ExitCode <> 0 || not (File.Exists file) then
            failwithf "%s on %d rank(s) failed with exit code %d:\n%s" case ranks p.ExitCode (out.ToString())
    finally
        kill p

    let o = JsonNode.Parse(File.ReadAllText file)
    File.Delete file
    o

/// Case 11: the Warcraft training step data-parallel on 2 MPI ranks (one thread each, batch 70 per rank) against one
/// process with one thread (batch 70): throughput in maps per second, and the averaging's share of a rank's step.
let caseWarcraftRanks (quick: bool) : Row =
    let steps = if quick then 4 else 10

    let childArgs file =
        sprintf "--mpi-warcraft-rank %s %d" file steps

    let one = runRanks 1 "warcraft" childArgs
    let two = runRanks 2 "warcraft" childArgs
    let ms (o: JsonNode) (k: string) = o.[k].GetValue<float>()

    let throughput (o: JsonNode) =
        float (o.["ranks"].GetValue<int>()) * 70.0 / ms o "withMs" * 1000.0

    let speedUp = throughput two / throughput one
    let share = (ms two "withMs" - ms two "withoutMs") / ms two "withMs"

    let s v =
        Some
            { Median = v
              Min = v
              Max = v
              Reps = 3 }

    { row
          "11. data-parallel Warcraft step (ResNet18 first block, K = 12, I-MLE S = 1), 2 MPI ranks × 1 thread vs 1 process × 1 thread, batch 70 per process"
          (s (ms two "withMs"))
          (s (ms one "withMs"))
          "2 ranks ≥ 1.7× the maps per second of 1 process; the averaging adds ≤ 20 % to a step"
          (sprintf
              "ours = ms per step on each of 2 ranks (AverageGradients before every optimizer step), floor = ms per step of one process with one thread (its AverageGradients is the identity); median of 3 rounds of %d steps back to back. Throughput: 1 process %.1f maps/s, 2 ranks %.1f maps/s (%.2f×). The 2 ranks' step without averaging: %.1f ms; averaging alone %.2f ms (median), so it adds %.1f %% to a step (the difference of the two step times, waiting included). %s, mpirun --mca btl self,vader; ranks bit-identical at the end: %b."
              steps
              (throughput one)
              (throughput two)
              speedUp
              (ms two "withoutMs")
              (ms two "averageMs")
              (100.0 * share)
              (two.["backend"].GetValue<string>())
              (two.["identical"].GetValue<bool>()))
          [ "speedUp", JsonValue.Create speedUp :> JsonNode
            "averagingShare", JsonValue.Create share :> JsonNode ] with
        Met = Some(speedUp >= 1.7 && share <= 0.2) }

/// One farm of case 8 (plain TCP, or mutual TLS with certificates of a fresh test CA): a client in this process and
/// worker processes; returns the batch time (ms) with 1 and with 2 workers (`oneNode` false: 2 only) and the retries.
let private farmRun (jobs: int) (tls: bool) (oneNode: bool) : float option * float * int64 =
    let spec = "busy:25:grid-shortest-path:12:12"
    let folder = TestCertificates.tempFolder "imle-bench-farm"

    try
        let ca = TestCertificates.createCa folder "bench"

        let nodeTls (name: string) =
            let cert, key = TestCertificates.issue ca name false
            FarmTls.Create(cert, key, ca.CaPath)

        let port =
            let l = new TcpListener(IPAddress.Loopback, 0)
            l.Start()
            let p = (l.LocalEndpoint :?> IPEndPoint).Port
            l.Stop()
            p

        use farm =
            SolverFarm.Connect
                { SolverFarmOptions.Default with
                    Node =
                        { FarmNodeOptions.Default with
                            Port = port
                            Tls = (if tls then Some(nodeTls "client") else None) }
                    MaxInFlightPerWorker = 2
                    Catalog = farmCatalog }

        let rng = Random 11

        let weights =
            Array.init jobs (fun _ -> Array.init 144 (fun _ -> 0.1 + rng.NextDouble()))

        let worker (name: string) =
            let tlsArgs =
                if tls then
                    let t = nodeTls name
                    sprintf " --cert %s --ca %s" t.Certificate t.CaCertificate
                else
                    ""

            start 600 "dotnet" (sprintf "%s --farm-worker --seed %s --parallelism 1%s" selfDll farm.Address tlsArgs) []

        let batch (nodes: int) =
            if not (farm.WaitForWorkers(nodes, TimeSpan.FromSeconds 120.0)) then
                failwithf "case 8: %d worker(s) did not join within 120 s (TLS %b)" nodes tls

            farm.SolveBatch(spec, weights.[..7]) |> ignore
            let sw = Stopwatch.StartNew()
            farm.SolveBatch(spec, weights) |> ignore
            sw.Elapsed.TotalMilliseconds

        let w1, _ = worker "worker-1"

        try
            let one = if oneNode then Some(batch 1) else None
            let w2, _ = worker "worker-2"

            try
                let two = batch 2
                one, two, farm.Stats.Retries
            finally
                kill w2
        finally
            kill w1
    finally
        try
            Directory.Delete(folder, true)
        with _ ->
            ()

/// Case 8: a batch of CPU-bound jobs (12×12 shortest paths after 25 ms of CPU work each) on a farm of 2 worker
/// processes (1 job at a time each, 2 in flight) over mutual TLS; ours = TLS, floor = the same over plain TCP (per
/// batch); the plain farm's 1-node time gives the scaling.
let caseFarm (quick: bool) : Row =
    let jobs = if quick then 40 else 120
    let onePlain, twoPlain, retriesPlain = farmRun jobs false true
    let _, twoTls, retriesTls = farmRun jobs true false
    let one = onePlain |> Option.defaultValue nan
    let rate ms = float jobs / (ms / 1000.0)

    let s v =
        Some
            { Median = v
              Min = v
              Max = v
              Reps = 1 }

    row
        (sprintf
            "8. solver farm: %d jobs (25 ms of CPU + a 12×12 shortest path each) on 2 worker nodes, mutual TLS vs plain TCP"
            jobs)
        (s twoTls)
        (s twoPlain)
        "report the throughput"
        (sprintf
            "Akka.NET cluster over loopback: this process is the client (and seed), workers are child processes solving 1 job at a time, at most 2 in flight each. Plain TCP: 1 node %.1f jobs/s, 2 nodes %.1f jobs/s (%.2f×). Mutual TLS (ECDSA P-256 certificates of a cluster CA, checked on both sides): 2 nodes %.1f jobs/s. Retries: %d plain, %d TLS. The nodes share this machine's cores with the client."
            (rate one)
            (rate twoPlain)
            (one / twoPlain)
            (rate twoTls)
            retriesPlain
            retriesTls)
        [ "jobsPerSecond1", JsonValue.Create(rate one) :> JsonNode
          "jobsPerSecond2", JsonValue.Create(rate twoPlain) :> JsonNode
          "jobsPerSecond2Tls", JsonValue.Create(rate twoTls) :> JsonNode ]
