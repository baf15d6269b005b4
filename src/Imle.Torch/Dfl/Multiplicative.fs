namespace Imle.Torch

open System
open System.Collections.Generic
open TorchSharp
open Imle

/// Call data of the multiplicative perturbed functions: σ, Z ~ N(0, I) of shape [B, S, m], and whether the backward
/// pass of the perturbed optimizer subtracts the sample mean of the solutions as a baseline (control variate).
type internal MultiplicativeDetails =
    { Sigma: float
      Z: Tensor
      Baseline: bool }

/// Helpers of the multiplicative perturbation w̃ = w ⊙ exp(σZ − σ²/2).
module internal MultiplicativeCalls =

    /// The factors exp(σZ − σ²/2) [B, S, m] (mean 1, positive) and the solutions y(w ⊙ factor) [B, S, m] of weights
    /// [B, 1, m] in the problem's own sense.
    let solve (call: Call<MultiplicativeDetails>) (w: Tensor) : Tensor * Tensor =
        let d = call.Details
        let b, s, m = d.Z.shape.[0], d.Z.shape.[1], d.Z.shape.[2]
        use scaled = Safe.mulScalar d.Z d.Sigma
        use shifted = Safe.addScalar scaled (-0.5 * d.Sigma * d.Sigma)
        let factor = torch.exp shifted
        use perturbed = w * factor

        use flat =
            perturbed.reshape (Array.append [| b * s |] (Array.map int64 call.Problem.Shape))

        use ys = TensorSolve.solveValidated call.Parallelism call.Problem flat
        factor, ys.reshape (b, s, m)

/// The perturbed optimizer with multiplicative log-normal noise (Dalle et al., "Learning with combinatorial optimization
/// layers: a probabilistic approach", 2022, Sec. 3; PyEPO's `perturbedOptMul`, InferOpt's `PerturbedMultiplicative`
/// after its fix InferOpt#82): forward ȳ(w) = (1/S)·Σ_s y(w ⊙ exp(σZ_s − σ²/2)); backward
/// J·v = (1/S)·Σ_s ⟨y_s, v⟩·Z_s ⊘ (σ·w), or with the baseline ⟨y_s − ȳ₋ₛ, v⟩ in place of ⟨y_s, v⟩ (ȳ₋ₛ the mean of
/// the other S − 1 solutions). The perturbation keeps the sign of every weight (and E[exp(σZ − σ²/2)] = 1).
type internal MultiplicativePerturbedFunction() =
    inherit torch.autograd.SingleTensorFunction<MultiplicativePerturbedFunction>()
    override _.Name = "MultiplicativePerturbedFunction"

    override _.forward(ctx, args) =
        let weights = args.[0] :?> Tensor
        let call = args.[1] :?> Call<MultiplicativeDetails>
        ctx.save_data ("call", call)
        let w = weights.detach().reshape(call.Rows, 1L, call.Size)
        let factor, ys = MultiplicativeCalls.solve call w
        factor.Dispose()
        ctx.save_for_backward (List [ ys; w ])
        ys.mean([| 1L |]).reshape(weights.shape)

    override _.backward(ctx, grad) =
        Calls.guarded "multiplicative perturbed optimizer" 2 ctx grad (fun (call: Call<MultiplicativeDetails>) ->
            let saved = ctx.get_saved_variables ()
            let ys, w = saved.[0], saved.[1]
            use v = grad.reshape (call.Rows, 1L, call.Size)
            // Z_s is independent of the other samples, so the control variate keeps the mean gradient.
            use centred = Calls.leaveOneOut call.Details.Baseline ys

            use dots = (centred * v).sum([| 2L |], true) // [B, S, 1]
            use weighted = dots * call.Details.Z
            use mean = weighted.mean ([| 1L |], true) // [B, 1, m]
            use denominator = Safe.mulScalar w call.Details.Sigma
            use g = mean / denominator
            g.reshape (call.Rows, call.Size))

/// The Fenchel–Young loss with multiplicative perturbation (PyEPO's `perturbedFenchelYoungMul`; Dalle et al. 2022),
/// batch mean. For Minimise, with F(c) = E[min_y ⟨c ⊙ f, y⟩] and f = exp(σZ − σ²/2): ℓ = ⟨c, w⟩ − F(c) ≥ 0,
/// gradient w − E[y(c ⊙ f) ⊙ f]; for Maximise the signs flip: ℓ = F(θ) − ⟨θ, w⟩, gradient E[y ⊙ f] − w. Call data
/// plus the target states w as the third argument.
type internal MultiplicativeFenchelYoungFunction() =
    inherit torch.autograd.SingleTensorFunction<MultiplicativeFenchelYoungFunction>()
    override _.Name = "MultiplicativeFenchelYoungFunction"

    override _.forward(ctx, args) =
        let weights = args.[0] :?> Tensor
        let call = args.[1] :?> Call<MultiplicativeDetails>
        let target = args.[2] :?> Tensor
        ctx.save_data ("call", call)
        let b, m = call.Rows, call.Size

        let sign =
            match call.Problem.Sense with
            | Minimise -> 1.0
            | Maximise -> -1.0

        use w = weights.detach().reshape(b, 1L, m)
        let factor, ys = MultiplicativeCalls.solve call w
        use factor = factor
        use ys = ys
        use perturbed = w * factor
        use values = (perturbed * ys).sum([| 2L |]).mean([| 1L |]) // F per row
        use y = target.reshape(b, m).``to``(weights.dtype, weights.device)
        use flatW = w.reshape (b, m)
        use linear = (flatW * y).sum([| 1L |])
        use difference = linear - values
        use rowLoss = Safe.mulScalar difference sign
        use weightedStates = ys * factor
        use expected = weightedStates.mean ([| 1L |]) // E[y ⊙ f], [B, m]
        use residual = y - expected
        let gradient = Safe.mulScalar residual (sign / float b)
        ctx.save_for_backward (List [ gradient ])
        rowLoss.mean ()

    override _.backward(ctx, grad) =
        Calls.guarded "multiplicative Fenchel-Young loss" 3 ctx grad (fun (_: Call<MultiplicativeDetails>) ->
            let gradient = ctx.get_saved_variables().[0]
            gradient * grad)

/// Multiplicative (sign-keeping) perturbations: w̃ = w ⊙ exp(σZ − σ²/2), Z ~ N(0, I), for problems whose solver
/// expects costs of one sign (e.g. Dijkstra's non-negative costs) — additive noise can push them across 0 (PyEPO#7).
/// Weights are in the problem's own sense and must be non-zero (the Jacobian divides by them).
[<RequireQualifiedAccess>]
module Multiplicative =

    let private prepare
        (problem: Problem)
        (sigma: float)
        (samples: int)
        (generator: torch.Generator)
        (weights: Tensor)
        (baseline: bool)
        =
        if isNull (box problem) then
            nullArg "problem"

        Validate.positive "sigma" sigma
        Validate.intAtLeast "samples (S)" 1 samples

        if isNull generator then
            nullArg "generator"

        let dims = Shapes.batchDims "weights" problem weights
        use isZero = weights.eq (torch.zeros_like (weights))
        use anyZero = isZero.any ()

        if anyZero.item<bool>() then
            invalidArg
                "weights"
                "weights must be non-zero for a multiplicative perturbation (its sign is kept and its Jacobian divides by the weight); shift or squash the predictions (e.g. softplus plus a small constant)."

        let b = Shapes.batchSize dims

        let z =
            TensorNoise.sample
                (Normal 1.0)
                generator
                [| b; int64 samples; int64 problem.Size |]
                weights.dtype
                weights.device

        let call: Call<MultiplicativeDetails> =
            { Problem = problem
              BatchDims = dims
              Parallelism = TensorSolve.defaultParallelism
              Details =
                { Sigma = sigma
                  Z = z
                  Baseline = baseline } }

        call

    /// The perturbed optimizer with multiplicative noise: ȳ(w) = mean over `samples` draws of MAP(w ⊙ exp(σZ − σ²/2))
    /// in the problem's own sense, shaped like the weights [..batch, ...shape], with the Jacobian-vector product
    /// (1/S)·Σ ⟨y_s, v⟩·Z_s ⊘ (σ·w) as backward pass (Dalle et al. 2022; PyEPO's DPOMul). Noise from `generator` only.
    let perturbedOptimizer
        (problem: Problem)
        (sigma: float)
        (samples: int)
        (generator: torch.Generator)
        (weights: Tensor)
        : Tensor =
        BackwardErrors.throwIfAny ()
        let call = prepare problem sigma samples generator weights false
        MultiplicativePerturbedFunction.apply (weights, call)

    /// `perturbedOptimizer` with a control variate in the backward pass (a leave-one-out baseline, PyEPO's and
    /// InferOpt's `variance_reduction`, on by default there): J·v = (1/S)·Σ ⟨y_s − ȳ₋ₛ, v⟩·Z_s ⊘ (σ·w), ȳ₋ₛ the mean
    /// of the other S − 1 solutions. Same forward value; the gradient estimate has the same mean as the plain one
    /// (Z_s is independent of ȳ₋ₛ) and a smaller variance, much smaller when the solutions vary little around their
    /// mean. `samples` ≥ 2. Noise from `generator` only.
    let perturbedOptimizerWithBaseline
        (problem: Problem)
        (sigma: float)
        (samples: int)
        (generator: torch.Generator)
        (weights: Tensor)
        : Tensor =
        BackwardErrors.throwIfAny ()
        Validate.intAtLeast "samples" 2 samples
        let call = prepare problem sigma samples generator weights true
        MultiplicativePerturbedFunction.apply (weights, call)

    /// The Fenchel–Young loss with multiplicative noise against target states [..batch, ...shape] (PyEPO's PFYMul),
    /// averaged over the batch; ≥ 0 in both senses (see `MultiplicativeFenchelYoungFunction`): for Minimise
    /// ⟨c, w⟩ − E[min_y ⟨c ⊙ f, y⟩] with gradient w − E[y ⊙ f]; for Maximise the mirror image.
    let fenchelYoung
        (problem: Problem)
        (sigma: float)
        (samples: int)
        (generator: torch.Generator)
        (weights: Tensor)
        (target: Tensor)
        : Tensor =
        BackwardErrors.throwIfAny ()

        if isNull target then
            nullArg "target"

        if not (isNull weights) && target.shape <> weights.shape then
            invalidArg
                "target"
                (sprintf
                    "target has shape %s but weights has shape %s; they must match."
                    (Validate.shapeText target.shape)
                    (Validate.shapeText weights.shape))

        let call = prepare problem sigma samples generator weights false
        MultiplicativeFenchelYoungFunction.apply (weights, call, target.detach ())
