/// `dfl --protocol notebook03`: the protocol of PyEPO's tutorial notebook "03 Training and Testing"
/// (github.com/khalil-research/PyEPO, notebooks/03 Training and Testing.ipynb): the 5×5 grid shortest path, p = 5
/// features, 1,000 training and 1,000 test instances, polynomial degree 4, noise half-width 0.5, a linear model, Adam
/// lr 0.01, batch 32, 20 epochs, each method with the notebook's own hyper-parameters; the normalised test regret after
/// the last epoch, mean ± sd over several seeds, beside the single run the notebook prints.
module Imle.Examples.Experiments.DflNotebook03

open System
open System.IO
open Imle
open Imle.Dfl
open Imle.Examples
open Imle.Examples.Output
open Imle.Examples.Experiments.DflTraining

/// The notebook's commit whose printed outputs are quoted.
let private notebookCommit = "596abd4"

/// The notebook's settings.
let private grid = 5
let private features = 5
let private deg = 4
let private noiseWidth = 0.5
let private batch = 32
let private lr = 0.01
let private epochs = 20
let private trainSize = 1000
let private testSize = 1000

/// Sum-of-Gamma noise SoG(κ = 5, 10 terms), PyEPO's default `sumGammaDistribution(kappa=5)` for I-MLE and AIMLE.
let private sog = SumOfGamma(5.0, 1.0, 10)

/// What runs, in report order: (id, method, model head). A row of `rows` whose id has no entry here is reported as
/// "not run" with its reason (`missing`); adding its line here enables it.
let methods: (string * Method * Head) list =
    [ "2s", TwoStage, LinearHead
      "spo+", Catalogue(DflLoss.SpoPlus, 0.0), LinearHead
      "pg", Catalogue(DflLoss.PerturbationGradient(Pgb, 0.1), 0.0), LinearHead
      "dpo", Layer(Estimator.perturbed (Normal 1.0) 3, MeanAbsoluteLoss), LinearHead
      "dpo-mul", Sampled(Perturbed(PerturbedOptions.CreateMultiplicative(0.5, 3)), MeanAbsoluteLoss), SoftplusHead 1e-6
      "pfyl", Catalogue(DflLoss.FenchelYoung(PerturbedOptions.Create(Normal 1.0, 3)), 0.0), LinearHead
      "pfyl-mul", Catalogue(DflLoss.FenchelYoung(PerturbedOptions.CreateMultiplicative(0.5, 3)), 0.0), SoftplusHead 1e-6
      "imle",
      Layer(
          Imle
              { ImleOptions.Create(5.0, 10.0) with
                  Noise = sog
                  Samples = 3 },
          MeanAbsoluteLoss
      ),
      LinearHead
      "aimle",
      Layer(
          Imle
              { ImleOptions.Create(5.0, 1.0) with
                  Noise = sog
                  Samples = 3
                  Target =
                      Adaptive
                          { AdaptiveLambda.Default with
                              BetaStep = 1e-3
                              TargetNonZero = 40.0 } },
          MeanAbsoluteLoss
      ),
      LinearHead
      "rfwo", Layer(RegularizedFrankWolfe FrankWolfeOptions.Default, MeanSquaredLoss), LinearHead
      "rfyl", Catalogue(DflLoss.RegularizedFenchelYoung FrankWolfeOptions.Default, 0.0), LinearHead
      "dbb", Layer(Blackbox 20.0, ObjectiveAbsoluteLoss), LinearHead
      "nid", Layer(Identity(NoProjection, Zero), ObjectiveAbsoluteLoss), LinearHead
      "nce", Catalogue(Nce, 0.05), LinearHead
      "cmap", Catalogue(Cmap, 0.05), LinearHead
      "lsltr", Catalogue(ListwiseLtr, 0.05), LinearHead
      "prltr", Catalogue(PairwiseLtr, 0.05), LinearHead
      "ptltr", Catalogue(PointwiseLtr, 0.05), LinearHead ]

/// One row of the notebook: our id, PyEPO's module and settings, the regret (%) its run printed after epoch 20, our
/// settings, and why we do not run it (for rows without a method).
type private NotebookRow =
    { Id: string
      Pyepo: string
      Published: float option
      Ours: string
      Missing: string }

let private row id pyepo published ours =
    { Id = id
      Pyepo = pyepo
      Published = published
      Ours = ours
      Missing = "" }

let private missing id pyepo published why =
    { Id = id
      Pyepo = pyepo
      Published = published
      Ours = "–"
      Missing = why }

/// The notebook's methods in its order (with our two-stage baseline first), their settings side by side.
let private rows: NotebookRow list =
    [ row
          "2s"
          "– (the notebook has no two-stage baseline)"
          None
          "MSE regression of the costs by Adam (lr 0.01, 20 epochs), the solver on the predictions"
      row "spo+" "`SPOPlus`" (Some 7.59) "`DflLoss.SpoPlus`"
      row
          "pg"
          "`PG(sigma=0.1, two_sides=False)`: backward difference (V(ĉ) − V(ĉ − σc))/σ, batch mean"
          (Some 14.16)
          "`DflLoss.PerturbationGradient(Pgb, 0.1)` (the same backward difference, h = 0.1), batch mean"
      row
          "dpo"
          "`DPO(n_samples=3, sigma=1.0)`, `nn.L1Loss` between the mean solution and w*"
          (Some 9.88)
          "`Perturbed` Normal(σ = 1), S = 3, mean absolute error against w* (the same L1 mean over 32 × 40 entries)"
      row
          "dpo-mul"
          "`DPOMul(n_samples=3, sigma=0.5)`, `nn.L1Loss`; softplus(linear) + 1e-6 model"
          (Some 12.24)
          "multiplicative `Perturbed`, σ = 0.5, S = 3, mean absolute error; softplus(linear) + 1e-6"
      row "pfyl" "`PFY(n_samples=3, sigma=1.0)`" (Some 7.29) "`DflLoss.FenchelYoung`, Normal(σ = 1), S = 3"
      row
          "pfyl-mul"
          "`PFYMul(n_samples=3, sigma=0.5)`; softplus(linear) + 1e-6 model"
          (Some 7.54)
          "`DflLoss.FenchelYoung`, multiplicative σ = 0.5, S = 3; softplus(linear) + 1e-6"
      row
          "imle"
          "`IMLE(n_samples=3, sigma=1.0, lambd=10)`: SoG(κ = 5, 10 terms), one-sided, gradient divided by λ; `nn.L1Loss`"
          (Some 12.07)
          "`Imle` with PID λ = 10, SoG(κ = 5, τ = 1, 10 terms), τ_in = τ_t = 1, S = 3, divided by λ, one-sided; mean absolute error"
      row
          "aimle"
          "`AIMLE(n_samples=3, sigma=1.0)`: SoG(κ = 5), one-sided, λ = α‖ĉ‖/‖dL/dz‖, α₀ = 1 moved by 1e-3 after each step by a moving average (0.9) of the fraction of non-zero gradient entries compared with 1; `nn.L1Loss`"
          (Some 7.24)
          "`Imle` with `Adaptive` λ = β‖θ‖/‖dL/dz‖, β₀ = 1, step 1e-3, decay 0.9, target 40 non-zero entries per sample (= m, PyEPO's comparison in counts), SoG(κ = 5, 10 terms), S = 3; mean absolute error"
      row
          "rfwo"
          "`RFWO(lambd=1.0, max_iter=20, tol=1e-6)`, `nn.MSELoss` between the smooth solution and w*"
          (Some 7.40)
          "`RegularizedFrankWolfe` (λ = 1, 20 iterations, gap tolerance 1e-6), mean squared error against w*"
      row
          "rfyl"
          "`RFY(lambd=1.0, max_iter=20, tol=1e-6)`"
          (Some 7.79)
          "`DflLoss.RegularizedFenchelYoung` (λ = 1, 20 iterations, gap tolerance 1e-6)"
      row
          "dbb"
          "`DBB(lambd=20)`, `nn.L1Loss` between objective values cᵀw(ĉ) and z*"
          (Some 15.12)
          "`Blackbox 20.0`, the mean of \\|cᵀz − cᵀw*\\| over the batch"
      row
          "nid"
          "`NID()`, `nn.L1Loss` between objective values"
          (Some 8.90)
          "`Identity(NoProjection, Zero)` (dL/dĉ = −dL/dz), the mean of \\|cᵀz − cᵀw*\\|"
      row
          "nce"
          "`NCE(solve_ratio=0.05, dataset=train)`"
          (Some 10.29)
          "`DflLoss.Nce`, pool seeded with the training optima, solve ratio 0.05"
      row "cmap" "`CMAP(solve_ratio=0.05, dataset=train)`" (Some 12.97) "`DflLoss.Cmap`, the same pool"
      row "lsltr" "`lsLTR(solve_ratio=0.05, dataset=train)`" (Some 9.59) "`DflLoss.ListwiseLtr`, the same pool"
      row "prltr" "`prLTR(solve_ratio=0.05, dataset=train)`" (Some 9.73) "`DflLoss.PairwiseLtr`, the same pool"
      row "ptltr" "`ptLTR(solve_ratio=0.05, dataset=train)`" (Some 8.47) "`DflLoss.PointwiseLtr`, the same pool" ]

/// What differs between a row's settings and the notebook's, beyond the rows shared by every method.
let private differs (id: string) =
    match id with
    | "2s" -> "no counterpart in the notebook"
    | "imle" -> "the SoG noise's sign (above)"
    | "aimle" ->
        "the SoG noise's sign (above); β's rule counts non-zero entries per sample where PyEPO takes the fraction over the batch's mean gradient"
    | "nce"
    | "cmap"
    | "lsltr"
    | "prltr"
    | "ptltr" -> "no (the pool's random draws differ)"
    | _ -> "no"

/// The ids `--methods` accepts with this protocol.
let methodIds = methods |> List.map (fun (id, _, _) -> id)

/// One method on one seed.
type NotebookRun =
    { Method: string
      Seed: int
      NormalizedRegret: float
      Seconds: float }

/// One row of the summary: a method over the seeds, PyEPO's printed value, or why it did not run.
type NotebookSummary =
    {
        Method: string
        Runs: int
        /// Mean and sample sd of the normalised regret (fractions); NaN when not run.
        Mean: float
        Sd: float
        /// Mean seconds per run (training and evaluation).
        Seconds: float
        /// The regret PyEPO's notebook printed after epoch 20 (a fraction), NaN where it has none.
        Pyepo: float
        /// Whether PyEPO's value lies within mean ± 2 sd ("" when either is missing).
        Within: string
        /// Why the method did not run ("" when it ran).
        NotRun: string
    }

/// Seconds per training instance, epoch and method on 2 cores (an upper bound, as `dfl`'s).
let secondsPerInstanceEpoch = 1e-3

/// The work a run does: (seeds × methods × epochs × training instances).
let instanceEpochs (o: ProtocolOptions) =
    let n = defaultArg o.TrainSize trainSize
    let m = (defaultArg o.Methods methodIds).Length
    float o.Seeds.Length * float m * float (defaultArg o.Epochs epochs) * float n

/// Runs the protocol and writes results.json and report.md into the output folder.
let run (ctx: RunContext) (o: ProtocolOptions) : NotebookSummary list =
    let dir = ensureDir o.OutDir
    let chosen = defaultArg o.Methods methodIds

    let nTrain, nTest, nEpochs =
        defaultArg o.TrainSize trainSize, defaultArg o.TestSize testSize, defaultArg o.Epochs epochs

    let total = Diagnostics.Stopwatch.StartNew()
    let specs = methods |> List.filter (fun (id, _, _) -> List.contains id chosen)

    let runs =
        progress "notebook03" (o.Seeds.Length * specs.Length) (fun tick ->
            [ for seed in o.Seeds do
                  let problem = Problem.gridDagShortestPath grid grid

                  let data =
                      Generators.shortestPath (nTrain + nTest) features grid grid deg noiseWidth seed

                  let all = DflDataset.ofGenerated problem data
                  let train = DflDataset.subset [| 0 .. nTrain - 1 |] all
                  let test = DflDataset.subset [| nTrain .. nTrain + nTest - 1 |] all

                  for id, method, head in specs do
                      let trained =
                          DflTraining.train
                              { Seed = seed
                                Epochs = nEpochs
                                Batch = min batch nTrain
                                Lr = lr
                                Head = head }
                              train
                              test
                              method

                      tick ()

                      yield
                          { Method = id
                            Seed = seed
                            NormalizedRegret = trained.NormalizedRegret
                            Seconds = trained.Seconds } ])

    let summaries =
        [ for r in rows do
              let published =
                  r.Published |> Option.map (fun v -> v / 100.0) |> Option.defaultValue nan

              let mine = runs |> List.filter (fun x -> x.Method = r.Id) |> Array.ofList

              if mine.Length = 0 then
                  let why =
                      if r.Missing <> "" then
                          r.Missing
                      elif methods |> List.exists (fun (id, _, _) -> id = r.Id) then
                          "not chosen by --methods"
                      else
                          "no method for this row"

                  yield
                      { Method = r.Id
                        Runs = 0
                        Mean = nan
                        Sd = nan
                        Seconds = nan
                        Pyepo = published
                        Within = ""
                        NotRun = why }
              else
                  let values = mine |> Array.map (fun x -> x.NormalizedRegret)
                  let mean, sd = Array.average values, Seeds.sampleSd values

                  yield
                      { Method = r.Id
                        Runs = values.Length
                        Mean = mean
                        Sd = sd
                        Seconds = mine |> Array.averageBy (fun x -> x.Seconds)
                        Pyepo = published
                        Within =
                          if Double.IsNaN published || values.Length < 2 then ""
                          elif abs (published - mean) <= 2.0 * sd then "yes"
                          else "no"
                        NotRun = "" } ]

    writeJson (Path.Combine(dir, "results.json")) {| runs = runs; summary = summaries |}

    let pct (v: float) =
        if Double.IsNaN v then "–" else fmt 2 (100.0 * v)

    let resultTable =
        markdownTable
            [| "method"
               "ours: mean ± sd (%)"
               "PyEPO notebook 03 (%)"
               "PyEPO within mean ± 2 sd"
               "our seconds per run" |]
            [| for s in summaries ->
                   if s.Runs = 0 then
                       [| s.Method; "not run: " + s.NotRun; pct s.Pyepo; "–"; "–" |]
                   else
                       [| s.Method
                          sprintf "%s ± %s" (pct s.Mean) (pct s.Sd)
                          pct s.Pyepo
                          (if s.Within = "" then "–" else s.Within)
                          fmt 1 s.Seconds |] |]

    let configTable =
        markdownTable
            [| "setting"; "PyEPO notebook 03"; "ours"; "differs?" |]
            (Array.append
                [| [| "problem"
                      "5×5 grid, 40 arcs (right and down), top-left to bottom-right, Gurobi LP"
                      "the same network, exact dynamic programming on the DAG"
                      "no (both exact; ties may break differently)" |]
                   [| "data"
                      "`shortestpath.genData(2000, 5, (5,5), deg=4, e=0.5, seed=42)`, `train_test_split(test_size=1000, random_state=42)`"
                      sprintf
                          "`Generators.shortestPath` (the same formulas, .NET's seeded Random), %d + %d instances, deg %d, half-width %g, data seed = run seed; the first %d train"
                          nTrain
                          nTest
                          deg
                          noiseWidth
                          nTrain
                      "the random numbers" |]
                   [| "features p"; "5"; string features; "no" |]
                   [| "model"
                      "`nn.Linear(5, 40)`; softplus(linear) + 1e-6 for DPOMul and PFYMul"
                      "the same"
                      "no" |]
                   [| "optimiser"
                      "Adam lr 0.01, batch 32 (shuffled), 20 epochs, every method"
                      sprintf "Adam lr %g, batch %d (shuffled), %d epochs, every method" lr (min batch nTrain) nEpochs
                      (if nEpochs = epochs && nTrain = trainSize then
                           "no"
                       else
                           "yes (epochs / sizes)") |]
                   [| "runs"
                      "one (seed 42 for data, torch and numpy)"
                      sprintf
                          "%d seeds (%s): data, initialisation, shuffling and noise per seed"
                          o.Seeds.Length
                          (String.Join(", ", o.Seeds))
                      "yes" |]
                   [| "metric"
                      "`pyepo.metric.regret` after epoch 20: Σ (cᵀw*(ĉ) − z*(c)) / Σ \\|z*(c)\\| on the 1,000 test instances"
                      "`Regret.normalised` after the last epoch, the same formula"
                      "no" |]
                   [| "noise sign"
                      "costs perturbed as ĉ + σε"
                      "scores θ = −ĉ perturbed as θ + σε, i.e. ĉ − σε"
                      "only for the asymmetric SoG noise of I-MLE and AIMLE" |]
                   [| "loss scale"
                      "`nn.L1Loss` means over all 32 × 40 entries (DPO, I-MLE, AIMLE) or over the batch (DBB, NID)"
                      "the same reductions, so I-MLE's λ·dL/dz and DBB's λ·dL/dz have PyEPO's scale"
                      "no" |] |]
                [| for r in rows ->
                       [| r.Id
                          r.Pyepo
                          (if r.Missing = "" then r.Ours else "not run: " + r.Missing)
                          (if r.Missing = "" then differs r.Id else "not run") |] |])

    let report =
        String.concat
            "\n"
            [ "# PyEPO's notebook 03 protocol: 5×5 shortest path, degree 4"
              ""
              "Reproduce with:"
              ""
              "```"
              protocolCommandLine "notebook03" o
              "```"
              ""
              sprintf
                  "Normalised test regret after the last epoch in percent, mean ± sample standard deviation over %d seed%s (%s), beside the value PyEPO's notebook \"03 Training and Testing\" printed after its 20th epoch (one run, seed 42; github.com/khalil-research/PyEPO, notebooks/03 Training and Testing.ipynb at commit %s). \"PyEPO within mean ± 2 sd\" says whether that single value lies within two of our standard deviations of our mean. Times are ours only (training and evaluation per run, wall clock on the machine that ran the command); the notebook's times (Gurobi, two solver processes, Colab) are not comparable. Total wall time %.0f s."
                  o.Seeds.Length
                  (if o.Seeds.Length = 1 then "" else "s")
                  (String.Join(", ", o.Seeds))
                  notebookCommit
                  total.Elapsed.TotalSeconds
              ""
              resultTable
              ""
              "## Configuration: ours against the notebook's, setting by setting"
              ""
              configTable
              ""
              "## Caveats"
              ""
              "- PyEPO's numbers are single runs of one data set; ours vary the data with the seed, so the spread includes the data's."
              "- \"Not run\" rows are methods Imle's DFL loss catalogue does not have; the row's line in `methods` (examples/Imle.Examples/Experiments/DflNotebook03.fs) is all a new loss needs."
              "- The two-stage row has no notebook counterpart (PyEPO's published two-stage runs use scikit-learn's closed-form regression)."
              "" ]

    writeReport ctx "dfl" report
    summaries
