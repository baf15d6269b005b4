/// The small data-parallel training run shared by the MPI tests: one rank of `mpirun`, or one process on the union of
/// the ranks' shards.
module Imle.Distributed.Tests.Training

open System
open System.IO
open TorchSharp
open Imle.Torch
open Imle.Distributed

/// A two-layer perceptron (20 → 32 → 1).
type Mlp() as this =
    inherit torch.nn.Module<torch.Tensor, torch.Tensor>("mlp")
    let l1 = torch.nn.Linear(20L, 32L)
    let l2 = torch.nn.Linear(32L, 1L)
    do this.RegisterComponents()

    override _.forward(x: torch.Tensor) =
        use h = l1.forward x
        use a = torch.nn.functional.relu h
        l2.forward a

let examples = 256
let batchPerRank = 16

/// A fixed regression data set (the same on every rank): y = 0.3·x·w + 0.1·noise.
let data () =
    let g = new torch.Generator(7UL)
    let x = torch.randn ([| int64 examples; 20L |], generator = g)
    use w0 = torch.randn ([| 20L; 1L |], generator = g)
    use w = Safe.mulScalar w0 0.3
    use noise = torch.randn ([| int64 examples; 1L |], generator = g)
    use scaled = Safe.mulScalar noise 0.1
    use xw = torch.matmul (x, w)
    x, Safe.add xw scaled

/// The indices of a shard's batch at `step` (consecutive, wrapping around the shard).
let batchOf (shard: int[]) (step: int) =
    Array.init batchPerRank (fun i -> shard.[(step * batchPerRank + i) % shard.Length])

/// A fresh model and optimizer, initialised from seed 1.
let fresh () =
    torch.random.manual_seed 1L |> ignore
    let model = new Mlp()
    let optimizer = torch.optim.SGD(model.parameters (), 0.01, momentum = 0.9)
    model, optimizer

/// One SGD step on the examples `indices`; `average` runs between backward and the optimizer step. Returns the loss.
let step (model: Mlp) (optimizer: torch.optim.Optimizer) (x: torch.Tensor) (y: torch.Tensor) (indices: int[]) average =
    use _ = torch.NewDisposeScope()
    optimizer.zero_grad ()
    use idx = torch.tensor (indices |> Array.map int64)
    let xb = x.index_select (0L, idx)
    let yb = y.index_select (0L, idx)

    let loss =
        torch.nn.functional.mse_loss (model.forward xb, yb, torch.nn.Reduction.Mean)

    Training.backward loss
    average ()
    optimizer.step () |> ignore
    loss.item<float32>() |> float

/// All parameters as one float32 array (module order).
let flatParameters (model: torch.nn.Module) : float32[] =
    use _ = torch.NewDisposeScope()

    let parts =
        model.parameters () |> Seq.map (fun p -> p.detach().reshape(-1L)) |> Seq.toArray

    torch.cat(parts, 0L).data<float32>().ToArray()

let writeFloats (path: string) (values: float32[]) =
    let bytes = Array.zeroCreate<byte>(values.Length * 4)
    Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length)
    File.WriteAllBytes(path, bytes)

let readFloats (path: string) : float32[] =
    let bytes = File.ReadAllBytes path
    let values = Array.zeroCreate<float32>(bytes.Length / 4)
    Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length)
    values

/// The child mode `mpi-rank DIR STEPS CHECKPOINT_AT RESUME`: one rank of a data-parallel run. Writes the rank's
/// final parameters, its losses and its checks into DIR.
let rankMain (dir: string) (steps: int) (checkpointAt: int) (resume: bool) : int =
    torch.set_num_threads 1
    let dp = DataParallel()
    let x, y = data ()
    let model, optimizer = fresh ()
    let checkpoint = Path.Combine(dir, "checkpoint.imle")
    let report = Collections.Generic.List<string>()
    report.Add(sprintf "backend %A rank %d size %d" dp.Communicator.Backend dp.Rank dp.Size)
    report.Add(sprintf "identical-start %b" (dp.AreIdentical model))

    // A perturbed copy on rank 1 must be told apart.
    if dp.Size > 1 then
        if dp.Rank = 1 then
            use _ = torch.no_grad ()
            use v = (Seq.head (model.parameters ())).view(-1L)
            let a = v.data<float32>()
            a.[0L] <- a.[0L] + 1.0f

        report.Add(sprintf "perturbed-identical %b" (dp.AreIdentical model))
        dp.BroadcastParameters model
        report.Add(sprintf "after-broadcast-identical %b" (dp.AreIdentical model))

    dp.CheckIdentical model

    let first =
        if resume then
            match dp.TryResume(checkpoint, model, optimizer) with
            | Some state -> int state.Step
            | None -> failwith "no checkpoint to resume from"
        else
            0

    let shard = dp.Shard examples
    let losses = Collections.Generic.List<float>()

    for s in first .. steps - 1 do
        losses.Add(step model optimizer x y (batchOf shard s) (fun () -> dp.AverageGradients model))

        if s + 1 = checkpointAt then
            dp.SaveCheckpoint(
                checkpoint,
                model,
                optimizer,
                { TrainingState.Empty with
                    Step = int64 (s + 1) }
            )

    dp.Log(sprintf "rank 0: %d steps done" (steps - first))
    let tag = if resume then "resumed" else "run"
    writeFloats (Path.Combine(dir, sprintf "%s-params-rank%d.bin" tag dp.Rank)) (flatParameters model)

    File.WriteAllLines(
        Path.Combine(dir, sprintf "%s-losses-rank%d.txt" tag dp.Rank),
        losses |> Seq.map (sprintf "%.9g")
    )

    File.WriteAllLines(Path.Combine(dir, sprintf "%s-report-rank%d.txt" tag dp.Rank), report)
    dp.Communicator.Shutdown()
    0
