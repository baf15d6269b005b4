/// `l2x`: learning to explain (Chen et al. 2018; paper Sec. 5.2 / Table 1) on Fashion-MNIST image patches, since
/// BeerAdvocate is not available here.
///
/// A 28×28 image is cut into 49 patches of 4×4 pixels. A small CNN classifier is first trained on full images and then
/// frozen. An explainer CNN maps the image to 49 patch scores; a k-subset of patches is drawn from them through a
/// discrete (or relaxed) layer, the mask is upsampled to pixels (other pixels zeroed), and the frozen classifier must
/// keep its full-image prediction on the masked image (cross-entropy against its predicted class). Metric: post-hoc
/// accuracy with the hard top-k of the explainer's scores at test time.
module Imle.Examples.Experiments.L2x

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
open Imle.Examples.Experiments.L2xReport

type private Tensor = torch.Tensor

/// Command-line arguments.
type Args =
    | K of int list
    | Epochs of int
    | Classifier_Epochs of int
    | Train_Size of int
    | Test_Size of int
    | Batch of int
    | Methods of string list
    | Full
    | Data of string
    | Lr of float
    | Lambda of float
    | Noise_Tau of float
    | Tune
    | Tune_All
    | Aggregate of string list
    | Scorer of string
    | Loss_Scale of string
    | Width of int

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | K _ -> "numbers of selected patches, each 1 to 49 for 28×28 images, e.g. --k 4 8 16 (default 4 8 16)"
            | Epochs _ -> "explainer (and approximator) training epochs per method and k (default 2; --full: 20)"
            | Classifier_Epochs _ -> "classifier training epochs (default 2; --full: 10)"
            | Train_Size _ -> "training images, the first N of the training set (default 6000; --full: all 60000)"
            | Test_Size _ -> "test images, the first N of the test set (default 2000; --full: all 10000)"
            | Batch _ -> "batch size, at most --train-size (default 40, the authors' notebook)"
            | Methods _ ->
                "selectors: imle l2x-notebook l2x softsub simple sfess reinmax ste identity random (default all)"
            | Full -> "a longer protocol: 10 classifier and 20 explainer epochs on all images"
            | Data _ ->
                sprintf "folder with the IDX files (default %s; MNIST's files work too)" Idx.DefaultFashionMnistDir
            | Lr _ -> "Adam learning rate (default 1e-3, Keras' default as in the authors' notebook)"
            | Lambda _ ->
                "I-MLE λ without --tune (default 1000, the authors' notebook; the paper chose from 10, 100, 1000)"
            | Noise_Tau _ ->
                "temperature τ of the SoG noise of I-MLE (without --tune), STE and identity, as a multiple of k (default 1, i.e. τ = k; the paper chose k, 2k or 3k)"
            | Tune ->
                "choose I-MLE's λ from {10, 100, 1000} and τ from {k, 2k, 3k} per k on a validation split (the last 10% of the training images, which no selector then trains on), as the paper did"
            | Tune_All ->
                "tune every selector with a setting on the same validation split and criterion (the paper's grids): I-MLE's λ and τ as --tune, STE's and identity's τ from {k, 2k, 3k}, the temperatures of both L2X samplers, SoftSub, SIMPLE, SFESS and ReinMax from {0.1, 0.5, 1, 2}"
            | Aggregate _ ->
                "no training: mean ± sd over earlier runs of one configuration that differ only in --seed (their folders), into --out"
            | Scorer _ ->
                "what scores a masked image in training: approximator (default: an approximator trained jointly with the explainer, the paper's and L2X's setting) or frozen-classifier (the frozen classifier itself)"
            | Loss_Scale _ ->
                "mean (default: loss averaged over the batch, I-MLE's gradient z − z' not divided by λ, as the authors' code) or sum-div-lambda (loss summed over the batch, I-MLE's gradient divided by λ)"
            | Width _ -> "channels of the explainer's layers (default 32; L2X's text selector has 100)"

// ----- patches and the relaxed L2X sampler --------------------------------------------------------------------------

/// Patch side in pixels.
let patch = 4

/// A patch mask [B, g·g] (hard or relaxed) as a pixel mask [B, 1, g·patch, g·patch] (each patch value repeated over
/// its patch·patch pixels; differentiable).
let upsample (grid: int) (mask: Tensor) : Tensor =
    let b = mask.shape.[0]
    let g = int64 grid
    let p = int64 patch
    mask.reshape(b, g, 1L, g, 1L).expand(b, g, p, g, p).reshape(b, 1L, g * p, g * p)

/// Images [B, 1, g·patch, g·patch] as patch vectors [B, patch·patch, g, g]: each patch's pixels as the channels at its
/// grid position (the patch's frozen "embedding", as the explainer's input).
let patchChannels (grid: int) (x: Tensor) : Tensor =
    let b = x.shape.[0]
    let g = int64 grid
    let p = int64 patch

    x.reshape(b, g, p, g, p).permute(0L, 2L, 4L, 1L, 3L).reshape(b, p * p, g, g)

// ----- models -------------------------------------------------------------------------------------------------------

/// The classifier (the black box being explained): conv 3×3 (16) - max-pool 2 - conv 3×3 (32) - max-pool 2 - dense 128 -
/// dense 10. Images [B, 1, H, W].
type Classifier(side: int) as this =
    inherit torch.nn.Module<Tensor, Tensor>("L2xClassifier")
    let conv1 = torch.nn.Conv2d(1L, 16L, 3L, padding = 1L)
    let conv2 = torch.nn.Conv2d(16L, 32L, 3L, padding = 1L)
    let fc1 = torch.nn.Linear(32L * int64 (side / 4) * int64 (side / 4), 128L)
    let fc2 = torch.nn.Linear(128L, 10L)
    do this.RegisterComponents()

    override _.forward(x: Tensor) : Tensor =
        let a1 =
            torch.nn.functional.max_pool2d (torch.nn.functional.relu (conv1.forward x), 2L)

        let a2 =
            torch.nn.functional.max_pool2d (torch.nn.functional.relu (conv2.forward a1), 2L)

        fc2.forward (torch.nn.functional.relu (fc1.forward (a2.flatten (1L))))

/// The explainer, L2X's selector (tf-imle notebook `construct_gumbel_selector`) in 2-D on the patch grid: the patches'
/// pixels → conv 3×3 (w) → {global max-pool → dense w} ∥ {conv 3×3 (w) → conv 3×3 (w)} → concatenation → dropout 0.2 →
/// conv 1×1 (w) → conv 1×1 → one score per patch. Images [B, 1, H, W] → scores [B, (H/4)·(W/4)].
type Explainer(grid: int, width: int) as this =
    inherit torch.nn.Module<Tensor, Tensor>("L2xExplainer")
    let w = int64 width
    let conv1 = torch.nn.Conv2d(int64 (patch * patch), w, 3L, padding = 1L)
    let globalDense = torch.nn.Linear(w, w)
    let conv2 = torch.nn.Conv2d(w, w, 3L, padding = 1L)
    let conv3 = torch.nn.Conv2d(w, w, 3L, padding = 1L)
    let dropout = torch.nn.Dropout(0.2)
    let convLast = torch.nn.Conv2d(2L * w, w, 1L)
    let head = torch.nn.Conv2d(w, 1L, 1L)
    do this.RegisterComponents()

    override _.forward(x: Tensor) : Tensor =
        let first = torch.nn.functional.relu (conv1.forward (patchChannels grid x))

        let b = first.shape.[0]
        let g = int64 grid
        let pooled = first.flatten(2L).amax([| 2L |])
        let globalInfo = torch.nn.functional.relu (globalDense.forward pooled)

        let localInfo =
            torch.nn.functional.relu (conv3.forward (torch.nn.functional.relu (conv2.forward first)))

        let combined =
            torch.cat ([| globalInfo.reshape(b, w, 1L, 1L).expand(b, w, g, g); localInfo |], 1L)

        let last = torch.nn.functional.relu (convLast.forward (dropout.forward combined))

        (head.forward last).flatten(1L)

/// The approximator q(y | x_S) trained jointly with the explainer, the notebook's `Mean(Multiply([emb2, T]))` → dense →
/// output with each patch's embedding being the patch at its position (so the sum of embeddings × mask is the masked
/// image): input the masked image divided by k [B, 1, H, W] → dense `hidden` → ReLU → dense 10 (class logits).
type Approximator(pixels: int, hidden: int) as this =
    inherit torch.nn.Module<Tensor, Tensor>("L2xApproximator")
    let fc1 = torch.nn.Linear(int64 pixels, int64 hidden)
    let fc2 = torch.nn.Linear(int64 hidden, 10L)
    do this.RegisterComponents()

    override _.forward(x: Tensor) : Tensor =
        fc2.forward (torch.nn.functional.relu (fc1.forward (x.flatten (1L))))

/// The approximator's hidden units (the notebook's `hidden_dims`).
let approximatorHidden = 250

// ----- selectors ----------------------------------------------------------------------------------------------------

/// How a selector turns scores into a (hard or relaxed) k-hot training mask.
type Selector =
    /// A library estimator on the k-subset problem.
    | Layer of (int -> Estimator)
    /// L2X's relaxed subset sampler at temperature t: k concrete samples, elementwise maximum (Chen et al. 2018).
    | L2xRelaxed of t: float
    /// L2X's sampler with ReinMax in place of the concrete samples: k exact one-hot draws from softmax(scores) with
    /// ReinMax's backward pass at temperature τ (the library's `ReinMax` on the categorical problem), elementwise
    /// maximum (a hard mask of at most k patches).
    | ReinMaxDraws of tau: float
    /// The tf-imle notebook's L2X baseline at temperature t: one concrete sample per row (sums to 1).
    | L2xNotebook of t: float
    /// k patches uniformly at random, no training (a floor).
    | RandomPatches

/// A selector and its description.
type MethodSpec =
    {
        Id: string
        Name: string
        Description: string
        Selector: Selector
        /// The paper's Table 1 row for this method (BeerAdvocate aroma; test MSE × 100 at k = 5 / 10 / 15), if any.
        PaperRow: string option
        /// I-MLE's λ (NaN for the others).
        Lambda: float
        /// The SoG τ factor (NaN for selectors without SoG noise).
        TauFactor: float
    }

/// What scores a masked image in training.
type ScorerMode =
    /// An approximator trained jointly with the explainer (the paper's and L2X's setting).
    | JointApproximator
    /// The frozen classifier itself.
    | FrozenClassifier

/// How the loss is reduced over a batch and I-MLE's gradient scaled.
type LossScale =
    /// Mean over the batch; I-MLE's gradient z − z' (the authors' notebook).
    | MeanUnscaled
    /// Sum over the batch; I-MLE's gradient (z − z') / λ.
    | SumDivLambda

/// Which selectors the validation search covers.
type TuneScope =
    /// No search: the command line's λ and τ, Table 1's temperatures.
    | NoTuning
    /// I-MLE's λ and τ only (`--tune`, the paper's Sec. 6 as our earlier runs read it).
    | ImleOnly
    /// Every selector with a setting, on the paper's grids (`--tune-all`): I-MLE's λ × τ, STE's and identity's τ, the
    /// temperatures of both L2X samplers and SoftSub; the same validation split and criterion for all.
    | EverySelector

/// The settings a selector is run (or tuned) with.
type SelectorSettings =
    {
        /// I-MLE's λ.
        Lambda: float
        /// The SoG τ of I-MLE, STE and identity as a multiple of k.
        TauFactor: float
        /// The temperature of both L2X samplers (Table 1: t = 0.1).
        L2xTemperature: float
        /// SoftSub's temperature (Table 1: t = 0.5).
        SoftSubTemperature: float
        /// The temperature τ of the exact k-subset distribution of SIMPLE and SFESS and of ReinMax's backward pass (not
        /// in the paper; default 1).
        ExactTemperature: float
    }

/// The selectors, in report order; `lambda` and `tauFactor` (τ = tauFactor·k) parametrise I-MLE, STE and identity,
/// the temperatures the relaxations; `scale` says whether I-MLE's gradient is divided by λ.
let selectorSpecs (settings: SelectorSettings) (scale: LossScale) : MethodSpec list =
    let lambda = settings.Lambda
    let tauFactor = settings.TauFactor
    let l2xT = settings.L2xTemperature
    let softSubT = settings.SoftSubTemperature
    let exactT = settings.ExactTemperature

    let sog k =
        SumOfGamma(float k, tauFactor * float k, 10)

    let scaling, scalingText =
        match scale with
        | MeanUnscaled -> Unscaled, "gradient z − z' (not divided by λ)"
        | SumDivLambda -> DivideByLambda, "gradient (z − z')/λ"

    let spec id name description selector paperRow lambda tau =
        { Id = id
          Name = name
          Description = description
          Selector = selector
          PaperRow = paperRow
          Lambda = lambda
          TauFactor = tau }

    [ spec
          "imle"
          "I-MLE SoG"
          (sprintf
              "I-MLE on the k-subset (top-k) problem, PID target θ' = θ − λ·dL/dz with λ = %g, %s, S = 1, SoG(κ = k, τ = %g·k, s = 10) noise, the same ε in z and z'"
              lambda
              scalingText
              tauFactor)
          (Layer(fun k ->
              Imle((ImleOptions.Create(float k, lambda)).WithNoise(sog k).WithSamples(1).WithScaling(scaling))))
          (Some "I-MLE")
          lambda
          tauFactor
      spec
          "l2x-notebook"
          (sprintf "L2X as the tf-imle notebook (t=%g)" l2xT)
          (sprintf
              "the notebook's `Sample_Concrete`: ONE concrete (Gumbel-softmax) sample over the patches per image at t = %g, a relaxed mask summing to 1 in training; hard top-k of the scores at test time"
              l2xT)
          (L2xNotebook l2xT)
          (Some "L2X")
          nan
          nan
      spec
          "l2x"
          (sprintf "L2X (k samples, t=%g)" l2xT)
          (sprintf
              "L2X's relaxed subset sampler (Chen et al. 2018, `imdb-word/explain.py`): k independent concrete samples at t = %g, elementwise max (relaxed mask in training); hard top-k at test time"
              l2xT)
          (L2xRelaxed l2xT)
          (Some "L2X")
          nan
          nan
      spec
          "softsub"
          (sprintf "SoftSub (t=%g)" softSubT)
          (sprintf
              "SoftSub (Xie and Ermon 2019; the notebook's `SampleSubset`), the library's RelaxedTopK at t = %g (relaxed mask in training); hard top-k at test time"
              softSubT)
          (Layer(fun _ -> RelaxedTopK softSubT))
          (Some "SoftSub")
          nan
          nan
      spec
          "simple"
          (sprintf "SIMPLE (τ=%g)" exactT)
          (sprintf
              "SIMPLE (Ahmed et al. 2023): an exact draw from the k-subset distribution p(z) ∝ exp(⟨z, θ⟩/τ) at τ = %g forward (a hard mask), backward through the exact marginals' Jacobian; hard top-k at test time"
              exactT)
          (Layer(fun _ -> Simple exactT))
          None
          nan
          nan
      spec
          "sfess"
          (sprintf "SFESS (τ=%g, S=2)" exactT)
          (sprintf
              "SFESS (Wijk et al. 2025): S = 2 exact draws from the k-subset distribution at τ = %g, their mean as the training mask, backward the score function with the exact score and a leave-one-out baseline; hard top-k at test time"
              exactT)
          (Layer(fun _ -> Sfess(exactT, 2)))
          None
          nan
          nan
      spec
          "reinmax"
          (sprintf "ReinMax (k draws, τ=%g)" exactT)
          (sprintf
              "ReinMax (Liu et al. 2023) in L2X's sampler: k exact one-hot draws from softmax of the scores, elementwise max (a hard mask of at most k patches), ReinMax's backward pass at τ = %g; hard top-k at test time"
              exactT)
          (ReinMaxDraws exactT)
          None
          nan
          nan
      spec
          "ste"
          "STE SoG"
          (sprintf "straight-through: hard top-k of θ + SoG(κ = k, τ = %g·k) noise forward, dL/dθ = dL/dz" tauFactor)
          (Layer(fun k -> StraightThrough(sog k)))
          (Some "STE")
          nan
          tauFactor
      spec
          "identity"
          "Identity + projection"
          (sprintf
              "identity with projection (Sahoo et al. 2023): hard top-k of θ + SoG(κ = k, τ = %g·k) noise forward, dL/dθ = dL/dz − mean"
              tauFactor)
          (Layer(fun k -> Identity(MeanCentre, sog k)))
          (Some "Identity")
          nan
          tauFactor
      spec
          "random"
          "random patches"
          "k patches uniformly at random per test image (no explainer; a floor)"
          RandomPatches
          None
          nan
          nan ]

/// The settings of Table 1 where the paper states them, λ and τ from the command line.
let defaultSettings (lambda: float) (tauFactor: float) : SelectorSettings =
    { Lambda = lambda
      TauFactor = tauFactor
      L2xTemperature = 0.1
      SoftSubTemperature = 0.5
      ExactTemperature = 1.0 }

/// The selectors with Table 1's temperatures.
let methodSpecs (lambda: float) (tauFactor: float) (scale: LossScale) : MethodSpec list =
    selectorSpecs (defaultSettings lambda tauFactor) scale

/// The selector ids.
let methodIds = methodSpecs 10.0 1.0 MeanUnscaled |> List.map (fun s -> s.Id)

/// The paper's number for the row closest in k (our k = 4 / 8 / 16 against its 5 / 10 / 15), or "–".
let private paperFor (spec: MethodSpec) (k: int) =
    match
        spec.PaperRow
        |> Option.bind (fun r -> paperBeer |> List.tryFind (fun (n, _) -> n = r))
    with
    | Some(_, values) ->
        let idx =
            if k <= 6 then 0
            elif k <= 12 then 1
            else 2

        if Double.IsNaN values.[idx] then
            "–"
        else
            sprintf "%.2f (k=%d)" values.[idx] [| 5; 10; 15 |].[idx]
    | None -> "–"

// ----- training -----------------------------------------------------------------------------------------------------

/// What a run needs.
type Config =
    {
        Ks: int list
        Epochs: int
        ClassifierEpochs: int
        TrainSize: int
        TestSize: int
        Batch: int
        MethodIds: string list
        DataDir: string
        Device: torch.Device
        DeviceName: string
        Lr: float
        Lambda: float
        TauFactor: float
        /// Which selectors are tuned on a validation split (see `Tune` and `Tune_All`).
        Tune: TuneScope
        Scorer: ScorerMode
        LossScale: LossScale
        /// The explainer's channels.
        Width: int
        Seed: int
        OutDir: string
        Command: string
    }

/// Images with the frozen classifier's full-image outputs: images [N, H·W], class probabilities [N, 10], classes [N].
type private Labelled =
    { Images: Tensor
      Probs: Tensor
      Classes: Tensor }

    member d.Count = int d.Images.shape.[0]

    /// Rows start .. start + len − 1.
    member d.Narrow(start: int, len: int) =
        { Images = d.Images.narrow (0L, int64 start, int64 len)
          Probs = d.Probs.narrow (0L, int64 start, int64 len)
          Classes = d.Classes.narrow (0L, int64 start, int64 len) }

/// Trains the classifier on full images; returns it (frozen, eval mode) and its test accuracy (%).
let private trainClassifier
    (cfg: Config)
    (side: int)
    (train: Tensor)
    (trainLabels: Tensor)
    (test: Tensor)
    (testLabels: Tensor)
    =
    torch.random.manual_seed (int64 cfg.Seed) |> ignore
    let model = new Classifier(side)
    model.``to`` (cfg.Device) |> ignore
    let optimizer = torch.optim.Adam(model.parameters (), cfg.Lr)
    let n = int train.shape.[0]
    let steps = (n + cfg.Batch - 1) / cfg.Batch

    progress "classifier" (cfg.ClassifierEpochs * steps) (fun tick ->
        for epoch in 1 .. cfg.ClassifierEpochs do
            for batch in Training.shuffledBatches (Random(cfg.Seed * 1000 + epoch)) n cfg.Batch do
                use _ = torch.NewDisposeScope()
                let index = torch.tensor (Array.map int64 batch, device = cfg.Device)
                let x = train.index_select(0L, index).reshape(-1L, 1L, int64 side, int64 side)
                let y = trainLabels.index_select (0L, index)
                let loss = torch.nn.functional.cross_entropy (model.forward x, y)
                optimizer.zero_grad ()
                Training.backward loss
                optimizer.step () |> ignore
                tick ())

    model.eval ()

    for p in model.parameters () do
        p.requires_grad <- false

    let correct =
        use _ = torch.no_grad ()
        let mutable c = 0L
        let n = int test.shape.[0]

        for start in 0..1000 .. n - 1 do
            use _ = torch.NewDisposeScope()
            let len = int64 (min 1000 (n - start))
            let x = test.narrow(0L, int64 start, len).reshape(-1L, 1L, int64 side, int64 side)
            let pred = model.forward(x).argmax(1L)
            c <- c + pred.eq(testLabels.narrow (0L, int64 start, len)).sum().item<int64>()

        c

    model, 100.0 * float correct / float test.shape.[0]

/// The classifier's full-image class probabilities and classes of `images`.
let private labelled (classifier: Classifier) (side: int) (images: Tensor) : Labelled =
    use _ = torch.no_grad ()
    let n = int images.shape.[0]

    let parts =
        [| for start in 0..1000 .. n - 1 ->
               use scope = torch.NewDisposeScope()

               let x =
                   images.narrow(0L, int64 start, int64 (min 1000 (n - start))).reshape(-1L, 1L, int64 side, int64 side)

               torch.softmax(classifier.forward x, 1).MoveToOuterDisposeScope() |]

    let probs = torch.cat (parts, 0L)

    for p in parts do
        p.Dispose()

    { Images = images
      Probs = probs
      Classes = probs.argmax (1L) }

/// Cross-entropy of class logits [B, 10] against class probabilities [B, 10], per image [B].
let private softCrossEntropy (logits: Tensor) (probs: Tensor) : Tensor =
    let logp = torch.nn.functional.log_softmax (logits, 1L)
    (probs * logp).sum(1L).neg()

/// Test numbers of hard masks.
type private Evaluation =
    { PostHoc: float
      ApproxLoss: float
      ApproxAccuracy: float }

/// Post-hoc accuracy (%): the classifier on the k patches the hard mask keeps against its full-image class; with an
/// approximator also its mean loss and accuracy (%) on the same masked images (input divided by k, as in training).
/// `maskOf` gives the hard k-hot patch mask [B, g·g] of a batch of images [B, 1, H, W].
let private evaluate
    (classifier: Classifier)
    (approximator: Approximator option)
    (side: int)
    (k: int)
    (data: Labelled)
    (maskOf: Tensor -> Tensor)
    : Evaluation =
    use _ = torch.no_grad ()
    let grid = side / patch
    let n = data.Count
    let mutable same = 0L
    let mutable approxSame = 0L
    let mutable approxLoss = 0.0

    for start in 0..1000 .. n - 1 do
        use _ = torch.NewDisposeScope()
        let len = min 1000 (n - start)
        let chunk = data.Narrow(start, len)
        let x = chunk.Images.reshape (-1L, 1L, int64 side, int64 side)
        let masked = x * upsample grid (maskOf x)
        let pred = classifier.forward(masked).argmax(1L)
        same <- same + pred.eq(chunk.Classes).sum().item<int64>()

        match approximator with
        | Some a ->
            let logits = a.forward (Safe.divScalar masked (float k))
            approxSame <- approxSame + logits.argmax(1L).eq(chunk.Classes).sum().item<int64>()
            approxLoss <- approxLoss + float ((softCrossEntropy logits chunk.Probs).sum().item<float32>())
        | None -> ()

    let percent (c: int64) = 100.0 * float c / float n

    match approximator with
    | Some _ ->
        { PostHoc = percent same
          ApproxLoss = approxLoss / float n
          ApproxAccuracy = percent approxSame }
    | None ->
        { PostHoc = percent same
          ApproxLoss = nan
          ApproxAccuracy = nan }

/// Trains an explainer (and, with the joint scorer, an approximator) with one selector at one k on `fit` and measures
/// it on `test` (the test set, or the validation split while tuning).
let private trainExplainer
    (cfg: Config)
    (side: int)
    (classifier: Classifier)
    (fit: Labelled)
    (test: Labelled)
    (spec: MethodSpec)
    (k: int)
    : L2xRow =
    let watch = Stopwatch.StartNew()
    let grid = side / patch
    let m = grid * grid
    let problem = Problem.kSubset m k
    torch.random.manual_seed (int64 cfg.Seed) |> ignore
    let generator = new torch.Generator(uint64 (cfg.Seed * 7919 + 17 + k), cfg.Device)
    let n = fit.Count
    let steps = (n + cfg.Batch - 1) / cfg.Batch

    let row (e: Evaluation) loss epochs =
        { Method = spec.Name
          MethodId = spec.Id
          K = k
          PostHocAccuracy = e.PostHoc
          ApproximatorLoss = e.ApproxLoss
          ApproximatorAccuracy = e.ApproxAccuracy
          FinalTrainLoss = loss
          Lambda = spec.Lambda
          TauFactor = spec.TauFactor
          Epochs = epochs
          TrainSize = n
          TestSize = test.Count
          Seconds = watch.Elapsed.TotalSeconds
          PaperBeerMse = paperFor spec k
          Device = cfg.DeviceName
          Seed = cfg.Seed }

    match spec.Selector with
    | RandomPatches ->
        let e =
            evaluate classifier None side k test (fun x ->
                let u =
                    torch.rand ([| x.shape.[0]; int64 m |], device = cfg.Device, generator = generator)

                Discrete.map problem u)

        row e nan 0
    | selector ->
        let explainer = new Explainer(grid, cfg.Width)
        explainer.``to`` (cfg.Device) |> ignore

        let approximator =
            match cfg.Scorer with
            | JointApproximator ->
                let a = new Approximator(side * side, approximatorHidden)
                a.``to`` (cfg.Device) |> ignore
                Some a
            | FrozenClassifier -> None

        let parameters =
            Seq.append
                (explainer.parameters ())
                (approximator
                 |> Option.map (fun a -> a.parameters ())
                 |> Option.defaultValue Seq.empty)

        let optimizer = torch.optim.Adam(parameters, cfg.Lr)
        let mutable lastLoss = nan
        explainer.train ()
        approximator |> Option.iter (fun a -> a.train ())

        progress (sprintf "k=%d %s" k spec.Name) (cfg.Epochs * steps) (fun tick ->
            for epoch in 1 .. cfg.Epochs do
                let mutable sum = 0.0

                for batch in Training.shuffledBatches (Random(cfg.Seed * 1000 + epoch)) n cfg.Batch do
                    use _ = torch.NewDisposeScope()
                    let index = torch.tensor (Array.map int64 batch, device = cfg.Device)
                    let x = fit.Images.index_select(0L, index).reshape(-1L, 1L, int64 side, int64 side)
                    let scores = explainer.forward x

                    let mask =
                        match selector with
                        | Layer estimatorOf ->
                            Discrete.apply DiscreteOptions.Default problem (estimatorOf k) generator scores
                        | L2xRelaxed t -> Relaxed.subsetSampler k t generator scores
                        | L2xNotebook t -> Relaxed.gumbelSoftmax t generator scores
                        | ReinMaxDraws tau ->
                            let b, m = scores.shape.[0], scores.shape.[1]
                            use rows = scores.unsqueeze(1L).expand(b, int64 k, m)

                            use draws =
                                Discrete.apply
                                    DiscreteOptions.Default
                                    (Problem.categorical (int m))
                                    (ReinMax tau)
                                    generator
                                    rows

                            draws.amax ([| 1L |])
                        | RandomPatches -> failwith "unreachable"

                    let masked = x * upsample grid mask

                    let perImage =
                        match approximator with
                        | Some a ->
                            // The notebook's Mean layer: the sum of embeddings × mask divided by k.
                            let logits = a.forward (Safe.divScalar masked (float k))
                            softCrossEntropy logits (fit.Probs.index_select (0L, index))
                        | None ->
                            torch.nn.functional.cross_entropy (
                                classifier.forward masked,
                                fit.Classes.index_select (0L, index),
                                reduction = torch.nn.Reduction.None
                            )

                    let loss =
                        match cfg.LossScale with
                        | MeanUnscaled -> perImage.mean ()
                        | SumDivLambda -> perImage.sum ()

                    optimizer.zero_grad ()
                    Training.backward loss
                    optimizer.step () |> ignore
                    sum <- sum + float (perImage.sum().item<float32>())
                    tick ()

                lastLoss <- sum / float n)

        explainer.eval ()
        approximator |> Option.iter (fun a -> a.eval ())

        let e =
            evaluate classifier approximator side k test (fun x -> Discrete.map problem (explainer.forward x))

        explainer.Dispose()
        approximator |> Option.iter (fun a -> a.Dispose())
        row e lastLoss cfg.Epochs

// ----- the experiment -----------------------------------------------------------------------------------------------

/// The paper's search grid for I-MLE (Sec. 6): λ ∈ {10, 100, 1000}, τ ∈ {k, 2k, 3k}.
let tuneLambdas = [ 10.0; 100.0; 1000.0 ]
let tuneTauFactors = [ 1.0; 2.0; 3.0 ]

/// The paper's search grid for the relaxations' temperatures (Sec. 6): {0.1, 0.5, 1, 2}.
let tuneTemperatures = [ 0.1; 0.5; 1.0; 2.0 ]

/// A tuned selector's name and description in the report (its setting per k is in the validation section).
let tunedNote (id: string) : string * string =
    match id with
    | "imle" ->
        "I-MLE SoG (λ, τ tuned)",
        "I-MLE on the k-subset (top-k) problem, PID target, S = 1, SoG(κ = k, τ, s = 10) noise; λ ∈ {10, 100, 1000} and τ ∈ {k, 2k, 3k} chosen per k on the validation split (below)"
    | "ste" ->
        "STE SoG (τ tuned)",
        "straight-through: hard top-k of θ + SoG(κ = k, τ) noise forward, dL/dθ = dL/dz; τ ∈ {k, 2k, 3k} chosen per k on the validation split (below)"
    | "identity" ->
        "Identity + projection (τ tuned)",
        "identity with projection (Sahoo et al. 2023): hard top-k of θ + SoG(κ = k, τ) noise forward, dL/dθ = dL/dz − mean; τ ∈ {k, 2k, 3k} chosen per k on the validation split (below)"
    | "l2x-notebook" ->
        "L2X as the tf-imle notebook (t tuned)",
        "the notebook's `Sample_Concrete`: ONE concrete sample over the patches per image at temperature t, a relaxed mask summing to 1 in training; hard top-k at test time; t ∈ {0.1, 0.5, 1, 2} chosen per k on the validation split (below)"
    | "l2x" ->
        "L2X (k samples, t tuned)",
        "L2X's relaxed subset sampler (Chen et al. 2018): k independent concrete samples at temperature t, elementwise max; hard top-k at test time; t ∈ {0.1, 0.5, 1, 2} chosen per k on the validation split (below)"
    | "simple" ->
        "SIMPLE (τ tuned)",
        "SIMPLE (Ahmed et al. 2023): an exact k-subset draw at temperature τ forward, backward through the exact marginals' Jacobian; hard top-k at test time; τ ∈ {0.1, 0.5, 1, 2} chosen per k on the validation split (below)"
    | "sfess" ->
        "SFESS (S = 2, τ tuned)",
        "SFESS (Wijk et al. 2025): the mean of S = 2 exact k-subset draws at temperature τ in training, the score function with the exact score and a leave-one-out baseline backward; hard top-k at test time; τ ∈ {0.1, 0.5, 1, 2} chosen per k on the validation split (below)"
    | "reinmax" ->
        "ReinMax (k draws, τ tuned)",
        "ReinMax (Liu et al. 2023) in L2X's sampler: k exact one-hot draws, elementwise max, ReinMax's backward pass at temperature τ; hard top-k at test time; τ ∈ {0.1, 0.5, 1, 2} chosen per k on the validation split (below)"
    | "softsub" ->
        "SoftSub (t tuned)",
        "SoftSub (Xie and Ermon 2019), the library's RelaxedTopK at temperature t; hard top-k at test time; t ∈ {0.1, 0.5, 1, 2} chosen per k on the validation split (below)"
    | other -> other, other

/// The candidates a selector is searched over under `scope`: each a (λ, τ factor, temperature) with its spec (a
/// single candidate, the given spec, where nothing is searched).
let candidates (scope: TuneScope) (baseSettings: SelectorSettings) (scale: LossScale) (spec: MethodSpec) =
    let specWith (settings: SelectorSettings) =
        selectorSpecs settings scale |> List.find (fun s -> s.Id = spec.Id)

    let temperatures (set: float -> SelectorSettings) (temperature: SelectorSettings -> float) =
        [ for t in tuneTemperatures -> set t |> fun st -> (st, specWith st, temperature st) ]

    match scope, spec.Id with
    | NoTuning, _
    | ImleOnly, ("l2x-notebook" | "l2x" | "softsub" | "simple" | "sfess" | "reinmax" | "ste" | "identity" | "random")
    | EverySelector, "random" -> []
    | (ImleOnly | EverySelector), "imle" ->
        [ for lambda in tuneLambdas do
              for tauFactor in tuneTauFactors ->
                  let st =
                      { baseSettings with
                          Lambda = lambda
                          TauFactor = tauFactor }

                  st,
                  { specWith st with
                      Name = sprintf "I-MLE SoG (λ = %g, τ = %g·k)" lambda tauFactor },
                  nan ]
    | EverySelector, ("ste" | "identity") ->
        [ for tauFactor in tuneTauFactors ->
              let st =
                  { baseSettings with
                      TauFactor = tauFactor }

              st, specWith st, nan ]
    | EverySelector, ("l2x-notebook" | "l2x") ->
        temperatures (fun t -> { baseSettings with L2xTemperature = t }) (fun st -> st.L2xTemperature)
    | EverySelector, "softsub" ->
        temperatures
            (fun t ->
                { baseSettings with
                    SoftSubTemperature = t })
            (fun st -> st.SoftSubTemperature)
    | EverySelector, ("simple" | "sfess" | "reinmax") ->
        temperatures
            (fun t ->
                { baseSettings with
                    ExactTemperature = t })
            (fun st -> st.ExactTemperature)
    | _, other -> invalidArg "methods" (sprintf "No validation grid is defined for '%s'." other)

/// Runs the configured experiment: data, the classifier, every selector at every k, results.json, the plots, report.md.
/// None when the data is missing.
let runExperiment (cfg: Config) : L2xRow[] option =
    let all = methodSpecs cfg.Lambda cfg.TauFactor cfg.LossScale

    let specs =
        cfg.MethodIds
        |> List.map (fun id ->
            match all |> List.tryFind (fun s -> s.Id = id) with
            | Some s -> s
            | None ->
                invalidArg "methods" (sprintf "Unknown method '%s'; known: %s." id (String.Join(", ", methodIds))))

    match Idx.tryLoad cfg.DataDir with
    | None -> None
    | Some data ->
        if data.Rows <> data.Cols || data.Rows % patch <> 0 then
            Cli.usageError
                "--data %s: images must be square with a side divisible by %d; got %d×%d."
                cfg.DataDir
                patch
                data.Rows
                data.Cols

        let side = data.Rows
        let grid = side / patch

        cfg.Ks
        |> List.iter (fun k ->
            if k < 1 || k > grid * grid then
                Cli.usageError "--k values must be in 1..%d (the patches of an image); got %d." (grid * grid) k)

        let dir = ensureDir cfg.OutDir
        let totalWatch = Stopwatch.StartNew()
        let nTrain = min cfg.TrainSize (int data.TrainImages.shape.[0])
        let nTest = min cfg.TestSize (int data.TestImages.shape.[0])
        let train = data.TrainImages.narrow(0L, 0L, int64 nTrain).``to``(cfg.Device)
        let trainLabels = data.TrainLabels.narrow(0L, 0L, int64 nTrain).``to``(cfg.Device)
        let test = data.TestImages.narrow(0L, 0L, int64 nTest).``to``(cfg.Device)
        let testLabels = data.TestLabels.narrow(0L, 0L, int64 nTest).``to``(cfg.Device)

        printfn
            "Data: %d training and %d test images of %d×%d from %s; %d patches of %d×%d"
            nTrain
            nTest
            side
            side
            cfg.DataDir
            (grid * grid)
            patch
            patch

        let classifier, classifierAccuracy =
            trainClassifier cfg side train trainLabels test testLabels

        printfn "Classifier test accuracy: %.2f%%" classifierAccuracy
        let trainSet = labelled classifier side train
        let testSet = labelled classifier side test
        // With --tune or --tune-all, the last 10% of the training images are the validation split and no selector
        // trains on them.
        let nValid = if cfg.Tune = NoTuning then 0 else max 1 (nTrain / 10)
        let nFit = nTrain - nValid
        let fit = trainSet.Narrow(0, nFit)

        let cfg =
            { cfg with
                TrainSize = nTrain
                TestSize = nTest }

        let baseSettings = defaultSettings cfg.Lambda cfg.TauFactor

        let tuning =
            if nValid = 0 then
                []
            else
                let valid = trainSet.Narrow(nFit, nValid)

                [ for k in cfg.Ks do
                      for spec in specs do
                          match candidates cfg.Tune baseSettings cfg.LossScale spec with
                          | [] -> ()
                          | grid ->
                              let cells =
                                  [ for settings, candidate, temperature in grid ->
                                        let r = trainExplainer cfg side classifier fit valid candidate k

                                        { MethodId = spec.Id
                                          Lambda = settings.Lambda
                                          TauFactor = settings.TauFactor
                                          Temperature = temperature
                                          PostHocAccuracy = r.PostHocAccuracy
                                          ApproximatorLoss = r.ApproximatorLoss
                                          ApproximatorAccuracy = r.ApproximatorAccuracy }
                                        : TuneCell ]

                              let best, criterion =
                                  match cfg.Scorer with
                                  | JointApproximator ->
                                      cells |> List.minBy (fun c -> c.ApproximatorLoss),
                                      "lowest validation approximator loss, as the paper's validation MSE"
                                  | FrozenClassifier ->
                                      cells |> List.maxBy (fun c -> c.PostHocAccuracy),
                                      "highest validation post-hoc accuracy"

                              yield
                                  { MethodId = spec.Id
                                    K = k
                                    Lambda = best.Lambda
                                    TauFactor = best.TauFactor
                                    Temperature = best.Temperature
                                    Criterion = criterion
                                    Cells = cells } ]

        let specFor (spec: MethodSpec) (k: int) =
            match List.tryFind (fun (t: TuneResult) -> t.K = k && t.MethodId = spec.Id) tuning with
            | Some t ->
                let chosen =
                    candidates cfg.Tune baseSettings cfg.LossScale spec
                    |> List.find (fun (st, _, temperature) ->
                        st.Lambda = t.Lambda
                        && st.TauFactor = t.TauFactor
                        && (temperature = t.Temperature
                            || Double.IsNaN temperature && Double.IsNaN t.Temperature))
                    |> fun (_, candidate, _) -> candidate

                { chosen with
                    Name = fst (tunedNote spec.Id) }
            | None -> spec

        let rows =
            [| for k in cfg.Ks do
                   for spec in specs do
                       trainExplainer cfg side classifier fit testSet (specFor spec k) k |]

        writeJson (Path.Combine(dir, "results.json")) {| Rows = rows; Tuning = tuning |}

        barPlot
            (Path.Combine(dir, "post-hoc-accuracy.png"))
            "Post-hoc accuracy on Fashion-MNIST patches (%)"
            "%"
            (rows |> Array.map (fun r -> sprintf "%s k=%d" r.MethodId r.K))
            (rows |> Array.map (fun r -> r.PostHocAccuracy))

        if cfg.Scorer = JointApproximator then
            let trained =
                rows |> Array.filter (fun r -> not (Double.IsNaN r.ApproximatorAccuracy))

            barPlot
                (Path.Combine(dir, "approximator-accuracy.png"))
                "Approximator accuracy on Fashion-MNIST patches (%)"
                "%"
                (trained |> Array.map (fun r -> sprintf "%s k=%d" r.MethodId r.K))
                (trained |> Array.map (fun r -> r.ApproximatorAccuracy))

        L2xReport.write
            dir
            { Command = cfg.Command
              DataDir = cfg.DataDir
              Tune = cfg.Tune <> NoTuning
              TuneAll = (cfg.Tune = EverySelector)
              TrainImages = nTrain
              TestImages = nTest
              FitImages = nFit
              ValidationImages = nValid
              Grid = grid
              Patch = patch
              Ks = cfg.Ks
              ClassifierEpochs = cfg.ClassifierEpochs
              Epochs = cfg.Epochs
              Batch = cfg.Batch
              Lr = cfg.Lr
              Lambda = cfg.Lambda
              TauFactor = cfg.TauFactor
              JointApproximator = (cfg.Scorer = JointApproximator)
              MeanUnscaled = (cfg.LossScale = MeanUnscaled)
              Width = cfg.Width
              Hidden = approximatorHidden
              Seed = cfg.Seed
              DeviceName = cfg.DeviceName
              Seconds = totalWatch.Elapsed.TotalSeconds
              ClassifierAccuracy = classifierAccuracy }
            (specs
             |> List.map (fun s ->
                 let tuned = tuning |> List.exists (fun t -> t.MethodId = s.Id)
                 let name, description = if tuned then tunedNote s.Id else s.Name, s.Description

                 ({ Id = s.Id
                    Name = name
                    Description = description
                    PaperRow = s.PaperRow }
                 : SelectorNote)))
            tuning
            rows

        classifier.Dispose()
        Some rows

/// The command line that reproduces a configuration.
let private commandLine (cfg: Config) (full: bool) =
    sprintf
        "dotnet run --project examples/Imle.Examples -c Release -- l2x --seed %d --out %s%s --k %s --epochs %d --classifier-epochs %d --train-size %d --test-size %d --batch %d --lr %g --lambda %g --noise-tau %g --scorer %s --loss-scale %s --width %d --methods %s --data %s --device %s"
        cfg.Seed
        cfg.OutDir
        ((if full then " --full" else "")
         + (match cfg.Tune with
            | NoTuning -> ""
            | ImleOnly -> " --tune"
            | EverySelector -> " --tune-all"))
        (String.Join(" ", cfg.Ks))
        cfg.Epochs
        cfg.ClassifierEpochs
        cfg.TrainSize
        cfg.TestSize
        cfg.Batch
        cfg.Lr
        cfg.Lambda
        cfg.TauFactor
        (match cfg.Scorer with
         | JointApproximator -> "approximator"
         | FrozenClassifier -> "frozen-classifier")
        (match cfg.LossScale with
         | MeanUnscaled -> "mean"
         | SumDivLambda -> "sum-div-lambda")
        cfg.Width
        (String.Join(" ", cfg.MethodIds))
        cfg.DataDir
        cfg.DeviceName

// ----- the command's checks ------------------------------------------------------------------------------------------

/// Seconds per training image and epoch of the classifier or of one selector at one k, explainer and approximator
/// together at batch 40 (measured here with --threads 1 on the shared 2-core machine: the tuned run on 4000 images,
/// 5 epochs, k = 4 8 16, about 1.0 M image-epochs, took 271 s of CPU time and 559 s of wall time).
let private secondsPerImage = 400e-6

/// Memory per image of a training batch: the explainer's and the classifier's convolution activations and gradients
/// (16 and 32 channels at full resolution).
let private batchBytesPerImage = 1e6

/// Memory of an evaluation chunk (1,000 images, forward only).
let private evaluationBytes = 400e6

/// Checks the options and returns the command's plan. Memory: the data set (see Vae.plan) and one batch; time: the
/// classifier's epochs, every selector's epochs at every k, and with --tune the 9 (λ, τ) candidates per k.
let plan (ctx: RunContext) (args: ParseResults<Args>) : Cli.Plan =
    let full = args.Contains Full
    let deviceName = deviceName ctx.Device
    let dataDir = args.GetResult(Data, defaultValue = Idx.DefaultFashionMnistDir)
    let sizes = Idx.tryPeek dataDir
    // The patches of the data's images (side / 4 squared), 49 for 28×28 (Fashion-MNIST) when the files are not there.
    let patches =
        match sizes with
        | Some d when d.Rows = d.Cols && d.Rows % patch = 0 -> (d.Rows / patch) * (d.Rows / patch)
        | _ -> 49

    let ks =
        nonEmpty "k" (args.GetResult(K, defaultValue = [ 4; 8; 16 ]))
        |> List.map (fun k ->
            if k < 1 || k > patches then
                invalidArg "k" (sprintf "--k values must be in 1..%d (the patches of an image); got %d." patches k)
            else
                k)

    let epochs =
        positiveInt "epochs" (args.GetResult(Epochs, defaultValue = (if full then 20 else 2)))

    let classifierEpochs =
        positiveInt "classifier-epochs" (args.GetResult(Classifier_Epochs, defaultValue = (if full then 10 else 2)))

    let trainSize =
        positiveInt "train-size" (args.GetResult(Train_Size, defaultValue = (if full then 60000 else 6000)))

    let testSize =
        positiveInt "test-size" (args.GetResult(Test_Size, defaultValue = (if full then 10000 else 2000)))

    let batch =
        match args.TryGetResult Batch with
        | Some b -> positiveInt "batch" b |> batchAtMost "train-size" trainSize
        | None -> min 40 trainSize

    let methods =
        knownIds "methods" methodIds (args.GetResult(Methods, defaultValue = methodIds))

    let lr = positiveFloat "lr" (args.GetResult(Lr, defaultValue = 1e-3))
    let lambda = positiveFloat "lambda" (args.GetResult(Lambda, defaultValue = 1000.0))

    let tauFactor =
        positiveFloat "noise-tau" (args.GetResult(Noise_Tau, defaultValue = 1.0))

    let tune =
        if args.Contains Tune_All then EverySelector
        elif args.Contains Tune then ImleOnly
        else NoTuning

    let scorer =
        match args.GetResult(Scorer, defaultValue = "approximator").Trim().ToLowerInvariant() with
        | "approximator" -> JointApproximator
        | "frozen-classifier" -> FrozenClassifier
        | other -> invalidArg "scorer" (sprintf "--scorer must be approximator or frozen-classifier; got '%s'." other)

    let lossScale =
        match args.GetResult(Loss_Scale, defaultValue = "mean").Trim().ToLowerInvariant() with
        | "mean" -> MeanUnscaled
        | "sum-div-lambda" -> SumDivLambda
        | other -> invalidArg "loss-scale" (sprintf "--loss-scale must be mean or sum-div-lambda; got '%s'." other)

    let width = positiveInt "width" (args.GetResult(Width, defaultValue = 32))

    let nTrain, nTest, pixels, dataOptions, dataImages =
        Cli.imageDataSizes dataDir sizes trainSize testSize

    let batchUsed = min batch nTrain

    let selectorRuns =
        let searched =
            methods
            |> List.sumBy (fun id ->
                methodSpecs lambda tauFactor lossScale
                |> List.find (fun s -> s.Id = id)
                |> candidates tune (defaultSettings lambda tauFactor) lossScale
                |> List.length)

        float ks.Length * float (methods.Length + searched)

    // The runs to summarise are checked with the options, before any output.
    let aggregate = args.TryGetResult Aggregate
    aggregate |> Option.iter (L2xSeeds.summarise >> ignore)

    let imageEpochs =
        if aggregate.IsSome then
            0.0
        else
            float nTrain * (float classifierEpochs + selectorRuns * float epochs)
            + float nTest * (float classifierEpochs + selectorRuns) * 0.3

    { Folders = [ "--out", ctx.OutDir ]
      Needs =
        [ Cli.Memory(dataOptions, "the images", dataImages * pixels * 5.0)
          Cli.Memory(
              sprintf "--batch %d" batchUsed,
              "one batch's activations",
              float batchUsed * batchBytesPerImage + evaluationBytes
          )
          Cli.Time(
              Cli.describe
                  [ sprintf "--epochs %d" epochs
                    sprintf "--classifier-epochs %d" classifierEpochs
                    sprintf "--train-size %d" nTrain
                    sprintf "%d value%s of --k" ks.Length (if ks.Length = 1 then "" else "s")
                    sprintf
                        "%d method%s%s"
                        methods.Length
                        (if methods.Length = 1 then "" else "s")
                        (match tune with
                         | NoTuning -> ""
                         | ImleOnly -> " (I-MLE tuned)"
                         | EverySelector -> " (every selector tuned)") ],
              Cli.cpuSeconds (imageEpochs * secondsPerImage) / Cli.deviceSpeedup deviceName
          ) ]
      Run =
        fun () ->
            let cfg =
                { Ks = ks
                  Epochs = epochs
                  ClassifierEpochs = classifierEpochs
                  TrainSize = trainSize
                  TestSize = testSize
                  Batch = batch
                  MethodIds = methods
                  DataDir = dataDir
                  Device = torch.device deviceName
                  DeviceName = deviceName
                  Lr = lr
                  Lambda = lambda
                  TauFactor = tauFactor
                  Tune = tune
                  Scorer = scorer
                  LossScale = lossScale
                  Width = width
                  Seed = ctx.Seed
                  OutDir = ctx.OutDir
                  Command = "" }

            match aggregate with
            | Some dirs ->
                L2xSeeds.writeSummary ctx dirs |> ignore
                0
            | None ->
                match
                    runExperiment
                        { cfg with
                            Command = commandLine cfg full }
                with
                | Some _ -> 0
                | None -> 1 }
