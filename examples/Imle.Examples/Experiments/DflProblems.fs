/// `dfl --protocol problems`: the problems of DecisionFocusedLearningBenchmarks.jl that Imle's core generates
/// (`Imle.Dfl.Benchmarks`: argmax, ranking, subset selection, fixed-size shortest path), every applicable method of the
/// `dfl` command on each, one linear model per run, the normalised test regret as mean ± sd over the seeds.
module Imle.Examples.Experiments.DflProblems

open System
open System.IO
open Imle
open Imle.Dfl
open Imle.Examples
open Imle.Examples.Output
open Imle.Examples.Experiments.DflTraining

let private features = 5
let private noise = 0.1
let private epochs = 10
let private trainSize = 1000
let private testSize = 1000
let private batch = 32
let private lr = 0.01
let private samples = 10
/// Items of the argmax and ranking problems (m).
let private itemCount = 10
/// Items (m) and selected items (k) of the subset selection problem.
let private subsetItems = 25
let private subsetK = 5
/// The shortest path's grid, polynomial degree and noise half-width.
let private gridRows = 5
let private gridCols = 5
let private pathDeg = 4
let private pathNoise = 0.5

/// A benchmark problem: its id, what it is, the Imle problem, its generator (instances → seed → data), and whether
/// its states are binary and its weights positive.
type private BenchmarkProblem =
    { Id: string
      Text: string
      Problem: Problem
      Generate: int -> int -> BenchmarkData
      Binary: bool
      Positive: bool }

/// The ranking problem: maximise ⟨y, θ⟩ over the permutations y of (m, m − 1, …, 1), solved by sorting (real states).
let private rankingProblem (m: int) =
    Problem.create (sprintf "ranking(m=%d)" m) [| m |] Maximise (fun theta ->
        Benchmarks.ranks theta |> Array.map (fun r -> float m + 1.0 - r))
    |> Problem.withRealStates

let private problems: BenchmarkProblem list =
    [ { Id = "argmax"
        Text = sprintf "argmax of m = %d scores θ = Wx/√p + %gξ (one-hot states)" itemCount noise
        Problem = Problem.categorical itemCount
        Generate = fun n seed -> Benchmarks.argmax n features itemCount noise seed
        Binary = true
        Positive = false }
      { Id = "ranking"
        Text =
          sprintf
              "ranking of m = %d scores θ = Wx/√p + %gξ (states: the permutation of %d, …, 1 maximising ⟨y, θ⟩)"
              itemCount
              noise
              itemCount
        Problem = rankingProblem itemCount
        Generate = fun n seed -> Benchmarks.ranking n features itemCount noise seed
        Binary = false
        Positive = false }
      { Id = "subset"
        Text = sprintf "subset selection: the %d largest of m = %d scores θ = Wx/√p + %gξ" subsetK subsetItems noise
        Problem = Problem.kSubset subsetItems subsetK
        Generate = fun n seed -> Benchmarks.subsetSelection n features subsetItems subsetK noise seed
        Binary = true
        Positive = false }
      { Id = "shortest-path"
        Text =
          sprintf
              "fixed-size shortest path on the %d×%d grid (PyEPO's costs, degree %d, noise half-width %g)"
              gridRows
              gridCols
              pathDeg
              pathNoise
        Problem = Problem.gridDagShortestPath gridRows gridCols
        Generate = fun n seed -> Benchmarks.fixedSizeShortestPath n features gridRows gridCols pathDeg pathNoise seed
        Binary = true
        Positive = true } ]

/// Which problems a method applies to.
type private Needs =
    | Any
    /// A solution pool (binary states: the pool keys states by their ones).
    | BinaryStates
    /// Weights of one sign (the multiplicative perturbations).
    | PositiveWeights

let private sog = SumOfGamma(5.0, 1.0, 10)

/// The methods: id, method, what it needs, description (the `dfl` command's Imle settings, regret loss for layers).
let private methods: (string * Method * Needs * string) list =
    [ "2s", TwoStage, Any, "two-stage: MSE regression, the solver on the predictions"
      "spo+", Catalogue(DflLoss.SpoPlus, 0.0), Any, "SPO+"
      "dbb", Layer(Blackbox 10.0, RegretLoss), Any, "blackbox differentiation, λ = 10, regret loss"
      "nid", Layer(Identity(NoProjection, Zero), RegretLoss), Any, "identity (no projection), regret loss"
      "dpo",
      Layer(Estimator.perturbed (Normal 1.0) samples, RegretLoss),
      Any,
      sprintf "perturbed optimizer, Normal(σ = 1), S = %d, regret of the mean solution" samples
      "pfyl",
      Catalogue(DflLoss.FenchelYoung(PerturbedOptions.Create(Normal 1.0, samples)), 0.0),
      Any,
      sprintf "Fenchel–Young loss, Normal(σ = 1), S = %d" samples
      "imle",
      Layer(
          Imle
              { ImleOptions.Create(5.0, 10.0) with
                  Noise = sog
                  Samples = samples },
          RegretLoss
      ),
      Any,
      sprintf "I-MLE, PID λ = 10, SoG(κ = 5), S = %d, regret loss" samples
      "aimle",
      Layer(
          Imle
              { ImleOptions.Create(5.0, 1.0) with
                  Noise = sog
                  Samples = samples
                  Target = Adaptive AdaptiveLambda.Default },
          RegretLoss
      ),
      Any,
      sprintf "AIMLE (torch-adaptive-imle's rule), SoG(κ = 5), S = %d, regret loss" samples
      "dpo-mul",
      Sampled(Perturbed(PerturbedOptions.CreateMultiplicative(1.0, samples)), RegretLoss),
      PositiveWeights,
      sprintf "multiplicative perturbed optimizer, σ = 1, S = %d, regret loss; softplus model" samples
      "pfyl-mul",
      Catalogue(DflLoss.FenchelYoung(PerturbedOptions.CreateMultiplicative(1.0, samples)), 0.0),
      PositiveWeights,
      sprintf "multiplicative Fenchel–Young, σ = 1, S = %d; softplus model" samples
      "nce", Catalogue(Nce, 0.05), BinaryStates, "NCE over a pool of the training optima, solve ratio 0.05"
      "cmap", Catalogue(Cmap, 0.05), BinaryStates, "CMAP, the same pool"
      "lsltr", Catalogue(ListwiseLtr, 0.05), BinaryStates, "listwise LTR, the same pool"
      "prltr", Catalogue(PairwiseLtr, 0.05), BinaryStates, "pairwise LTR, the same pool"
      "ptltr", Catalogue(PointwiseLtr, 0.05), BinaryStates, "pointwise LTR, the same pool" ]

/// The ids `--methods` accepts with this protocol.
let methodIds = methods |> List.map (fun (id, _, _, _) -> id)

let private applies (p: BenchmarkProblem) (needs: Needs) =
    match needs with
    | Any -> true
    | BinaryStates -> p.Binary
    | PositiveWeights -> p.Positive

/// One method on one problem and seed.
type ProblemRun =
    { Problem: string
      Method: string
      Seed: int
      NormalizedRegret: float
      Seconds: float }

/// A method on a problem over the seeds.
type ProblemSummary =
    { Problem: string
      Method: string
      Runs: int
      Mean: float
      Sd: float
      Seconds: float }

/// The work a run does: (seeds × method-problem pairs × epochs × training instances).
let instanceEpochs (o: ProtocolOptions) =
    let chosen = defaultArg o.Methods methodIds

    let pairs =
        [ for p in problems do
              for id, _, needs, _ in methods do
                  if List.contains id chosen && applies p needs then
                      yield () ]

    float o.Seeds.Length
    * float pairs.Length
    * float (defaultArg o.Epochs epochs)
    * float (defaultArg o.TrainSize trainSize)

/// The configuration against DecisionFocusedLearningBenchmarks.jl's: a Markdown table (setting, the package's value,
/// ours, differs?) whose "ours" column comes from this module's settings and the run's sizes, followed by the sentence
/// naming the package's source files.
let configurationTable (nTrain: int) (nTest: int) (nEpochs: int) (seeds: int) : string =
    let differs (same: bool) = if same then "no" else "yes"

    let arcs = (problems |> List.find (fun p -> p.Id = "shortest-path")).Problem.Size

    let table =
        markdownTable
            [| "setting"; "DecisionFocusedLearningBenchmarks.jl"; "ours"; "differs?" |]
            [| [| "argmax, ranking: sizes"
                  "m = 10 items (`instance_dim`), p = 5 features (`nb_features`), the defaults"
                  sprintf "m = %d, p = %d" itemCount features
                  differs (itemCount = 10 && features = 5) |]
               [| "argmax, ranking: features"
                  "x ∈ ℝ^{p×m} with N(0, 1) entries: p features for each item"
                  sprintf "x ∈ ℝ^%d ~ N(0, I): one feature vector per instance" features
                  "yes" |]
               [| "argmax, ranking: encoder"
                  "θ_j = ⟨w, x_·j⟩, one w ∈ ℝ^p shared by the items (`Chain(Dense(p => 1; bias=false), vec)`, Flux's Glorot-uniform initialisation under `seed`), no 1/√p"
                  sprintf "θ = Wx/√p, W ∈ ℝ^{%d×%d} with N(0, 1) entries, drawn per seed" itemCount features
                  "yes" |]
               [| "argmax, ranking: noise"
                  "`noise_std` (default 0) times N(0, I_m) added to θ only to pick the label y; the stored θ is noiseless"
                  sprintf "%gξ, ξ ~ N(0, I_m), added to θ (the scores that define the optimum and the regret)" noise
                  "yes" |]
               [| "subset: sizes"
                  "n = 25 items, k = 5 selected, the defaults"
                  sprintf "m = %d items, k = %d selected" subsetItems subsetK
                  differs (subsetItems = 25 && subsetK = 5) |]
               [| "subset: features, encoder, noise"
                  "x ∈ ℝ^n with N(0, 1) entries (one feature per item); θ = x (`identity_mapping = true`, the default) or a random `Dense(n => n; bias=false)`; no noise"
                  sprintf
                      "x ∈ ℝ^%d ~ N(0, I); θ = Wx/√p + %gξ, W ∈ ℝ^{%d×%d} with N(0, 1) entries"
                      features
                      noise
                      subsetItems
                      features
                  "yes" |]
               [| "shortest path: graph"
                  "5×5 grid (`grid_size`), arcs right and down (40), top-left to bottom-right"
                  sprintf "%d×%d grid DAG, %d arcs, top-left to bottom-right" gridRows gridCols arcs
                  differs (gridRows = 5 && gridCols = 5) |]
               [| "shortest path: features"
                  "p = 5, x ~ N(0, I_p)"
                  sprintf "p = %d, x ~ N(0, I_p)" features
                  differs (features = 5) |]
               [| "shortest path: costs"
                  "θ = −(1 + (3 + Bx/√p)^deg)·ξ (PyEPO's formula without its 1/3.5^deg, negated for the maximiser); B ∈ {0, 1}^{E×p} ~ Bernoulli(0.5) drawn anew for each instance"
                  "PyEPO's c = ((Bx/√p + 3)^deg + 1)/3.5^deg · ε; B ~ Bernoulli(0.5) drawn once per seed"
                  "yes (B per instance; the positive factor and the sign leave the optimal paths unchanged)" |]
               [| "shortest path: degree, noise"
                  "deg = 1, ν = 0 (no noise), the defaults; ξ ~ U[1 − ν, 1 + ν]"
                  sprintf "deg = %d, ε ~ U[1 − %g, 1 + %g]" pathDeg pathNoise pathNoise
                  (if pathDeg = 1 && pathNoise = 0.0 then
                       "no"
                   else
                       "yes (within the package's options)") |]
               [| "instances"
                  "not set by the package (`generate_dataset(bench, n)` takes n; its docs draw 100 for argmax, 50 for the others)"
                  sprintf "%d training + %d test per problem and seed" nTrain nTest
                  "n/a" |]
               [| "model"
                  "argmax, ranking: `Chain(Dense(p => 1; bias=false), vec)` (p weights); subset: `Dense(n => n; bias=false)`; shortest path: `Dense(p => E)` with bias"
                  sprintf
                      "`nn.Linear(%d, m)` with bias for every problem (softplus of it for the multiplicative methods)"
                      features
                  "yes (argmax, ranking, subset); no (shortest path)" |]
               [| "optimiser, lr, batch, epochs"
                  "not set by the package (no training loop; DecisionFocusedLearningAlgorithms.jl's argmax tutorial: Fenchel–Young loss, ε = 0.1, S = 10, Adam lr 0.001, batch 1, 100 epochs on 30 of 100 instances)"
                  sprintf "Adam lr %g, batch %d, %d epochs, for every method" lr (min batch nTrain) nEpochs
                  "n/a" |]
               [| "solvers"
                  "one-hot `argmax`, `invperm(sortperm(θ))`, top-k by `sortperm`, Dijkstra on −θ (Graphs.jl)"
                  "argmax, sort, top-k, exact dynamic programming on the DAG"
                  "no (all exact; ties may differ)" |]
               [| "metric"
                  "`compute_gap`: mean over instances of (label's objective − obtained)/\\|label's objective\\|"
                  "normalised regret Σ (regret) / Σ \\|optimal value\\| over the test set (PyEPO's)"
                  "yes (a ratio of sums, not a mean of ratios)" |]
               [| "runs per cell"
                  "not set by the package"
                  sprintf "%d seed%s, mean ± sd" seeds (if seeds = 1 then "" else "s")
                  "n/a" |] |]

    table
    + "\n\n"
    + "The package's column is read from DecisionFocusedLearningBenchmarks.jl v0.7.0 (commit 4e708dc1cb8ffc86322960bfd6d2115e61b37b31; the files are the same at c0770d38b857865f22e740a324f3e4f412369f68): `src/Argmax/Argmax.jl`, `src/Ranking/Ranking.jl`, `src/SubsetSelection/SubsetSelection.jl`, `src/FixedSizeShortestPath/FixedSizeShortestPath.jl`, `src/Utils/interface/static_benchmark.jl` (`generate_dataset`), `src/Utils/interface/abstract_benchmark.jl` (`compute_gap`) and `docs/src/benchmarks/static/`. Up to v0.2.4 `generate_dataset` defaulted to 10 instances and drew the shortest path's B once per dataset. The training setting quoted is DecisionFocusedLearningAlgorithms.jl v0.2.3's (commit 6c8888d117cfa1d53e2afa04d2d4a8da91a9eead), `docs/src/tutorials/tutorial.jl` with the defaults of `src/algorithms/supervised/fyl.jl`."

/// Runs every applicable method on every problem and seed; writes results.json and report.md.
let run (ctx: RunContext) (o: ProtocolOptions) : ProblemSummary list =
    let dir = ensureDir o.OutDir
    let chosen = defaultArg o.Methods methodIds
    let nTrain, nTest = defaultArg o.TrainSize trainSize, defaultArg o.TestSize testSize
    let nEpochs = defaultArg o.Epochs epochs
    let total = Diagnostics.Stopwatch.StartNew()
    let specs = methods |> List.filter (fun (id, _, _, _) -> List.contains id chosen)

    let work =
        [ for p in problems do
              for id, method, needs, _ in specs do
                  if applies p needs then
                      yield p, id, method ]

    let runs =
        progress "problems" (work.Length * o.Seeds.Length) (fun tick ->
            [ for p in problems do
                  for seed in o.Seeds do
                      let data = p.Generate (nTrain + nTest) seed
                      let all = DflDataset.create p.Problem data.Features data.Scores
                      let train = DflDataset.subset [| 0 .. nTrain - 1 |] all
                      let test = DflDataset.subset [| nTrain .. nTrain + nTest - 1 |] all

                      for q, id, method in work do
                          if q.Id = p.Id then
                              let trained =
                                  DflTraining.train
                                      { Seed = seed
                                        Epochs = nEpochs
                                        Batch = min batch nTrain
                                        Lr = lr
                                        Head = defaultHead method }
                                      train
                                      test
                                      method

                              tick ()

                              yield
                                  { Problem = p.Id
                                    Method = id
                                    Seed = seed
                                    NormalizedRegret = trained.NormalizedRegret
                                    Seconds = trained.Seconds } ])

    let summaries =
        runs
        |> List.groupBy (fun r -> r.Problem, r.Method)
        |> List.map (fun ((problem, methodId), rs) ->
            let values = rs |> List.map (fun r -> r.NormalizedRegret) |> Array.ofList

            { Problem = problem
              Method = methodId
              Runs = values.Length
              Mean = Array.average values
              Sd = Seeds.sampleSd values
              Seconds = rs |> List.averageBy (fun r -> r.Seconds) })

    writeJson (Path.Combine(dir, "results.json")) {| runs = runs; summary = summaries |}

    let cell problem methodId =
        match summaries |> List.tryFind (fun s -> s.Problem = problem && s.Method = methodId) with
        | Some s -> sprintf "%s ± %s" (fmt 2 (100.0 * s.Mean)) (fmt 2 (100.0 * s.Sd))
        | None -> "n/a"

    let table =
        markdownTable
            (Array.append [| "method" |] (problems |> List.map (fun p -> p.Id) |> Array.ofList))
            [| for id, _, _, _ in specs ->
                   Array.append [| id |] (problems |> List.map (fun p -> cell p.Id id) |> Array.ofList) |]

    let timeTable =
        markdownTable
            (Array.append [| "method" |] (problems |> List.map (fun p -> p.Id) |> Array.ofList))
            [| for id, _, _, _ in specs ->
                   Array.append
                       [| id |]
                       (problems
                        |> List.map (fun p ->
                            summaries
                            |> List.tryFind (fun s -> s.Problem = p.Id && s.Method = id)
                            |> Option.map (fun s -> fmt 1 s.Seconds)
                            |> Option.defaultValue "n/a")
                        |> Array.ofList) |]

    let report =
        String.concat
            "\n"
            [ "# Decision-focused learning on DecisionFocusedLearningBenchmarks.jl's problems"
              ""
              "Reproduce with:"
              ""
              "```"
              protocolCommandLine "problems" o
              "```"
              ""
              sprintf
                  "Normalised test regret Σ (regret) / Σ |optimal value| in percent, mean ± sample standard deviation over %d seed%s (%s); each seed draws its own data (encoder W, features, noise), initialisation, shuffling and perturbations. %d training and %d test instances per problem and seed, p = %d features, a linear model (`nn.Linear(p, m)`), Adam lr %g, batch %d, %d epochs. \"n/a\": the method does not apply to the problem. Total wall time %.0f s."
                  o.Seeds.Length
                  (if o.Seeds.Length = 1 then "" else "s")
                  (String.Join(", ", o.Seeds))
                  nTrain
                  nTest
                  features
                  lr
                  (min batch nTrain)
                  nEpochs
                  total.Elapsed.TotalSeconds
              ""
              table
              ""
              "## Configuration vs DecisionFocusedLearningBenchmarks.jl"
              ""
              configurationTable nTrain nTest nEpochs o.Seeds.Length
              ""
              "## Problems"
              ""
              String.Join("\n", problems |> List.map (fun p -> sprintf "- **%s**: %s" p.Id p.Text))
              ""
              "## Methods"
              ""
              String.Join("\n", specs |> List.map (fun (id, _, _, text) -> sprintf "- **%s**: %s" id text))
              ""
              "Not applicable: the multiplicative perturbations need weights of one sign (only the shortest path's costs are positive; those runs predict softplus of the linear map); the pool-based losses (NCE, CMAP, LTR) key the pool by binary states, which ranking's permutation vectors are not."
              ""
              "## Seconds per run (training and evaluation, mean over seeds)"
              ""
              timeTable
              ""
              "## Caveats"
              ""
              "- The problems take DecisionFocusedLearningBenchmarks.jl's names, sizes and solvers, not all of its generators: argmax, ranking and subset selection draw one feature vector per instance through a fixed Gaussian encoder with Gaussian noise, where the package uses per-item features and a shared weight vector (argmax, ranking) or θ = x (subset); the shortest path uses PyEPO's costs, as the package does, up to a positive factor and the sign. The table above lists each difference. Data come from .NET's seeded Random, not the Julia package's numbers, and no published numbers are compared."
              "- One hyper-parameter setting per method (the `dfl` command's), no tuning per problem."
              "" ]

    writeReport ctx "dfl" report
    summaries
