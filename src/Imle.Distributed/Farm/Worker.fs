namespace Imle.Distributed

open System
open System.Collections.Generic
open System.Threading
open System.Threading.Tasks
open Akka.Actor
open Akka.Cluster
open Imle

/// The worker's actor: solves each job on the thread pool (up to `parallelism` at once, queueing the rest) and answers
/// the sender. Results of recent jobs are kept, so a job delivered twice (a retry after a slow answer) is not solved
/// twice. Resolved problems are cached (at most 256 specs; the cache is emptied when full).
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

                            if problems.Count >= 256 then
                                problems.Clear()

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
    /// Starts a worker that resolves problem names with `resolve` (e.g. `FarmProblems.resolve`, or a catalog's
    /// `Resolve`) and solves up to `parallelism` jobs at once (≥ 1). Clients must resolve the same names to the same
    /// problems (`SolverFarmOptions.Catalog`).
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

    /// A worker for the problems of `catalog` (the clients use the same catalog).
    static member Start(options: FarmNodeOptions, catalog: FarmCatalog, parallelism: int) : SolverWorker =
        if isNull (box catalog) then
            nullArg "catalog"

        SolverWorker.Start(options, Func<string, Problem>(catalog.Resolve), parallelism)

    /// A worker for the built-in problems (`FarmProblems.builtIn`).
    static member Start(options: FarmNodeOptions, parallelism: int) : SolverWorker =
        SolverWorker.Start(options, FarmProblems.builtIn, parallelism)

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
