/// `dfl`: PyEPO's shortest-path benchmark (Tang and Khalil, "PyEPO", 2022; after Elmachtoub and Grigas's SPO
/// experiments): a linear model maps p = 5 features to the 40 arc costs of the 5×5 grid network; the decision is the
/// shortest path under the predicted costs; the metric is the normalised regret on a test set. Data from
/// `Imle.Dfl.Generators.shortestPath` (polynomial degree deg, multiplicative noise of half-width 0.5). Methods: two-stage
/// regression, SPO+, DBB (blackbox differentiation), DPO (perturbed optimizer) and PFYL (Fenchel–Young), each with
/// additive or multiplicative noise, I-MLE, AIMLE, and the contrastive NCE and CMAP over a solution pool. With
/// `--problem knapsack`, the same on PyEPO's knapsack (32 items, one resource, capacity 20).
module Imle.Examples.Experiments.Dfl

open System
open System.Diagnostics
open System.IO
open Argu
open TorchSharp
open Imle
open Imle.Dfl
open Imle.Torch
open Imle.Examples
open Imle.Examples.Output
open Imle.Examples.Experiments.DflResults
open Imle.Examples.Experiments.DflTraining
open Imle.Examples.Experiments.DflSetup

/// Command-line arguments.
type Args =
    | Deg of int list
    | Epochs of int
    | Train_Size of int
    | Test_Size of int
    | Batch of int
    | Methods of string list
    | Lr of float
    | Noise_Width of float
    | Settings of string
    | Aggregate of string list
    | [<CustomCommandLine("--problem")>] Benchmark_Problem of string
    | Protocol of string
    | Seeds of string

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | Deg _ -> "polynomial degrees of the cost model, each in [1, 16] (default 1 2 4 6)"
            | Epochs _ ->
                "training epochs per method and degree (default 10, to fit about ten minutes on 2 cores; PyEPO trains longer)"
            | Train_Size _ -> "training instances (default 1000)"
            | Test_Size _ -> "test instances (default 1000)"
            | Batch _ -> "batch size, at most --train-size (default 32)"
            | Methods _ -> "methods to run: 2s spo+ dbb dpo dpo-mul pfyl pfyl-mul imle aimle nce cmap (default all)"
            | Benchmark_Problem _ ->
                "sp (PyEPO's 5x5 shortest path, default) or knapsack (PyEPO's knapsack: 32 items, one resource, capacity 20)"
            | Lr _ -> "Adam learning rate (default 0.01)"
            | Noise_Width _ -> "half-width of the multiplicative noise, in [0, 1) (default 0.5)"
            | Aggregate _ ->
                "no training: mean ± sd over earlier runs of one configuration that differ only in --seed (their folders), beside PyEPO's 10-run means, into --out"
            | Protocol _ ->
                "a whole protocol over several seeds into one report: notebook03 (PyEPO's notebook 03: 5x5 shortest path, deg 4, 20 epochs, its settings per method) or problems (argmax, ranking, subset selection, fixed-size shortest path, every applicable method)"
            | Seeds _ ->
                "with --protocol: the seeds, a comma-separated list with ranges a..b (default 0,1,2,3,4 for notebook03, 0..9 for problems)"
            | Settings _ ->
                "imle (default: DBB λ = 10, S = 10 for DPO/PFYL, one learning rate) or pyepo (PyEPO's published runs: DBB λ = 20 and lr 0.1 on sp, λ = 10 and lr 0.05 on knapsack, S = 1 for DPO/PFYL)"

/// Trains one method at one degree and returns its row and the per-epoch training loss.
let private trainMethod
    (cfg: Config)
    (deg: int)
    (train: DflDataset)
    (test: DflDataset)
    (methodId: string, method: Method, _: string)
    : DflRow * float[] =
    let lr =
        match methodId, dbbSettings cfg.Settings (cfg.ProblemId = "knapsack") with
        | "dbb", (_, Some dbbLr) -> dbbLr
        | _ -> cfg.Lr

    let trained =
        DflTraining.train
            { Seed = cfg.Seed
              Epochs = cfg.Epochs
              Batch = cfg.Batch
              Lr = lr
              Head = defaultHead method }
            train
            test
            method

    { Method = methodId
      Deg = deg
      NormalizedRegret = trained.NormalizedRegret
      Seconds = trained.Seconds },
    trained.Losses

/// Runs every method at every degree; writes results.json, regret.png, training-loss-deg*.png and report.md.
let private run (cfg: Config) : DflRow[] =
    let dir = ensureDir cfg.OutDir
    let knapsack = cfg.ProblemId = "knapsack"

    let specs =
        cfg.MethodIds
        |> List.map (fun id -> methodsWith cfg.Settings knapsack |> List.find (fun (i, _, _) -> i = id))

    let total = Stopwatch.StartNew()
    let rows = ResizeArray<DflRow>()

    for deg in cfg.Degrees do
        let n = cfg.TrainSize + cfg.TestSize

        let problem, data =
            if knapsack then
                // PyEPO's knapsack: item weights (hundredths) drawn with the data, capacity 20.
                let weights, data =
                    Generators.knapsack n features knapsackItems 1 deg cfg.NoiseWidth (cfg.Seed + deg)

                Problem.knapsack weights.[0] (100 * knapsackCapacity), data
            else
                Problem.gridDagShortestPath grid grid,
                Generators.shortestPath n features grid grid deg cfg.NoiseWidth (cfg.Seed + deg)

        let all = DflDataset.ofGenerated problem data
        let train = DflDataset.subset [| 0 .. cfg.TrainSize - 1 |] all

        let test =
            DflDataset.subset [| cfg.TrainSize .. cfg.TrainSize + cfg.TestSize - 1 |] all

        let runs =
            progress (sprintf "deg %d" deg) specs.Length (fun tick ->
                specs
                |> List.map (fun spec ->
                    let result = trainMethod cfg deg train test spec
                    tick ()
                    result))

        rows.AddRange(runs |> List.map fst)
        let epochs = Array.init cfg.Epochs (fun e -> float (e + 1))

        linePlot
            (Path.Combine(dir, sprintf "training-loss-deg%d.png" deg))
            (sprintf "Training loss, deg = %d (each method's own loss)" deg)
            "epoch"
            "loss"
            (runs
             |> List.map (fun (r, l) ->
                 { Label = r.Method
                   X = epochs
                   Y = l
                   Band = None }))

    let rows = rows.ToArray()
    writeJson (Path.Combine(dir, "results.json")) rows

    linePlot
        (Path.Combine(dir, "regret.png"))
        (if knapsack then
             "Normalised test regret, knapsack (32 items, capacity 20; lower is better)"
         else
             "Normalised test regret, 5x5 shortest path (lower is better)")
        "polynomial degree"
        "normalised regret"
        (specs
         |> List.map (fun (id, _, _) ->
             let mine = rows |> Array.filter (fun r -> r.Method = id)

             { Label = id
               X = mine |> Array.map (fun r -> float r.Deg)
               Y = mine |> Array.map (fun r -> r.NormalizedRegret)
               Band = None }))

    let md =
        table
            "Normalised test regret (%)"
            (Array.append [| "method" |] (cfg.Degrees |> List.map (sprintf "deg %d") |> Array.ofList))
            (specs
             |> List.map (fun (id, _, _) ->
                 Array.append
                     [| id |]
                     (cfg.Degrees
                      |> List.map (fun d ->
                          rows
                          |> Array.tryFind (fun r -> r.Method = id && r.Deg = d)
                          |> Option.map (fun r -> fmt 2 (100.0 * r.NormalizedRegret))
                          |> Option.defaultValue "–")
                      |> Array.ofList))
             |> Array.ofList)

    writeRunReport cfg dir specs rows md total.Elapsed.TotalSeconds

    rows

/// The command line that reproduces a configuration.
let private commandLine (cfg: Config) =
    sprintf
        "dotnet run --project examples/Imle.Examples -c Release -- dfl --seed %d --out %s --problem %s --deg %s --epochs %d --train-size %d --test-size %d --batch %d --lr %g --noise-width %g --methods %s"
        cfg.Seed
        cfg.OutDir
        cfg.ProblemId
        (String.Join(" ", cfg.Degrees))
        cfg.Epochs
        cfg.TrainSize
        cfg.TestSize
        cfg.Batch
        cfg.Lr
        cfg.NoiseWidth
        (String.Join(" ", cfg.MethodIds))
    + (if cfg.Settings = PyepoSettings then
           " --settings pyepo"
       else
           "")

/// Seconds per training instance, epoch and method on 2 cores, evaluation included: an upper bound. Measured here: the
/// default run (4 degrees × 9 methods × 10 epochs × 1,000 instances) took 21 s on 2 idle cores (about 0.06 ms) and
/// 4.4 minutes (7 methods) with the cores shared about fivefold (about 1 ms); 4 degrees × 11 methods × 20 epochs took
/// 113 s with the cores shared (about 0.13 ms), and knapsack (1 degree, 11 methods, 20 epochs) 102 s.
let private secondsPerInstanceEpoch = 1e-3

/// Bytes per instance held in memory: features, costs, solutions (float64 arrays, copied into float32 tensors).
let private bytesPerInstance = float (features + 40 + 40) * 12.0 + 200.0

/// The plan of a single `dfl` run (or `--aggregate`).
let private singlePlan (ctx: RunContext) (args: ParseResults<Args>) : Cli.Plan =
    let degrees =
        nonEmpty "deg" (args.GetResult(Deg, defaultValue = [ 1; 2; 4; 6 ]))
        |> List.map (fun d ->
            if d < 1 || d > 16 then
                invalidArg "deg" (sprintf "--deg values must be in [1, 16]; got %d." d)
            else
                d)
        |> List.distinct

    let epochs = positiveInt "epochs" (args.GetResult(Epochs, defaultValue = 10))

    let trainSize =
        positiveInt "train-size" (args.GetResult(Train_Size, defaultValue = 1000))

    let testSize =
        positiveInt "test-size" (args.GetResult(Test_Size, defaultValue = 1000))

    let batch =
        positiveInt "batch" (args.GetResult(Batch, defaultValue = min 32 trainSize))
        |> batchAtMost "train-size" trainSize

    let methodList =
        knownIds "methods" methodIds (args.GetResult(Methods, defaultValue = methodIds))

    let lr = positiveFloat "lr" (args.GetResult(Lr, defaultValue = 0.01))

    let noiseWidth =
        nonNegativeFloat "noise-width" (args.GetResult(Noise_Width, defaultValue = 0.5))

    if noiseWidth >= 1.0 then
        invalidArg "noise-width" (sprintf "--noise-width must be in [0, 1); got %g." noiseWidth)

    let problemId =
        match args.GetResult(Benchmark_Problem, defaultValue = "sp") with
        | "sp"
        | "knapsack" as p -> p
        | other -> invalidArg "problem" (sprintf "--problem must be sp or knapsack; got '%s'." other)

    let settings =
        match args.GetResult(Settings, defaultValue = "imle") with
        | "imle" -> ImleSettings
        | "pyepo" -> PyepoSettings
        | other -> invalidArg "settings" (sprintf "--settings must be imle or pyepo; got '%s'." other)

    let sizes =
        Cli.describe [ sprintf "--train-size %d" trainSize; sprintf "--test-size %d" testSize ]

    // The runs to summarise are checked with the options (one configuration, distinct seeds), before any output.
    let aggregate = args.TryGetResult Aggregate
    aggregate |> Option.iter (DflResults.summarise >> ignore)

    let instanceEpochs =
        float degrees.Length * float methodList.Length * float epochs * float trainSize

    { Folders = [ "--out", ctx.OutDir ]
      Needs =
        [ Cli.Memory(
              sizes,
              "the instances (features, costs, optimal paths)",
              3.0 * float (trainSize + testSize) * bytesPerInstance
          )
          Cli.SingleArray(sizes, "one float32 cost matrix", float (max trainSize testSize) * 40.0 * 4.0)
          Cli.Time(
              Cli.describe
                  [ sprintf "--epochs %d" epochs
                    sprintf "--train-size %d" trainSize
                    sprintf "%d degree%s" degrees.Length (if degrees.Length = 1 then "" else "s")
                    sprintf "%d method%s" methodList.Length (if methodList.Length = 1 then "" else "s") ],
              Cli.cpuSeconds (
                  if aggregate.IsSome then
                      0.0
                  else
                      secondsPerInstanceEpoch * instanceEpochs
              )
          ) ]
      Run =
        fun () ->
            let cfg =
                { Degrees = degrees
                  Epochs = epochs
                  TrainSize = trainSize
                  TestSize = testSize
                  Batch = batch
                  MethodIds = methodList
                  Lr = lr
                  NoiseWidth = noiseWidth
                  Seed = ctx.Seed
                  OutDir = ctx.OutDir
                  Command = ""
                  ProblemId = problemId
                  Settings = settings }

            match aggregate with
            | Some dirs -> DflResults.writeSummary ctx dirs |> ignore
            | None -> run { cfg with Command = commandLine cfg } |> ignore

            0 }

/// Checks the options and returns the command's plan.
let plan (ctx: RunContext) (args: ParseResults<Args>) : Cli.Plan =
    match args.TryGetResult Protocol with
    | Some protocol ->
        let given =
            [ "deg", args.Contains Deg
              "batch", args.Contains Batch
              "lr", args.Contains Lr
              "noise-width", args.Contains Noise_Width
              "settings", args.Contains Settings
              "problem", args.Contains Benchmark_Problem
              "aggregate", args.Contains Aggregate ]

        DflProtocol.plan
            ctx
            { Protocol = protocol
              Seeds = args.TryGetResult Seeds
              Epochs = args.TryGetResult Epochs
              TrainSize = args.TryGetResult Train_Size
              TestSize = args.TryGetResult Test_Size
              Methods = args.TryGetResult Methods
              Fixed = given |> List.filter snd |> List.map fst }
    | None when args.Contains Seeds ->
        invalidArg "seeds" "--seeds needs --protocol (notebook03 or problems); a single dfl run takes --seed N."
    | None -> singlePlan ctx args
