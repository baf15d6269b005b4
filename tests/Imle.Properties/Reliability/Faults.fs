/// Reliability, faults and concurrency: errors raised inside backward passes (NaN dL/dz, a user solver that turns
/// infeasible) surface through `Training.backward` and leave the layer usable; a layer used from two threads at once
/// refuses the second call.
module Imle.Tests.Reliability.Faults

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

/// Faults injected into backward passes (in the list "bad input everywhere public").
let backwardFaults =
    test "faults injected into backward passes surface through Training.backward, and the next forward works" {
        // NaN dL/dz, an infeasible user solver seen only in the backward pass (the forward state is feasible).
        let problem = Problem.kSubset 5 2
        let faults = ref 0

        for estimator in
            [ Imle(ImleOptions.Create(2.0, 1.0))
              Blackbox 1.0
              Identity(MeanCentre, Zero)
              StraightThrough Zero
              Estimator.perturbed (Normal 1.0) 2
              ScoreFunction 3 ] do
            use _scope = torch.NewDisposeScope()
            let w = torch.randn([| 3L; 5L |], dtype = f64).requires_grad_(true)
            let z = applyAny problem estimator (new torch.Generator(1UL)) w
            let dy = torch.tensor(Array.create 15 nan, dtype = f64).reshape(3L, 5L)

            Expect.throwsT<InvalidOperationException>
                (fun () -> Training.backward ((z * dy).sum()))
                "NaN dL/dz surfaces"

            incr faults
            // Recovered: the next call works.
            let w2 = torch.randn([| 3L; 5L |], dtype = f64).requires_grad_(true)
            let z2 = applyAny problem estimator (new torch.Generator(2UL)) w2
            Training.backward (z2.sum ())
            Expect.isTrue (allFinite (toArray w2.grad)) "finite after recovery"
        // A user solver that turns infeasible after its first call: the forward succeeds, the backward fails.
        let calls = ref 0

        let flaky =
            Problem.create "flaky" [| 4 |] Maximise (fun w ->
                if Interlocked.Increment calls > 1 then
                    Array.create 4 1.0
                else
                    TopK.solve 1 w)
            |> Problem.withFeasibility (fun z -> Array.sum z = 1.0)

        use _scope = torch.NewDisposeScope()
        let w = torch.randn([| 1L; 4L |], dtype = f64).requires_grad_(true)

        let z =
            Discrete.apply DiscreteOptions.Default flaky (Blackbox 1.0) (new torch.Generator(1UL)) w

        Expect.throwsT<InvalidOperationException>
            (fun () -> Training.backward ((z * torch.ones_like (z)).sum()))
            "infeasible backward state surfaces"

        incr faults

        printfn
            "reliability faults: %d backward-pass faults injected, all surfaced as InvalidOperationException"
            faults.Value
    }

/// Concurrent use of one layer (in the list "long runs and concurrency").
let concurrentLayerUse =
    test "a DiscreteLayer used from two threads at once refuses with InvalidOperationException" {
        // A slow user solver keeps the first forward pass inside the layer while the second one arrives.
        let slow =
            Problem.create "slow-argmax" [| 4 |] Maximise (fun w ->
                Thread.Sleep 300
                Argmax.solve w)

        use layer = Layers.create slow (Blackbox 1.0) (LayerOptions.Default.WithSeed 1L)
        use started = new ManualResetEventSlim(false)

        let first =
            Task.Run(fun () ->
                use w = torch.randn ([| 1L; 4L |], dtype = f64)
                started.Set()
                use z = layer.forward w
                toArray z)

        started.Wait()
        Thread.Sleep 100

        let e =
            Expect.throwsC
                (fun () ->
                    use w = torch.randn ([| 1L; 4L |], dtype = f64)
                    layer.forward w |> ignore)
                id

        Expect.isTrue (e :? InvalidOperationException) (sprintf "InvalidOperationException, got %s" (e.GetType().Name))
        Expect.stringContains e.Message "thread" "the message says why"
        Expect.equal (Array.sum (first.Result)) 1.0 "the first call completes normally"
        // Sequential use afterwards works.
        use w = torch.randn ([| 1L; 4L |], dtype = f64)
        use z = layer.forward w
        Expect.equal (Array.sum (toArray z)) 1.0 "sequential use after the refusal"
    }
