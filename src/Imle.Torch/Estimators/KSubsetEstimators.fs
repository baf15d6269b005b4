namespace Imle.Torch

open TorchSharp
open Imle

/// The k-subset estimators after I-MLE on tensors, for scores θ [..., m] in maximisation terms (the reference over
/// arrays is `Imle.KSubsetEstimators`; parity is tested):
///   `marginals`: the exact marginals μ(θ) of p(z; θ) ∝ exp(⟨z, θ⟩/τ) over k-subsets, by the forward–backward
///     recursion over log elementary symmetric polynomials (log space, O(m·k), differentiable by autograd);
///   `simple`: SIMPLE (Ahmed et al., ICLR 2023), forward an exact sample, backward the exact marginals' Jacobian;
///   `sfess`: SFESS (Wijk et al., ICLR 2025), S exact samples whose backward is the score-function estimator with the
///     exact score (z − μ)/τ and a leave-one-out control variate.
[<RequireQualifiedAccess>]
module KSubsetTensor =

    /// A large finite stand-in for −∞ (logaddexp(−∞, −∞) has a NaN gradient; logaddexp(−1e30, −1e30) a zero one).
    let private negInf = -1e30

    /// Checks scores [..., m] (floating, finite, m ≥ 1), τ and k ∈ [1, m]; returns m.
    let private check (tau: float) (k: int) (scores: Tensor) =
        Validate.positive "tau" tau

        let m = Shapes.lastDimension "scores" scores
        Validate.intInRange "k" 1 (int m) k
        m

    /// One step of the recursion E_j ← logaddexp(E_j, E_{j−1} + a) over a table row E [B, k + 1] and a [B, 1].
    let private step (k: int) (pad: Tensor) (row: Tensor) (a: Tensor) =
        use shiftedTail = Safe.add (row.narrow (1L, 0L, int64 k)) a
        use shifted = torch.cat ([| pad; shiftedTail |], 1L)
        torch.logaddexp (row, shifted)

    /// μ(θ) for validated scores [B, m] (differentiable; intermediates are released, the graph keeps what it needs).
    let internal marginalsOfRows (tau: float) (k: int) (scores: Tensor) : Tensor =
        use scope = torch.NewDisposeScope()
        let b, m = scores.shape.[0], scores.shape.[1]
        let a = Safe.divScalar scores tau
        let pad = Safe.full [| b; 1L |] negInf scores.dtype scores.device

        let start =
            torch.cat (
                [| torch.zeros ([| b; 1L |], dtype = scores.dtype, device = scores.device)
                   Safe.full [| b; int64 k |] negInf scores.dtype scores.device |],
                1L
            )

        let column i = a.narrow (1L, i, 1L)
        // F_i = log e_·(a_0 … a_{i−1}) for i = 0..m−1, B_i = log e_·(a_i … a_{m−1}) for i = 1..m.
        let forward = Array.zeroCreate (int m)
        let backward = Array.zeroCreate (int m)
        forward.[0] <- start

        for i in 1 .. int m - 1 do
            forward.[i] <- step k pad forward.[i - 1] (column (int64 (i - 1)))

        backward.[int m - 1] <- start

        for i in int m - 2 .. -1 .. 0 do
            backward.[i] <- step k pad backward.[i + 1] (column (int64 (i + 1)))

        let whole = step k pad backward.[0] (column 0L)
        let logZ = whole.narrow (1L, int64 k, 1L) // [B, 1]
        // μ_i = Σ_{j<k} exp(F_i[j] + a_i + B_{i+1}[k − 1 − j] − log Z).
        let f = torch.stack(forward, 1L).narrow(2L, 0L, int64 k) // [B, m, k]
        let bw = torch.stack(backward, 1L).narrow(2L, 0L, int64 k).flip(2L)
        let joint = torch.logsumexp (Safe.add f bw, 2L, false) // [B, m]
        let logMu = Safe.add joint a - logZ
        torch.exp(logMu).MoveToOuterDisposeScope()

    /// The exact marginals μ(θ) = E_p[z] of the k-subset distribution p(z; θ) ∝ exp(⟨z, θ⟩/τ) for scores [..., m],
    /// differentiable in the scores (its Jacobian is Cov_p(z)/τ). Raises ArgumentException naming `tau` (finite,
    /// > 0), `k` (in [1, m]) or `scores` (a finite floating tensor [..., m]).
    let marginals (tau: float) (k: int) (scores: Tensor) : Tensor =
        let m = check tau k scores
        use rows = scores.reshape (-1L, m)
        use mu = marginalsOfRows tau k rows
        mu.reshape (scores.shape)

    /// `samples` exact draws per row of p(z; θ) for validated scores [B, m] → [B, S, m], detached, from `generator`.
    let private draw (tau: float) (k: int) (samples: int) (generator: torch.Generator) (rows: Tensor) =
        if isNull generator then
            nullArg "generator"

        ExactTensor.sample (Problem.kSubset (int rows.shape.[1]) k) tau samples generator rows

    /// SIMPLE (Ahmed et al., ICLR 2023) for scores [..., m]: forward one exact k-subset draw z ~ p(z; θ) per row
    /// (binary, exactly k ones, shaped like the scores); backward dL/dθ = J_μ(θ)·dL/dz, the exact marginals' Jacobian
    /// (z + μ − sg(μ), μ by `marginals`). Draws from `generator` only. Raises ArgumentException as `marginals`.
    let simple (tau: float) (k: int) (generator: torch.Generator) (scores: Tensor) : Tensor =
        let m = check tau k scores
        use rows = scores.reshape (-1L, m)
        use z = draw tau k 1 generator rows
        use mu = marginalsOfRows tau k rows
        use frozen = mu.detach ()
        use straight = mu - frozen
        use out = Safe.add (z.squeeze (1L)) straight
        out.reshape (scores.shape)

    /// SFESS (Wijk et al., ICLR 2025) for scores [..., m]: forward `samples` exact k-subset draws per row,
    /// [..., S, m]; backward, for the cotangents gₛ = dL/dzₛ, the score-function estimator with the exact score
    /// ∇θ log p(zₛ) = (zₛ − μ(θ))/τ, the reward rₛ = ⟨gₛ, zₛ⟩ and a leave-one-out baseline b₋ₛ (the mean reward of the
    /// other S − 1 draws): dL/dθ = Σₛ (rₛ − b₋ₛ)·(zₛ − μ)/τ = Σₛ rₛ·(zₛ − z̄)·S/((S − 1)·τ) (the μ terms cancel under
    /// this baseline). The reward is the loss up to a constant for a loss affine in each draw (‖zₛ − b‖² on k-subsets
    /// is k − 2⟨zₛ, b⟩ + ‖b‖²), where the estimate is unbiased; `Imle.KSubsetEstimators.sfess` takes black-box loss
    /// values instead. Needs S ≥ 2; draws from `generator` only. Raises ArgumentException as `marginals` or naming
    /// `samples`.
    let sfess (tau: float) (k: int) (samples: int) (generator: torch.Generator) (scores: Tensor) : Tensor =
        Validate.intAtLeast "samples (S)" 2 samples
        let m = check tau k scores
        use scope = torch.NewDisposeScope()
        let rows = scores.reshape (-1L, m)
        let zs = draw tau k samples generator rows // [B, S, m], detached
        // cₛ = (zₛ − z̄)·S/(S − 1); pulseₛ = ⟨cₛ, θ⟩/τ − sg(·): value 0, gradient cₛ/τ.
        let deviation = zs - zs.mean ([| 1L |], true)
        let c = Safe.mulScalar deviation (float samples / float (samples - 1))
        let logits = Safe.divScalar ((c * rows.unsqueeze (1L)).sum([| 2L |], true)) tau
        let pulse = logits - logits.detach ()
        // zₛ + zₛ·pulseₛ: the value zₛ; ⟨gₛ, ·⟩ differentiates to ⟨gₛ, zₛ⟩·cₛ/τ.
        let out = Safe.add zs (zs * pulse)

        let shape =
            Array.append scores.shape.[.. scores.shape.Length - 2] [| int64 samples; m |]

        out.reshape(shape).MoveToOuterDisposeScope()
