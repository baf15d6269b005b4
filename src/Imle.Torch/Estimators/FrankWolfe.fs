namespace Imle.Torch

open System.Collections.Generic
open TorchSharp
open Imle

/// The regularised Frank–Wolfe optimizer (PyEPO 2.2's RFWO) on tensors: weights [B, m] in the problem's sense →
/// smooth solutions μ [B, m], differentiable through the active face of each row's Frank–Wolfe solution. Each row runs
/// the reference core (`Imle.FrankWolfe`) on the CPU, once per forward pass (the backward pass reuses its active set),
/// so parity holds by construction and is tested.
[<RequireQualifiedAccess>]
module FrankWolfeTensor =

    /// μ(w) for validated weights [B, m] (rows of the problem's size) with its backward pass attached.
    let internal rows (problem: Problem) (options: FrankWolfeOptions) (weights: Tensor) : Tensor =
        let cache = Dictionary<int, FrankWolfeResult>()

        let get r row =
            lock cache (fun () ->
                match cache.TryGetValue r with
                | true, v -> v
                | _ ->
                    let v = FrankWolfe.solve problem options row
                    cache.[r] <- v
                    v)

        RowMapFunction.apply (
            weights,
            { Name = "regularised Frank-Wolfe"
              Width = int64 problem.Size
              Forward = fun r row -> (get r row).Solution
              Vjp = fun r row g -> Problem.ofScores problem (FrankWolfe.backwardScores options (get r row) g) }
        )

    /// The regularised Frank–Wolfe solutions for weights [..batch, ...shape] in the problem's sense, shaped like the
    /// weights, with the implicit backward pass (the projection onto the active face, divided by λ). Raises
    /// ArgumentException naming the options' fields or `weights`.
    let apply (problem: Problem) (options: FrankWolfeOptions) (weights: Tensor) : Tensor =
        FrankWolfe.validate options |> ignore
        let dims = Shapes.batchDims "weights" problem weights
        use flat = weights.reshape (Shapes.batchSize dims, int64 problem.Size)
        use mu = rows problem options flat
        mu.reshape (weights.shape)
