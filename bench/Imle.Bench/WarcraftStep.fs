/// Case 10: the Warcraft training step side by side with PyTorch — the paper's network (Imle.Data.WarcraftResNet:
/// ResNet18's first block), batch 70, K = 12, I-MLE (SoG noise, S = 1 and 10) or blackbox differentiation around the
/// grid Dijkstra, Hamming loss, Adam (lr 5e-4), float32, the same intra-op thread count on both sides. Ours and
/// reference.py's `warcraft-*` cases alternate, one step each. The split is timed inside our steps (network forward,
/// the discrete part, network backward, optimizer) and inside the reference's (forward, noise, solver, backward,
/// optimizer); the noise and the solver alone are timed beside ours on the same shapes.
module Imle.Bench.WarcraftStep

open System
open System.Diagnostics
open System.Text.Json.Nodes
open TorchSharp
open Imle
open Imle.Torch
open Imle.Bench.Timing
open Imle.Bench.Cases
open Imle.Bench.SideBySide

let private f32 = torch.ScalarType.Float32

/// One configured step: the model, layer, optimizer and data; `Step` runs one step and returns its parts (ms).
/// `parallelism` is the layer's solver threads. Case 11 (data-parallel ranks) uses it too.
type internal Setup(blackbox: bool, samples: int, source: NoiseGenerator, parallelism: int) =
    let k, b = 12, 70
    do torch.random.manual_seed 4L |> ignore
    let problem = Problem.gridShortestPath k k Imle.Solvers.Eight
    let kappa = float (int (1.3 * float k))

    let estimator =
        if blackbox then
            Blackbox 10.0
        else
            Imle
                { ImleOptions.Create(kappa, 10.0) with
                    Samples = samples }

    let g = new torch.Generator(4UL, torch.CPU)

    let layer =
        new DiscreteLayer(
            problem,
            estimator,
            { LayerOptions.Default with
                Generator = Some g
                Parallelism = parallelism
                Name = "bench-warcraft" }
        )

    do layer.train ()
    let model = new Imle.Data.WarcraftResNet(k)
    do model.train ()
    let optimizer = torch.optim.Adam(model.parameters (), lr = 5e-4)

    let images =
        torch.rand ([| int64 b; 3L; int64 (8 * k); int64 (8 * k) |], dtype = f32, generator = g)

    let paths =
        use trueCosts = warcraftCosts 40 b k
        TensorSolve.solve problem trueCosts

    member _.Problem = problem
    member _.Kappa = kappa
    member _.Generator = g
    /// The network (for a data-parallel step's gradient averaging).
    member _.Model = model

    /// One step; returns (forward, discrete, backward, optimizer) ms.
    member this.Step() = this.StepWith ignore

    /// One step with `beforeOptimizer` run between the backward pass and the optimizer step (e.g. the gradient
    /// averaging of data-parallel ranks, counted in the optimizer's part); returns (forward, discrete, backward,
    /// optimizer) ms.
    member _.StepWith(beforeOptimizer: unit -> unit) =
        use _scope = torch.NewDisposeScope()
        let sw = Stopwatch.StartNew()

        let lap () =
            let t = sw.Elapsed.TotalMilliseconds
            sw.Restart()
            t

        optimizer.zero_grad ()
        let costs = model.forward images
        let forward = lap ()

        let gradCosts =
            TensorNoise.withGenerator source (fun () ->
                let leaf = costs.detach().requires_grad_(true)
                let z = layer.forward leaf
                Training.backward (Losses.hamming Reduction.Mean z paths)
                leaf.grad)

        let discrete = lap ()
        (costs * gradCosts).sum().backward()
        let backward = lap ()
        beforeOptimizer ()
        optimizer.step () |> ignore
        let opt = lap ()
        [| forward; discrete; backward; opt |]

let private partNames = [| "forward"; "discrete"; "backward"; "optimizer" |]

/// Case 10 for one method: ours with libtorch's noise stream ("before") and with Philox ("after") for I-MLE, the
/// references between them, `reps` rounds.
/// `server` runs reference.py as it is, `serverKeeping` with glibc keeping freed memory as ours does (each may be
/// absent); both alternate with ours.
let case
    (quick: bool)
    (server: ReferenceServer option)
    (serverKeeping: ReferenceServer option)
    (blackbox: bool)
    (samples: int)
    =
    let name =
        if blackbox then
            "warcraft-blackbox"
        else
            sprintf "warcraft-imle-S%d" samples

    let sources = if blackbox then [ Libtorch ] else [ Libtorch; Philox ]

    let setups =
        sources
        |> List.map (fun s -> Setup(blackbox, samples, s, TensorSolve.defaultParallelism))

    let reps = if quick then 3 else 7
    // Warm-up: two steps of each (allocator, oneDNN primitive caches, JIT).
    for s in setups do
        for _ in 1..2 do
            s.Step() |> ignore

    for s in [ server; serverKeeping ] do
        s |> Option.iter (fun s -> s.Run name |> ignore)

    let rounds =
        Array.init reps (fun _ ->
            let ours =
                setups
                |> List.map (fun s ->
                    let sw = Stopwatch.StartNew()
                    let parts = s.Step()
                    sw.Elapsed.TotalMilliseconds, parts)

            ours, server |> Option.map (fun s -> s.Run name), serverKeeping |> Option.map (fun s -> s.Run name))

    let oursStat i =
        stat (rounds |> Array.map (fun (o, _, _) -> fst o.[i]))

    let partOf i p =
        (stat (rounds |> Array.map (fun (o, _, _) -> (snd o.[i]).[p]))).Median

    let refs = rounds |> Array.choose (fun (_, r, _) -> r)
    let refsKeeping = rounds |> Array.choose (fun (_, _, r) -> r)

    let refsStat = refStat refs
    let refKeepingStat = refStat refsKeeping

    let last = List.length setups - 1
    let best = oursStat last
    // Noise and solver alone on the step's shapes, beside the steps.
    let s0 = List.last setups
    let count = if blackbox then 1 else samples

    let solverAlone =
        use costs = warcraftCosts 41 (70 * count) 12
        (time 2 (if quick then 5 else 11) (fun () -> TensorSolve.solve s0.Problem costs |> ignore)).Median

    let noiseAlone src =
        if blackbox then
            0.0
        else
            (time 2 (if quick then 5 else 11) (fun () ->
                TensorNoise.sampleWith
                    src
                    (SumOfGamma(s0.Kappa, 1.0, 10))
                    s0.Generator
                    [| 70L; int64 samples; 144L |]
                    f32
                    torch.CPU
                |> ignore))
                .Median

    let split i =
        partNames
        |> Array.mapi (fun p n -> sprintf "%s %.1f" n (partOf i p))
        |> String.concat ", "

    let refSplitOf (reps: RefRep[]) =
        if reps.Length = 0 then
            "not run"
        else
            let refPart = refPart reps
            let solverFwd, solverBwd = refPart "solver", refPart "solver-bwd"

            sprintf
                "forward %.1f, noise %.1f, solver %.1f (forward %.1f + backward %.1f), network backward %.1f, optimizer %.1f"
                (refPart "forward")
                (refPart "noise")
                (solverFwd + solverBwd)
                solverFwd
                solverBwd
                (refPart "backward" - solverBwd)
                (refPart "optimizer")

    let label =
        if blackbox then
            "blackbox"
        else
            sprintf "I-MLE S = %d" samples

    let vsRef = ratio (Some best) refsStat
    let vsRefKeeping = ratio (Some best) refKeepingStat

    let keepingText =
        match refKeepingStat, vsRefKeeping with
        | Some st, Some r ->
            sprintf
                "Reference with glibc keeping freed memory as ours does (GLIBC_TUNABLES=%s): %.1f ms (%.1f–%.1f), ours %.2f× its time; its split: %s ms. "
                Allocator.glibcTunables
                st.Median
                st.Min
                st.Max
                r
                (refSplitOf refsKeeping)
        | _ -> ""

    { Case =
        sprintf "10. Warcraft training step vs PyTorch, ResNet18 first block, batch 70, K = 12, %s (interleaved)" label
      Ours = Some best
      Reference = refsStat
      Floor = if last > 0 then Some(oursStat 0) else None
      Target = "ours ≤ 0.8× the reference's time"
      Met = vsRef |> Option.map (fun r -> r <= 0.8)
      Notes =
        sprintf
            "ours%s, glibc keeping freed memory (Allocator.keepFreedMemory): %s ms (median per part); noise alone %s, solver alone (TensorSolve.solve on [%d, 12, 12], %d threads) %.1f ms. %sReference (reference.py as it is, Python heapq Dijkstra, torch.distributions.Gamma noise): %s ms. %sBoth sides %d intra-op threads, float32; TorchSharp 0.107 offers no channels-last memory format and no fused/foreach Adam, so neither is used."
            (if last > 0 then " (Philox noise)" else "")
            (split last)
            (if blackbox then
                 "–"
             else
                 sprintf "%.1f ms Philox / %.1f ms libtorch" (noiseAlone Philox) (noiseAlone Libtorch))
            (70 * count)
            TensorSolve.defaultParallelism
            solverAlone
            (if last > 0 then
                 sprintf "Floor column = ours with libtorch's noise stream (before): %s ms. " (split 0)
             else
                 "")
            (refSplitOf refs)
            keepingText
            (torch.get_num_threads ())
      Extra =
        [ for p in 0 .. partNames.Length - 1 do
              yield "ours_" + partNames.[p] + "Ms", JsonValue.Create(partOf last p) :> JsonNode
          for prefix, reps in [ "ref_", refs; "refKeeping_", refsKeeping ] do
              if reps.Length > 0 then
                  for p in [ "forward"; "noise"; "solver"; "solver-bwd"; "backward"; "optimizer" ] do
                      yield prefix + p + "Ms", JsonValue.Create(refPart reps p) :> JsonNode
          match refKeepingStat, vsRefKeeping with
          | Some st, Some r ->
              yield "refKeepingMs", JsonValue.Create(st.Median) :> JsonNode
              yield "oursVsRefKeeping", JsonValue.Create(r) :> JsonNode
          | _ -> () ] }
