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
        Text = sprintf "argmax of m = 10 scores θ = Wx/√p + %gξ (one-hot states)" noise
        Problem = Problem.categorical 10
        Generate = fun n seed -> Benchmarks.argmax n features 10 noise seed
        Binary = true
        Positive = false }
      { Id = "ranking"
        Text =
          sprintf
              "ranking of m = 10 scores θ = Wx/√p + %gξ (states: the permutation of 10, …, 1 maximising ⟨y, θ⟩)"
              noise
        Problem = rankingProblem 10
        Generate = fun n seed -> Benchmarks.ranking n features 10 noise seed
        Binary = false
        Positive = false }
      { Id = "subset"
        Text = sprintf "subset selection: the 5 largest of m = 25 scores θ = Wx/√p + %gξ" noise
        Problem = Problem.kSubset 25 5
        Generate = fun n seed -> Benchmarks.subsetSelection n features 25 5 noise seed
        Binary = true
        Positive = false }
      { Id = "shortest-path"
        Text = "fixed-size shortest path on the 5×5 grid (PyEPO's costs, degree 4, noise half-width 0.5)"
        Problem = Problem.gridDagShortestPath 5 5
        Generate = fun n seed -> Benchmarks.fixedSizeShortestPath n features 5 5 4 0.5 seed
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
              "- The generators follow DecisionFocusedLearningBenchmarks.jl's models (Gaussian features, a fixed Gaussian encoder, Gaussian noise; PyEPO's costs for the shortest path) with .NET's seeded Random: the same distributions, not the Julia package's numbers. No published numbers are compared."
              "- One hyper-parameter setting per method (the `dfl` command's), no tuning per problem."
              "" ]

    writeReport ctx "dfl" report
    summaries
