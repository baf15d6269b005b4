namespace Imle.Torch

open TorchSharp
open Imle

/// The continuous relaxations that I-MLE is compared with: differentiable in the scores by ordinary autograd (no custom
/// backward), with Gumbel noise drawn from the given generator. Scores θ in maximisation terms, rows [B, m].
[<RequireQualifiedAccess>]
module Relaxed =

    let private gumbel (generator: torch.Generator) (shape: int64[]) (like: Tensor) =
        TensorNoise.sample (Gumbel 1.0) generator shape like.dtype like.device

    let private checkTemperature (name: string) (t: float) = Validate.positive name t

    /// Gumbel-softmax (Jang et al. 2017; Maddison et al. 2017): softmax((θ + g)/τ) over the last dimension.
    let gumbelSoftmax (tau: float) (generator: torch.Generator) (scores: Tensor) : Tensor =
        checkTemperature "tau" tau
        use g = gumbel generator scores.shape scores
        use perturbed = Safe.add scores g
        use logits = Safe.divScalar perturbed tau
        torch.softmax (logits, -1)

    /// SoftSub, a relaxed top-k (Xie and Ermon 2019): k rounds of softmax((θ + g)/τ), each round suppressing what was
    /// already chosen (α ← α + log(1 − p)); returns the sum of the k rounds' probabilities, a relaxed k-hot [B, m].
    let topK (k: int) (tau: float) (generator: torch.Generator) (scores: Tensor) : Tensor =
        checkTemperature "tau" tau
        Validate.intAtLeast "k" 1 k
        use g = gumbel generator scores.shape scores
        let mutable alpha = Safe.add scores g
        let mutable khot = torch.zeros_like (scores)

        for _ in 1..k do
            use logits = Safe.divScalar alpha tau
            let p = torch.softmax (logits, -1)
            khot <- Safe.add khot p
            use remaining = Safe.subtractFrom 1.0 p
            use floored = Safe.clampMin remaining 1e-20
            use logRemaining = torch.log (floored)
            alpha <- Safe.add alpha logRemaining

        khot

    /// L2X's relaxed subset sampler (Chen et al. 2018): k independent concrete samples softmax((θ + gᵢ)/t), combined by
    /// an elementwise maximum, a relaxed k-hot [B, m] (entries in [0, 1], not summing to k exactly).
    let subsetSampler (k: int) (t: float) (generator: torch.Generator) (scores: Tensor) : Tensor =
        checkTemperature "t" t
        Validate.intAtLeast "k" 1 k

        if scores.shape.Length <> 2 then
            invalidArg "scores" (sprintf "scores must have shape [B, m]; got %s." (Validate.shapeText scores.shape))

        let b, m = scores.shape.[0], scores.shape.[1]
        use g = gumbel generator [| b; int64 k; m |] scores
        use perturbed = Safe.add (scores.unsqueeze (1L)) g
        use logits = Safe.divScalar perturbed t
        use samples = torch.softmax (logits, -1)
        let struct (best, _) = samples.max (1L)
        best
