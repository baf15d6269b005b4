namespace Imle.Distributed

open System
open System.IO
open TorchSharp
open Imle.Torch

/// Data-parallel training over MPI: every rank holds the same model (same seed, or parameters broadcast from rank 0),
/// trains on its own shard of the data, and after `Training.backward` averages the parameter gradients over all ranks
/// with `AverageGradients`, so the optimizer takes the same step on every rank and the parameters stay bit-identical.
/// Rank 0 logs and writes checkpoints; every rank can resume from the last checkpoint. Without an MPI launcher the
/// communicator is rank 0 of 1 and every call is a cheap identity, so the same program runs as one process.
[<AllowNullLiteral>]
type DataParallel(communicator: Communicator) =
    do
        if isNull communicator then
            nullArg "communicator"

    /// The trainable parameters with a gradient, in the module's order (the same on every rank).
    static let withGradients (model: torch.nn.Module) =
        model.parameters () |> Seq.filter (fun p -> p.requires_grad) |> Seq.toArray

    static let checkModel (model: torch.nn.Module) =
        if isNull model then
            nullArg "model"

    /// FNV-1a over the bytes of every parameter and buffer: a bitwise fingerprint of the model's state.
    static let fingerprint (model: torch.nn.Module) : uint64 =
        let mutable h = 14695981039346656037UL

        let mix (t: torch.Tensor) =
            use c = t.detach().cpu().contiguous()
            let bytes = c.bytes

            for i in 0 .. bytes.Length - 1 do
                h <- (h ^^^ uint64 bytes.[i]) * 1099511628211UL

        for p in model.parameters () do
            mix p

        for b in model.buffers () do
            mix b

        h

    static let broadcast (communicator: Communicator) (tensors: seq<torch.Tensor>) =
        if communicator.Size > 1 then
            use _ = torch.no_grad ()

            for t in tensors do
                // Integer buffers (batch norm's step counter) advance alike on every rank and are left alone.
                if t.dtype = torch.ScalarType.Float32 || t.dtype = torch.ScalarType.Float64 then
                    if t.is_contiguous () then
                        communicator.Broadcast(t, 0)
                    else
                        use c = t.contiguous ()
                        communicator.Broadcast(c, 0)
                        t.copy_ c |> ignore

    /// Data-parallel training on the world communicator (`Mpi.init ()`).
    new() = DataParallel(Mpi.init ())

    /// The communicator.
    member _.Communicator = communicator
    /// This process's rank.
    member _.Rank = communicator.Rank
    /// The number of ranks.
    member _.Size = communicator.Size
    /// Whether this is rank 0 (logs, writes checkpoints).
    member _.IsRoot = communicator.IsRoot

    /// The indices of this rank's shard of a data set of `count` examples: the contiguous block
    /// [rank·count/size, (rank+1)·count/size). The shards of all ranks partition 0 .. count − 1; their sizes differ by
    /// at most one. `count` ≥ 0.
    member _.Shard(count: int) : int[] =
        if count < 0 then
            invalidArg "count" (sprintf "count must be >= 0; got %d." count)

        let lo = int (int64 communicator.Rank * int64 count / int64 communicator.Size)
        let hi = int (int64 (communicator.Rank + 1) * int64 count / int64 communicator.Size)
        Array.init (hi - lo) (fun i -> lo + i)

    /// Averages the gradients of all trainable parameters of `model` over the ranks, in place: the gradients are
    /// gathered into one contiguous buffer (one native copy), summed over the ranks by one MPI_Allreduce on that
    /// buffer's memory, divided by the rank count and copied back into each `.grad`. Call it on every rank after
    /// `Training.backward` and before `optimizer.step()`. Parameters without a gradient (unused in this step) take part
    /// with zeros, so every rank reduces the same layout;
    /// a parameter with a gradient on some ranks but not on others raises InvalidOperationException on every rank. CPU float32/float64 parameters of one dtype.
    member _.AverageGradients(model: torch.nn.Module) : unit =
        checkModel model
        let ps = withGradients model

        if ps.Length > 0 && communicator.Size > 1 then
            use _ = torch.NewDisposeScope()

            let dtype = ps.[0].dtype

            ps
            |> Array.iter (fun p ->
                if p.dtype <> dtype then
                    invalidArg
                        "model"
                        (sprintf "all trainable parameters must have one dtype; found %O and %O." dtype p.dtype))

            let pieces =
                ps
                |> Array.map (fun p ->
                    match p.grad with
                    | null -> torch.zeros (p.numel (), dtype = dtype)
                    | g -> g.detach().reshape(-1L))

            // One presence flag per parameter rides along, so that a parameter with a gradient on some ranks only is
            // detected on every rank alike (its average would otherwise not reach the ranks where it has none).
            let present =
                torch.tensor (ps |> Array.map (fun p -> if isNull p.grad then 0.0f else 1.0f), dtype = dtype)

            let flat = torch.cat(Array.append pieces [| present |], 0L).contiguous()
            communicator.AllreduceSum flat
            let total = ps |> Array.sumBy (fun p -> p.numel ())

            let counts =
                flat.narrow(0L, total, int64 ps.Length).``to``(torch.ScalarType.Float64).data<float>().ToArray()

            counts
            |> Array.iteri (fun i c ->
                if c <> 0.0 && c <> float communicator.Size then
                    raise (
                        InvalidOperationException(
                            sprintf
                                "Parameter %d has a gradient on %g of %d ranks: every rank must use the same parameters in each step."
                                i
                                c
                                communicator.Size
                        )
                    ))

            let mean = Safe.divScalar (flat.narrow (0L, 0L, total)) (float communicator.Size)
            let mutable offset = 0L

            for p in ps do
                let n = p.numel ()

                match p.grad with
                | null -> ()
                | g -> g.copy_ (mean.narrow(0L, offset, n).view_as p) |> ignore

                offset <- offset + n

    /// Copies rank 0's parameters and floating-point buffers into every other rank's model, in place (for models
    /// initialised differently, or after rank 0 alone loaded a checkpoint). CPU tensors. Collective.
    member _.BroadcastParameters(model: torch.nn.Module) : unit =
        checkModel model
        broadcast communicator (Seq.append (model.parameters () |> Seq.cast<torch.Tensor>) (model.buffers ()))

    /// Copies rank 0's floating-point buffers (batch norm's running mean and variance, which each rank updates from
    /// its own shard) into every other rank's model, as PyTorch's DistributedDataParallel does before each forward
    /// pass; keeps the ranks' models identical when they have such buffers. Collective.
    member _.SyncBuffers(model: torch.nn.Module) : unit =
        checkModel model
        broadcast communicator (model.buffers ())

    /// True when every rank's parameters and buffers are bit for bit the same as rank 0's (a 64-bit fingerprint of
    /// their bytes, compared by two MPI max-reductions). Collective: call it on every rank.
    member _.AreIdentical(model: torch.nn.Module) : bool =
        checkModel model
        let h = fingerprint model
        // Each 32-bit half is exact in a double; max(x) = −max(−x) on every rank iff all ranks hold the same x.
        let hi, lo = float (h >>> 32), float (h &&& 0xffffffffUL)
        let v = [| hi; lo; -hi; -lo |]
        communicator.AllreduceMax v
        v.[0] = -v.[2] && v.[1] = -v.[3]

    /// Raises InvalidOperationException on every rank when the ranks' models differ (see `AreIdentical`), e.g. because
    /// they were not initialised with the same seed: call it once before training. Collective.
    member this.CheckIdentical(model: torch.nn.Module) : unit =
        if not (this.AreIdentical model) then
            raise (
                InvalidOperationException(
                    sprintf
                        "The %d ranks' models differ (rank %d): seed the model's initialisation identically on every rank (torch.manual_seed before building it) or call BroadcastParameters."
                        communicator.Size
                        communicator.Rank
                )
            )

    /// Writes `line` to standard output on rank 0 only.
    member _.Log(line: string) : unit =
        if communicator.IsRoot then
            Console.WriteLine line

    /// Saves a checkpoint (model, optimizer, state: `Checkpoint.save`) on rank 0 only, then waits at a
    /// barrier so that no rank runs ahead of a checkpoint that is being written. Collective.
    member _.SaveCheckpoint
        (path: string, model: torch.nn.Module, optimizer: torch.optim.Optimizer, state: TrainingState)
        =
        if String.IsNullOrWhiteSpace path then
            invalidArg "path" "path must be a non-empty file path."

        checkModel model

        if isNull optimizer then
            nullArg "optimizer"

        if communicator.IsRoot then
            Checkpoint.save path model (Some optimizer) state

        communicator.Barrier()

    /// Resumes from the checkpoint at `path` if rank 0 sees one: every rank loads it into its model and optimizer
    /// (so the file must be visible to every rank: a shared file system, or the same file copied to each machine) and
    /// the ranks are checked to hold identical parameters. Returns the saved state, or None when there is no
    /// checkpoint yet (then nothing changes). Collective: if any rank fails to load, every rank raises
    /// InvalidOperationException (no rank is left waiting in a collective).
    member this.TryResume
        (path: string, model: torch.nn.Module, optimizer: torch.optim.Optimizer)
        : TrainingState option =
        if String.IsNullOrWhiteSpace path then
            invalidArg "path" "path must be a non-empty file path."

        checkModel model

        if isNull optimizer then
            nullArg "optimizer"

        let exists = [| (if communicator.IsRoot && File.Exists path then 1.0 else 0.0) |]
        communicator.AllreduceSum exists

        if exists.[0] = 0.0 then
            None
        else
            let state, error =
                try
                    Some(Checkpoint.load path model (Some optimizer)), ""
                with e ->
                    None, e.Message

            let failures = [| (if state.IsNone then 1.0 else 0.0) |]
            communicator.AllreduceSum failures

            if failures.[0] > 0.0 then
                raise (
                    InvalidOperationException(
                        sprintf
                            "Resuming from '%s' failed on %g of %d ranks (rank %d: %s). The checkpoint must be readable by every rank."
                            path
                            failures.[0]
                            communicator.Size
                            communicator.Rank
                            (if error = "" then "loaded" else error)
                    )
                )

            this.CheckIdentical model
            state
