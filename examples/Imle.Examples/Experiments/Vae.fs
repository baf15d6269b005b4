/// `vae`: the discrete k-subset variational auto-encoder of the paper's Fig. 4, on Fashion-MNIST (or MNIST).
///
/// 20 latent variables, each a 10-subset of 20 items: the encoder (784-512-256-20·20) gives the scores θ of each
/// variable, the discrete layer turns them into 10-hot states, the decoder (20·20-256-512-784) reconstructs the image.
/// Loss per image: binary cross-entropy summed over pixels + KL(marginals ‖ uniform). Every method is one way of
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

/// Command-line arguments.
type Args =
    | Epochs of int
    | Train_Size of int
    | Test_Size of int
    | Batch of int
    | Methods of string list
    | Full
    | Data of string
    | Lr of float

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | Epochs _ -> "training epochs per method (default 3; --full: 100)"
            | Train_Size _ -> "training images, the first N of the training set (default 10000; --full: all 60000)"
            | Test_Size _ -> "test images, the first N of the test set (default 2000; --full: all 10000)"
            | Batch _ -> "batch size, at most --train-size (default 100)"
            | Methods _ -> "methods to run: imle-sog imle-gumbel imle-gumbel1 ste gsm (default all)"
            | Full -> "the paper's protocol: 100 epochs on all training images, all test images"
            | Data _ ->
                sprintf "folder with the IDX files (default %s; MNIST's files work too)" Idx.DefaultFashionMnistDir
            | Lr _ -> "Adam learning rate (default 1e-3)"

// ----- methods ------------------------------------------------------------------------------------------------------

/// Latent variables, items per variable, subset size of the k-subset VAE.
let latents, items, subsetK = 20, 20, 10

/// A method: the discrete problem per latent variable and the estimator of the discrete layer.
type MethodSpec =
    {
        Id: string
        Name: string
        Noise: string
        /// Subset size (10, or 1 for the categorical Gumbel-softmax reference).
        K: int
        Estimator: Estimator
    }

/// The methods, in report order. I-MLE: PID target with λ = 10, gradient divided by λ, S = 1.
let methodSpecs: MethodSpec list =
    let imle noise =
        Imle((ImleOptions.Create(float subsetK, 10.0)).WithNoise(noise).WithSamples(1))

    [ { Id = "imle-sog"
        Name = "I-MLE SoG"
        Noise = "SoG(κ=10, τ=10, s=10)"
        K = subsetK
        Estimator = imle (SumOfGamma(float subsetK, 10.0, 10)) }
      { Id = "imle-gumbel"
        Name = "I-MLE Gumbel τ=10"
        Noise = "Gumbel(0, 10)"
        K = subsetK
        Estimator = imle (Gumbel 10.0) }
      { Id = "imle-gumbel1"
        Name = "I-MLE Gumbel τ=1"
        Noise = "Gumbel(0, 1)"
        K = subsetK
        Estimator = imle (Gumbel 1.0) }
      { Id = "ste"
        Name = "STE SoG"
        Noise = "SoG(κ=10, τ=10, s=10)"
        K = subsetK
        Estimator = StraightThrough(SumOfGamma(float subsetK, 10.0, 10)) }
      { Id = "gsm"
        Name = "Gumbel-softmax 1-subset"
        Noise = "Gumbel-softmax τ=1 (no annealing)"
        K = 1
        Estimator = GumbelSoftmax 1.0 } ]

/// The method ids.
let methodIds = methodSpecs |> List.map (fun s -> s.Id)

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

/// BCE (summed over pixels) and KL(marginals ‖ uniform), each summed over the batch. Marginals: μ = k·softmax(θ) per
/// variable (they sum to k, as in the reference implementations), against the uniform k/m:
/// KL = Σ μ·log(μ / (k/m)) = k·Σ softmax(θ)·(log softmax(θ) + log m).
let private lossParts (k: int) (scores: Tensor) (xLogits: Tensor) (x: Tensor) : Tensor * Tensor =
    let bce =
        torch.nn.functional.binary_cross_entropy_with_logits (xLogits, x, reduction = torch.nn.Reduction.Sum)

    let logq = torch.nn.functional.log_softmax (scores, -1L)
    let q = logq.exp ()
    use shifted = Safe.addScalar logq (log (float items))
    use perItem = (q * shifted).sum()
    let kl = Safe.mulScalar perItem (float k)
    bce, kl

// ----- training -----------------------------------------------------------------------------------------------------

/// What a run needs.
type Config =
    { Epochs: int
      TrainSize: int
      TestSize: int
      Batch: int
      MethodIds: string list
      DataDir: string
      Device: torch.Device
      DeviceName: string
      Lr: float
      Seed: int
      OutDir: string
      Command: string }

/// Mean test loss, BCE and KL per image, with the training-time forward (a noisy perturb-and-MAP sample, or the
/// relaxed sample for Gumbel-softmax), as in the reference implementations.
let private evaluate (model: SubsetVae) (spec: MethodSpec) (generator: torch.Generator) (test: Tensor) =
    let problem = problemOf spec
    let n = int test.shape.[0]
    let mutable bceSum = 0.0
    let mutable klSum = 0.0

    (use _ = torch.no_grad ()

     for start in 0..1000 .. n - 1 do
         use _ = torch.NewDisposeScope()
         let x = test.narrow (0L, int64 start, int64 (min 1000 (n - start)))
         let scores = model.forward x
         let z = Discrete.apply problem spec.Estimator generator scores
         let bce, kl = lossParts spec.K scores (model.Decode z) x
         bceSum <- bceSum + float (bce.item<float32>())
         klSum <- klSum + float (kl.item<float32>()))

    (bceSum + klSum) / float n, bceSum / float n, klSum / float n

let private trainMethod (cfg: Config) (train: Tensor) (test: Tensor) (spec: MethodSpec) : VaeRow list =
    let watch = Stopwatch.StartNew()
    let problem = problemOf spec
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
                let z = Discrete.apply problem spec.Estimator generator scores
                let bce, kl = lossParts spec.K scores (model.Decode z) x
                // Mean over the batch, as the reference implementations (this fixes the scale of dL/dz that λ multiplies).
                use total = Safe.add bce kl
                let loss = Safe.divScalar total b
                optimizer.zero_grad ()
                Training.backward loss
                optimizer.step () |> ignore
                sum <- sum + float (loss.item<float32>()) * b
                tick ()

            model.eval ()
            let testLoss, testBce, testKl = evaluate model spec evalGenerator test

            rows.Add
                { Method = spec.Name
                  MethodId = spec.Id
                  Noise = spec.Noise
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

/// Runs the configured experiment: data, every method, results.json, the plot, report.md. None when the data is missing.
let runExperiment (cfg: Config) : VaeRow[] option =
    let specs =
        cfg.MethodIds
        |> List.map (fun id ->
            match methodSpecs |> List.tryFind (fun s -> s.Id = id) with
            | Some s -> s
            | None ->
                invalidArg "methods" (sprintf "Unknown method '%s'; known: %s." id (String.Join(", ", methodIds))))

    match Idx.tryLoad cfg.DataDir with
    | None -> None
    | Some data ->
        let dir = ensureDir cfg.OutDir
        let totalWatch = Stopwatch.StartNew()
        let nTrain = min cfg.TrainSize (int data.TrainImages.shape.[0])
        let nTest = min cfg.TestSize (int data.TestImages.shape.[0])
        let train = data.TrainImages.narrow(0L, 0L, int64 nTrain).``to``(cfg.Device)
        let test = data.TestImages.narrow(0L, 0L, int64 nTest).``to``(cfg.Device)
        printfn "Data: %d training and %d test images of %d×%d from %s" nTrain nTest data.Rows data.Cols cfg.DataDir

        let runs =
            specs
            |> List.map (fun spec ->
                spec,
                trainMethod
                    { cfg with
                        TrainSize = nTrain
                        TestSize = nTest }
                    train
                    test
                    spec)

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
              TrainImages = nTrain
              TestImages = nTest
              Epochs = cfg.Epochs
              Batch = cfg.Batch
              Lr = cfg.Lr
              Seed = cfg.Seed
              DeviceName = cfg.DeviceName
              Seconds = totalWatch.Elapsed.TotalSeconds }
            (runs |> List.map snd)

        Some rows

/// The command line that reproduces a configuration.
let private commandLine (cfg: Config) (full: bool) =
    sprintf
        "dotnet run --project examples/Imle.Examples -c Release -- vae --seed %d --out %s%s --epochs %d --train-size %d --test-size %d --batch %d --lr %g --methods %s --data %s --device %s"
        cfg.Seed
        cfg.OutDir
        (if full then " --full" else "")
        cfg.Epochs
        cfg.TrainSize
        cfg.TestSize
        cfg.Batch
        cfg.Lr
        (String.Join(" ", cfg.MethodIds))
        cfg.DataDir
        cfg.DeviceName

// ----- the command's checks ------------------------------------------------------------------------------------------

/// Seconds per training image, epoch and method (measured here: 115 to 250 µs on 2 cores); a test image costs 0.3 of
/// that per epoch.
let private secondsPerImage = 150e-6

/// Memory per image of a training batch: the MLP's activations and gradients (about 2,000 floats each, several times).
let private batchBytesPerImage = 40e3

/// Checks the options and returns the command's plan. Memory: the data set (all of it is loaded: 5 bytes per pixel as
/// bytes and float32; read from the IDX headers, or from --train-size and --test-size when the files are not there) and
/// one batch; time: every method's epochs over the training and test images used.
let plan (ctx: RunContext) (args: ParseResults<Args>) : Cli.Plan =
    let full = args.Contains Full
    let deviceName = deviceName ctx.Device

    let epochs =
        positiveInt "epochs" (args.GetResult(Epochs, defaultValue = (if full then 100 else 3)))

    let trainSize =
        positiveInt "train-size" (args.GetResult(Train_Size, defaultValue = (if full then 60000 else 10000)))

    let testSize =
        positiveInt "test-size" (args.GetResult(Test_Size, defaultValue = (if full then 10000 else 2000)))

    let batch =
        match args.TryGetResult Batch with
        | Some b -> positiveInt "batch" b |> batchAtMost "train-size" trainSize
        | None -> min 100 trainSize

    let methods =
        knownIds "methods" methodIds (args.GetResult(Methods, defaultValue = methodIds))

    let lr = positiveFloat "lr" (args.GetResult(Lr, defaultValue = 1e-3))
    let dataDir = args.GetResult(Data, defaultValue = Idx.DefaultFashionMnistDir)
    let sizes = Idx.tryPeek dataDir

    let nTrain, nTest, pixels, dataOptions, dataImages =
        Cli.imageDataSizes dataDir sizes trainSize testSize

    let batchUsed = min batch nTrain

    { Folders = [ "--out", ctx.OutDir ]
      Needs =
        [ Cli.Memory(dataOptions, "the images", dataImages * pixels * 5.0)
          Cli.Memory(sprintf "--batch %d" batchUsed, "one batch's activations", float batchUsed * batchBytesPerImage)
          Cli.Time(
              Cli.describe
                  [ sprintf "--epochs %d" epochs
                    sprintf "--train-size %d" nTrain
                    sprintf "--test-size %d" nTest
                    sprintf "%d method%s" methods.Length (if methods.Length = 1 then "" else "s") ],
              Cli.cpuSeconds (
                  float methods.Length
                  * float epochs
                  * (float nTrain + 0.3 * float nTest)
                  * secondsPerImage
              )
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
                  DataDir = dataDir
                  Device = torch.device deviceName
                  DeviceName = deviceName
                  Lr = lr
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
