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

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | K _ -> "grid sizes, each at least 2, e.g. --k 12 18 24 30 (default 12; with --full all four)"
            | Epochs _ -> "training epochs per method (default 8; --full: 50)"
            | Train_Maps _ -> "training maps (default 1000; --full: 10000)"
            | Test_Maps _ -> "test maps (default 200; --full: 1000)"
            | Batch _ -> "batch size, at most --train-maps (default 70, or --train-maps if fewer)"
            | Methods _ ->
                "methods to run: imle-mm imle-mm-delta0 imle-mumu imle-fact2 bb dpo identity regression (default all)"
            | Full -> "the paper's protocol: 50 epochs, batch 70, 10,000 training and 1,000 test maps, K = 12 18 24 30"
            | Cache _ -> "folder of the map cache (default <out>/../cache)"
            | Lr _ -> "Adam learning rate (default 5e-4, decayed x0.1 at 60% and 80% of the epochs)"

/// How the combinatorial losses are scaled (it matters: Eq. 14 and the λ of PID/BB read dL/dz's magnitude).
type LossKind =
    /// ℓ_H summed over the cells and the maps of the batch (`Reduction.Sum`): dL/dz = 1 − 2y per cell, so Eq. 14's
    /// target is θ' = 2y − 1 (costs −1 on the true path, +1 elsewhere), on the scale of the noise.
    | HammingSum
    /// ℓ_H summed over the cells, averaged over the maps (`Reduction.Mean`, Pogančić et al.'s HammingLoss):
    /// dL/dz = (1 − 2y)/B.
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

/// A method of Table 2 (or a baseline).
type MethodSpec =
    {
        Id: string
        Name: string
        Target: string
        Training: Training
        /// Column of the paper's table: 0 μ-μ, 1 MAP-MAP, 2 BB, 3 DPO.
        PaperColumn: int option
    }

/// All method ids, in report order.
/// The methods at grid size k (κ = int(1.3·K) for the Sum-of-Gamma noise, τ = 1, s = 10).
let methodSpecs (k: int) : MethodSpec list =
    let kappa = float (int (1.3 * float k))
    let sog = SumOfGamma(kappa, 1.0, 10)

    let combOpt =
        Imle
            { ImleOptions.Create(kappa, 1.0) with
                Target = CombOpt
                Samples = 10
                Noise = sog }

    [ { Id = "imle-mm"
        Name = "I-MLE MAP-MAP"
        Target =
          sprintf "Eq. 14 (CombOpt) on ℓ_H summed over cells and maps (θ' = 2y − 1), %s, S = 10" (Noise.describe sog)
        Training = Layer(combOpt, HammingSum)
        PaperColumn = Some 1 }
      { Id = "imle-mm-delta0"
        Name = "I-MLE MAP-MAP, ρ = δ₀"
        Target =
          "Eq. 14 (CombOpt) on ℓ_H summed over cells and maps, no noise (ρ = δ₀): Fact 1's perceptron rule, S = 1"
        Training =
          Layer(
              Imle
                  { ImleOptions.Create(kappa, 1.0) with
                      Target = CombOpt
                      Samples = 1
                      Noise = Zero },
              HammingSum
          )
        PaperColumn = None }
      { Id = "imle-mumu"
        Name = "I-MLE μ-μ (gradient target)"
        Target = sprintf "PID θ' = θ − λ·dL/dz, λ = 10, on ℓ_H per map, %s, S = 10, mean output" (Noise.describe sog)
        Training =
          Layer(
              Imle
                  { ImleOptions.Create(kappa, 10.0) with
                      Samples = 10
                      Noise = sog },
              HammingPerMap
          )
        PaperColumn = Some 0 }
      { Id = "imle-fact2"
        Name = "I-MLE μ-μ (Fact 2, true costs)"
        Target =
          sprintf
              "Eq. 14 (CombOpt) on regret ℓ_R, so θ' = −c_true: trains on the true costs, %s, S = 10"
              (Noise.describe sog)
        Training = Layer(combOpt, RegretSum)
        PaperColumn = Some 0 }
      { Id = "bb"
        Name = "BB"
        Target = "blackbox: w' = w + λ·dL/dz, λ = 20, ℓ_H per map"
        Training = Layer(Blackbox 20.0, HammingPerMap)
        PaperColumn = Some 2 }
      { Id = "dpo"
        Name = "DPO (Fenchel–Young)"
        Target = "Fenchel–Young loss, Normal(σ = 1), S = 10"
        Training = FenchelYoungLoss(Normal 1.0, 10)
        PaperColumn = Some 3 }
      { Id = "identity"
        Name = "Identity + projection"
        Target = sprintf "dL/dθ = mean-centred dL/dz, %s in the forward pass, ℓ_H per map" (Noise.describe sog)
        Training = Layer(Identity(MeanCentre, sog), HammingPerMap)
        PaperColumn = None }
      { Id = "regression"
        Name = "CNN regression + Dijkstra"
        Target = "MSE to the true costs (no solver in training)"
        Training = CostRegression
        PaperColumn = None } ]

/// The command-line ids of the methods, in the order they run.
let methodIds = methodSpecs 12 |> List.map (fun s -> s.Id)

/// The paper's Table 2 (mean ± sd over 5 runs): μ-μ, MAP-MAP, BB, DPO per K.
let paperTable: Map<int, string[]> =
    Map.ofList
        [ 12, [| "97.2 ± 0.5"; "95.2 ± 0.3"; "95.2 ± 0.7"; "94.8 ± 0.3" |]
          18, [| "95.8 ± 0.7"; "94.4 ± 0.5"; "94.7 ± 0.4"; "92.3 ± 0.8" |]
          24, [| "94.3 ± 1.0"; "93.2 ± 0.2"; "93.8 ± 0.3"; "91.5 ± 0.4" |]
          30, [| "93.6 ± 0.4"; "93.7 ± 0.6"; "93.6 ± 0.5"; "91.5 ± 0.8" |] ]

let private paperFor (spec: MethodSpec) (k: int) =
    match spec.PaperColumn, Map.tryFind k paperTable with
    | Some c, Some row -> row.[c]
    | _ -> "–"

// ----- data to tensors ----------------------------------------------------------------------------------------------

/// Images [B, 3, 8K, 8K] in [0, 1], true costs [B, K, K] and true paths [B, K, K] for the maps `idx`, on `device`.
let private tensors (maps: WarcraftMap[]) (idx: int[]) (device: torch.Device) : Tensor * Tensor * Tensor =
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

    let x =
        Safe.divScalar (torch.tensor(bytes).reshape(b, 3L, side, side).``to``(torch.ScalarType.Float32, device)) 255.0

    let c = torch.tensor(costs).reshape(b, int64 k, int64 k).``to``(device)
    let y = torch.tensor(paths).reshape(b, int64 k, int64 k).``to``(device)
    x, c, y

/// Optimal-path accuracy (%), cell accuracy (%) and the predicted path of test map 0.
let private evaluate
    (model: WarcraftCostNet)
    (maps: WarcraftMap[])
    (batch: int)
    (device: torch.Device)
    : float * float * float[] =
    let k = maps.[0].K
    let problem = WarcraftMaps.problem k
    let cells = k * k
    model.eval ()
    let mutable optimal = 0
    let mutable sameCells = 0L
    let mutable first = [||]

    (use _ = torch.no_grad ()

     for start in 0..batch .. maps.Length - 1 do
         use _ = torch.NewDisposeScope()
         let idx = [| start .. min maps.Length (start + batch) - 1 |]
         let x, _, _ = tensors maps idx device
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
    { Ks: int list
      Epochs: int
      TrainMaps: int
      TestMaps: int
      Batch: int
      MethodIds: string list
      Device: torch.Device
      DeviceName: string
      CacheDir: string
      Lr: float
      Seed: int
      OutDir: string
      Command: string }

/// One method's training run: the row, the per-epoch training loss, the per-epoch test accuracy, the sample path.
type private MethodRun =
    { Row: WarcraftRow
      Losses: float[]
      TestAccuracy: float[]
      SamplePath: float[] }

let private trainMethod
    (cfg: Config)
    (k: int)
    (train: WarcraftMap[])
    (test: WarcraftMap[])
    (spec: MethodSpec)
    : MethodRun =
    let watch = Stopwatch.StartNew()
    let problem = WarcraftMaps.problem k
    torch.random.manual_seed (int64 cfg.Seed) |> ignore
    let model = new WarcraftCostNet(k, 32L)
    model.``to`` (cfg.Device) |> ignore
    let optimizer = torch.optim.Adam(model.parameters (), cfg.Lr)

    let milestones =
        [| int (round (0.6 * float cfg.Epochs)); int (round (0.8 * float cfg.Epochs)) |]
        |> Array.distinct

    let scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones, 0.1)
    use generator = new torch.Generator(uint64 (cfg.Seed * 7919 + 17), cfg.Device)
    let steps = (train.Length + cfg.Batch - 1) / cfg.Batch
    let losses = Array.zeroCreate cfg.Epochs
    let accuracy = Array.zeroCreate cfg.Epochs
    let last = ref (0.0, 0.0, [||])

    progress (sprintf "K=%d %s" k spec.Name) (cfg.Epochs * steps) (fun tick ->
        for epoch in 0 .. cfg.Epochs - 1 do
            let mutable sum = 0.0

            for idx in Training.shuffledBatches (Random(cfg.Seed * 1000 + epoch)) train.Length cfg.Batch do
                use _ = torch.NewDisposeScope()
                let b = idx.Length
                let x, c, y = tensors train idx cfg.Device
                let w = model.forward x
                // The loss optimised and its value per map (per cell for the regression's MSE).
                let loss, perMap =
                    match spec.Training with
                    | Layer(estimator, kind) ->
                        let z = Discrete.apply problem estimator generator w

                        match kind with
                        | HammingSum -> Losses.hammingWith Reduction.Sum z y, float b
                        | HammingPerMap -> Losses.hammingWith Reduction.Mean z y, 1.0
                        | RegretSum -> Losses.regretWith Reduction.Sum z c y, float b
                    | FenchelYoungLoss(noise, samples) -> Losses.fenchelYoung problem noise samples generator w y, 1.0
                    | CostRegression -> torch.nn.functional.mse_loss (w, c, torch.nn.Reduction.Mean), 1.0

                optimizer.zero_grad ()
                Training.backward loss // surfaces errors recorded in the discrete backward pass
                optimizer.step () |> ignore
                sum <- sum + float (loss.item<float32>()) / perMap
                tick ()

            scheduler.step ()
            losses.[epoch] <- sum / float steps
            last.Value <- evaluate model test cfg.Batch cfg.Device
            let (acc, _, _) = last.Value
            accuracy.[epoch] <- acc)

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
          Paper = paperFor spec k
          Seconds = watch.Elapsed.TotalSeconds
          Device = cfg.DeviceName
          Seed = cfg.Seed }
      Losses = losses
      TestAccuracy = accuracy
      SamplePath = sample }

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

/// Runs the configured experiment: data (cached), every method at every K, results.json, plots, report.md.
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

    specsFor 12 |> ignore
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

        mapSummaries.Add
            { GridSide = k
              TerrainShares = terrainShares train
              MeanPathLength = meanPathLength train }

        let runs = specsFor k |> List.map (trainMethod cfg k train test)
        allRuns.AddRange runs
        // Pictures: a sample test map with the true path and every method's prediction; curves per method.
        let sample = test.[0]
        let truePath = Array.map float sample.Path

        savePng
            (Path.Combine(dir, sprintf "sample-map-K%d.png" k))
            sample
            4
            (("true shortest path", pathColours.[0], truePath)
             :: (runs
                 |> List.mapi (fun i r -> r.Row.Method, pathColours.[(i + 1) % pathColours.Length], r.SamplePath)))

        let epochs = Array.init cfg.Epochs (fun e -> float (e + 1))

        linePlot
            (Path.Combine(dir, sprintf "training-loss-K%d.png" k))
            (sprintf "Training loss per map, K = %d (each method's own loss)" k)
            "epoch"
            "loss"
            (runs
             |> List.map (fun r ->
                 { Label = r.Row.Method
                   X = epochs
                   Y = r.Losses
                   Band = None }))

        linePlot
            (Path.Combine(dir, sprintf "test-accuracy-K%d.png" k))
            (sprintf "Test optimal-path accuracy, K = %d" k)
            "epoch"
            "optimal path %"
            (runs
             |> List.map (fun r ->
                 { Label = r.Row.Method
                   X = epochs
                   Y = r.TestAccuracy
                   Band = None }))

    let rows = allRuns |> Seq.map (fun r -> r.Row) |> Array.ofSeq
    writeJson (Path.Combine(dir, "results.json")) rows

    writeJson
        (Path.Combine(dir, "curves.json"))
        (allRuns
         |> Seq.map (fun r ->
             {| method = r.Row.Method
                k = r.Row.K
                trainingLoss = r.Losses
                testOptimalPathAccuracy = r.TestAccuracy |})
         |> Array.ofSeq)

    barPlot
        (Path.Combine(dir, "accuracy.png"))
        "Optimal-path accuracy on test maps"
        "%"
        (rows |> Array.map (fun r -> sprintf "%s K=%d" r.MethodId r.K))
        (rows |> Array.map (fun r -> r.OptimalPathAccuracy))

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
          DeviceName = cfg.DeviceName }
        (List.ofSeq mapSummaries)
        rows

    rows

/// The command line that reproduces a configuration.
let private commandLine (cfg: Config) (full: bool) =
    sprintf
        "dotnet run --project examples/Imle.Examples -c Release -- warcraft --seed %d --out %s%s --k %s --epochs %d --train-maps %d --test-maps %d --batch %d --lr %g --methods %s --device %s"
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
        cfg.DeviceName

let private defaultCache (outDir: string) =
    Path.Combine(Path.GetDirectoryName(Path.GetFullPath(outDir.TrimEnd('/', '\\'))), "cache")

/// The demo's reduced run: K = 12, I-MLE MAP-MAP against BB, 20 epochs on 2,000 maps, sized for about two minutes on two CPU cores (map
/// generation included); writes its outputs into `<out>/warcraft` and returns the rows.
let runQuick (ctx: RunContext) : WarcraftRow[] =
    let cfg =
        { Ks = [ 12 ]
          Epochs = 20
          TrainMaps = 2000
          TestMaps = 500
          Batch = 70
          MethodIds = [ "imle-mm"; "bb" ]
          Device = torch.CPU
          DeviceName = "cpu"
          CacheDir = defaultCache (Path.Combine(ctx.OutDir, "warcraft"))
          Lr = 5e-4
          Seed = ctx.Seed
          OutDir = Path.Combine(ctx.OutDir, "warcraft")
          Command = "" }

    runExperiment
        { cfg with
            Command = commandLine cfg false }

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
    let cacheDir = args.GetResult(Cache, defaultValue = defaultCache ctx.OutDir)
    let kMax = List.max ks
    let cells (k: int) = float k * float k
    let ksText = "--k " + String.Join(" ", ks)
    let splits = [ "train", trainMaps; "test", testMaps ]

    let uncached =
        [ for k in List.distinct ks do
              for split, count in splits do
                  if not (File.Exists(cachePath cacheDir k count ctx.Seed split)) then
                      yield k, count ]

    let cacheBytes = uncached |> List.sumBy (fun (k, count) -> float count * mapBytes k)

    let generateSeconds =
        uncached
        |> List.sumBy (fun (k, count) -> float count * cells k * generateSecondsPerCell)

    let trainSeconds =
        ks
        |> List.sumBy (fun k ->
            float methods.Length
            * float epochs
            * (float trainMaps + 0.4 * float testMaps)
            * cells k
            * trainSecondsPerCell)

    let mapsOptions =
        Cli.describe
            [ ksText
              sprintf "--train-maps %d" trainMaps
              sprintf "--test-maps %d" testMaps ]

    { Folders = [ "--out", ctx.OutDir; "--cache", cacheDir ]
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
                    sprintf "%d method%s" methods.Length (if methods.Length = 1 then "" else "s") ],
              Cli.cpuSeconds (generateSeconds + trainSeconds / Cli.deviceSpeedup deviceName)
          ) ]
      Run =
        fun () ->
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
                  OutDir = ctx.OutDir
                  Command = "" }

            runExperiment
                { cfg with
                    Command = commandLine cfg full }
            |> ignore

            0 }
