namespace Imle.Distributed

open System
open System.Collections.Generic
open System.Diagnostics
open System.Threading
open System.Threading.Tasks
open Akka.Actor
open Akka.Cluster
open Imle

/// Checking a worker's answer against the problem before it is used.
module internal FarmResults =
    /// The state a result describes, if it fits the problem: the ids match the job, every index of a one is in range
    /// and listed once, and the state passes `Problem.checkState` (size, binary, the problem's feasibility test).
    let state (problem: Problem) (client: string) (jobId: int64) (reply: SolveResult) : Result<float[], string> =
        if reply.Client <> client || reply.JobId <> jobId then
            Error(sprintf "the answer is for job %s/%d, not %s/%d" reply.Client reply.JobId client jobId)
        else
            let state = Array.zeroCreate problem.Size
            let mutable fault = None

            for i in reply.Ones do
                if fault.IsNone then
                    if i < 0 || i >= problem.Size then
                        fault <- Some(sprintf "index %d of a one is outside [0, %d)" i problem.Size)
                    elif state.[i] <> 0.0 then
                        fault <- Some(sprintf "index %d of a one is listed twice" i)
                    else
                        state.[i] <- 1.0

            match fault with
            | Some f -> Error f
            | None ->
                try
                    Ok(Problem.checkState problem state)
                with :? InvalidOperationException as e ->
                    Error e.Message

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
    let mutable rejected = 0L
    let problems = Dictionary<string, Problem>()

    let resolve (spec: string) =
        lock problems (fun () ->
            match problems.TryGetValue spec with
            | true, p -> p
            | _ ->
                let p = options.Catalog.Resolve spec
                problems.[spec] <- p
                p)

    let local (problem: Problem) (weights: float[]) =
        Interlocked.Increment &fallbacks |> ignore
        Problem.solve problem weights

    let unavailable () =
        SolverFarmUnavailableException(
            sprintf
                "No solver worker of the farm '%s' (seeds: %s) was reachable within %.0f s. Start one on each solver machine with 'dotnet Imle.SolverWorker.dll --host HOST --port PORT --seed %s', check that the seed addresses and ports are reachable and that every node's certificate is signed by the same cluster CA (a refused handshake is logged on both sides), or set FallbackToLocal to solve on this machine."
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
                                    "Job %d (%s) got no valid answer in %d attempts (ask timeout %.1f s each; last: %s)."
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

                                match FarmResults.state problem client id reply with
                                | Ok state -> result <- state
                                | Error why ->
                                    Interlocked.Increment &rejected |> ignore

                                    lastError <-
                                        sprintf "worker %O answered with a state that does not fit: %s" slot.Address why

                                    Akka.Event.LoggingExtensions.Warning(
                                        system.Log,
                                        "Imle farm: rejected the answer of {0} to job {1} ({2}): {3}; that worker is no longer used.",
                                        slot.Address,
                                        id,
                                        spec,
                                        why
                                    )

                                    pool.Ban slot.Address
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

        if isNull (box options.Catalog) then
            nullArg "Catalog"

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
          LocalFallbacks = Interlocked.Read &fallbacks
          Rejected = Interlocked.Read &rejected }

    /// Solves every row of `weights` on the farm (all rows in flight at once, bounded per worker) and returns the
    /// states in the same order, each exactly once. `spec` names the problem in `SolverFarmOptions.Catalog`; every row
    /// must have the problem's size and finite entries (ArgumentException otherwise). Raises
    /// SolverFarmUnavailableException when no worker is reachable within `WorkerDeadline` (unless `FallbackToLocal`),
    /// TimeoutException when a job got no valid answer in `MaxAttempts` deliveries (an answer whose state does not fit
    /// the problem counts as a failed delivery, see `FarmStats.Rejected`), InvalidOperationException when a worker's
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
