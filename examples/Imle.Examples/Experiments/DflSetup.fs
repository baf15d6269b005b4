/// The settings, methods and report of a single `dfl` run (PyEPO's shortest path or knapsack at several degrees, one
/// seed): whose hyper-parameters the methods use, the methods under them, a run's configuration, and its report.md
/// with the configuration-vs-PyEPO table and PyEPO's published numbers beside ours.
module Imle.Examples.Experiments.DflSetup

open System
open Imle
open Imle.Examples
open Imle.Examples.Output
open Imle.Examples.Experiments.DflResults
open Imle.Examples.Experiments.DflTraining

/// Whose hyper-parameters the methods use: ours, or those of PyEPO's published runs (its res/ CSV file names).
type DflSettings =
    /// DBB λ = 10, S = 10 samples for the perturbed methods, one learning rate for every method.
    | ImleSettings
    /// DBB λ = 20 and Adam lr 0.1 (shortest path) or λ = 10 and lr 0.05 (knapsack); S = 1 for DPO and PFYL.
    | PyepoSettings

/// DBB's λ and learning rate under the settings (None: the command's --lr).
let dbbSettings (settings: DflSettings) (knapsack: bool) =
    match settings, knapsack with
    | ImleSettings, _ -> 10.0, None
    | PyepoSettings, false -> 20.0, Some 0.1
    | PyepoSettings, true -> 10.0, Some 0.05

/// The methods, their ids and what each one is, in report order, under the settings.
let methodsWith (settings: DflSettings) (knapsack: bool) : (string * Method * string) list =
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
type Config =
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

let grid = 5
let features = 5
/// PyEPO's knapsack: 32 items, one resource dimension, capacity 20 (2,000 in hundredths).
let knapsackItems = 32
let knapsackCapacity = 20

/// Writes report.md of a single run into `dir`: the configuration against PyEPO's, the settings, the results table
/// `md`, the methods, PyEPO's published numbers beside ours, the plots and the caveats.
let writeRunReport
    (cfg: Config)
    (dir: string)
    (specs: (string * Method * string) list)
    (rows: DflRow[])
    (md: string)
    (totalSeconds: float)
    =
    let knapsack = cfg.ProblemId = "knapsack"

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
                totalSeconds
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
                totalSeconds

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
