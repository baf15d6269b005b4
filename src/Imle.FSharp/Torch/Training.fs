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
        if isNull loss then nullArg "loss"
        loss.backward()
        BackwardErrors.throwIfAny ()
