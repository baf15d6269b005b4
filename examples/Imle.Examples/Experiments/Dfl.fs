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

/// Whose hyper-parameters the methods use: ours, or those of PyEPO's published runs (its res/ CSV file names).
type DflSettings =
    /// DBB λ = 10, S = 10 samples for the perturbed methods, one learning rate for every method.
    | ImleSettings
    /// DBB λ = 20 and Adam lr 0.1 (shortest path) or λ = 10 and lr 0.05 (knapsack); S = 1 for DPO and PFYL.
    | PyepoSettings

/// DBB's λ and learning rate under the settings (None: the command's --lr).
let private dbbSettings (settings: DflSettings) (knapsack: bool) =
    match settings, knapsack with
    | ImleSettings, _ -> 10.0, None
    | PyepoSettings, false -> 20.0, Some 0.1
    | PyepoSettings, true -> 10.0, Some 0.05

/// The methods, their ids and what each one is, in report order, under the settings.
let private methodsWith (settings: DflSettings) (knapsack: bool) : (string * Method * string) list =
    let sog = SumOfGamma(5.0, 1.0, 10)
    let dbbLambda, _ = dbbSettings settings knapsack
    let s = if settings = PyepoSettings then 1 else 10

    [ "2s", TwoStage, "two-stage: MSE regression of the costs, the solver on the predictions"
      "spo+", Catalogue(DflLoss.SpoPlus, 0.0), "SPO+ loss (Elmachtoub and Grigas), subgradient 2(w*(c) − w*(2ĉ − c))"
      "dbb",
      Layer(Blackbox dbbLambda, RegretLoss),
      sprintf "blackbox differentiation (Pogančić et al.), λ = %g, regret loss ⟨c, z − w*⟩" dbbLambda
      "dpo",
      Layer(Estimator.perturbed (Normal 1.0) s, HammingLoss),
      sprintf "perturbed optimizer (Berthet et al.), Normal(σ = 1), S = %d, Hamming loss against w*" s
      "dpo-mul",
      Sampled(Perturbed(PerturbedOptions.CreateMultiplicative(1.0, s)), HammingLoss),
      sprintf
          "perturbed optimizer with multiplicative noise c ⊙ exp(σZ − σ²/2) (PyEPO's DPOMul), σ = 1, S = %d, Hamming loss against w*; the model's output goes through softplus (the perturbation needs costs of one sign, and its Jacobian divides by them)"
          s
      "pfyl",
      Catalogue(DflLoss.FenchelYoung(PerturbedOptions.Create(Normal 1.0, s)), 0.0),
      sprintf "Fenchel–Young loss of perturbed optimizers, Normal(σ = 1), S = %d" s
      "pfyl-mul",
      Catalogue(DflLoss.FenchelYoung(PerturbedOptions.CreateMultiplicative(1.0, s)), 0.0),
      sprintf
          "Fenchel–Young loss with multiplicative noise (PyEPO's PFYMul), σ = 1, S = %d; softplus output as for dpo-mul"
          s
      "imle",
      Layer(
          Imle
              { ImleOptions.Create(5.0, 10.0) with
                  Noise = sog
                  Samples = 10 },
          RegretLoss
      ),
      sprintf "I-MLE, PID target λ = 10, %s, S = 10, regret loss" (Noise.describe sog)
      "aimle",
      Layer(
          Imle
              { ImleOptions.Create(5.0, 1.0) with
                  Noise = sog
                  Samples = 10
                  Target = Adaptive AdaptiveLambda.Default },
          RegretLoss
      ),
      sprintf "AIMLE (adaptive λ, torch-adaptive-imle's defaults), %s, S = 10, regret loss" (Noise.describe sog)
      "nce",
      Catalogue(Nce, 0.05),
      "NCE (Mulamba et al. 2021) over a pool seeded with the training optima, solve ratio 0.05"
      "cmap",
      Catalogue(Cmap, 0.05),
      "CMAP (Mulamba et al. 2021) over a pool seeded with the training optima, solve ratio 0.05" ]

/// The command-line ids of the methods, in the order they run.
let methodIds = methodsWith ImleSettings false |> List.map (fun (id, _, _) -> id)

/// A run's settings.
type private Config =
    {
        Degrees: int list
        Epochs: int
        TrainSize: int
        TestSize: int
        Batch: int
        MethodIds: string list
        Lr: float
        NoiseWidth: float
        Seed: int
        OutDir: string
        Command: string
        /// "sp" or "knapsack".
        ProblemId: string
        Settings: DflSettings
    }

let private grid = 5
let private features = 5
/// PyEPO's knapsack: 32 items, one resource dimension, capacity 20 (2,000 in hundredths).
let private knapsackItems = 32
let private knapsackCapacity = 20

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

    let differs (ours: string) (theirs: string) = if ours = theirs then "no" else "yes"

    let epochsPyepo =
        if knapsack then
            "300 (SPO+, DBB CSVs); 20 (its docs' examples)"
        else
            "20"

    let configuration =
        [ [| "problem"
             (if knapsack then
                  "knapsack, 32 items, 1 resource, capacity 20 (res/ks/i32d1c20)"
              else
                  "5×5 grid, 40 arcs (res/sp/h5w5)")
             (if knapsack then
                  "the same (exact DP on weights in hundredths)"
              else
                  "the same (exact DP on the DAG)")
             "no" |]
          [| "features p"
             "5 (n1000p5)"
             string features
             differs (string features) "5" |]
          [| "training instances"
             "1,000 (n1000)"
             string cfg.TrainSize
             differs (string cfg.TrainSize) "1000" |]
          [| "noise half-width"
             "0.5 (e0.5)"
             sprintf "%g" cfg.NoiseWidth
             differs (sprintf "%g" cfg.NoiseWidth) "0.5" |]
          [| "degrees"
             "1, 2, 4, 6"
             String.Join(", ", cfg.Degrees)
             differs (String.Join(", ", cfg.Degrees)) "1, 2, 4, 6" |]
          [| "model"; "linear"; "linear (nn.Linear)"; "no" |]
          [| "two-stage fit"
             "scikit-learn LinearRegression (closed form)"
             sprintf "MSE by Adam, %d epochs" cfg.Epochs
             "yes" |]
          [| "optimiser, batch"
             "Adam, batch 32; lr 0.01 (SPO+, DPO, PFYL), 0.1 (DBB, shortest path), 0.05 (DBB, knapsack)"
             (match dbbSettings cfg.Settings knapsack with
              | _, Some dbbLr -> sprintf "Adam, batch %d; lr %g, DBB %g" cfg.Batch cfg.Lr dbbLr
              | _, None -> sprintf "Adam, batch %d, lr %g for every method" cfg.Batch cfg.Lr)
             (if cfg.Settings = PyepoSettings && cfg.Lr = 0.01 then
                  "no"
              else
                  "yes (DBB's lr)") |]
          [| "epochs"
             epochsPyepo
             string cfg.Epochs
             differs (string cfg.Epochs) epochsPyepo |]
          [| "DBB λ"
             (if knapsack then "10" else "20")
             sprintf "%g" (fst (dbbSettings cfg.Settings knapsack))
             differs (sprintf "%g" (fst (dbbSettings cfg.Settings knapsack))) (if knapsack then "10" else "20") |]
          [| "DPO / PFYL samples, σ"
             "S = 1, σ = 1"
             (if cfg.Settings = PyepoSettings then
                  "S = 1, σ = 1"
              else
                  "S = 10, σ = 1")
             (if cfg.Settings = PyepoSettings then "no" else "yes (S)") |]
          [| "solver"
             "Gurobi"
             "exact dynamic programming"
             "no (both exact; ties may differ)" |]
          [| "runs per cell"
             "10 (mean reported)"
             "1 (seed " + string cfg.Seed + ")"
             "yes" |] ]

    let configTable =
        String.Join(
            "\n",
            [ yield "| hyper-parameter | PyEPO (its res/ CSV files and file names) | ours | differs? |"
              yield "| --- | --- | --- | --- |"
              for r in configuration -> "| " + String.Join(" | ", r) + " |" ]
        )

    let problemId = if knapsack then "knapsack" else "sp"

    let published =
        [ for (id, _, _) in specs do
              for d in cfg.Degrees do
                  match
                      pyepoPublished
                      |> List.tryFind (fun ((p, m, dd), _, _) -> p = problemId && m = id && dd = d)
                  with
                  | Some(_, v, file) ->
                      let ours =
                          rows
                          |> Array.tryFind (fun r -> r.Method = id && r.Deg = d)
                          |> Option.map (fun r -> fmt 2 (100.0 * r.NormalizedRegret))
                          |> Option.defaultValue "–"

                      yield sprintf "| %s | %d | %s | %s | `%s` |" id d ours (fmt 2 (100.0 * v)) file
                  | None -> () ]

    let publishedTable =
        if published.IsEmpty then
            "PyEPO publishes no numbers for these methods at this setting."
        else
            String.Join(
                "\n",
                [ yield "| method | deg | ours (%) | PyEPO, mean of 10 runs (%) | PyEPO's file (setting) |"
                  yield "| --- | --- | --- | --- | --- |"
                  yield! published ]
            )

    let title =
        if knapsack then
            "# Decision-focused learning: PyEPO's knapsack benchmark"
        else
            "# Decision-focused learning: PyEPO's shortest-path benchmark"

    let setting =
        if knapsack then
            sprintf
                "Settings: knapsack with %d items, one resource (item weights 3.00..7.99, drawn with the data), capacity %d, item values ⌈5·((Bx/√p + 3)^deg + 1)/3.5^deg·ε⌉, p = %d features, %d training and %d test instances per degree, degrees %s, noise half-width %g, a linear model (nn.Linear(%d, %d)), Adam lr %g, batch %d, %d epochs, seed %d. Total wall time %.0f s."
                knapsackItems
                knapsackCapacity
                features
                cfg.TrainSize
                cfg.TestSize
                (String.Join(", ", cfg.Degrees))
                cfg.NoiseWidth
                features
                knapsackItems
                cfg.Lr
                cfg.Batch
                cfg.Epochs
                cfg.Seed
                total.Elapsed.TotalSeconds
        else
            sprintf
                "Settings: 5×5 grid network (40 arcs, moves along increasing node numbers, signed-cost DAG solver), p = %d features, %d training and %d test instances per degree, degrees %s, noise half-width %g, a linear model (nn.Linear(5, 40)), Adam lr %g, batch %d, %d epochs, seed %d. Total wall time %.0f s."
                features
                cfg.TrainSize
                cfg.TestSize
                (String.Join(", ", cfg.Degrees))
                cfg.NoiseWidth
                cfg.Lr
                cfg.Batch
                cfg.Epochs
                cfg.Seed
                total.Elapsed.TotalSeconds

    let report =
        String.Join(
            "\n",
            [ title
              ""
              "Reproduce with:"
              ""
              "```"
              cfg.Command
              "```"
              ""
              "## Configuration vs PyEPO"
              ""
              "PyEPO's reference numbers come from the CSV files its authors committed under `res/` (github.com/khalil-research/PyEPO; removed from the default branch later, so each entry names its commit), 10 runs per setting; the PyEPO paper (Tang and Khalil 2022) plots the same runs."
              ""
              configTable
              ""
              setting
              ""
              "Metric: normalised regret Σ (cᵀw*(ĉ) − z*(c)) / Σ |z*(c)| on the test set (PyEPO's `pyepo.metric.regret`; mirrored for maximisation), in percent below; `results.json` holds fractions."
              ""
              "## Results"
              ""
              md
              ""
              "Methods:"
              ""
              String.Join("\n", specs |> List.map (fun (id, _, text) -> sprintf "- **%s**: %s" id text))
              ""
              "## Ours beside PyEPO's published numbers"
              ""
              publishedTable
              ""
              (if cfg.Settings = PyepoSettings then
                   "Our rows are one seed, with PyEPO's hyper-parameters (`--settings pyepo`); PyEPO's are means of 10 runs with the remaining differences listed above (the two-stage baseline: closed-form regression there), so agreement within a few points is what to expect, not equality."
               else
                   "Our rows are one seed; PyEPO's are means of 10 runs with the configuration differences listed above (DPO and PFYL: S = 1 there, S = 10 here; DBB: a larger learning rate there; the two-stage baseline: closed-form regression there), so agreement within a few points is what to expect, not equality.")
              ""
              "## Plots"
              ""
              "- `regret.png`: normalised test regret per method against the polynomial degree"
              String.Join(
                  "\n",
                  cfg.Degrees
                  |> List.map (fun d -> sprintf "- `training-loss-deg%d.png`: each method's training loss per epoch" d)
              )
              ""
              "## Caveats"
              ""
              "- Data: PyEPO's generator formulas (`pyepo/data/shortestpath.py`, `pyepo/data/knapsack.py`) with .NET's seeded `System.Random`, not NumPy's generator: the same distribution, not the same numbers."
              sprintf "- %d epochs (the whole command fits in a few minutes on two cores)." cfg.Epochs
              "- One seed per cell (PyEPO's numbers average 10 runs)."
              "- Solver: exact dynamic programming instead of Gurobi; both are exact, ties may be broken differently."
              "- DBB, I-MLE and AIMLE minimise the regret of the layer's output (⟨c, z − w*⟩, or ⟨v, w* − z⟩ for knapsack values), as PyEPO's examples do; DPO (additive and multiplicative) compares the expected solution with w* by the Hamming loss (summed over entries, averaged over the batch)."
              "" ]
        )

    writeReport
        { Seed = cfg.Seed
          OutDir = dir
          Quick = false
          Device = "cpu" }
        "dfl"
        report

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
