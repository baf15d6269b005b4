/// Scaling the Warcraft experiment out (Imle.Distributed): `--ranks N` trains data-parallel on N MPI ranks (the
/// experiment relaunches itself under `mpirun -np N` when it was not started by a launcher; every global batch is cut
/// into one slice per rank, the gradients are averaged over the ranks after the backward pass, batch norm's buffers
/// follow rank 0, and only rank 0 evaluates and writes outputs), and `--solver-farm SEED...` sends the training
/// layer's Dijkstra calls to the workers of a solver farm (start them with Imle.SolverWorker).
module Imle.Examples.Experiments.WarcraftScaleOut

open System
open System.Diagnostics
open System.IO
open TorchSharp
open Imle
open Imle.Distributed

let mutable private dataParallel: DataParallel option = None
let mutable private farm: SolverFarm option = None

/// True unless this is a rank > 0 of a data-parallel run.
let isRoot () =
    dataParallel |> Option.forall (fun dp -> dp.IsRoot)

/// This rank's slice of a global batch (the whole batch without --ranks).
let slice (idx: int[]) : int[] =
    match dataParallel with
    | None -> idx
    | Some dp -> idx.[dp.Rank * idx.Length / dp.Size .. (dp.Rank + 1) * idx.Length / dp.Size - 1]

/// Averages the gradients over the ranks (after `Training.backward`).
let afterBackward (model: torch.nn.Module) =
    dataParallel |> Option.iter (fun dp -> dp.AverageGradients model)

/// Keeps batch norm's buffers equal on every rank (after the optimizer step).
let afterStep (model: torch.nn.Module) =
    dataParallel |> Option.iter (fun dp -> dp.SyncBuffers model)

/// Checks that the ranks start from the same model.
let checkIdentical (model: torch.nn.Module) =
    dataParallel |> Option.iter (fun dp -> dp.CheckIdentical model)

/// The problem the training layer solves: the farmed one with --solver-farm, the local one otherwise.
let trainingProblem (negativeCosts: NegativeCosts) (k: int) (local: Problem) : Problem =
    match farm with
    | None -> local
    | Some f ->
        let mode =
            match negativeCosts with
            | ShiftToZero -> "shift"
            | ClampToZero -> "clamp"
            | Unchanged -> "unchanged"

        f.Problem(sprintf "grid-shortest-path:%d:%d:8:%s" k k mode)

/// Where this rank writes: `outDir` on rank 0, a scratch folder on the others (their outputs equal rank 0's).
let outDir (outDir: string) =
    if isRoot () then
        outDir
    else
        Path.Combine(Path.GetTempPath(), sprintf "imle-warcraft-rank%d" dataParallel.Value.Rank)

/// Sets up --ranks and --solver-farm (with --farm-tls: this node's certificate, key and the cluster CA). Returns Some exit code when this process relaunched itself under `mpirun`
/// (the run happened there), None when the caller should run the experiment here.
let start (ranks: int option) (seeds: string list option) (tls: FarmTls option) : int option =
    let ranks = defaultArg ranks 1

    if ranks < 1 then
        invalidArg "ranks" (sprintf "--ranks must be >= 1; got %d." ranks)

    if ranks > 1 && not (Mpi.launched ()) then
        // Relaunch this very command line under mpirun, over shared memory on this machine.
        let argv = Environment.GetCommandLineArgs()
        let quoted = argv |> Array.map (fun a -> "\"" + a.Replace("\"", "\\\"") + "\"")

        let psi =
            ProcessStartInfo(
                "mpirun",
                sprintf
                    "-np %d --oversubscribe --bind-to none --mca btl self,vader -x TERM=dumb dotnet %s"
                    ranks
                    (String.Join(" ", quoted)),
                UseShellExecute = false
            )

        psi.Environment.["OMPI_ALLOW_RUN_AS_ROOT"] <- "1"
        psi.Environment.["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] <- "1"
        psi.Environment.["OMPI_MCA_btl_vader_single_copy_mechanism"] <- "none"
        printfn "--ranks %d: relaunching under mpirun -np %d" ranks ranks

        use p =
            try
                Process.Start psi
            with e ->
                failwithf
                    "--ranks %d needs Open MPI's mpirun on the PATH (apt-get install openmpi-bin): %s"
                    ranks
                    e.Message

        p.WaitForExit()
        Some p.ExitCode
    else
        if Mpi.launched () then
            let dp = DataParallel()

            if dp.Size <> ranks then
                invalidArg "ranks" (sprintf "--ranks %d, but the launcher started %d ranks." ranks dp.Size)

            dataParallel <- Some dp
            dp.Log(sprintf "data-parallel: %d ranks (%A)" dp.Size dp.Communicator.Backend)

        match seeds with
        | Some seeds when not seeds.IsEmpty ->
            let f =
                SolverFarm.Connect
                    { SolverFarmOptions.Default with
                        Node =
                            { FarmNodeOptions.Default with
                                Seeds = seeds
                                Tls = tls }
                        FallbackToLocal = false }

            if not (f.WaitForWorkers(1, TimeSpan.FromSeconds 60.0)) then
                failwithf "--solver-farm: no worker joined through %s within 60 s." (String.Join(", ", seeds))

            printfn "solver farm: %d worker(s) reachable" f.Workers
            farm <- Some f
        | _ -> ()

        None

/// The farm's counters, for the log (None without --solver-farm).
let farmStats () = farm |> Option.map (fun f -> f.Stats)
