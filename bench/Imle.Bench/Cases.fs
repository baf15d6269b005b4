/// The benchmark cases: each times Imle's tensor path against the PyTorch reference's number for the same case
/// (when there is one) and against a floor (the libtorch work that cannot be avoided), and returns one row.
module Imle.Bench.Cases

open System
open System.Diagnostics
open System.Text.Json.Nodes
open TorchSharp
open Imle
open Imle.Torch
open Imle.Bench.Timing

type private Tensor = torch.Tensor

let private f32 = torch.ScalarType.Float32

/// A row of results.json.
type Row =
    {
        Case: string
        Ours: Stat option
        Reference: Stat option
        Floor: Stat option
        Target: string
        /// Whether the target is met (None: nothing to judge).
        Met: bool option
        Notes: string
        Extra: (string * JsonNode) list
    }

let ratio (a: Stat option) (b: Stat option) =
    match a, b with
    | Some a, Some b when b.Median > 0.0 -> Some(a.Median / b.Median)
    | _ -> None

/// The Warcraft cost network (a small CNN standing in for the truncated ResNet18, the one the examples app trains):
/// [B, 3, 8K, 8K] → positive costs [B, K, K].
type CostNet = Imle.Data.WarcraftCostNet

/// Warcraft-like vertex costs (the five terrain costs) for `b` maps of K×K, from a seeded System.Random.
let warcraftCosts (seed: int) (b: int) (k: int) : Tensor =
    let values = [| 0.8f; 1.2f; 5.3f; 7.7f; 9.2f |]
    let rng = Random seed
    let data = Array.init (b * k * k) (fun _ -> values.[rng.Next values.Length])
    torch.tensor(data).view(int64 b, int64 k, int64 k)

let sog kappa = SumOfGamma(kappa, 1.0, 10)

/// Case 1: SoG noise [1024, 1000], κ = 32, s = 10; floor: s·B·m uniforms.
let caseNoise (quick: bool) (reference: string -> Stat option) =
    let b, m, s = 1024L, 1000L, 10L
    let g = new torch.Generator(1UL, torch.CPU)
    let reps = if quick then 5 else 15

    let ours, floor =
        timePair 2 reps (fun () -> TensorNoise.sample (sog 32.0) g [| b; m |] f32 torch.CPU |> ignore) (fun () ->
            torch.rand ([| s * b * m |], dtype = f32, generator = g) |> ignore)

    let normals =
        time 2 reps (fun () -> torch.randn ([| s * b * m |], dtype = f32, generator = g) |> ignore)

    let r = reference "sog-noise"
    let vsRef = ratio r (Some ours)

    { Case = "1. SoG noise [1024, 1000], κ = 32, s = 10 (float32)"
      Ours = Some ours
      Reference = r
      Floor = Some floor
      Target = "≥ 6× faster than the reference"
      Met = vsRef |> Option.map (fun x -> x >= 6.0)
      Notes =
        sprintf
            "floor: %d uniforms (torch.rand) with the same generator; %d standard normals (torch.randn) take %.1f ms. Marsaglia–Tsang needs one normal and one uniform per Gamma draw (≥ 1.05 proposals), so ≥ 2 floors is the algorithmic bound."
            (s * b * m)
            (s * b * m)
            normals.Median
      Extra = [ "normalsMs", JsonValue.Create normals.Median :> JsonNode ] }

/// Case 2: the k-subset I-MLE layer forward + backward, [1024, 1000], k = 32, SoG noise, S samples.
let caseImle (quick: bool) (reference: string -> Stat option) (samples: int) =
    let b, m, k, lambda = 1024L, 1000L, 32, 10.0
    let s = int64 samples
    let problem = Problem.kSubset (int m) k

    let options =
        { ImleOptions.Create(float k, lambda) with
            Samples = samples }

    let estimator = Imle options
    let g = new torch.Generator(2UL, torch.CPU)
    let w = torch.randn([| b; m |], dtype = f32, generator = g).requires_grad_(true)
    let r = torch.randn ([| b; m |], dtype = f32, generator = g)
    let reps = if quick then 3 else (if samples = 1 then 15 else 7)

    let step () =
        let y = Discrete.apply DiscreteOptions.Default problem estimator g w
        let loss = (y * r).sum()
        Training.backward loss
    // The floor: our noise draw, libtorch's two top-k and scatters, and the element-wise work of the step.
    // λ as an explicit Scalar that lives as long as the case: an implicit float → Scalar conversion per call would make a
    // finalisable native object that the GC may free while libtorch still uses it.
    use lambdaScalar = lambda.ToScalar()

    let mapOf (scores: Tensor) =
        let struct (_, idx) = scores.topk (k, dim = 1)
        use ones = torch.ones (idx.shape, dtype = f32)
        torch.zeros_like(scores).scatter_(1L, idx, ones)

    let ours, floor =
        timePair 2 reps step (fun () ->
            use _noGrad = torch.no_grad ()
            let eps = TensorNoise.sample (sog (float k)) g [| b; s; m |] f32 torch.CPU
            let theta = w.detach().view(b, 1L, m)
            let z = mapOf ((Safe.add theta eps).view(b * s, m))
            let y = z.view(b, s, m).mean([| 1L |])
            let _loss = (y * r).sum()

            let target =
                (Safe.add (theta - r.view (b, 1L, m) * lambdaScalar) eps).view(b * s, m)

            let z' = mapOf target
            ((z - z').view(b, s, m).mean([| 1L |]) / lambdaScalar) |> ignore)
    // Parts, for the profile of a miss.
    let noise =
        time 1 reps (fun () -> TensorNoise.sample (sog (float k)) g [| b; s; m |] f32 torch.CPU |> ignore)

    let scores = torch.randn ([| b * s; m |], dtype = f32, generator = g)
    let topk = time 1 reps (fun () -> mapOf scores |> ignore)
    let rf = reference (sprintf "imle-ksubset-S%d" samples)
    let vsRef = ratio rf (Some ours)
    let vsFloor = ratio (Some ours) (Some floor)

    let met =
        match vsRef, vsFloor with
        | Some a, Some f -> Some(a >= 3.0 && f <= 1.3)
        | None, Some f -> Some(f <= 1.3)
        | _ -> None

    { Case = sprintf "2. k-subset I-MLE layer fwd+bwd [1024, 1000], k = 32, SoG, S = %d" samples
      Ours = Some ours
      Reference = rf
      Floor = Some floor
      Target = "≥ 3× faster than the reference; ≤ 1.3× the floor"
      Met = met
      Notes =
        sprintf
            "λ = 10, loss = Σ y·r. floor = our SoG draw [B, S, m] + two topk/scatter + the element-wise work, no autograd. Parts: noise %.1f ms, one topk+scatter over [%d, %d] %.1f ms."
            noise.Median
            (b * s)
            m
            topk.Median
      Extra =
        [ "noiseMs", JsonValue.Create noise.Median :> JsonNode
          "topkScatterMs", JsonValue.Create topk.Median :> JsonNode ] }

/// The C++ yardstick of case 3 (bench/dijkstra.cpp, a plain binary-heap Dijkstra on one thread, compiled with
/// `g++ -O3` by `dotnet fsi build.fsx bench` into bench/Imle.Bench/bin/dijkstra): its median, min and max ms per batch
/// of `batch` K×K maps, or None (with the reason) when the binary is absent or fails.
let cppDijkstra (k: int) (batch: int) (reps: int) : Result<Stat, string> =
    let exe =
        IO.Path.Combine(Machine.repoRoot (), "bench", "Imle.Bench", "bin", "dijkstra")

    if not (IO.File.Exists exe) then
        Error
            "no C++ reference: bench/Imle.Bench/bin/dijkstra is absent (g++ missing; `dotnet fsi build.fsx bench` builds it)"
    else
        try
            let psi =
                ProcessStartInfo(
                    exe,
                    sprintf "%d %d %d" k batch reps,
                    UseShellExecute = false,
                    RedirectStandardOutput = true
                )

            use p = Process.Start psi
            let out = p.StandardOutput.ReadToEnd()
            p.WaitForExit()
            let parts = out.Trim().Split(' ')

            if p.ExitCode <> 0 || parts.Length < 3 then
                Error(sprintf "the C++ reference failed (exit code %d)" p.ExitCode)
            else
                let v (i: int) =
                    Double.Parse(parts.[i], Globalization.CultureInfo.InvariantCulture)

                Ok
                    { Median = v 0
                      Min = v 1
                      Max = v 2
                      Reps = reps }
        with e ->
            Error(sprintf "the C++ reference could not run: %s" e.Message)

/// Case 3: grid shortest path, 8-neighbour vertex costs, batch 70; beside it the C++ yardstick on one thread.
let caseGrid (quick: bool) (reference: string -> Stat option) (k: int) =
    let problem = Problem.gridShortestPath k k Imle.Solvers.Eight
    let costs = warcraftCosts k 70 k
    let reps = if quick then 11 else 51
    let cpp = cppDijkstra k 70 reps

    let ours, oneThread =
        timePair 5 reps (fun () -> TensorSolve.solve problem costs |> ignore) (fun () ->
            TensorSolve.solveWithParallelism 1 problem costs |> ignore)

    let rf = reference (sprintf "grid-path-K%d" k)
    let vsRef = ratio rf (Some ours)
    let secondCore = oneThread.Median / ours.Median

    let vsCpp =
        match cpp with
        | Ok c -> Some(oneThread.Median / c.Median)
        | Error _ -> None

    let met =
        match vsRef with
        | None -> None
        | Some x ->
            Some(
                x >= 30.0
                && (vsCpp |> Option.forall (fun r -> r <= 1.2))
                && (k < 30 || secondCore >= 1.8)
            )

    { Case = sprintf "3. grid shortest path, 8-neighbour vertex costs, batch 70, K = %d" k
      Ours = Some ours
      Reference = rf
      Floor = Some oneThread
      Target =
        "≥ 30× faster than heapq Dijkstra; 1 thread ≤ 1.2× C++ (1 thread)"
        + (if k >= 30 then "; ≥ 1.8× from the second core" else "")
      Met = met
      Notes =
        sprintf
            "ours on %d threads (TensorSolve.solve, float32 costs in, states out); floor column = the same solver on 1 thread (there is no natural libtorch floor: libtorch has no shortest-path op). Reference: heapq Dijkstra per map, pure Python, 1 thread. %s; speed-up from the second core %.2f×."
            TensorSolve.defaultParallelism
            (match cpp with
             | Ok c ->
                 sprintf
                     "C++ binary-heap Dijkstra (g++ -O3, 1 thread, bench/dijkstra.cpp): %.2f ms, ours on 1 thread / C++ = %.2f"
                     c.Median
                     (oneThread.Median / c.Median)
             | Error why -> why)
            secondCore
      Extra =
        [ "cppMs",
          (match cpp with
           | Ok c -> JsonValue.Create c.Median :> JsonNode
           | Error _ -> null)
          "oneThreadOverCpp",
          (match vsCpp with
           | Some r -> JsonValue.Create r :> JsonNode
           | None -> null)
          "secondCoreSpeedUp", JsonValue.Create secondCore :> JsonNode ] }

/// Case 3 (tensor): the device-side grid solver (TensorGridPath: min-plus relaxations in tensor operations), timed on
/// CPU libtorch beside the CPU Dijkstra on the same maps. It is meant for GPU training loops; no GPU here.
let caseGridTensor (quick: bool) (k: int) =
    let host = Problem.gridShortestPath k k Imle.Solvers.Eight
    let device = Problem.gridShortestPathTensor k k Imle.Solvers.Eight
    let costs = warcraftCosts k 70 k
    let reps = if quick then 5 else 21

    let tensor, dijkstra =
        timePair 2 reps (fun () -> TensorSolve.solve device costs |> ignore) (fun () ->
            TensorSolve.solve host costs |> ignore)

    let rounds =
        let states, rounds =
            TensorGridPath.solveWithRounds ClampToZero Imle.Solvers.Eight costs

        states.Dispose()
        rounds

    { Case =
        sprintf "3t. grid shortest path in tensor operations (device-side solver) on CPU libtorch, batch 70, K = %d" k
      Ours = Some tensor
      Reference = None
      Floor = Some dijkstra
      Target = "same optimal cost as Dijkstra (property test); speed reported, no target on the CPU"
      Met = None
      Notes =
        sprintf
            "Problem.gridShortestPathTensor: %d Bellman–Ford rounds (one 3×3 max-pool with indices each), then the path read back along the predecessors; floor column = the CPU Dijkstra (TensorSolve.solve) on the same maps, interleaved. Meant for GPU training loops (no host copy); no GPU on this machine."
            rounds
      Extra = [ "rounds", JsonValue.Create rounds :> JsonNode ] }

/// Case 4: one Warcraft-style training step (batch 70, K = 12, images [70, 3, 96, 96]) with I-MLE, and the
/// solver+estimator part (forward+backward of the discrete layer alone).
let caseWarcraft (quick: bool) (samples: int) =
    let k, b = 12, 70
    torch.random.manual_seed 4L |> ignore
    let problem = Problem.gridShortestPath k k Imle.Solvers.Eight
    let kappa = float (int (1.3 * float k))

    let options =
        { ImleOptions.Create(kappa, 10.0) with
            Samples = samples }

    let g = new torch.Generator(4UL, torch.CPU)

    let layer =
        new DiscreteLayer(
            problem,
            Imle options,
            { LayerOptions.Default with
                Generator = Some g
                Name = "bench-layer" }
        )

    layer.train ()
    let model = new CostNet(k, 32L)
    model.train ()
    let optimizer = torch.optim.Adam(model.parameters (), lr = 5e-4)

    let images =
        torch.rand ([| int64 b; 3L; int64 (8 * k); int64 (8 * k) |], dtype = f32, generator = g)

    let paths =
        use trueCosts = warcraftCosts 40 b k
        TensorSolve.solve problem trueCosts

    let reps = if quick then 5 else 15
    // One step, split into its parts inside the step itself: the CNN forward, the discrete part (the layer's forward
    // and backward with the Hamming loss, on a leaf that cuts the graph at the costs), and the CNN backward + Adam
    // (the costs' gradient fed back as Σ costs·g). Returns (whole step ms, discrete part ms).
    let step () =
        use _scope = torch.NewDisposeScope()
        let total = Stopwatch.StartNew()
        optimizer.zero_grad ()
        let costs = model.forward images
        let part = Stopwatch.StartNew()
        let leaf = costs.detach().requires_grad_(true)
        let z = layer.forward leaf
        let loss = Losses.hamming Reduction.Mean z paths
        Training.backward loss
        let gradCosts = leaf.grad
        let discreteMs = part.Elapsed.TotalMilliseconds
        (costs * gradCosts).sum().backward()
        optimizer.step () |> ignore
        total.Elapsed.TotalMilliseconds, discreteMs

    let clock = Stopwatch.StartNew()
    let mutable n = 0

    while n < 3 || (clock.Elapsed.TotalSeconds < 1.5 && n < 200) do
        step () |> ignore
        n <- n + 1

    let runs = Array.init reps (fun _ -> step ())
    let stepStat = stat (Array.map fst runs)
    let discrete = stat (Array.map snd runs)
    let share = (runs |> Array.map (fun (t, d) -> d / t) |> stat).Median
    let step = stepStat

    { Case = sprintf "4. Warcraft training step, batch 70, K = 12, I-MLE S = %d: solver+estimator share" samples
      Ours = Some step
      Reference = None
      Floor = None
      Target =
        if samples = 1 then
            "solver+estimator < 10 % of the step"
        else
            "solver+estimator ≤ 25 % of the step"
      Met = Some(share < (if samples = 1 then 0.10 else 0.25))
      Notes =
        sprintf
            "whole step (CNN fwd, layer, Hamming loss, backward, Adam) %.1f ms; discrete part (layer fwd + Hamming loss + layer bwd, timed inside the same steps) %.2f ms; median per-step share %.1f %%. I-MLE: SoG(κ = %g, 10 terms), λ = 10, PID target, mean output. No Python counterpart (its CNN would run on the reference BLAS)."
            step.Median
            discrete.Median
            (100.0 * share)
            kappa
      Extra =
        [ "discreteMs", JsonValue.Create discrete.Median :> JsonNode
          "discreteMinMs", JsonValue.Create discrete.Min :> JsonNode
          "discreteMaxMs", JsonValue.Create discrete.Max :> JsonNode
          "sharePercent", JsonValue.Create(100.0 * share) :> JsonNode ] }

/// Case 5: resident memory over `steps` steps of the k-subset I-MLE layer at [64, 200], k = 8, sampled every 500.
let caseMemory (steps: int) =
    let b, m, k = 64L, 200L, 8
    let problem = Problem.kSubset (int m) k
    let estimator = Imle(ImleOptions.Create(float k, 10.0))
    let g = new torch.Generator(5UL, torch.CPU)
    let w = torch.randn([| b; m |], dtype = f32, generator = g).requires_grad_(true)
    let r = torch.randn ([| b; m |], dtype = f32, generator = g)
    let every = 500
    let proc = Process.GetCurrentProcess()
    let samples = Collections.Generic.List<int * float>()
    let mib (x: int64) = float x / (1024.0 * 1024.0)
    proc.Refresh()
    samples.Add(0, mib proc.WorkingSet64)
    let sw = Stopwatch.StartNew()

    for i in 1..steps do
        scoped (fun () ->
            let y = Discrete.apply DiscreteOptions.Default problem estimator g w
            let loss = (y * r).sum()
            Training.backward loss)

        if i % every = 0 then
            proc.Refresh()
            samples.Add(i, mib proc.WorkingSet64)

    let perStep = sw.Elapsed.TotalMilliseconds / float (max 1 steps)
    // Warm-up: the first 20 % of the steps (at least the first sample after the start).
    let warm = max every (steps / 5)
    let after = samples |> Seq.filter (fun (i, _) -> i >= warm) |> Seq.toArray

    let baseline, growth, peak =
        if after.Length = 0 then
            nan, nan, nan
        else
            let baseline = snd after.[0]
            let peak = after |> Array.map snd |> Array.max
            baseline, 100.0 * (peak - baseline) / baseline, peak

    let last = snd samples.[samples.Count - 1]

    { Case = sprintf "5. resident memory, %d steps of case 2 at [64, 200], k = 8 (S = 1)" steps
      Ours =
        Some
            { Median = perStep
              Min = perStep
              Max = perStep
              Reps = steps }
      Reference = None
      Floor = None
      Target = "working set flat within 10 % after warm-up"
      Met = if Double.IsNaN growth then None else Some(growth <= 10.0)
      Notes =
        sprintf
            "Process.WorkingSet64 every %d steps: %.1f MiB at step %d (after warm-up), peak %.1f MiB after it, %.1f MiB at the end: growth %.1f %%. oursMs = mean ms per step. Samples (step: MiB): %s"
            every
            baseline
            warm
            peak
            last
            growth
            (samples |> Seq.map (fun (i, v) -> sprintf "%d: %.0f" i v) |> String.concat ", ")
      Extra =
        [ "baselineMiB", JsonValue.Create baseline :> JsonNode
          "peakMiB", JsonValue.Create peak :> JsonNode
          "growthPercent", JsonValue.Create growth :> JsonNode
          "samples",
          JsonArray(
              samples
              |> Seq.map (fun (i, v) -> JsonArray(JsonValue.Create i, JsonValue.Create v) :> JsonNode)
              |> Seq.toArray
          )
          :> JsonNode ] }
