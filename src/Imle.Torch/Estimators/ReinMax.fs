namespace Imle.Torch

open TorchSharp
open Imle

/// Straight-through estimators for categorical variables D ~ softmax(θ) on tensors, logits θ [..., m] (the reference
/// over arrays is `Imle.ReinMax`; parity is tested). Samples are exact (Gumbel-max with noise from the generator).
[<RequireQualifiedAccess>]
module ReinMaxTensor =

    /// An exact one-hot draw D ~ softmax(θ) per row (argmax of θ + Gumbel noise), detached, shaped like the logits.
    let sample (generator: torch.Generator) (logits: Tensor) : Tensor =
        Shapes.lastDimension "logits" logits |> ignore

        if isNull generator then
            nullArg "generator"

        use noGrad = torch.no_grad ()

        use g =
            TensorNoise.sample (Gumbel 1.0) generator logits.shape logits.dtype logits.device

        use perturbed = Safe.add (logits.detach ()) g
        use indices = perturbed.argmax (-1L, keepdim = true)
        use ones = torch.ones (indices.shape, dtype = logits.dtype, device = logits.device)
        torch.zeros_like(logits).scatter_(-1L, indices, ones)

    /// ReinMax (Liu et al., NeurIPS 2023), Algorithm 2: forward an exact one-hot draw D ~ softmax(θ); backward
    /// dL/dθ = 2·J(π½)·g − ½·J(π₀)·g with π₀ = softmax(θ), π½ = (softmax(θ/τ) + D)/2 and J(π) = diag(π) − ππᵀ,
    /// written as D + π₂ − sg(π₂), π₂ = 2·softmax(sg(log π½ − θ) + θ) − ½·π₀. Raises ArgumentException naming `tau`
    /// (finite, > 0) or `logits` (a finite floating tensor [..., m]).
    let reinmax (tau: float) (generator: torch.Generator) (logits: Tensor) : Tensor =
        Validate.positive "tau" tau
        use d = sample generator logits
        use scope = torch.NewDisposeScope()
        let pi0 = torch.softmax (logits, -1)
        let piTau = torch.softmax (Safe.divScalar logits tau, -1)
        let half = Safe.mulScalar (Safe.add piTau d) 0.5
        let shift = (torch.log (half) - logits).detach()
        let pi1 = torch.softmax (Safe.add shift logits, -1)
        let pi2 = Safe.mulScalar pi1 2.0 - Safe.mulScalar pi0 0.5
        let straight = pi2 - pi2.detach ()
        (Safe.add d straight).MoveToOuterDisposeScope()

    /// The first-order straight-through estimator for D ~ softmax(θ): forward an exact one-hot draw D; backward
    /// dL/dθ = J(π₀)·g (D + π₀ − sg(π₀)). Raises ArgumentException naming `logits`.
    let straightThrough (generator: torch.Generator) (logits: Tensor) : Tensor =
        use d = sample generator logits
        use pi0 = torch.softmax (logits, -1)
        use frozen = pi0.detach ()
        use straight = pi0 - frozen
        Safe.add d straight
