/// Soak test: many training steps of a small model with an I-MLE k-subset layer, one dispose scope per step.
/// Prints resident memory and live-tensor counts every `--report` steps and exits non-zero if resident memory grows
/// by more than 10 % (plus 16 MiB slack) between the end of warm-up and the last step, or if live tensors grow.
///
///   dotnet tests/Imle.Soak/bin/Release/net10.0/Imle.Soak.dll --steps 10000 [--warmup 1000] [--report 1000] [--threads 1]
///
/// With `stress` first it runs the Scalar-lifetime stress test instead (see ScalarStress):
///
///   dotnet tests/Imle.Soak/bin/Release/net10.0/Imle.Soak.dll stress [--seconds 20] [--load 4] [--control]
///
/// With `guard` it runs the guard probe (see GuardProbe): three libtorch errors, each must become a .NET exception.
module Imle.Soak.Program

open System
open System.Diagnostics
open TorchSharp
open Imle
open Imle.Torch

let private f64 = torch.float64

let private mib = Imle.Tests.Memory.mib
let private workingSet = Imle.Tests.Memory.workingSet

let private argument (argv: string[]) (name: string) (fallback: int) =
    match Array.tryFindIndex ((=) name) argv with
    | Some i when i + 1 < argv.Length ->
        match Int32.TryParse argv.[i + 1] with
        | true, v when v > 0 -> v
        | _ -> failwithf "%s needs a positive integer; got '%s'" name argv.[i + 1]
    | Some _ -> failwithf "%s needs a value" name
    | None -> fallback

let private runSoak (argv: string[]) : int =
    if argv.Length > 0 && argv.[0] = "guard" then
        GuardProbe.run ()
    elif argv.Length > 0 && argv.[0] = "stress" then
        let load = argument argv "--load" (Environment.ProcessorCount + 2)
        ScalarStress.run (float (argument argv "--seconds" 20)) load (Array.contains "--control" argv)
    else
        let steps = argument argv "--steps" 10000
        let warmup = min steps (argument argv "--warmup" (max 1 (steps / 10)))
        let report = argument argv "--report" 1000
        // Small tensors gain nothing from intra-op threads, and on a shared machine idle OpenMP workers spin: one thread
        // keeps the soak's timing stable (`--threads N` to change it).
        torch.set_num_threads (argument argv "--threads" 1)
        let inputs, m, k, batch = 12L, 20, 5, 8L
        use linear = torch.nn.Linear(inputs, int64 m, dtype = f64)
        use layer = Layers.kSubset m k { Lambda = 1.0; Samples = 2; Seed = 3L }
        let optimizer = torch.optim.Adam(linear.parameters (), 0.01)

        use teacher =
            torch.randn ([| inputs; int64 m |], dtype = f64, generator = new torch.Generator(1UL))

        let dataGen = new torch.Generator(2UL)
        let problem = Problem.kSubset m k
        let mutable wsWarm = 0L
        let mutable liveWarm = 0L
        let mutable lossSum = 0.0
        let mutable lossCount = 0
        let stopwatch = Stopwatch.StartNew()
        printfn "soak: %d steps (warm-up %d), I-MLE k-subset layer m=%d k=%d S=2, batch %d, Adam" steps warmup m k batch

        for step in 1..steps do
            (use scope = torch.NewDisposeScope()
             let x = torch.randn ([| batch; inputs |], dtype = f64, generator = dataGen)
             let y = TensorSolve.solve problem (x.matmul teacher)
             let z = layer.forward (linear.forward x)
             let loss = Losses.hamming Reduction.Mean z y
             optimizer.zero_grad ()
             Training.backward loss
             optimizer.step () |> ignore
             lossSum <- lossSum + loss.ToDouble()
             lossCount <- lossCount + 1)

            if step = warmup then
                wsWarm <- workingSet ()
                liveWarm <- DisposeScopeManager.Statistics.ThreadTotalLiveCount

            if step % report = 0 || step = warmup then
                let ws = workingSet ()

                printfn
                    "step %6d  %7.1f s  resident %8.1f MiB  live tensors %5d  Tensor.TotalCount %5d  mean loss %.3f"
                    step
                    stopwatch.Elapsed.TotalSeconds
                    (mib ws)
                    DisposeScopeManager.Statistics.ThreadTotalLiveCount
                    torch.Tensor.TotalCount
                    (lossSum / float lossCount)

                lossSum <- 0.0
                lossCount <- 0

        let wsEnd = workingSet ()
        let liveEnd = DisposeScopeManager.Statistics.ThreadTotalLiveCount
        let growth = float (wsEnd - wsWarm) / float wsWarm
        let limit = 0.10 * float wsWarm + 16.0 * 1048576.0

        printfn
            "soak: resident %.1f MiB after warm-up, %.1f MiB at the end (%+.2f %%; limit +10 %% + 16 MiB = %.1f MiB); live tensors %d → %d"
            (mib wsWarm)
            (mib wsEnd)
            (100.0 * growth)
            (mib (int64 limit))
            liveWarm
            liveEnd

        if float (wsEnd - wsWarm) > limit then
            eprintfn "soak: FAILED: resident memory grew by %.1f MiB (more than 10 %% + 16 MiB)" (mib (wsEnd - wsWarm))
            1
        elif liveEnd > liveWarm then
            eprintfn "soak: FAILED: %d tensors leaked" (liveEnd - liveWarm)
            1
        else
            printfn "soak: passed"
            0

/// Bad arguments or a failure end the program with one line and exit code 2 (never an unhandled exception: exit 134).
[<EntryPoint>]
let main argv =
    try
        runSoak argv
    with e ->
        eprintfn "Imle.Soak FAILED: %s: %s" (e.GetType().Name) (e.Message.Split('\n').[0])
        2
