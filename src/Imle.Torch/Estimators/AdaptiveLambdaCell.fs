namespace Imle.Torch

open System
open TorchSharp
open Imle

/// The adaptive-λ state of one layer (AIMLE's β and moving average), updated by each of its backward passes. The layer
/// owns it next to its generator, so two layers built from one estimator value keep independent β. Thread-safe.
[<Sealed>]
type AdaptiveLambdaCell(settings: AdaptiveLambda, initial: AdaptiveState) =
    do AdaptiveLambda.validate settings |> ignore
    let gate = obj ()
    let mutable state = initial

    /// A cell at the settings' initial state.
    new(settings: AdaptiveLambda) = AdaptiveLambdaCell(settings, AdaptiveLambda.initial settings)

    /// The rule's settings.
    member _.Settings = settings

    /// The current state (set it to resume from a checkpoint).
    member _.State
        with get () = lock gate (fun () -> state)
        and set (value: AdaptiveState) =
            Validate.atLeast "Beta" 0.0 value.Beta
            Validate.atLeast "AverageNonZero" 0.0 value.AverageNonZero
            lock gate (fun () -> state <- value)

    /// Moves the state after a backward pass with the given mean number of non-zero entries per sample.
    member _.Record(nonZeroPerSample: float) =
        lock gate (fun () -> state <- AdaptiveLambda.update settings state nonZeroPerSample)
