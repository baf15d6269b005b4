namespace Imle.Distributed

open System
open System.Collections.Generic
open System.Diagnostics
open System.IO
open System.Threading
open System.Threading.Tasks
open Akka.Actor
open Akka.Cluster
open Akka.Configuration
open Akka.Serialization
open Imle
open Imle.Solvers

/// One MAP job sent to a worker: the problem's catalog name, the weights of one instance (in the problem's sense), and
/// the job's identity (the client's id and a number unique per client) so that results can be de-duplicated.
[<Sealed>]
type SolveJob(client: string, jobId: int64, attempt: int, problem: string, weights: float[]) =
    /// The sending client's id.
    member _.Client = client
    /// The job's number, unique per client.
    member _.JobId = jobId
    /// 1 for the first delivery, 2.. for retries.
    member _.Attempt = attempt
    /// The problem's catalog name (see `FarmProblems.resolve`).
    member _.Problem = problem
    /// The weights.
    member _.Weights = weights

/// A worker's answer to a `SolveJob`: the indices of the state's ones (states are binary), or an error message.
[<Sealed>]
type SolveResult(client: string, jobId: int64, worker: string, ones: int[], error: string) =
    /// The client's id, as in the job.
    member _.Client = client
    /// The job's number.
    member _.JobId = jobId
    /// The worker's address.
    member _.Worker = worker
    /// The indices of the ones of the MAP state.
    member _.Ones = ones
    /// Empty on success; otherwise the worker's error message (the job is not retried: solvers are deterministic).
    member _.Error = error

/// Akka.NET serializer of the farm's two messages: plain binary arrays (no type names, no BinaryFormatter).
type FarmSerializer(system: ExtendedActorSystem) =
    inherit SerializerWithStringManifest(system)

    /// The serializer's id (unique in the actor system).
    override _.Identifier = 4711

    /// "J" for a job, "R" for a result.
    override _.Manifest(o: obj) =
        match o with
        | :? SolveJob -> "J"
        | :? SolveResult -> "R"
        | _ ->
            invalidArg
                "o"
                (sprintf "FarmSerializer serializes SolveJob and SolveResult only; got %s." (o.GetType().FullName))

    /// The message as bytes.
    override _.ToBinary(o: obj) =
        use ms = new MemoryStream()
        use w = new BinaryWriter(ms)

        match o with
        | :? SolveJob as j ->
            w.Write j.Client
            w.Write j.JobId
            w.Write j.Attempt
            w.Write j.Problem
            w.Write j.Weights.Length

            for x in j.Weights do
                w.Write x
        | :? SolveResult as r ->
            w.Write r.Client
            w.Write r.JobId
            w.Write r.Worker
            w.Write r.Error
            w.Write r.Ones.Length

            for i in r.Ones do
                w.Write i
        | _ ->
            invalidArg
                "o"
                (sprintf "FarmSerializer serializes SolveJob and SolveResult only; got %s." (o.GetType().FullName))

        w.Flush()
        ms.ToArray()

    /// The message from bytes.
    override _.FromBinary(bytes: byte[], manifest: string) : obj =
        use r = new BinaryReader(new MemoryStream(bytes))

        match manifest with
        | "J" ->
            let client = r.ReadString()
            let id = r.ReadInt64()
            let attempt = r.ReadInt32()
            let problem = r.ReadString()
            let n = r.ReadInt32()
            let weights = Array.init n (fun _ -> r.ReadDouble())
            SolveJob(client, id, attempt, problem, weights)
        | "R" ->
            let client = r.ReadString()
            let id = r.ReadInt64()
            let worker = r.ReadString()
            let error = r.ReadString()
            let n = r.ReadInt32()
            let ones = Array.init n (fun _ -> r.ReadInt32())
            SolveResult(client, id, worker, ones, error)
        | m ->
            raise (
                System.Runtime.Serialization.SerializationException(sprintf "FarmSerializer: unknown manifest '%s'." m)
            )

/// The problems a worker can solve by name. Both sides resolve the same name to the same problem, so a farmed solve
/// equals a local one.
[<RequireQualifiedAccess>]
module FarmProblems =

    let private parseInt (spec: string) (what: string) (s: string) =
        match Int32.TryParse s with
        | true, v -> v
        | _ -> invalidArg "spec" (sprintf "Problem spec '%s': %s must be an integer; got '%s'." spec what s)

    let private spin (ms: int) =
        let sw = Stopwatch.StartNew()
        let mutable x = 0.0

        while sw.Elapsed.TotalMilliseconds < float ms do
            x <- x + 1.0

        x

    /// The problem named by `spec`:
    /// `grid-shortest-path:ROWS:COLS[:4|8[:clamp|shift]]` (Warcraft maps; default 8 neighbours, clamp negatives),
    /// `k-subset:M:K`, `categorical:M`, and `busy:MS:SPEC` — SPEC's solver after MS milliseconds of CPU work (a
    /// stand-in for an expensive MILP, for benchmarks and tests). ArgumentException naming the allowed forms otherwise.
    let rec resolve (spec: string) : Problem =
        if String.IsNullOrWhiteSpace spec then
            invalidArg "spec" "spec must be a problem name such as 'grid-shortest-path:12:12'."

        let parts = spec.Trim().Split(':')

        let bad () =
            invalidArg
                "spec"
                (sprintf
                    "Unknown problem spec '%s'. Allowed: grid-shortest-path:ROWS:COLS[:4|8[:clamp|shift]], k-subset:M:K, categorical:M, busy:MS:SPEC."
                    spec)

        match parts.[0].ToLowerInvariant() with
        | "grid-shortest-path" when parts.Length >= 3 && parts.Length <= 5 ->
            let rows = parseInt spec "ROWS" parts.[1]
            let cols = parseInt spec "COLS" parts.[2]

            let neighbourhood =
                if parts.Length < 4 then
                    Eight
                else
                    match parts.[3] with
                    | "4" -> Four
                    | "8" -> Eight
                    | _ -> bad ()

            let negative =
                if parts.Length < 5 then
                    ClampToZero
                else
                    match parts.[4].ToLowerInvariant() with
                    | "clamp" -> ClampToZero
                    | "shift" -> ShiftToZero
                    | _ -> bad ()

            Problem.gridShortestPathWith negative rows cols neighbourhood
        | "k-subset" when parts.Length = 3 ->
            Problem.kSubset (parseInt spec "M" parts.[1]) (parseInt spec "K" parts.[2])
        | "categorical" when parts.Length = 2 -> Problem.categorical (parseInt spec "M" parts.[1])
        | "busy" when parts.Length >= 3 ->
            let ms = parseInt spec "MS" parts.[1]

            if ms < 0 then
                invalidArg "spec" (sprintf "Problem spec '%s': MS must be >= 0." spec)

            let inner = resolve (String.Join(":", parts.[2..]))

            inner
            |> Problem.withSolver (fun w ->
                spin ms |> ignore
                inner.Solve w)
            |> fun p -> p.WithName(spec)
        | _ -> bad ()

/// Settings of a farm node (worker or client).
type FarmNodeOptions =
    {
        /// The Akka.NET actor system's name; all nodes of a farm use the same (default "imle-farm").
        SystemName: string
        /// The host name or IP address this node listens on and other nodes reach it by (default 127.0.0.1).
        Host: string
        /// The TCP port this node listens on; 0 picks a free one (default 0). Seed nodes need fixed ports.
        Port: int
        /// The seed nodes' addresses, e.g. "akka.tcp://imle-farm@10.0.0.1:4053". Empty: this node is the first node
        /// of a new cluster (it seeds itself).
        Seeds: string list
    }

    /// SystemName "imle-farm", Host 127.0.0.1, Port 0, no seeds.
    static member Default =
        { SystemName = "imle-farm"
          Host = "127.0.0.1"
          Port = 0
          Seeds = [] }

/// How a client farms jobs out.
type SolverFarmOptions =
    {
        /// This node's settings.
        Node: FarmNodeOptions
        /// Jobs in flight per worker at most (back-pressure); ≥ 1 (default 4).
        MaxInFlightPerWorker: int
        /// How long one attempt waits for a worker's answer before the job is sent again (default 30 s).
        AskTimeout: TimeSpan
        /// Deliveries per job at most (first one included); ≥ 1 (default 5).
        MaxAttempts: int
        /// How long a job waits for some worker to be reachable before the farm gives up (or solves locally, with
        /// `FallbackToLocal`) (default 30 s).
        WorkerDeadline: TimeSpan
        /// Solve a job on this machine when no worker is reachable within `WorkerDeadline` or every attempt failed.
        FallbackToLocal: bool
    }

    /// Defaults: see each field.
    static member Default =
        { Node = FarmNodeOptions.Default
          MaxInFlightPerWorker = 4
          AskTimeout = TimeSpan.FromSeconds 30.0
          MaxAttempts = 5
          WorkerDeadline = TimeSpan.FromSeconds 30.0
          FallbackToLocal = false }

/// Raised when no solver worker is reachable within the deadline (and local fallback is off).
type SolverFarmUnavailableException(message: string) =
    inherit Exception(message)

/// Counters of a farm client (since it connected).
type FarmStats =
    {
        /// Jobs completed (each counted once, however many deliveries it took).
        Completed: int64
        /// Deliveries sent (first attempts and retries).
        Attempts: int64
        /// Retries (deliveries after a timeout or a lost worker).
        Retries: int64
        /// Jobs solved locally (fallback).
        LocalFallbacks: int64
    }

/// Building blocks shared by workers and clients.
module internal FarmConfig =
    let actorName = "imle-solver"

    let private quote (s: string) = "\"" + s.Replace("\"", "") + "\""

    let validate (o: FarmNodeOptions) =
        if String.IsNullOrWhiteSpace o.SystemName then
            invalidArg "SystemName" "SystemName must be a non-empty actor system name."

        if String.IsNullOrWhiteSpace o.Host then
            invalidArg "Host" "Host must be a host name or IP address."

        if o.Port < 0 || o.Port > 65535 then
            invalidArg "Port" (sprintf "Port must be in [0, 65535]; got %d." o.Port)

        if isNull (box o.Seeds) then
            nullArg "Seeds"

        for s in o.Seeds do
            if isNull s || not (s.StartsWith("akka.tcp://" + o.SystemName + "@")) then
                invalidArg
                    "Seeds"
                    (sprintf
                        "Seed '%s' must have the form akka.tcp://%s@HOST:PORT (the same system name)."
                        s
                        o.SystemName)

    /// HOCON for a cluster node with the given role.
    let hocon (o: FarmNodeOptions) (role: string) =
        let seeds = String.Join(", ", o.Seeds |> List.map quote)

        sprintf
            """
akka {
  loglevel = WARNING
  stdout-loglevel = WARNING
  log-dead-letters = off
  log-dead-letters-during-shutdown = off
  actor {
    provider = cluster
    serializers { imle-farm = "Imle.Distributed.FarmSerializer, Imle.Distributed" }
    serialization-bindings {
      "Imle.Distributed.SolveJob, Imle.Distributed" = imle-farm
      "Imle.Distributed.SolveResult, Imle.Distributed" = imle-farm
    }
  }
  remote {
    log-remote-lifecycle-events = off
    dot-netty.tcp { hostname = %s, port = %d }
  }
  cluster {
    roles = [%s]
    seed-nodes = [%s]
    log-info = off
    failure-detector { heartbeat-interval = 1s, acceptable-heartbeat-pause = 3s }
    downing-provider-class = "Akka.Cluster.SBR.SplitBrainResolverProvider, Akka.Cluster"
    split-brain-resolver {
      active-strategy = keep-oldest
      stable-after = 5s
      keep-oldest { down-if-alone = on }
    }
  }
  coordinated-shutdown {
    run-by-clr-shutdown-hook = on
    phases { cluster-leave.timeout = 3s, cluster-exiting.timeout = 3s }
  }
}
"""
            (quote o.Host)
            o.Port
            role
            seeds

    /// Starts the actor system and joins the cluster (itself when there are no seeds).
    let start (o: FarmNodeOptions) (role: string) =
        validate o

        let system =
            ActorSystem.Create(o.SystemName, ConfigurationFactory.ParseString(hocon o role))

        let cluster = Cluster.Get system

        if o.Seeds.IsEmpty then
            cluster.Join cluster.SelfAddress

        system, cluster

/// The worker's actor: solves each job on the thread pool (up to `parallelism` at once, queueing the rest) and answers
/// the sender. Results of recent jobs are kept, so a job delivered twice (a retry after a slow answer) is not solved
/// twice.
type internal SolverActor(resolve: string -> Problem, parallelism: int, address: string) =
    inherit UntypedActor()
    let problems = Dictionary<string, Problem>()
    let gate = new SemaphoreSlim(parallelism)
    let recent = Dictionary<struct (string * int64), SolveResult>()
    let order = Queue<struct (string * int64)>()

    let solve (sender: IActorRef) (problem: Problem) (job: SolveJob) =
        let key = struct (job.Client, job.JobId)

        Task.Run(fun () ->
            gate.Wait()

            let result =
                try
                    let state = Problem.solve problem job.Weights

                    let ones =
                        state |> Array.indexed |> Array.filter (fun (_, v) -> v <> 0.0) |> Array.map fst

                    SolveResult(job.Client, job.JobId, address, ones, "")
                with e ->
                    SolveResult(job.Client, job.JobId, address, [||], e.Message)

            gate.Release() |> ignore

            lock recent (fun () ->
                if not (recent.ContainsKey key) then
                    recent.[key] <- result
                    order.Enqueue key

                    if order.Count > 4096 then
                        recent.Remove(order.Dequeue()) |> ignore)

            sender.Tell result)
        |> ignore

    override this.OnReceive(message: obj) =
        match message with
        | :? SolveJob as job ->
            let sender = this.Sender

            match lock recent (fun () -> recent.TryGetValue(struct (job.Client, job.JobId))) with
            | true, r -> sender.Tell r
            | _ ->
                let problem =
                    try
                        match problems.TryGetValue job.Problem with
                        | true, p -> Ok p
                        | _ ->
                            let p = resolve job.Problem
                            problems.[job.Problem] <- p
                            Ok p
                    with e ->
                        Error e.Message

                match problem with
                | Error e -> sender.Tell(SolveResult(job.Client, job.JobId, address, [||], e))
                | Ok problem -> solve sender problem job
        | _ -> this.Unhandled message

/// A solver worker: a cluster node with the role "solver" that solves the jobs clients send it. Start one per machine
/// (the Imle.SolverWorker console app does); dispose it to leave the cluster.
type SolverWorker private (system: ActorSystem, cluster: Cluster) =
    /// Starts a worker that resolves problem names with `resolve` (e.g. `FarmProblems.resolve`) and solves up to
    /// `parallelism` jobs at once (≥ 1).
    static member Start(options: FarmNodeOptions, resolve: Func<string, Problem>, parallelism: int) : SolverWorker =
        if isNull resolve then
            nullArg "resolve"

        if parallelism < 1 then
            invalidArg "parallelism" (sprintf "parallelism must be >= 1; got %d." parallelism)

        let system, cluster = FarmConfig.start options "solver"

        let address = cluster.SelfAddress.ToString()

        system.ActorOf(Props.Create(fun () -> SolverActor(resolve.Invoke, parallelism, address)), FarmConfig.actorName)
        |> ignore

        new SolverWorker(system, cluster)

    /// A worker for the built-in problems (`FarmProblems.resolve`).
    static member Start(options: FarmNodeOptions, parallelism: int) : SolverWorker =
        SolverWorker.Start(options, Func<string, Problem>(FarmProblems.resolve), parallelism)

    /// This node's address (give it to other nodes as a seed).
    member _.Address = cluster.SelfAddress.ToString()

    /// Completes when the worker has stopped (left the cluster, was downed, or was disposed).
    member _.WhenTerminated: Task = system.WhenTerminated

    /// Leaves the cluster and stops.
    member _.Dispose() =
        CoordinatedShutdown.Get(system).Run(CoordinatedShutdown.ClrExitReason.Instance).Wait(TimeSpan.FromSeconds 10.0)
        |> ignore

    interface IDisposable with
        member this.Dispose() = this.Dispose()

/// A reachable worker and the jobs it has in flight.
type internal WorkerSlot(address: Address, target: ActorSelection) =
    let lost = new CancellationTokenSource()
    member val InFlight = 0 with get, set
    member _.Address = address
    member _.Target = target
    member _.Lost = lost

/// The reachable workers, with bounded jobs in flight each; waiters are woken on every change.
type internal WorkerPool(maxInFlight: int) =
    let slots = Dictionary<Address, WorkerSlot>()

    let mutable changed =
        TaskCompletionSource<unit>(TaskCreationOptions.RunContinuationsAsynchronously)

    let signal () =
        let old = changed
        changed <- TaskCompletionSource<unit>(TaskCreationOptions.RunContinuationsAsynchronously)
        old.TrySetResult() |> ignore

    member _.Count = lock slots (fun () -> slots.Count)

    member _.Add(address: Address, target: ActorSelection) =
        lock slots (fun () ->
            if not (slots.ContainsKey address) then
                slots.[address] <- WorkerSlot(address, target)
                signal ())

    member _.Remove(address: Address) =
        lock slots (fun () ->
            match slots.TryGetValue address with
            | true, s ->
                slots.Remove address |> ignore
                s.Lost.Cancel()
                signal ()
            | _ -> ())

    /// A slot with room, the least loaded one; None when none has room (then the task to wait on).
    member _.TryAcquire() : Choice<WorkerSlot, Task, Task> =
        lock slots (fun () ->
            let free =
                slots.Values |> Seq.filter (fun s -> s.InFlight < maxInFlight) |> Seq.toList

            match free with
            | [] ->
                if slots.Count = 0 then
                    Choice3Of3 changed.Task
                else
                    Choice2Of3 changed.Task
            | _ ->
                let s = free |> List.minBy (fun s -> s.InFlight)
                s.InFlight <- s.InFlight + 1
                Choice1Of3 s)

    member _.Release(slot: WorkerSlot) =
        lock slots (fun () ->
            slot.InFlight <- slot.InFlight - 1
            signal ())

/// Keeps the pool in step with the cluster: solver members that are up and reachable are in it.
type internal MembershipActor(pool: WorkerPool, system: ActorSystem) =
    inherit UntypedActor()
    let cluster = Cluster.Get system

    let add (m: Member) =
        if m.HasRole "solver" && m.Status = MemberStatus.Up then
            pool.Add(m.Address, system.ActorSelection(m.Address.ToString() + "/user/" + FarmConfig.actorName))

    override this.PreStart() =
        cluster.Subscribe(
            this.Self,
            ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
            [| typeof<ClusterEvent.IMemberEvent>; typeof<ClusterEvent.IReachabilityEvent> |]
        )

    override this.PostStop() = cluster.Unsubscribe this.Self

    override _.OnReceive(message: obj) =
        match message with
        | :? ClusterEvent.MemberUp as e -> add e.Member
        | :? ClusterEvent.ReachableMember as e -> add e.Member
        | :? ClusterEvent.UnreachableMember as e -> pool.Remove e.Member.Address
        | :? ClusterEvent.MemberRemoved as e -> pool.Remove e.Member.Address
        | :? ClusterEvent.MemberExited as e -> pool.Remove e.Member.Address
        | :? ClusterEvent.MemberLeft as e -> pool.Remove e.Member.Address
        | _ -> ()

/// A client of a solver farm: joins the cluster (role "client"), tracks the reachable workers, and solves batches of
/// MAP jobs on them with at-least-once delivery — every job has an id and is sent again after a timeout or when its
/// worker becomes unreachable (up to `MaxAttempts`), the first answer per job is kept and later ones are dropped — and
/// back-pressure (at most `MaxInFlightPerWorker` jobs per worker). `Problem` turns a farmed problem into an ordinary
/// `Problem`, so that any layer can use it.
type SolverFarm private (options: SolverFarmOptions, system: ActorSystem, cluster: Cluster, pool: WorkerPool) =
    let client = Guid.NewGuid().ToString("N")
    let mutable nextId = 0L
    let mutable completed = 0L
    let mutable attempts = 0L
    let mutable retries = 0L
    let mutable fallbacks = 0L
    let problems = Dictionary<string, Problem>()

    let resolve (spec: string) =
        lock problems (fun () ->
            match problems.TryGetValue spec with
            | true, p -> p
            | _ ->
                let p = FarmProblems.resolve spec
                problems.[spec] <- p
                p)

    let local (problem: Problem) (weights: float[]) =
        Interlocked.Increment &fallbacks |> ignore
        Problem.solve problem weights

    let unavailable () =
        SolverFarmUnavailableException(
            sprintf
                "No solver worker of the farm '%s' (seeds: %s) was reachable within %.0f s. Start one on each solver machine with 'dotnet Imle.SolverWorker.dll --host HOST --port PORT --seed %s', check that the seed addresses and ports are reachable, or set FallbackToLocal to solve on this machine."
                options.Node.SystemName
                (if options.Node.Seeds.IsEmpty then
                     "this node"
                 else
                     String.Join(", ", options.Node.Seeds))
                options.WorkerDeadline.TotalSeconds
                (cluster.SelfAddress.ToString())
        )

    /// One job to completion: acquire a worker (waiting at most WorkerDeadline while none is reachable), ask, retry.
    let runJob (spec: string) (problem: Problem) (weights: float[]) : Task<float[]> =
        task {
            let id = Interlocked.Increment &nextId
            let mutable result: float[] = null
            let mutable attempt = 0
            let mutable lastError = ""
            let mutable noWorkerSince = Stopwatch.StartNew()

            while isNull result do
                if attempt >= options.MaxAttempts then
                    if options.FallbackToLocal then
                        result <- local problem weights
                    else
                        raise (
                            TimeoutException(
                                sprintf
                                    "Job %d (%s) got no answer in %d attempts (ask timeout %.1f s each; last: %s)."
                                    id
                                    spec
                                    attempt
                                    options.AskTimeout.TotalSeconds
                                    lastError
                            )
                        )
                else
                    match pool.TryAcquire() with
                    | Choice1Of3 slot ->
                        noWorkerSince <- Stopwatch.StartNew()
                        attempt <- attempt + 1
                        Interlocked.Increment &attempts |> ignore

                        if attempt > 1 then
                            Interlocked.Increment &retries |> ignore

                        try
                            try
                                let! (reply: SolveResult) =
                                    slot.Target.Ask<SolveResult>(
                                        SolveJob(client, id, attempt, spec, weights),
                                        Nullable options.AskTimeout,
                                        slot.Lost.Token
                                    )

                                if reply.Error <> "" then
                                    raise (
                                        InvalidOperationException(
                                            sprintf
                                                "Worker %s failed on job %d (%s): %s"
                                                reply.Worker
                                                id
                                                spec
                                                reply.Error
                                        )
                                    )

                                let state = Array.zeroCreate problem.Size

                                for i in reply.Ones do
                                    state.[i] <- 1.0

                                result <- Problem.checkState problem state
                            with
                            | :? AskTimeoutException as e -> lastError <- e.Message
                            | :? OperationCanceledException ->
                                lastError <- "worker " + string slot.Address + " was lost"
                        finally
                            pool.Release slot
                    | Choice2Of3 wait ->
                        // Every worker is busy: back-pressure.
                        let! _ = Task.WhenAny(wait, Task.Delay 1000)
                        ()
                    | Choice3Of3 wait ->
                        let left = options.WorkerDeadline - noWorkerSince.Elapsed

                        if left <= TimeSpan.Zero then
                            if options.FallbackToLocal then
                                result <- local problem weights
                            else
                                raise (unavailable ())
                        else
                            let! _ = Task.WhenAny(wait, Task.Delay(min left (TimeSpan.FromSeconds 1.0)))
                            ()

            Interlocked.Increment &completed |> ignore
            return result
        }

    /// Joins the farm (role "client") with the given options; returns at once (workers are found as they come up).
    static member Connect(options: SolverFarmOptions) : SolverFarm =
        if options.MaxInFlightPerWorker < 1 then
            invalidArg
                "MaxInFlightPerWorker"
                (sprintf "MaxInFlightPerWorker must be >= 1; got %d." options.MaxInFlightPerWorker)

        if options.MaxAttempts < 1 then
            invalidArg "MaxAttempts" (sprintf "MaxAttempts must be >= 1; got %d." options.MaxAttempts)

        if options.AskTimeout <= TimeSpan.Zero then
            invalidArg "AskTimeout" "AskTimeout must be positive."

        if options.WorkerDeadline < TimeSpan.Zero then
            invalidArg "WorkerDeadline" "WorkerDeadline must be >= 0."

        let system, cluster = FarmConfig.start options.Node "client"
        let pool = WorkerPool(options.MaxInFlightPerWorker)

        system.ActorOf(Props.Create(fun () -> MembershipActor(pool, system)), "imle-membership")
        |> ignore

        new SolverFarm(options, system, cluster, pool)

    /// This node's address (a seed for workers when this client started the cluster).
    member _.Address = cluster.SelfAddress.ToString()

    /// The number of reachable workers now.
    member _.Workers = pool.Count

    /// Waits until at least `count` workers are reachable; false if that did not happen within `timeout`.
    member _.WaitForWorkers(count: int, timeout: TimeSpan) : bool =
        if count < 0 then
            invalidArg "count" (sprintf "count must be >= 0; got %d." count)

        let sw = Stopwatch.StartNew()

        while pool.Count < count && sw.Elapsed < timeout do
            Thread.Sleep 50

        pool.Count >= count

    /// The counters since this client connected.
    member _.Stats =
        { Completed = Interlocked.Read &completed
          Attempts = Interlocked.Read &attempts
          Retries = Interlocked.Read &retries
          LocalFallbacks = Interlocked.Read &fallbacks }

    /// Solves every row of `weights` on the farm (all rows in flight at once, bounded per worker) and returns the
    /// states in the same order, each exactly once. `spec` names the problem (see `FarmProblems.resolve`); every row
    /// must have the problem's size and finite entries (ArgumentException otherwise). Raises
    /// SolverFarmUnavailableException when no worker is reachable within `WorkerDeadline` (unless `FallbackToLocal`),
    /// TimeoutException when a job got no answer in `MaxAttempts` deliveries, InvalidOperationException when a worker's
    /// solver failed.
    member _.SolveBatchAsync(spec: string, weights: float[][]) : Task<float[][]> =
        let problem = resolve spec

        if isNull weights then
            nullArg "weights"

        weights
        |> Array.iteri (fun i w ->
            if isNull w || w.Length <> problem.Size then
                invalidArg "weights" (sprintf "weights[%d] must have %d entries (the size of %s)." i problem.Size spec)

            Validate.allFinite "weights" w)

        task {
            let! states = Task.WhenAll(weights |> Array.map (fun w -> runJob spec problem w))
            return states
        }

    /// `SolveBatchAsync`, waiting for the result.
    member this.SolveBatch(spec: string, weights: float[][]) : float[][] =
        this.SolveBatchAsync(spec, weights).GetAwaiter().GetResult()

    /// The problem named `spec` with its MAP oracle farmed out: each call of its solver is one job (so solving a
    /// batch's rows in parallel — e.g. a layer with `parallelism` p — keeps up to p jobs in flight). Use it wherever a
    /// `Problem` goes (layers, `TensorSolve.solve`); the states are those of the local problem.
    member _.Problem(spec: string) : Problem =
        let problem = resolve spec

        problem
        |> Problem.withSolver (fun w -> (runJob spec problem w).GetAwaiter().GetResult())
        |> fun p -> p.WithName(problem.Name + " (farmed)")

    /// Leaves the cluster and stops this client.
    member _.Dispose() =
        CoordinatedShutdown.Get(system).Run(CoordinatedShutdown.ClrExitReason.Instance).Wait(TimeSpan.FromSeconds 10.0)
        |> ignore

    interface IDisposable with
        member this.Dispose() = this.Dispose()
