namespace Imle.Torch

open System
open TorchSharp
open Imle

/// Training helpers.
[<RequireQualifiedAccess>]
module Training =

    /// `loss.backward()`, then rethrows any error an Imle backward pass recorded (a NaN/∞ dL/dz, an infeasible state
    /// from a user solver): errors inside libtorch's backward cannot propagate as exceptions, so call this instead of
    /// `loss.backward()` to see them at once (otherwise they surface at the next forward pass).
    let backward (loss: Tensor) : unit =
        if isNull loss then
            nullArg "loss"

        loss.backward ()
        BackwardErrors.throwIfAny ()

    /// Shuffled mini-batches of the indices 0 .. count − 1, for one epoch: shuffles them with `rng.Shuffle`
    /// (Fisher–Yates: one `rng.Next` per index but the last), then cuts them in order into ⌈count / batchSize⌉ batches
    /// of `batchSize` indices, the last one shorter when `count` is not a multiple. Every index appears exactly once.
    /// The batches depend only on the generator's state, so a generator seeded per epoch (the examples use
    /// `Random(seed * 1000 + epoch)`) gives the same batches on every run. `count` ≥ 0 (0 gives no batch),
    /// `batchSize` ≥ 1; otherwise an ArgumentException naming the parameter.
    let shuffledBatches (rng: Random) (count: int) (batchSize: int) : int[][] =
        Validate.notNull "rng" rng

        Validate.intAtLeast "count" 0 count
        Validate.intAtLeast "batchSize" 1 batchSize
        let order = Array.init count id
        rng.Shuffle order
        Array.chunkBySize batchSize order
