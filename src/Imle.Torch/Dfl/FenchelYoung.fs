namespace Imle.Torch

open System.Collections.Generic
open TorchSharp
open Imle

/// The Fenchel–Young loss of perturbed optimizers (Berthet et al. 2020), batched: value F(θ) − ⟨θ, y⟩ with
/// F(θ) = E[max_z ⟨z, θ + ε⟩], averaged over the batch; gradient ȳ(θ) − y w.r.t. θ (the reference is
/// `DflLoss.reference` with `FenchelYoung`). Call data: ε [B, S, m] and the target states y.
type internal FenchelYoungFunction() =
    inherit CallFunction<FenchelYoungFunction, Tensor * Tensor>()

    override _.Forward(ctx, weights, call, _) =
        let eps, target = call.Details
        let b, m = call.Rows, call.Size
        use theta = Calls.start ctx call weights
        use ys = Calls.solvePerturbed call theta eps 1.0
        use perturbed = Safe.add theta eps
        use values = (ys * perturbed).sum([| 2L |]).mean([| 1L |]) // F(θ) per row
        use y = target.reshape(b, m).``to``(weights.dtype, weights.device)
        use linear = (theta.squeeze (1L) * y).sum([| 1L |])
        let yBar = ys.mean ([| 1L |])
        ctx.save_for_backward (List [ yBar; y.alias () ])
        (values - linear).mean()

    override _.backward(ctx, grad) =
        Calls.backward "Fenchel-Young loss" 2 ctx grad (fun (call: Call<Tensor * Tensor>) ->
            let saved = ctx.get_saved_variables ()
            let yBar, y = saved.[0], saved.[1]
            use residual = yBar - y
            use weighted = residual * grad
            Safe.divScalar weighted (float call.Rows))

/// The Fenchel–Young loss with multiplicative perturbation (PyEPO's `perturbedFenchelYoungMul`; Dalle et al. 2022),
/// batch mean. For Minimise, with F(c) = E[min_y ⟨c ⊙ f, y⟩] and f = exp(σZ − σ²/2): ℓ = ⟨c, w⟩ − F(c) ≥ 0,
/// gradient w − E[y(c ⊙ f) ⊙ f]; for Maximise the signs flip: ℓ = F(θ) − ⟨θ, w⟩, gradient E[y ⊙ f] − w (the sense
/// through `DflLoss.orientation`; the reference is `DflLoss.reference` with `FenchelYoung`). Call data: σ and
/// Z [B, S, m]; the target states w are the third argument.
type internal MultiplicativeFenchelYoungFunction() =
    inherit CallFunction<MultiplicativeFenchelYoungFunction, float * Tensor>()

    override _.Forward(ctx, weights, call, args) =
        let target = args.[2] :?> Tensor
        ctx.save_data ("call", call)
        let b, m = call.Rows, call.Size

        let sign = DflLoss.orientation call.Problem
        let sigma, z = call.Details

        use w = weights.detach().reshape(b, 1L, m)
        let factor, ys = MultiplicativeCalls.solve call sigma z w
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
        Calls.guarded "multiplicative Fenchel-Young loss" 3 ctx grad (fun (_: Call<float * Tensor>) ->
            let gradient = ctx.get_saved_variables().[0]
            gradient * grad)
