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

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | K _ -> "numbers of selected patches, each 1 to 49 for 28×28 images, e.g. --k 4 8 16 (default 4 8 16)"
            | Epochs _ -> "explainer training epochs per method and k (default 2; --full: 10)"
            | Classifier_Epochs _ -> "classifier training epochs (default 2; --full: 10)"
            | Train_Size _ -> "training images, the first N of the training set (default 6000; --full: all 60000)"
            | Test_Size _ -> "test images, the first N of the test set (default 2000; --full: all 10000)"
            | Batch _ -> "batch size, at most --train-size (default 100)"
            | Methods _ -> "selectors: imle l2x softsub ste identity random (default all)"
            | Full -> "a longer protocol: 10 classifier and 10 explainer epochs on all images"
            | Data _ ->
                sprintf "folder with the IDX files (default %s; MNIST's files work too)" Idx.DefaultFashionMnistDir
            | Lr _ -> "Adam learning rate (default 1e-3)"
            | Lambda _ -> "I-MLE λ (default 10; the paper chose from 10, 100, 1000)"
            | Noise_Tau _ ->
                "temperature τ of the SoG noise of I-MLE, STE and identity, as a multiple of k (default 1, i.e. τ = k; the paper chose k, 2k or 3k)"
            | Tune ->
                "choose I-MLE's λ from {10, 100, 1000} and τ from {k, 2k, 3k} per k on a validation split (the last 10% of the training images, which no selector then trains on), as the paper did"

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

// ----- models -------------------------------------------------------------------------------------------------------

/// The classifier: conv 3×3 (16) - max-pool 2 - conv 3×3 (32) - max-pool 2 - dense 128 - dense 10. Images [B, 1, H, W].
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

/// The explainer: conv 3×3 (16) - conv 3×3 (16) - max-pool 2 - conv 3×3 (32) - max-pool 2 - 1×1 conv to one score per
/// 4×4 patch. Images [B, 1, H, W] → scores [B, (H/4)·(W/4)].
type Explainer() as this =
    inherit torch.nn.Module<Tensor, Tensor>("L2xExplainer")
    let conv1 = torch.nn.Conv2d(1L, 16L, 3L, padding = 1L)
    let conv2 = torch.nn.Conv2d(16L, 16L, 3L, padding = 1L)
    let conv3 = torch.nn.Conv2d(16L, 32L, 3L, padding = 1L)
    let head = torch.nn.Conv2d(32L, 1L, 1L)
    do this.RegisterComponents()

    override _.forward(x: Tensor) : Tensor =
        let a1 = torch.nn.functional.relu (conv1.forward x)

        let a2 =
            torch.nn.functional.max_pool2d (torch.nn.functional.relu (conv2.forward a1), 2L)

        let a3 =
            torch.nn.functional.max_pool2d (torch.nn.functional.relu (conv3.forward a2), 2L)

        (head.forward a3).flatten(1L)

// ----- selectors ----------------------------------------------------------------------------------------------------

/// How a selector turns scores into a (hard or relaxed) k-hot training mask.
type Selector =
    /// A library estimator on the k-subset problem.
    | Layer of (int -> Estimator)
    /// L2X's relaxed subset sampler at temperature t.
    | L2xRelaxed of t: float
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
    }

/// The selectors, in report order; `lambda` and `tauFactor` (τ = tauFactor·k) parametrise I-MLE, STE and identity.
let methodSpecs (lambda: float) (tauFactor: float) : MethodSpec list =
    let sog k =
        SumOfGamma(float k, tauFactor * float k, 10)

    [ { Id = "imle"
        Name = "I-MLE SoG"
        Description =
          sprintf
              "I-MLE on the k-subset (top-k) problem, PID target λ = %g, gradient divided by λ, S = 1, SoG(κ = k, τ = %g·k, s = 10) noise"
              lambda
              tauFactor
        Selector = Layer(fun k -> Imle((ImleOptions.Create(float k, lambda)).WithNoise(sog k).WithSamples(1)))
        PaperRow = Some "I-MLE" }
      { Id = "l2x"
        Name = "L2X (t=0.1)"
        Description =
          "L2X's relaxed subset sampler: k independent Gumbel-softmax samples at t = 0.1, elementwise max (relaxed mask in training)"
        Selector = L2xRelaxed 0.1
        PaperRow = Some "L2X" }
      { Id = "softsub"
        Name = "SoftSub (t=0.5)"
        Description = "SoftSub (Xie and Ermon 2019), the library's RelaxedTopK at τ = 0.5 (relaxed mask in training)"
        Selector = Layer(fun _ -> RelaxedTopK 0.5)
        PaperRow = Some "SoftSub" }
      { Id = "ste"
        Name = "STE SoG"
        Description =
          sprintf "straight-through: hard top-k of θ + SoG(κ = k, τ = %g·k) noise forward, dL/dθ = dL/dz" tauFactor
        Selector = Layer(fun k -> StraightThrough(sog k))
        PaperRow = Some "STE" }
      { Id = "identity"
        Name = "Identity + projection"
        Description =
          sprintf
              "identity with projection (Sahoo et al. 2023): hard top-k of θ + SoG(κ = k, τ = %g·k) noise forward, dL/dθ = dL/dz − mean"
              tauFactor
        Selector = Layer(fun k -> Identity(MeanCentre, sog k))
        PaperRow = Some "Identity" }
      { Id = "random"
        Name = "random patches"
        Description = "k patches uniformly at random per test image (no explainer; a floor)"
        Selector = RandomPatches
        PaperRow = None } ]

/// The selector ids.
let methodIds = methodSpecs 10.0 1.0 |> List.map (fun s -> s.Id)

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
        /// Tune I-MLE's λ and τ on a validation split (see `Tune`).
        Tune: bool
        Seed: int
        OutDir: string
        Command: string
    }

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

/// The classifier's predicted classes on full images [N] (int64, on the device).
let private predictions (classifier: Classifier) (side: int) (images: Tensor) : Tensor =
    use _ = torch.no_grad ()
    let n = int images.shape.[0]

    let parts =
        [| for start in 0..1000 .. n - 1 ->
               use scope = torch.NewDisposeScope()

               let x =
                   images.narrow(0L, int64 start, int64 (min 1000 (n - start))).reshape(-1L, 1L, int64 side, int64 side)

               classifier.forward(x).argmax(1L).MoveToOuterDisposeScope() |]

    let all = torch.cat (parts, 0L)

    for p in parts do
        p.Dispose()

    all

/// Post-hoc accuracy (%): the classifier on the k patches the hard mask keeps against its full-image prediction.
/// `maskOf` gives the hard k-hot patch mask [B, g·g] of a batch of images [B, 1, H, W].
let private postHoc (classifier: Classifier) (side: int) (test: Tensor) (testPred: Tensor) (maskOf: Tensor -> Tensor) =
    use _ = torch.no_grad ()
    let grid = side / patch
    let n = int test.shape.[0]
    let mutable same = 0L

    for start in 0..1000 .. n - 1 do
        use _ = torch.NewDisposeScope()
        let len = int64 (min 1000 (n - start))
        let x = test.narrow(0L, int64 start, len).reshape(-1L, 1L, int64 side, int64 side)
        let mask = maskOf x
        let pred = classifier.forward(x * upsample grid mask).argmax(1L)
        same <- same + pred.eq(testPred.narrow (0L, int64 start, len)).sum().item<int64>()

    100.0 * float same / float n

/// Trains an explainer with one selector at one k and measures its post-hoc accuracy.
let private trainExplainer
    (cfg: Config)
    (side: int)
    (classifier: Classifier)
    (train: Tensor)
    (trainPred: Tensor)
    (test: Tensor)
    (testPred: Tensor)
    (spec: MethodSpec)
    (k: int)
    : L2xRow =
    let watch = Stopwatch.StartNew()
    let grid = side / patch
    let m = grid * grid
    let problem = Problem.kSubset m k
    torch.random.manual_seed (int64 cfg.Seed) |> ignore
    let generator = new torch.Generator(uint64 (cfg.Seed * 7919 + 17 + k), cfg.Device)
    let n = int train.shape.[0]
    let steps = (n + cfg.Batch - 1) / cfg.Batch

    let row accuracy loss epochs =
        { Method = spec.Name
          MethodId = spec.Id
          K = k
          PostHocAccuracy = accuracy
          FinalTrainLoss = loss
          Epochs = epochs
          TrainSize = n
          TestSize = int test.shape.[0]
          Seconds = watch.Elapsed.TotalSeconds
          PaperBeerMse = paperFor spec k
          Device = cfg.DeviceName
          Seed = cfg.Seed }

    match spec.Selector with
    | RandomPatches ->
        let acc =
            postHoc classifier side test testPred (fun x ->
                let u =
                    torch.rand ([| x.shape.[0]; int64 m |], device = cfg.Device, generator = generator)

                Discrete.map problem u)

        row acc nan 0
    | selector ->
        let explainer = new Explainer()
        explainer.``to`` (cfg.Device) |> ignore
        let optimizer = torch.optim.Adam(explainer.parameters (), cfg.Lr)
        let mutable lastLoss = nan

        progress (sprintf "k=%d %s" k spec.Name) (cfg.Epochs * steps) (fun tick ->
            for epoch in 1 .. cfg.Epochs do
                let mutable sum = 0.0

                for batch in Training.shuffledBatches (Random(cfg.Seed * 1000 + epoch)) n cfg.Batch do
                    use _ = torch.NewDisposeScope()
                    let index = torch.tensor (Array.map int64 batch, device = cfg.Device)
                    let x = train.index_select(0L, index).reshape(-1L, 1L, int64 side, int64 side)
                    let y = trainPred.index_select (0L, index)
                    let scores = explainer.forward x

                    let mask =
                        match selector with
                        | Layer estimatorOf -> Discrete.apply problem (estimatorOf k) generator scores
                        | L2xRelaxed t -> Relaxed.subsetSampler k t generator scores
                        | RandomPatches -> failwith "unreachable"

                    let logits = classifier.forward (x * upsample grid mask)
                    // Summed over the batch (Adam is indifferent to the scale; I-MLE's λ multiplies per-image dL/dz).
                    let loss =
                        torch.nn.functional.cross_entropy (logits, y, reduction = torch.nn.Reduction.Sum)

                    optimizer.zero_grad ()
                    Training.backward loss
                    optimizer.step () |> ignore
                    sum <- sum + float (loss.item<float32>())
                    tick ()

                lastLoss <- sum / float n)

        explainer.eval ()

        let acc =
            postHoc classifier side test testPred (fun x -> Discrete.map problem (explainer.forward x))

        explainer.Dispose()
        row acc lastLoss cfg.Epochs

// ----- the experiment -----------------------------------------------------------------------------------------------

/// The paper's search grid for I-MLE (its appendix): λ ∈ {10, 100, 1000}, τ ∈ {k, 2k, 3k}.
let tuneLambdas = [ 10.0; 100.0; 1000.0 ]
let tuneTauFactors = [ 1.0; 2.0; 3.0 ]

let private imleSpec (lambda: float) (tauFactor: float) =
    let spec = methodSpecs lambda tauFactor |> List.find (fun s -> s.Id = "imle")

    { spec with
        Name = sprintf "I-MLE SoG (λ = %g, τ = %g·k)" lambda tauFactor }

/// Runs the configured experiment: data, the classifier, every selector at every k, results.json, the plot, report.md.
/// None when the data is missing.
let runExperiment (cfg: Config) : L2xRow[] option =
    let all = methodSpecs cfg.Lambda cfg.TauFactor

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
        let trainPred = predictions classifier side train
        let testPred = predictions classifier side test
        // With --tune, the last 10% of the training images are the validation split and no selector trains on them.
        let nValid = if cfg.Tune then max 1 (nTrain / 10) else 0
        let nFit = nTrain - nValid

        let fit, fitPred =
            train.narrow (0L, 0L, int64 nFit), trainPred.narrow (0L, 0L, int64 nFit)

        let cfg =
            { cfg with
                TrainSize = nTrain
                TestSize = nTest }

        let tuning =
            if not cfg.Tune || not (specs |> List.exists (fun s -> s.Id = "imle")) then
                []
            else
                let valid, validPred =
                    train.narrow (0L, int64 nFit, int64 nValid), trainPred.narrow (0L, int64 nFit, int64 nValid)

                [ for k in cfg.Ks ->
                      let scores =
                          [ for lambda in tuneLambdas do
                                for tauFactor in tuneTauFactors ->
                                    let spec = imleSpec lambda tauFactor

                                    lambda,
                                    tauFactor,
                                    (trainExplainer cfg side classifier fit fitPred valid validPred spec k)
                                        .PostHocAccuracy ]

                      let lambda, tauFactor, _ = scores |> List.maxBy (fun (_, _, a) -> a)
                      k, (lambda, tauFactor, scores) ]

        let specFor (spec: MethodSpec) (k: int) =
            match List.tryFind (fun (k', _) -> k' = k) tuning with
            | Some(_, (lambda, tauFactor, _)) when spec.Id = "imle" -> imleSpec lambda tauFactor
            | _ -> spec

        let rows =
            [| for k in cfg.Ks do
                   for spec in specs do
                       trainExplainer cfg side classifier fit fitPred test testPred (specFor spec k) k |]

        writeJson (Path.Combine(dir, "results.json")) rows

        barPlot
            (Path.Combine(dir, "post-hoc-accuracy.png"))
            "Post-hoc accuracy on Fashion-MNIST patches (%)"
            "%"
            (rows |> Array.map (fun r -> sprintf "%s k=%d" r.MethodId r.K))
            (rows |> Array.map (fun r -> r.PostHocAccuracy))

        L2xReport.write
            dir
            { Command = cfg.Command
              DataDir = cfg.DataDir
              Tune = cfg.Tune
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
              Seed = cfg.Seed
              DeviceName = cfg.DeviceName
              Seconds = totalWatch.Elapsed.TotalSeconds
              ClassifierAccuracy = classifierAccuracy }
            (specs
             |> List.map (fun s ->
                 ({ Id = s.Id
                    Name = s.Name
                    Description = s.Description
                    PaperRow = s.PaperRow }
                 : SelectorNote)))
            tuning
            rows

        classifier.Dispose()
        Some rows

/// The command line that reproduces a configuration.
let private commandLine (cfg: Config) (full: bool) =
    sprintf
        "dotnet run --project examples/Imle.Examples -c Release -- l2x --seed %d --out %s%s --k %s --epochs %d --classifier-epochs %d --train-size %d --test-size %d --batch %d --lr %g --lambda %g --noise-tau %g --methods %s --data %s --device %s"
        cfg.Seed
        cfg.OutDir
        ((if full then " --full" else "") + (if cfg.Tune then " --tune" else ""))
        (String.Join(" ", cfg.Ks))
        cfg.Epochs
        cfg.ClassifierEpochs
        cfg.TrainSize
        cfg.TestSize
        cfg.Batch
        cfg.Lr
        cfg.Lambda
        cfg.TauFactor
        (String.Join(" ", cfg.MethodIds))
        cfg.DataDir
        cfg.DeviceName

// ----- the command's checks ------------------------------------------------------------------------------------------

/// Seconds per training image and epoch of the classifier or of one selector at one k (measured here: 190 to 470 µs on
/// 2 cores, 1.3 ms with --tune, which also evaluates each candidate).
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
        positiveInt "epochs" (args.GetResult(Epochs, defaultValue = (if full then 10 else 2)))

    let classifierEpochs =
        positiveInt "classifier-epochs" (args.GetResult(Classifier_Epochs, defaultValue = (if full then 10 else 2)))

    let trainSize =
        positiveInt "train-size" (args.GetResult(Train_Size, defaultValue = (if full then 60000 else 6000)))

    let testSize =
        positiveInt "test-size" (args.GetResult(Test_Size, defaultValue = (if full then 10000 else 2000)))

    let batch =
        match args.TryGetResult Batch with
        | Some b -> positiveInt "batch" b |> batchAtMost "train-size" trainSize
        | None -> min 100 trainSize

    let methods =
        knownIds "methods" methodIds (args.GetResult(Methods, defaultValue = methodIds))

    let lr = positiveFloat "lr" (args.GetResult(Lr, defaultValue = 1e-3))
    let lambda = positiveFloat "lambda" (args.GetResult(Lambda, defaultValue = 10.0))

    let tauFactor =
        positiveFloat "noise-tau" (args.GetResult(Noise_Tau, defaultValue = 1.0))

    let tune = args.Contains Tune

    let nTrain, nTest, pixels, dataOptions, dataImages =
        Cli.imageDataSizes dataDir sizes trainSize testSize

    let batchUsed = min batch nTrain

    let selectorRuns =
        float ks.Length * float methods.Length
        + (if tune && List.contains "imle" methods then
               9.0 * float ks.Length
           else
               0.0)

    let imageEpochs =
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
                        (if tune then " (tuned)" else "") ],
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
                  Seed = ctx.Seed
                  OutDir = ctx.OutDir
                  Command = "" }

            match
                runExperiment
                    { cfg with
                        Command = commandLine cfg full }
            with
            | Some _ -> 0
            | None -> 1 }
