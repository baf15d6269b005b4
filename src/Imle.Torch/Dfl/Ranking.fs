namespace Imle.Torch

open TorchSharp
open Imle

/// Learning-to-rank losses over a solution pool (Mandi et al., "Decision-focused learning: through the lens of learning
/// to rank", ICML 2022; PyEPO's `pyepo/func/rank.py`) on validated tensors, differentiable in the predicted costs ĉ by
/// ordinary autograd (linear in ĉ before a softmax, hinge or square; no solver in the backward pass): the
/// `ListwiseLtr`, `PairwiseLtr` and `PointwiseLtr` cases of `DflLoss`, whose reference (and sense convention, through
/// `DflLoss.orientation`) is `DflLoss.reference`. Reached through `DflLosses.compute`.
module internal Ranking =

    /// Predicted and true objectives [B, N] over the pool in minimisation terms (sign·ĉᵀs, sign·cᵀs); the caller
    /// disposes both.
    let private objectives (pool: SolutionPool) (rows: int64) (predicted: Tensor) (trueCosts: Tensor) =
        let problem = pool.Problem
        let sign = DflLoss.orientation problem
        let m = int64 problem.Size
        use poolTensor = pool.Refresh predicted
        use flat = predicted.reshape (rows, m)

        use c =
            trueCosts.detach().reshape(rows, m).``to``(predicted.dtype, predicted.device)

        use predictedObjective = flat.matmul (poolTensor.t ())
        use trueObjective = c.matmul (poolTensor.t ())
        Safe.mulScalar predictedObjective sign, Safe.mulScalar trueObjective sign

    /// Listwise LTR: the mean over batch and pool of −log softmax(−ĉᵀs)·max(softmax(−cᵀs), 1e-8) (PyEPO's
    /// `listwiseLTR` with its mean reduction).
    let listwise (pool: SolutionPool) (rows: int64) (predicted: Tensor) (trueCosts: Tensor) : Tensor =
        let p, t = objectives pool rows predicted trueCosts
        use p = p
        use t = t
        use pl = p.neg ()
        use tl = t.neg ()
        use logp = torch.nn.functional.log_softmax (pl, 1L)
        use target0 = torch.nn.functional.softmax (tl, 1L)
        use target = Safe.clampMin target0 1e-8
        use product = logp * target
        use mean = product.mean ()
        mean.neg ()

    /// Pairwise LTR: with s* the pool member best under c (first on ties), the batch mean of
    /// Σ_{s ∈ Γ} max(0, ĉᵀs* − ĉᵀs) / max(|Γ| − 1, 1) (PyEPO's `pairwiseLTR`).
    let pairwise (pool: SolutionPool) (rows: int64) (predicted: Tensor) (trueCosts: Tensor) : Tensor =
        let p, t = objectives pool rows predicted trueCosts
        use p = p
        use t = t
        let n = p.shape.[1]
        use best = t.argmin (1L)
        use bestIndex = best.unsqueeze (1L)
        use pBest = p.gather (1L, bestIndex)
        use diff = pBest - p
        use hinge = torch.nn.functional.relu diff
        use sums = hinge.sum ([| 1L |])
        use perInstance = Safe.divScalar sums (float (max (n - 1L) 1L))
        perInstance.mean ()

    /// Pointwise LTR: the batch mean of (1/|Γ|)·Σ_{s ∈ Γ} ((c − ĉ)ᵀs)² (PyEPO's `pointwiseLTR`; the same in both senses).
    let pointwise (pool: SolutionPool) (rows: int64) (predicted: Tensor) (trueCosts: Tensor) : Tensor =
        let p, t = objectives pool rows predicted trueCosts
        use p = p
        use t = t
        use diff = t - p
        use squared = diff * diff
        use perInstance = squared.mean ([| 1L |])
        perInstance.mean ()
