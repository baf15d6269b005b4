/// The training loop every `dfl` experiment shares (`dfl`, `dfl --protocol notebook03`, `dfl --protocol problems`): a
/// model maps features to the weights of a problem, a method turns the predicted weights into a loss, Adam trains the
/// model on shuffled mini-batches, and the result is the normalised regret of the model's decisions on a test set.
module Imle.Examples.Experiments.DflTraining

open System
open System.Diagnostics
open TorchSharp
open Imle
open Imle.Dfl
open Imle.Torch

type private Tensor = torch.Tensor

/// What the output z of a discrete layer is compared with.
type SolutionLoss =
    /// The regret ⟨c, z − w*⟩ in minimisation terms (values of a maximisation problem enter negated), batch mean.
    | RegretLoss
    /// The Hamming loss against w* (summed over entries, averaged over the batch).
    | HammingLoss
    /// The mean absolute difference |z − w*| over every entry of the batch (PyTorch's nn.L1Loss on solutions, as
    /// PyEPO's notebooks use it for DPO, I-MLE and AIMLE).
    | MeanAbsoluteLoss
    /// The mean squared difference (z − w*)² over every entry of the batch (PyTorch's nn.MSELoss on solutions, as
    /// PyEPO's notebooks use it for the regularised Frank–Wolfe layer).
    | MeanSquaredLoss
    /// |⟨c, z⟩ − ⟨c, w*⟩| averaged over the batch (nn.L1Loss on objective values, PyEPO's notebooks' DBB and NID loss).
    | ObjectiveAbsoluteLoss

/// How a method turns predicted weights into a loss.
type Method =
    /// MSE between predicted and true weights (the solver only at evaluation).
    | TwoStage
    /// A `DiscreteLayer` (its own seeded noise) whose output goes into a solution loss.
    | Layer of Estimator * SolutionLoss
    /// `Discrete.apply` with the run's generator (the one Fenchel–Young draws from) whose output goes into a solution
    /// loss.
    | Sampled of Estimator * SolutionLoss
    /// A loss of the DFL catalogue (`DflLosses.compute`); the solve ratio of its solution pool where it needs one.
    | Catalogue of DflLoss * solveRatio: float

/// The model: a linear map from features to weights, or softplus of it (positive weights, for the multiplicative
/// perturbations, which need weights of one sign and divide by them).
type Head =
    /// nn.Linear(p, m).
    | LinearHead
    /// softplus(nn.Linear(p, m)) + offset.
    | SoftplusHead of offset: float

/// One training run's settings.
type RunSettings =
    {
        /// Seeds the initialisation, the shuffling, the noise and the solution pool.
        Seed: int
        Epochs: int
        Batch: int
        /// Adam's learning rate.
        Lr: float
        Head: Head
    }

/// One training run's result.
type Trained =
    {
        /// Normalised regret of the trained model's decisions on the test set (a fraction).
        NormalizedRegret: float
        /// Training and evaluation time in seconds.
        Seconds: float
        /// The mean training loss per epoch.
        Losses: float[]
    }

/// The head a method needs by default: softplus for the multiplicative perturbations, linear otherwise.
let defaultHead (method: Method) : Head =
    match method with
    | Layer(Perturbed { Perturbation = Multiplicative _ }, _)
    | Sampled(Perturbed { Perturbation = Multiplicative _ }, _)
    | Catalogue(FenchelYoung { Perturbation = Multiplicative _ }, _) -> SoftplusHead 0.0
    | _ -> LinearHead

/// Rows [n][m] as a float32 tensor [n, m].
let tensorOf (rows: float[][]) : Tensor =
    let m = rows.[0].Length
    let flat = Array.zeroCreate<float32>(rows.Length * m)

    rows
    |> Array.iteri (fun i r ->
        for j in 0 .. m - 1 do
            flat.[i * m + j] <- float32 r.[j])

    torch.tensor(flat).reshape(int64 rows.Length, int64 m)

/// A float tensor [n, m] as rows of float64.
let rowsOf (t: Tensor) : float[][] =
    use c = t.detach().``to``(torch.float64, torch.CPU).contiguous()
    c.data<float>().ToArray() |> Array.chunkBySize (int t.shape.[1])

/// The solution loss of a layer's output z against the batch.
let private solutionLoss (problem: Problem) (loss: SolutionLoss) (z: Tensor) (c: Tensor) (w: Tensor) : Tensor =
    match loss with
    | RegretLoss ->
        // The regret ⟨c, z − w*⟩ in minimisation terms: values (Maximise) enter negated.
        match problem.Sense with
        | Minimise -> Losses.regret Reduction.Mean z c w
        | Maximise -> Losses.regret Reduction.Mean z (c.neg ()) w
    | HammingLoss -> Losses.hamming Reduction.Mean z w
    | MeanAbsoluteLoss -> torch.nn.functional.l1_loss (z, w, torch.nn.Reduction.Mean)
    | MeanSquaredLoss -> torch.nn.functional.mse_loss (z, w, torch.nn.Reduction.Mean)
    | ObjectiveAbsoluteLoss ->
        let value = (z * c).sum(-1L)
        let best = (w * c).sum(-1L)
        torch.nn.functional.l1_loss (value, best, torch.nn.Reduction.Mean)

/// Trains a model of the settings' head on `train` with the method and returns its normalised test regret, the time
/// and the per-epoch training loss.
let train (settings: RunSettings) (train: DflDataset) (test: DflDataset) (method: Method) : Trained =
    let watch = Stopwatch.StartNew()
    let problem = train.Problem
    let features = train.Features.[0].Length
    torch.random.manual_seed (int64 settings.Seed) |> ignore
    use model = torch.nn.Linear(int64 features, int64 problem.Size)
    use optimizer = torch.optim.Adam(model.parameters (), settings.Lr)
    use generator = new torch.Generator(uint64 (settings.Seed * 7919 + 17))

    let layer =
        match method with
        | Layer(estimator, _) ->
            Some(new DiscreteLayer(problem, estimator, LayerOptions.Default.WithSeed(int64 (settings.Seed * 31 + 5))))
        | _ -> None

    let pool =
        match method with
        | Catalogue(loss, ratio) when DflLoss.needsPool loss ->
            Some(SolutionPool(problem, train.Solutions, ratio, settings.Seed * 13 + 1))
        | _ -> None

    let predict (features: Tensor) =
        let raw = model.forward features

        match settings.Head with
        | LinearHead -> raw
        | SoftplusHead offset ->
            use zero = torch.zeros_like raw
            let positive = torch.logaddexp (raw, zero)

            if offset = 0.0 then
                positive
            else
                use shifted = positive
                Safe.addScalar shifted offset

    use x = tensorOf train.Features
    use c = tensorOf train.Costs
    use w = tensorOf train.Solutions
    let steps = (train.Count + settings.Batch - 1) / settings.Batch
    let losses = Array.zeroCreate settings.Epochs

    for epoch in 0 .. settings.Epochs - 1 do
        let mutable sum = 0.0

        for batch in Training.shuffledBatches (Random(settings.Seed * 1000 + epoch)) train.Count settings.Batch do
            use _ = torch.NewDisposeScope()
            let idx = torch.tensor (batch |> Array.map int64)

            let xb, cb, wb =
                x.index_select (0L, idx), c.index_select (0L, idx), w.index_select (0L, idx)

            let predicted = predict xb

            let loss =
                match method with
                | TwoStage -> torch.nn.functional.mse_loss (predicted, cb, torch.nn.Reduction.Mean)
                | Layer(_, solution) -> solutionLoss problem solution (layer.Value.forward predicted) cb wb
                | Sampled(estimator, solution) ->
                    let z = Discrete.apply DiscreteOptions.Default problem estimator generator predicted

                    solutionLoss problem solution z cb wb
                | Catalogue(loss, _) ->
                    let sources =
                        match pool with
                        | Some p -> DflSources.OfPool p
                        | None -> DflSources.OfGenerator generator

                    DflLosses.compute problem loss sources (DflBatch.Create(predicted, cb, wb))

            optimizer.zero_grad ()
            Training.backward loss
            optimizer.step () |> ignore
            sum <- sum + float (loss.item<float32>())

        losses.[epoch] <- sum / float steps

    let regret =
        use _ = torch.no_grad ()
        use xt = tensorOf test.Features
        use predicted = predict xt
        Regret.normalised test (rowsOf predicted)

    layer |> Option.iter (fun l -> l.Dispose())

    { NormalizedRegret = regret
      Seconds = watch.Elapsed.TotalSeconds
      Losses = losses }

/// What a `dfl --protocol` run takes from the command line: the seeds, and optional overrides of the protocol's sizes
/// and methods (for quick runs; the report says which were used).
type ProtocolOptions =
    { Seeds: int list
      Epochs: int option
      TrainSize: int option
      TestSize: int option
      Methods: string list option
      OutDir: string }

/// The command line that regenerates a protocol's report with these options.
let protocolCommandLine (protocol: string) (o: ProtocolOptions) =
    sprintf
        "dotnet run --project examples/Imle.Examples -c Release -- dfl --protocol %s --seeds %s --out %s"
        protocol
        (String.Join(",", o.Seeds))
        o.OutDir
    + (o.Epochs |> Option.map (sprintf " --epochs %d") |> Option.defaultValue "")
    + (o.TrainSize |> Option.map (sprintf " --train-size %d") |> Option.defaultValue "")
    + (o.TestSize |> Option.map (sprintf " --test-size %d") |> Option.defaultValue "")
    + (o.Methods
       |> Option.map (fun m -> " --methods " + String.Join(" ", m))
       |> Option.defaultValue "")

/// The seeds of `--seeds`: a comma-separated list of integers and ranges a..b (both ends included), e.g. "0,1,2" or
/// "0..9". Raises ArgumentException naming `seeds` for an empty list, a non-integer, a negative seed, an empty range or
/// a seed given twice.
let parseSeeds (text: string) : int list =
    let fail why =
        invalidArg "seeds" (sprintf "--seeds %s; got '%s' (e.g. 0,1,2,3,4 or 0..9)." why text)

    if String.IsNullOrWhiteSpace text then
        fail "needs at least one seed"

    let number (s: string) =
        match Int32.TryParse(s.Trim(), Globalization.NumberStyles.None, Globalization.CultureInfo.InvariantCulture) with
        | true, v -> v
        | _ -> fail (sprintf "takes non-negative integers and ranges a..b, not '%s'" (s.Trim()))

    let seeds =
        text.Split(',')
        |> List.ofArray
        |> List.collect (fun part ->
            if String.IsNullOrWhiteSpace part then
                fail "has an empty entry"

            match part.Split([| ".." |], StringSplitOptions.None) with
            | [| one |] -> [ number one ]
            | [| a; b |] ->
                let lo, hi = number a, number b

                if hi < lo then
                    fail (sprintf "has the empty range %d..%d" lo hi)

                [ lo..hi ]
            | _ -> fail (sprintf "cannot read '%s'" (part.Trim())))

    match seeds |> List.countBy id |> List.tryFind (fun (_, n) -> n > 1) with
    | Some(s, _) -> fail (sprintf "names seed %d twice" s)
    | None -> seeds
