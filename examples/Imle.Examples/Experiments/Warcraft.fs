/// `warcraft`: the Warcraft-style shortest-path experiment (paper Table 2) on procedurally generated terrain maps.
///
/// A CNN maps the (8K)×(8K) RGB image of a K×K terrain map to K×K positive vertex costs; Dijkstra (8 neighbours,
/// top-left to bottom-right) turns them into a path; the path is compared with the true shortest path. Every method
/// is one way of getting a gradient through Dijkstra (or, for the regression baseline, of avoiding it).
module Imle.Examples.Experiments.Warcraft

open System
open System.Diagnostics
open System.IO
open Argu
open TorchSharp
open Imle
open Imle.Torch
open Imle.Examples
open Imle.Data
open Imle.Data.WarcraftMaps
open Imle.Examples.Output
open Imle.Examples.Experiments.WarcraftPictures
open Imle.Examples.Experiments.WarcraftReport

type private Tensor = torch.Tensor

/// Command-line arguments.
type Args =
    | K of int list
    | Epochs of int
    | Train_Maps of int
    | Test_Maps of int
    | Batch of int
    | Methods of string list
    | Full
    | Cache of string
    | Lr of float
    | Network of string
    | Negative_Costs of string
    | Seeds of int list
    | Report_Only
    | Ranks of int
    | Solver_Farm of string list
    | Resume of string
    | Time_Budget of float
    | Farm_Tls of cert: string * key: string * ca: string
    | Aggregate of string list

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | K _ -> "grid sizes, each at least 2, e.g. --k 12 18 24 30 (default 12; with --full all four)"
            | Epochs _ -> "training epochs per method (default 8; --full: 50)"
            | Train_Maps _ -> "training maps (default 1000; --full: 10000)"
            | Test_Maps _ -> "test maps (default 200; --full: 1000)"
            | Batch _ -> "batch size, at most --train-maps (default 70, or --train-maps if fewer)"
            | Methods _ ->
                "methods to run (default all): paper-mumu paper-mm paper-bb paper-dpo (Table 2's columns as the authors ran them), authors-mm-noisy, and ours: imle-mm imle-mumu imle-fact2 dpo identity regression"
            | Full -> "the paper's protocol: 50 epochs, batch 70, 10,000 training and 1,000 test maps, K = 12 18 24 30"
            | Cache _ -> "folder of the map cache (default <out>/../cache)"
            | Lr _ -> "Adam learning rate (default 5e-4, decayed x0.1 at 60% and 80% of the epochs)"
            | Network _ ->
                "resnet18 (the paper's: ResNet18's first block, as tf-imle's CombResnet18; default) or small-cnn"
            | Negative_Costs _ ->
                "what Dijkstra does with negative perturbed costs: shift (each map's costs moved so the minimum is 0, as tf-imle does to a noiseless target; default), clamp (each negative cost set to 0, as blackbox-backprop's backward pass) or unchanged (Dijkstra as written, each cell settled at its first pop, as tf-imle runs it on noisy costs)"
            | Seeds _ ->
                "training seeds, one run per method, K and seed (default: --seed); the maps always come from --seed"
            | Report_Only ->
                "no training: rewrite report.md from <out>/results.json of an earlier run (give that run's options)"
            | Ranks _ ->
                "data-parallel training on N MPI ranks (relaunches itself under mpirun -np N; each rank trains on its slice of every batch)"
            | Solver_Farm _ ->
                "seed nodes of a solver farm (akka.ssl.tcp://imle-farm@HOST:PORT with --farm-tls, akka.tcp://… on loopback); the training layer's Dijkstra calls run on its workers"
            | Farm_Tls _ ->
                "this node's certificate (PEM or .pfx), its PEM key (\"\" for a .pfx) and the cluster CA's certificate: mutual TLS with the solver farm"
            | Resume _ ->
                "continue an earlier run in DIR (used as --out) with the same options: finished runs are kept, unfinished ones continue bit for bit from their last epoch's checkpoint (DIR/checkpoints)"
            | Time_Budget _ ->
                "minutes: stop after the epoch during which this much time has passed (exit code 75; every finished epoch is checkpointed); continue with --resume"
            | Aggregate _ ->
                "no training: mean ± sd over finished runs of one configuration that differ only in --methods and --seeds (their folders), with each run's convergence over its last fifth of epochs and the cost per epoch, into --out"

/// How the combinatorial losses are scaled (it matters: Eq. 14 and the λ of PID/BB read dL/dz's magnitude).
type LossKind =
    /// ℓ_H summed over the cells and the maps of the batch (`Reduction.Sum`): dL/dz = 1 − 2y per cell, so Eq. 14's
    /// target is θ' = 2y − 1 (costs −1 on the true path, +1 elsewhere), on the scale of the noise.
    | HammingSum
    /// ℓ_H summed over the cells, averaged over the maps (`Reduction.Mean`, Pogančić et al.'s and tf-imle's
    /// HammingLoss): dL/dz = (1 − 2y)/B.
    | HammingPerMap
    /// Regret ℓ_R = ⟨c, z − y⟩ summed over the maps (`Reduction.Sum`): dL/dz = c, the true costs (Fact 2).
    | RegretSum

/// How a method trains.
type Training =
    /// A discrete layer with an estimator, then a loss on its states.
    | Layer of Estimator * LossKind
    /// The Fenchel–Young loss of perturbed optimizers on the predicted costs and the true path.
    | FenchelYoungLoss of Noise * samples: int
    /// MSE between predicted and true costs; Dijkstra only at evaluation.
    | CostRegression

/// Where a method's reference numbers come from.
type MethodGroup =
    /// One column of the paper's Table 2, set as the authors' code ran it (column index 0 μ-μ, 1 MAP-MAP, 2 BB, 3 DPO).
    | PaperColumn of int
    /// A run of the authors that is in their logs but not in the paper's table (its numbers per K).
    | AuthorsRun of source: string * numbers: Map<int, string>
    /// One of ours, with no counterpart in the paper.
    | Ours

/// A method of Table 2 (or a baseline).
type MethodSpec =
    { Id: string
      Name: string
      Target: string
      Training: Training
      Group: MethodGroup }

/// The paper's Table 2 (mean ± sd over 5 runs): μ-μ, MAP-MAP, BB, DPO per K.
let paperTable: Map<int, string[]> =
    Map.ofList
        [ 12, [| "97.2 ± 0.5"; "95.2 ± 0.3"; "95.2 ± 0.7"; "94.8 ± 0.3" |]
          18, [| "95.8 ± 0.7"; "94.4 ± 0.5"; "94.7 ± 0.4"; "92.3 ± 0.8" |]
          24, [| "94.3 ± 1.0"; "93.2 ± 0.2"; "93.8 ± 0.3"; "91.5 ± 0.4" |]
          30, [| "93.6 ± 0.4"; "93.7 ± 0.6"; "93.6 ± 0.5"; "91.5 ± 0.8" |] ]

/// The names of Table 2's columns, by index.
let paperColumns = [| "μ-μ"; "MAP-MAP"; "BB"; "DPO" |]

/// The methods at grid size k. The first five are the paper's columns (and the authors' noisy MAP-MAP run) set as
/// tf-imle ran them (its `warcraft_shortest_path/maprop.py` and run logs); κ = int(1.3·K) for the Sum-of-Gamma noise,
/// τ = 1, s = 10, as there.
let methodSpecs (k: int) : MethodSpec list =
    let kappa = float (int (1.3 * float k))
    let sog = SumOfGamma(kappa, 1.0, 10)

    let eq14 noise samples =
        { ImleOptions.Create(kappa, 1.0) with
            Target = CombOpt
            Samples = samples
            Noise = noise }

    [ { Id = "paper-mumu"
        Name = "μ-μ (as run)"
        Target =
          sprintf
              "tf-imle mode 4: z = MAP(w − ε), z' = MAP(c_true − ε) with the same ε, %s, S = 1, λ = 10 (only divides the gradient); here Eq. 14 on the regret ℓ_R (θ' = −c_true, Fact 2)"
              (Noise.describe sog)
        Training = Layer(Imle(eq14 sog 1), RegretSum)
        Group = PaperColumn 0 }
      { Id = "paper-mm"
        Name = "MAP-MAP (as run)"
        Target =
          "tf-imle mode 1: θ' = −λ·dL/dz (Eq. 14) on ℓ_H per map, λ = 50, no noise on either side (ρ = δ₀), S = 1: Fact 1's perceptron rule"
        Training = Layer(Imle(eq14 Zero 1), HammingPerMap)
        Group = PaperColumn 1 }
      { Id = "paper-bb"
        Name = "BB (as run)"
        Target = "blackbox: w' = w + λ·dL/dz, λ = 20, no noise, ℓ_H per map"
        Training = Layer(Blackbox 20.0, HammingPerMap)
        Group = PaperColumn 2 }
      { Id = "paper-dpo"
        Name = "DPO (as run)"
        Target = "Fenchel–Young loss of perturbed optimizers, Normal(σ = 0.01), S = 1"
        Training = FenchelYoungLoss(Normal 0.01, 1)
        Group = PaperColumn 3 }
      { Id = "authors-mm-noisy"
        Name = "MAP-MAP, noisy (authors' run)"
        Target =
          sprintf
              "tf-imle mode 1 with perturb_w: z = MAP(w − ε), %s, z' = MAP(θ') without noise, θ' from Eq. 14 on ℓ_H per map, λ = 10, S = 1"
              (Noise.describe sog)
        Training =
          Layer(
              Imle
                  { eq14 sog 1 with
                      TargetTemperature = 0.0 },
              HammingPerMap
          )
        Group =
          AuthorsRun(
              "tf-imle logs (temperature_beaker_v10, mode 1, perturb_w, λ = 10, S = 1, τ = 1)",
              Map.ofList [ 12, "85.3"; 18, "82.7"; 24, "78.3"; 30, "78.3" ]
          ) }
      { Id = "imle-mm"
        Name = "I-MLE MAP-MAP, SoG both sides (ours)"
        Target =
          sprintf
              "Eq. 14 (CombOpt) on ℓ_H summed over cells and maps (θ' = 2y − 1), %s on both sides, S = 10"
              (Noise.describe sog)
        Training = Layer(Imle(eq14 sog 10), HammingSum)
        Group = Ours }
      { Id = "imle-mumu"
        Name = "I-MLE μ-μ, gradient target (ours)"
        Target = sprintf "PID θ' = θ − λ·dL/dz, λ = 10, on ℓ_H per map, %s, S = 10, mean output" (Noise.describe sog)
        Training =
          Layer(
              Imle
                  { ImleOptions.Create(kappa, 10.0) with
                      Samples = 10
                      Noise = sog },
              HammingPerMap
          )
        Group = Ours }
      { Id = "imle-fact2"
        Name = "I-MLE μ-μ, Fact 2 with S = 10 (ours)"
        Target =
          sprintf
              "Eq. 14 (CombOpt) on regret ℓ_R, so θ' = −c_true: trains on the true costs, %s, S = 10"
              (Noise.describe sog)
        Training = Layer(Imle(eq14 sog 10), RegretSum)
        Group = Ours }
      { Id = "dpo"
        Name = "DPO, σ = 1, S = 10 (ours)"
        Target = "Fenchel–Young loss, Normal(σ = 1), S = 10"
        Training = FenchelYoungLoss(Normal 1.0, 10)
        Group = Ours }
      { Id = "identity"
        Name = "Identity + projection"
        Target = sprintf "dL/dθ = mean-centred dL/dz, %s in the forward pass, ℓ_H per map" (Noise.describe sog)
        Training = Layer(Identity(MeanCentre, sog), HammingPerMap)
        Group = Ours }
      { Id = "regression"
        Name = "CNN regression + Dijkstra"
        Target = "MSE to the true costs (no solver in training)"
        Training = CostRegression
        Group = Ours } ]

/// The command-line ids of the methods, in the order they run.
let methodIds = methodSpecs 12 |> List.map (fun s -> s.Id)

/// The reference number of a method at grid size k: the paper's Table 2 or the authors' logs, or "–".
let referenceFor (spec: MethodSpec) (k: int) =
    match spec.Group with
    | PaperColumn c ->
        match Map.tryFind k paperTable with
        | Some row -> row.[c]
        | None -> "–"
    | AuthorsRun(_, numbers) -> Map.tryFind k numbers |> Option.defaultValue "–"
    | Ours -> "–"

// ----- networks and data ---------------------------------------------------------------------------------------------

/// The network that maps a map's image to vertex costs.
type NetworkKind =
    /// The paper's: ResNet18's first block (`WarcraftResNet`, tf-imle's CombResnet18, |output| as the costs), with the
    /// images normalised per channel by the training maps' mean and standard deviation (tf-imle's loader,
    /// `normalize: true`).
    | ResNet18FirstBlock
    /// A small CNN (`WarcraftCostNet`, 32 channels, softplus costs) on images in [0, 1]: about 4× cheaper.
    | SmallCnn

/// The command-line name of a network.
let networkName (network: NetworkKind) =
    match network with
    | ResNet18FirstBlock -> "resnet18"
    | SmallCnn -> "small-cnn"

/// The command-line name of a negative-cost rule.
let negativeCostsName (rule: NegativeCosts) =
    match rule with
    | ShiftToZero -> "shift"
    | ClampToZero -> "clamp"
    | Unchanged -> "unchanged"

let private createNetwork (network: NetworkKind) (k: int) : torch.nn.Module<Tensor, Tensor> =
    match network with
    | ResNet18FirstBlock -> new WarcraftResNet(k)
    | SmallCnn -> new WarcraftCostNet(k, 32L)

/// Per-channel mean and standard deviation of the images of `maps` (pixel values in [0, 1]).
let private channelStatistics (maps: WarcraftMap[]) : float[] * float[] =
    let sum = Array.zeroCreate<float> 3
    let sumSq = Array.zeroCreate<float> 3
    let mutable pixels = 0L

    for m in maps do
        let perChannel = m.Image.Length / 3
        pixels <- pixels + int64 perChannel

        for ch in 0..2 do
            for i in ch * perChannel .. (ch + 1) * perChannel - 1 do
                let v = float m.Image.[i] / 255.0
                sum.[ch] <- sum.[ch] + v
                sumSq.[ch] <- sumSq.[ch] + v * v

    let mean = sum |> Array.map (fun s -> s / float pixels)

    let std =
        Array.init 3 (fun ch -> sqrt (max 1e-12 (sumSq.[ch] / float pixels - mean.[ch] * mean.[ch])))

    mean, std

/// Images [B, 3, 8K, 8K] (in [0, 1], or normalised per channel by (mean, std)), true costs [B, K, K] and true paths
/// [B, K, K] for the maps `idx`, on `device`.
let private tensors
    (normalise: (float[] * float[]) option)
    (maps: WarcraftMap[])
    (idx: int[])
    (device: torch.Device)
    : Tensor * Tensor * Tensor =
    let k = maps.[0].K
    let n = imageBytes k
    let side = int64 (imageSide k)
    let b = int64 idx.Length
    let bytes = Array.zeroCreate<byte>(idx.Length * n)
    let costs = Array.zeroCreate<float32>(idx.Length * k * k)
    let paths = Array.zeroCreate<float32>(idx.Length * k * k)

    idx
    |> Array.iteri (fun j i ->
        let m = maps.[i]
        Buffer.BlockCopy(m.Image, 0, bytes, j * n, n)
        Array.blit m.Costs 0 costs (j * k * k) (k * k)

        for c in 0 .. k * k - 1 do
            paths.[j * k * k + c] <- float32 m.Path.[c])

    let unit =
        Safe.divScalar (torch.tensor(bytes).reshape(b, 3L, side, side).``to``(torch.ScalarType.Float32, device)) 255.0

    let x =
        match normalise with
        | None -> unit
        | Some(mean, std) ->
            // (x − mean) / std = x · (1/std) + (−mean/std), per channel.
            use scale =
                torch.tensor(std |> Array.map (fun s -> float32 (1.0 / s))).reshape(1L, 3L, 1L, 1L).``to``(device)

            use shift =
                torch.tensor(Array.map2 (fun m s -> float32 (-m / s)) mean std).reshape(1L, 3L, 1L, 1L).``to``(device)

            use scaled = unit.mul scale
            Safe.add scaled shift

    let c = torch.tensor(costs).reshape(b, int64 k, int64 k).``to``(device)
    let y = torch.tensor(paths).reshape(b, int64 k, int64 k).``to``(device)
    x, c, y

/// Optimal-path accuracy (%), cell accuracy (%) and the predicted path of test map 0 (MAP of the predicted costs, no
/// noise, as the reference evaluates).
let private evaluate
    (model: torch.nn.Module<Tensor, Tensor>)
    (problem: Problem)
    (normalise: (float[] * float[]) option)
    (maps: WarcraftMap[])
    (batch: int)
    (device: torch.Device)
    : float * float * float[] =
    let k = maps.[0].K
    let cells = k * k
    model.eval ()
    let mutable optimal = 0
    let mutable sameCells = 0L
    let mutable first = [||]

    (use _ = torch.no_grad ()

     for start in 0..batch .. maps.Length - 1 do
         use _ = torch.NewDisposeScope()
         let idx = [| start .. min maps.Length (start + batch) - 1 |]
         let x, _, _ = tensors normalise maps idx device
         let w = model.forward x
         let z = Discrete.map problem w
         let zs = z.cpu().data<float32>().ToArray()

         for j in 0 .. idx.Length - 1 do
             let i = idx.[j]
             let m = maps.[i]
             let mutable cost = 0.0

             for c in 0 .. cells - 1 do
                 let zc = zs.[j * cells + c]
                 cost <- cost + float zc * float m.Costs.[c]

                 if (zc > 0.5f) = (m.Path.[c] = 1uy) then
                     sameCells <- sameCells + 1L

             if abs (cost - m.PathCost) <= 1e-4 * m.PathCost then
                 optimal <- optimal + 1

             if i = 0 then
                 first <- Array.init cells (fun c -> float zs.[j * cells + c]))

    model.train ()
    100.0 * float optimal / float maps.Length, 100.0 * float sameCells / float (int64 maps.Length * int64 cells), first

// ----- training -----------------------------------------------------------------------------------------------------

/// What a run needs.
type Config =
    {
        Ks: int list
        Epochs: int
        TrainMaps: int
        TestMaps: int
        Batch: int
        MethodIds: string list
        Device: torch.Device
        DeviceName: string
        CacheDir: string
        Lr: float
        /// The seed of the maps (`--seed`).
        Seed: int
        /// The training seeds: one run per method, K and seed (initialisation, batches, noise).
        Seeds: int list
        Network: NetworkKind
        NegativeCosts: NegativeCosts
        /// Rewrite the report from `<OutDir>/results.json` instead of training.
        ReportOnly: bool
        /// Continue from `<OutDir>/runs` (finished runs) and `<OutDir>/checkpoints` (one per unfinished run).
        Resume: bool
        /// Stop after the epoch that ends past this time (`--time-budget`).
        Deadline: DateTime option
        OutDir: string
        Command: string
    }

/// One method's training run: the row, the per-epoch training loss, the per-epoch test accuracy, the sample path.
type MethodRun =
    { Row: WarcraftRow
      Losses: float[]
      TestAccuracy: float[]
      SamplePath: float[] }

/// Raised when `--time-budget` has run out after a checkpointed epoch; the run continues with `--resume`.
exception TimeBudgetReached of run: string * epochsDone: int

/// Where one run (K, method, seed) keeps its checkpoint while it trains and its record once it has finished.
let private runFiles (cfg: Config) (k: int) (spec: MethodSpec) (seed: int) =
    let tag = sprintf "K%d-%s-seed%d" k spec.Id seed

    tag, Path.Combine(cfg.OutDir, "checkpoints", tag + ".ckpt"), Path.Combine(cfg.OutDir, "runs", tag + ".json")

/// Writes `value` to `path` through a temporary file and a rename (a crash never leaves half a file).
let private writeAtomically (path: string) (write: string -> unit) =
    Directory.CreateDirectory(Path.GetDirectoryName path) |> ignore
    let temporary = path + ".tmp"
    write temporary
    File.Move(temporary, path, true)

/// Trains one method's run, continuing from its checkpoint where `--resume` finds one.
let private trainMethod
    (cfg: Config)
    (k: int)
    (normalise: (float[] * float[]) option)
    (train: WarcraftMap[])
    (test: WarcraftMap[])
    (seed: int)
    (spec: MethodSpec)
    : MethodRun =
    let tag, checkpointFile, runFile = runFiles cfg k spec seed
    let watch = Stopwatch.StartNew()
    let problem = WarcraftMaps.problemWith cfg.NegativeCosts k
    torch.random.manual_seed (int64 seed) |> ignore
    let model = createNetwork cfg.Network k
    model.``to`` (cfg.Device) |> ignore
    WarcraftScaleOut.checkIdentical model
    let trainingProblem = WarcraftScaleOut.trainingProblem cfg.NegativeCosts k problem
    let optimizer = torch.optim.Adam(model.parameters (), cfg.Lr)

    let milestones =
        [| int (round (0.6 * float cfg.Epochs)); int (round (0.8 * float cfg.Epochs)) |]
        |> Array.distinct

    let scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones, 0.1)
    use generator = new torch.Generator(uint64 (seed * 7919 + 17), cfg.Device)
    let steps = (train.Length + cfg.Batch - 1) / cfg.Batch
    let losses = Array.zeroCreate cfg.Epochs
    let accuracy = Array.zeroCreate cfg.Epochs
    let last = ref (0.0, 0.0, [||])

    // Resuming: the scheduler is stepped to the saved epoch first (a loaded optimizer then holds the same learning rate
    // either way), then the model, Adam's moments, the noise generator and the finished epochs' numbers are restored.
    let startEpoch, secondsBefore =
        if cfg.Resume && File.Exists checkpointFile then
            let saved = Checkpoint.read checkpointFile

            for _ in 1 .. saved.State.Epoch do
                scheduler.step ()

            let state = Checkpoint.load checkpointFile model (Some optimizer)
            Checkpoint.restoreGenerator state.Generators.["noise"] generator

            for e in 0 .. state.Epoch - 1 do
                losses.[e] <- state.Metrics.[sprintf "loss.%d" e]
                accuracy.[e] <- state.Metrics.[sprintf "accuracy.%d" e]

            state.Epoch, state.Metrics.["seconds"]
        else
            0, 0.0

    let checkpoint (epochsDone: int) =
        if WarcraftScaleOut.isRoot () then
            let metrics =
                [ for e in 0 .. epochsDone - 1 do
                      yield sprintf "loss.%d" e, losses.[e]
                      yield sprintf "accuracy.%d" e, accuracy.[e]
                  yield "seconds", secondsBefore + watch.Elapsed.TotalSeconds ]
                |> Map.ofList

            let state =
                { TrainingState.Empty with
                    Step = int64 (epochsDone * steps)
                    Epoch = epochsDone
                    Seed = int64 seed
                    Generators = Map.ofList [ "noise", Checkpoint.captureGenerator generator ]
                    Settings = Map.ofList [ "run", tag; "command", cfg.Command ]
                    Metrics = metrics }

            Directory.CreateDirectory(Path.GetDirectoryName checkpointFile) |> ignore
            Checkpoint.save checkpointFile model (Some optimizer) state

    progress (sprintf "K=%d %s seed %d" k spec.Id seed) ((cfg.Epochs - startEpoch) * steps) (fun tick ->
        for epoch in startEpoch .. cfg.Epochs - 1 do
            let mutable sum = 0.0

            for idx in Training.shuffledBatches (Random(seed * 1000 + epoch)) train.Length cfg.Batch do
                use _ = torch.NewDisposeScope()
                let idx = WarcraftScaleOut.slice idx
                let b = idx.Length
                let x, c, y = tensors normalise train idx cfg.Device
                let w = model.forward x
                // The loss optimised and its value per map (per cell for the regression's MSE).
                let loss, perMap =
                    match spec.Training with
                    | Layer(estimator, kind) ->
                        let z = Discrete.apply DiscreteOptions.Default trainingProblem estimator generator w

                        match kind with
                        | HammingSum -> Losses.hamming Reduction.Sum z y, float b
                        | HammingPerMap -> Losses.hamming Reduction.Mean z y, 1.0
                        | RegretSum -> Losses.regret Reduction.Sum z c y, float b
                    | FenchelYoungLoss(noise, samples) ->
                        DflLosses.compute
                            trainingProblem
                            (DflLoss.FenchelYoung(PerturbedOptions.Create(noise, samples)))
                            (DflSources.OfGenerator generator)
                            { Predicted = w
                              TrueCosts = c
                              TrueSolutions = y
                              BindingNormals = null },
                        1.0
                    | CostRegression -> torch.nn.functional.mse_loss (w, c, torch.nn.Reduction.Mean), 1.0

                optimizer.zero_grad ()
                Training.backward loss // surfaces errors recorded in the discrete backward pass
                WarcraftScaleOut.afterBackward model
                optimizer.step () |> ignore
                WarcraftScaleOut.afterStep model
                sum <- sum + float (loss.item<float32>()) / perMap
                tick ()

            scheduler.step ()
            losses.[epoch] <- sum / float steps

            // Under --ranks, ranks > 0 evaluate only once, at the end (their outputs are scratch).
            if WarcraftScaleOut.isRoot () || epoch = cfg.Epochs - 1 then
                last.Value <- evaluate model problem normalise test cfg.Batch cfg.Device

            let (acc, _, _) = last.Value
            accuracy.[epoch] <- acc

            if epoch < cfg.Epochs - 1 then
                checkpoint (epoch + 1)

                match cfg.Deadline with
                | Some deadline when DateTime.UtcNow >= deadline -> raise (TimeBudgetReached(tag, epoch + 1))
                | _ -> ())

    let (acc, cellAcc, sample) = last.Value
    model.Dispose()
    optimizer.Dispose()

    { Row =
        { Method = spec.Name
          MethodId = spec.Id
          Target = spec.Target
          K = k
          Epochs = cfg.Epochs
          TrainMaps = train.Length
          TestMaps = test.Length
          Batch = cfg.Batch
          OptimalPathAccuracy = acc
          CellAccuracy = cellAcc
          Paper = referenceFor spec k
          PaperColumn =
            match spec.Group with
            | PaperColumn c -> c
            | _ -> -1
          Seconds = secondsBefore + watch.Elapsed.TotalSeconds
          Device = cfg.DeviceName
          Seed = seed }
      Losses = losses
      TestAccuracy = accuracy
      SamplePath = sample }
    |> fun run ->
        if WarcraftScaleOut.isRoot () then
            writeAtomically runFile (fun path -> writeJson path run)

            if File.Exists checkpointFile then
                File.Delete checkpointFile

        run

/// With `--resume`, the record of a run (K, method, seed) that finished earlier, read back instead of training again.
let private finishedRun (cfg: Config) (k: int) (spec: MethodSpec) (seed: int) : MethodRun option =
    let _, _, runFile = runFiles cfg k spec seed

    if cfg.Resume && File.Exists runFile then
        Some(readJson<MethodRun> runFile)
    else
        None

// ----- the experiment -----------------------------------------------------------------------------------------------

let private pathColours =
    [| SkiaSharp.SKColors.Red
       SkiaSharp.SKColors.Blue
       SkiaSharp.SKColors.Orange
       SkiaSharp.SKColors.Magenta
       SkiaSharp.SKColors.Cyan
       SkiaSharp.SKColors.Yellow
       SkiaSharp.SKColors.Black
       SkiaSharp.SKColors.Purple |]

/// Runs the configured experiment: data (cached), every method at every K and seed, results.json, plots, report.md.
let runExperiment (cfg: Config) : WarcraftRow[] =
    let dir = ensureDir cfg.OutDir

    let specsFor k =
        let all = methodSpecs k

        cfg.MethodIds
        |> List.map (fun id ->
            match all |> List.tryFind (fun s -> s.Id = id) with
            | Some s -> s
            | None ->
                invalidArg "methods" (sprintf "Unknown method '%s'; known: %s." id (String.Join(", ", methodIds))))

    cfg.Ks
    |> List.iter (fun k ->
        if k < 2 then
            invalidArg "k" (sprintf "K must be at least 2; got %d." k))

    if List.isEmpty cfg.Seeds then
        invalidArg "seeds" "At least one training seed is needed."

    specsFor 12 |> ignore

    let pictures (k: int) (test: WarcraftMap[]) (firstSeed: MethodRun list) =
        let sample = test.[0]
        let truePath = Array.map float sample.Path

        savePng
            (Path.Combine(dir, sprintf "sample-map-K%d.png" k))
            sample
            4
            (("true shortest path", pathColours.[0], truePath)
             :: (firstSeed
                 |> List.mapi (fun i r -> r.Row.Method, pathColours.[(i + 1) % pathColours.Length], r.SamplePath)))

        let epochs = Array.init cfg.Epochs (fun e -> float (e + 1))

        let curves (file: string) (title: string) (yLabel: string) (values: MethodRun -> float[]) =
            linePlot
                (Path.Combine(dir, sprintf "%s-K%d.png" file k))
                (sprintf "%s, K = %d (seed %d)" title k (List.head cfg.Seeds))
                "epoch"
                yLabel
                (firstSeed
                 |> List.map (fun r ->
                     { Label = r.Row.Method
                       X = epochs
                       Y = values r
                       Band = None }))

        curves "training-loss" "Training loss per map (each method's own loss)" "loss" (fun r -> r.Losses)
        curves "test-accuracy" "Test optimal-path accuracy" "optimal path %" (fun r -> r.TestAccuracy)

    let writeReportOnly (runs: MethodRun list) (maps: MapSummary list) =
        WarcraftReport.write
            dir
            { Command = cfg.Command
              Ks = cfg.Ks
              Epochs = cfg.Epochs
              TrainMaps = cfg.TrainMaps
              TestMaps = cfg.TestMaps
              Batch = cfg.Batch
              Lr = cfg.Lr
              Seed = cfg.Seed
              Seeds = cfg.Seeds
              Network = networkName cfg.Network
              NegativeCosts = negativeCostsName cfg.NegativeCosts
              DeviceName = cfg.DeviceName }
            maps
            (runs |> List.map (fun r -> r.Row) |> Array.ofList)

    let writeOutputs (runs: MethodRun list) (maps: MapSummary list) =
        let rows = runs |> List.map (fun r -> r.Row) |> Array.ofList
        writeJson (Path.Combine(dir, "results.json")) rows

        writeJson
            (Path.Combine(dir, "curves.json"))
            (runs
             |> List.map (fun r ->
                 {| method = r.Row.Method
                    k = r.Row.K
                    seed = r.Row.Seed
                    trainingLoss = r.Losses
                    testOptimalPathAccuracy = r.TestAccuracy |})
             |> Array.ofList)

        let summary = summarise rows

        barPlot
            (Path.Combine(dir, "accuracy.png"))
            "Optimal-path accuracy on test maps (mean over seeds)"
            "%"
            (summary |> Array.map (fun r -> sprintf "%s K=%d" r.MethodId r.K))
            (summary |> Array.map (fun r -> r.Mean))

        writeReportOnly runs maps

    let mapSummaries = ResizeArray<MapSummary>()
    let allRuns = ResizeArray<MethodRun>()

    for k in cfg.Ks do
        let load split count =
            let watch = Stopwatch.StartNew()

            let maps, cached =
                progress (sprintf "K=%d %s maps" k split) count (fun tick ->
                    dataset cfg.CacheDir cfg.Seed k split count tick)

            printfn
                "K=%d: %d %s maps %s in %.1f s"
                k
                count
                split
                (if cached then
                     "loaded from the cache"
                 else
                     "generated and cached")
                watch.Elapsed.TotalSeconds

            maps

        let train = load "train" cfg.TrainMaps
        let test = load "test" cfg.TestMaps

        let normalise =
            match cfg.Network with
            | ResNet18FirstBlock -> Some(channelStatistics train)
            | SmallCnn -> None

        mapSummaries.Add
            { GridSide = k
              TerrainShares = terrainShares train
              MeanPathLength = meanPathLength train }

        let runs = ResizeArray<MethodRun>()

        if cfg.ReportOnly then
            let path = Path.Combine(dir, "results.json")

            if not (File.Exists path) then
                invalidArg "out" (sprintf "--report-only: %s does not exist (run the experiment first)." path)

            let rows: WarcraftRow[] = readJson path

            allRuns.AddRange(
                rows
                |> Array.filter (fun r -> r.K = k)
                |> Array.map (fun r ->
                    { Row = r
                      Losses = [||]
                      TestAccuracy = [||]
                      SamplePath = [||] })
            )

            writeReportOnly (List.ofSeq allRuns) (List.ofSeq mapSummaries)

        // Seeds outermost, and the outputs rewritten after each seed: a run cut short keeps every finished seed.
        for seed in (if cfg.ReportOnly then [] else cfg.Seeds) do
            for spec in specsFor k do
                runs.Add(
                    finishedRun cfg k spec seed
                    |> Option.defaultWith (fun () -> trainMethod cfg k normalise train test seed spec)
                )

            writeOutputs (Seq.append allRuns runs |> List.ofSeq) (List.ofSeq mapSummaries)
            // Pictures (first seed): a sample test map with the true path and every method's prediction; curves.
            if seed = List.head cfg.Seeds then
                pictures k test (List.ofSeq runs)

        allRuns.AddRange runs

    allRuns |> Seq.map (fun r -> r.Row) |> Array.ofSeq

/// The command line that reproduces a configuration.
let private commandLine (cfg: Config) (full: bool) =
    sprintf
        "dotnet run --project examples/Imle.Examples -c Release -- warcraft --seed %d --out %s%s --k %s --epochs %d --train-maps %d --test-maps %d --batch %d --lr %g --methods %s --seeds %s --network %s --negative-costs %s --device %s"
        cfg.Seed
        cfg.OutDir
        (if full then " --full" else "")
        (String.Join(" ", cfg.Ks))
        cfg.Epochs
        cfg.TrainMaps
        cfg.TestMaps
        cfg.Batch
        cfg.Lr
        (String.Join(" ", cfg.MethodIds))
        (String.Join(" ", cfg.Seeds))
        (networkName cfg.Network)
        (negativeCostsName cfg.NegativeCosts)
        cfg.DeviceName

let private defaultCache (outDir: string) =
    Path.Combine(Path.GetDirectoryName(Path.GetFullPath(outDir.TrimEnd('/', '\\'))), "cache")

/// The demo's reduced run: K = 12, Table 2's MAP-MAP and BB columns as the authors ran them (no noise, one solver call
/// per map and step: the paper's settings are the cheap ones here), the small CNN, 10 epochs on 1,000 maps, sized for
/// about a minute on two CPU cores (map generation included); writes its outputs into `<out>/warcraft`.
let private quickConfig (ctx: RunContext) : Config =
    { Ks = [ 12 ]
      Epochs = 10
      TrainMaps = 1000
      TestMaps = 250
      Batch = 70
      MethodIds = [ "paper-mm"; "paper-bb" ]
      Device = torch.CPU
      DeviceName = "cpu"
      CacheDir = defaultCache (Path.Combine(ctx.OutDir, "warcraft"))
      Lr = 5e-4
      Seed = ctx.Seed
      Seeds = [ ctx.Seed ]
      Network = SmallCnn
      NegativeCosts = ShiftToZero
      ReportOnly = false
      Resume = false
      Deadline = None
      OutDir = Path.Combine(ctx.OutDir, "warcraft")
      Command = "" }

// ----- the command's checks ------------------------------------------------------------------------------------------

/// Bytes of one map in memory and in the cache: the image (3 bytes per pixel, 8×8 pixels per cell), terrain, costs
/// (float32) and path per cell, plus the record.
let private mapBytes (k: int) =
    float (3 * TilePixels * TilePixels + 6) * float k * float k + 200.0

/// Memory per map of a training batch, per cell: the float image (768 bytes) and the CNN's activations and their
/// gradients at 32 channels × 4 positions per cell (about 11 KB); measured order of magnitude, not exact.
let private batchBytesPerCell = 12288.0

/// Seconds to generate one map, per cell (measured here: about 13 µs on 2 cores).
let private generateSecondsPerCell = 13e-6

/// Seconds per training map, epoch and method, per cell (measured here: 3.6 to 8 µs at K = 12 for the full
/// protocol's methods on 2 cores); a test map costs 0.4 of that per epoch (forward pass only).
let private trainSecondsPerCell = 5e-6

/// Seconds on two cores to train and test `runs` (method, seed) pairs at K = `k` for `epochs` epochs, with a network
/// `networkCost` times the small CNN's cost per map, at `secondsPerCell` per training map, epoch and cell.
let private trainingSeconds
    (secondsPerCell: float)
    (runs: int)
    (networkCost: float)
    (epochs: int)
    (trainMaps: int)
    (testMaps: int)
    (k: int)
    =
    float runs
    * networkCost
    * float epochs
    * (float trainMaps + 0.4 * float testMaps)
    * float k
    * float k
    * secondsPerCell

/// Wall-clock seconds on two cores per training map, epoch, method and cell of the demo's short run: about 19 µs of CPU
/// were measured per unit (122 CPU-seconds for 2 methods × 10 epochs × 1,100 maps × 144 cells, startup, evaluation and
/// plots included), and the run keeps both cores busy most of the time. Short runs cost more per map than
/// `trainSecondsPerCell` (measured on the full protocol), where the fixed costs are spread over many more maps.
let private quickSecondsPerCell = 1.5e-5

/// Estimated wall-clock seconds of `runQuick` on this machine's cores: generating the maps not yet cached, then training
/// and testing both methods.
let quickSeconds (ctx: RunContext) : float =
    let cfg = quickConfig ctx
    let k = List.head cfg.Ks

    let generate =
        [ "train", cfg.TrainMaps; "test", cfg.TestMaps ]
        |> List.sumBy (fun (split, count) ->
            if File.Exists(cachePath cfg.CacheDir k count cfg.Seed split) then
                0.0
            else
                float count * float k * float k * generateSecondsPerCell)

    Cli.cpuSeconds (
        generate
        + trainingSeconds quickSecondsPerCell cfg.MethodIds.Length 1.0 cfg.Epochs cfg.TrainMaps cfg.TestMaps k
    )

/// Runs the demo's reduced setting (`quickConfig`).
let runQuick (ctx: RunContext) : WarcraftRow[] =
    let cfg = quickConfig ctx

    runExperiment
        { cfg with
            Command = commandLine cfg false }

/// The exit code of a run stopped by `--time-budget` (EX_TEMPFAIL: "try again", here with --resume).
let timeBudgetExitCode = 75

/// Checks the options and returns the command's plan. Memory: the maps of the largest K (all of them are held) and
/// one batch; disk: the maps not yet in the cache; time: generating those maps and every method's epochs.
let plan (ctx: RunContext) (args: ParseResults<Args>) : Cli.Plan =
    let full = args.Contains Full
    let deviceName = deviceName ctx.Device

    let ks =
        nonEmpty "k" (args.GetResult(K, defaultValue = (if full then [ 12; 18; 24; 30 ] else [ 12 ])))
        |> List.map (fun k ->
            if k < 2 then
                invalidArg "k" (sprintf "--k values must be at least 2; got %d." k)
            else
                k)

    let epochs =
        positiveInt "epochs" (args.GetResult(Epochs, defaultValue = (if full then 50 else 8)))

    let trainMaps =
        positiveInt "train-maps" (args.GetResult(Train_Maps, defaultValue = (if full then 10000 else 1000)))

    let testMaps =
        positiveInt "test-maps" (args.GetResult(Test_Maps, defaultValue = (if full then 1000 else 200)))

    let batch =
        match args.TryGetResult Batch with
        | Some b -> positiveInt "batch" b |> batchAtMost "train-maps" trainMaps
        | None -> min 70 trainMaps

    let methods =
        knownIds "methods" methodIds (args.GetResult(Methods, defaultValue = methodIds))

    let lr = positiveFloat "lr" (args.GetResult(Lr, defaultValue = 5e-4))

    let network =
        match args.GetResult(Network, defaultValue = "resnet18").Trim().ToLowerInvariant() with
        | "resnet18" -> ResNet18FirstBlock
        | "small-cnn" -> SmallCnn
        | other -> invalidArg "network" (sprintf "--network must be resnet18 or small-cnn; got '%s'." other)

    let negativeCosts =
        match args.GetResult(Negative_Costs, defaultValue = "shift").Trim().ToLowerInvariant() with
        | "shift" -> ShiftToZero
        | "clamp" -> ClampToZero
        | "unchanged" -> Unchanged
        | other ->
            invalidArg "negative-costs" (sprintf "--negative-costs must be shift, clamp or unchanged; got '%s'." other)

    let seeds = nonEmpty "seeds" (args.GetResult(Seeds, defaultValue = [ ctx.Seed ]))

    let resumeDir =
        args.TryGetResult Resume
        |> Option.map (fun dir ->
            if String.IsNullOrWhiteSpace dir || not (Directory.Exists dir) then
                invalidArg "resume" (sprintf "--resume needs the folder of an earlier run; '%s' is not a folder." dir)

            dir)

    let outDir = resumeDir |> Option.defaultValue ctx.OutDir

    let budget =
        args.TryGetResult Time_Budget
        |> Option.map (fun minutes ->
            if Double.IsNaN minutes || minutes < 0.0 || minutes > 1e6 then
                invalidArg "time-budget" (sprintf "--time-budget must be minutes in [0, 1e6]; got %g." minutes)

            minutes)

    // The paper's network costs about 4 times the small CNN per map (measured here at K = 12).
    let networkCost =
        match network with
        | ResNet18FirstBlock -> 4.0
        | SmallCnn -> 1.0

    // The runs to summarise are checked with the options, before any output.
    let aggregate = args.TryGetResult Aggregate
    aggregate |> Option.iter (WarcraftSeeds.finishedRuns >> ignore)

    let cacheDir = args.GetResult(Cache, defaultValue = defaultCache outDir)
    let kMax = List.max ks
    let cells (k: int) = float k * float k
    let ksText = "--k " + String.Join(" ", ks)
    let splits = [ "train", trainMaps; "test", testMaps ]

    let uncached =
        [ for k in List.distinct ks do
              for split, count in splits do
                  if aggregate.IsNone && not (File.Exists(cachePath cacheDir k count ctx.Seed split)) then
                      yield k, count ]

    let cacheBytes = uncached |> List.sumBy (fun (k, count) -> float count * mapBytes k)

    let generateSeconds =
        uncached
        |> List.sumBy (fun (k, count) -> float count * cells k * generateSecondsPerCell)

    let trainSeconds =
        if args.Contains Report_Only || aggregate.IsSome then
            0.0
        else
            ks
            |> List.sumBy (
                trainingSeconds
                    trainSecondsPerCell
                    (methods.Length * seeds.Length)
                    networkCost
                    epochs
                    trainMaps
                    testMaps
            )

    let mapsOptions =
        Cli.describe
            [ ksText
              sprintf "--train-maps %d" trainMaps
              sprintf "--test-maps %d" testMaps ]

    { Folders = [ "--out", outDir; "--cache", cacheDir ]
      Needs =
        [ Cli.Memory(
              Cli.describe
                  [ sprintf "--k %d" kMax
                    sprintf "--train-maps %d" trainMaps
                    sprintf "--test-maps %d" testMaps ],
              "map data",
              float (trainMaps + testMaps) * mapBytes kMax
          )
          Cli.Memory(
              Cli.describe [ sprintf "--k %d" kMax; sprintf "--batch %d" batch ],
              "one batch's images and activations",
              float batch * cells kMax * batchBytesPerCell
          )
          // A batch's images are copied through one byte array (see `tensors`).
          Cli.SingleArray(
              Cli.describe [ sprintf "--k %d" kMax; sprintf "--batch %d" batch ],
              "a batch of images",
              float batch * 3.0 * (float TilePixels * float kMax) ** 2.0
          )
          Cli.Disk(mapsOptions, "the map cache", cacheDir, cacheBytes)
          Cli.Time(
              Cli.describe
                  [ ksText
                    sprintf "--epochs %d" epochs
                    sprintf "--train-maps %d" trainMaps
                    sprintf "--test-maps %d" testMaps
                    sprintf "%d method%s" methods.Length (if methods.Length = 1 then "" else "s")
                    sprintf "--seeds (%d)" seeds.Length
                    sprintf "--network %s" (networkName network) ],
              Cli.cpuSeconds (generateSeconds + trainSeconds / Cli.deviceSpeedup deviceName)
          ) ]
      Run =
        fun () ->
            match aggregate with
            | Some dirs ->
                WarcraftSeeds.writeSummary ctx dirs |> ignore
                0
            | None ->
                let tls =
                    args.TryGetResult Farm_Tls
                    |> Option.map (fun (cert, key, ca) -> Imle.Distributed.FarmTls.Create(cert, key, ca))

                match WarcraftScaleOut.start (args.TryGetResult Ranks) (args.TryGetResult Solver_Farm) tls with
                | Some code -> code
                | None ->
                    let cfg =
                        { Ks = ks
                          Epochs = epochs
                          TrainMaps = trainMaps
                          TestMaps = testMaps
                          Batch = batch
                          MethodIds = methods
                          Device = torch.device deviceName
                          DeviceName = deviceName
                          CacheDir = cacheDir
                          Lr = lr
                          Seed = ctx.Seed
                          Seeds = seeds
                          Network = network
                          NegativeCosts = negativeCosts
                          ReportOnly = args.Contains Report_Only
                          Resume = resumeDir.IsSome
                          Deadline = budget |> Option.map (fun minutes -> DateTime.UtcNow.AddMinutes minutes)
                          OutDir = WarcraftScaleOut.outDir outDir
                          Command = "" }

                    let command = commandLine cfg full

                    try
                        runExperiment { cfg with Command = command } |> ignore
                        WarcraftScaleOut.farmStats () |> Option.iter (printfn "solver farm: %A")
                        0
                    with TimeBudgetReached(run, epochsDone) ->
                        printfn
                            "warcraft: the time budget ran out after epoch %d of %s (checkpointed); finished runs are in %s. Continue with: %s --resume %s"
                            epochsDone
                            run
                            cfg.OutDir
                            command
                            cfg.OutDir

                        timeBudgetExitCode }
