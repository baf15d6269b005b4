namespace Imle.Torch

open TorchSharp
open Imle

/// Learning-to-rank losses over a solution pool (Mandi et al., "Decision-focused learning: through the lens of learning
/// to rank", ICML 2022; PyEPO's `pyepo/func/rank.py`), differentiable in the predicted costs ĉ by ordinary autograd
/// (linear in ĉ before a softmax, hinge or square; no solver in the backward pass). Each call first refreshes the pool
/// with probability `pool.SolveRatio` (see `SolutionPool`). Objectives of the pool members s ∈ Γ are ĉᵀs (predicted)
/// and cᵀs (true); the true costs c are data (no gradient). Shapes: predicted and trueCosts [..batch,
/// ...problem.Shape]. Raises ArgumentException naming `pool`, `predicted` or `trueCosts`.
[<RequireQualifiedAccess>]
module Ranking =

    /// Predicted and true objectives [B, N] over the pool, and the pool tensor [N, m] (the caller disposes all three).
    let private objectives (pool: SolutionPool) (predicted: Tensor) (trueCosts: Tensor) =
        BackwardErrors.throwIfAny ()

        if isNull (box pool) then
            nullArg "pool"

        let problem = pool.Problem
        let dims = Shapes.batchDims "predicted" problem predicted

        if isNull trueCosts then
            nullArg "trueCosts"

        if trueCosts.shape <> predicted.shape then
            invalidArg
                "trueCosts"
                (sprintf
                    "trueCosts has shape %s but predicted has shape %s; they must match."
                    (Validate.shapeText trueCosts.shape)
                    (Validate.shapeText predicted.shape))

        let b, m = Shapes.batchSize dims, int64 problem.Size
        let poolTensor = pool.Refresh predicted
        use flat = predicted.reshape (b, m)
        use c = trueCosts.detach().reshape(b, m).``to``(predicted.dtype, predicted.device)
        let predictedObjective = flat.matmul (poolTensor.t ())
        let trueObjective = c.matmul (poolTensor.t ())
        predictedObjective, trueObjective, poolTensor

    /// Listwise LTR (PyEPO's `listwiseLTR`): the cross-entropy between the pool's distribution under the true costs,
    /// softmax(−cᵀs) (clamped below at 1e-8), and under the predicted ones, log softmax(−ĉᵀs), for Minimise (signs
    /// flipped for Maximise). As PyEPO's mean reduction, the value is the mean over batch and pool of
    /// −log softmax(−ĉᵀs)·softmax(−cᵀs): the per-instance cross-entropy divided by the pool size |Γ|.
    let listwise (pool: SolutionPool) (predicted: Tensor) (trueCosts: Tensor) : Tensor =
        let p, t, poolTensor = objectives pool predicted trueCosts
        use p = p
        use t = t
        use _pool = poolTensor

        let pl, tl =
            match pool.Problem.Sense with
            | Minimise -> p.neg (), t.neg ()
            | Maximise -> p.alias (), t.alias ()

        use pl = pl
        use tl = tl

        use logp = torch.nn.functional.log_softmax (pl, 1L)
        use target0 = torch.nn.functional.softmax (tl, 1L)
        use target = Safe.clampMin target0 1e-8
        use product = logp * target
        use mean = product.mean ()
        mean.neg ()

    /// Pairwise LTR (PyEPO's `pairwiseLTR`): with s* the pool member best under the true costs (argmin cᵀs for
    /// Minimise, argmax for Maximise; first on ties), the batch mean of Σ_{s ∈ Γ} max(0, ĉᵀs* − ĉᵀs) / max(|Γ| − 1, 1)
    /// (Minimise; max(0, ĉᵀs − ĉᵀs*) for Maximise): zero when s* is best under ĉ too.
    let pairwise (pool: SolutionPool) (predicted: Tensor) (trueCosts: Tensor) : Tensor =
        let p, t, poolTensor = objectives pool predicted trueCosts
        use p = p
        use t = t
        use _pool = poolTensor
        let n = p.shape.[1]

        use best =
            match pool.Problem.Sense with
            | Minimise -> t.argmin (1L)
            | Maximise -> t.argmax (1L)

        use bestIndex = best.unsqueeze (1L)
        use pBest = p.gather (1L, bestIndex)

        use diff =
            match pool.Problem.Sense with
            | Minimise -> pBest - p
            | Maximise -> p - pBest

        use hinge = torch.nn.functional.relu diff
        use sums = hinge.sum ([| 1L |])
        use perInstance = Safe.divScalar sums (float (max (n - 1L) 1L))
        perInstance.mean ()

    /// Pointwise LTR (PyEPO's `pointwiseLTR`): the batch mean of (1/|Γ|)·Σ_{s ∈ Γ} ((c − ĉ)ᵀs)², the squared error of
    /// the predicted objective of every pool member (the same in both senses).
    let pointwise (pool: SolutionPool) (predicted: Tensor) (trueCosts: Tensor) : Tensor =
        let p, t, poolTensor = objectives pool predicted trueCosts
        use p = p
        use t = t
        use _pool = poolTensor
        use diff = t - p
        use squared = diff * diff
        use perInstance = squared.mean ([| 1L |])
        perInstance.mean ()
