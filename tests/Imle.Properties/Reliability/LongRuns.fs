/// Reliability, long runs: 1,000 training steps with flat resident memory and no leaked tensors.
module Imle.Tests.Reliability.LongRuns

open System
open System.IO
open System.Threading
open System.Threading.Tasks
open Expecto
open FsCheck
open FsCheck.FSharp
open TorchSharp
open Imle
open Imle.Solvers
open Imle.Torch
open Imle.Tests.Reliability.Common

/// The memory test (in the list "long runs and concurrency").
let memory =
    test "1,000 training steps: resident memory and live tensors flat after warm-up" {
        use net = new Net(12L, 20, 5, 3L)
        let optimizer = torch.optim.Adam(net.parameters (), 0.01)

        use teacher =
            torch.randn ([| 12L; 20L |], dtype = f64, generator = new torch.Generator(1UL))

        let dataGen = new torch.Generator(2UL)
        let mutable ws200 = 0L
        let mutable live200 = 0L
        let mutable total200 = 0L
        let stopwatch = Diagnostics.Stopwatch.StartNew()

        for step in 1..1000 do
            let loss = trainStep net optimizer teacher dataGen

            if Double.IsNaN loss then
                failtestf "NaN loss at step %d" step

            if step = 200 then
                live200 <- DisposeScopeManager.Statistics.ThreadTotalLiveCount
                total200 <- torch.Tensor.TotalCount
                ws200 <- workingSet ()

        let live1000 = DisposeScopeManager.Statistics.ThreadTotalLiveCount
        let total1000 = torch.Tensor.TotalCount
        let ws1000 = workingSet ()
        let growth = float (ws1000 - ws200) / float ws200

        printfn
            "reliability memory: 1000 steps in %.1f s; working set %.1f MiB at step 200, %.1f MiB at step 1000 (%+.2f %%); live tensors (this thread) %d → %d; Tensor.TotalCount %d → %d"
            stopwatch.Elapsed.TotalSeconds
            (mib ws200)
            (mib ws1000)
            (100.0 * growth)
            live200
            live1000
            total200
            total1000
        // Live tensors created by this thread: exactly flat (every step's tensors are disposed by its scope).
        Expect.equal live1000 live200 "no tensors leak per step (DisposeScopeManager.Statistics.ThreadTotalLiveCount)"
        // Resident memory: < 10 % growth, plus 16 MiB slack for allocator and JIT noise (other tests may run at
        // the same time in the full suite).
        Expect.isLessThan
            (float (ws1000 - ws200))
            (0.10 * float ws200 + 16.0 * 1048576.0)
            "working set flat after warm-up"
    }
