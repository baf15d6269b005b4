namespace Imle.Torch

open System.Collections.Generic
open TorchSharp
open Imle

/// Perturbed optimizers (Berthet et al. 2020): forward ȳ = (1/S)·Σ MAP(θ + εₛ); backward
/// J·v = (1/S)·Σ ⟨yₛ, v⟩·∇ν(εₛ/σ)/σ, with ∇ν(Z) = Z for Normal and 1 − e^(−Z) for Gumbel noise; with the control
/// variate, ⟨yₛ − ȳ₋ₛ, v⟩ in place of ⟨yₛ, v⟩, ȳ₋ₛ the mean of the other S − 1 solutions. Call data: the options
/// (additive noise) and ε [B, S, m]. The reference is `Reference.backward` with `Perturbed`.
type internal PerturbedFunction() =
    inherit CallFunction<PerturbedFunction, PerturbedOptions * Tensor>()

    override _.Forward(ctx, weights, call, _) =
        let _, eps = call.Details
        use theta = Calls.start ctx call weights
        let ys = Calls.solvePerturbed call theta eps 1.0
        ctx.save_for_backward (List [ ys ])
        ys.mean([| 1L |]).reshape(weights.shape)

    override _.backward(ctx, grad) =
        Calls.backward "perturbed optimizer" 2 ctx grad (fun (call: Call<PerturbedOptions * Tensor>) ->
            let options, eps = call.Details
            let ys = ctx.get_saved_variables().[0]
            use v = grad.reshape (call.Rows, 1L, call.Size)

            use centred = Calls.controlVariate options.ControlVariate ys

            use dots = (centred * v).sum([| 2L |], true) // [B, S, 1]

            let noise = PerturbedOptions.noise options
            let sigma = PerturbedOptions.additiveScale noise

            use zStd = Safe.divScalar eps sigma

            use gradNu =
                match noise with
                | Gumbel _ ->
                    use decay = torch.exp (zStd.neg ())
                    Safe.subtractFrom 1.0 decay
                | _ -> zStd.alias ()

            use weighted = dots * gradNu
            use terms = Safe.divScalar weighted sigma
            terms.mean ([| 1L |]))

/// The multiplicative perturbation w̃ = w ⊙ exp(σZ − σ²/2) on tensors (the core's `Reference` case
/// `Perturbed { Perturbation = Multiplicative σ }`, parity tested): the factors [B, S, m] (mean 1, positive) and the
/// solutions y(w ⊙ factor) [B, S, m] in the problem's own sense for weights [B, 1, m] and Z [B, S, m].
module internal MultiplicativeCalls =

    /// Fails unless every weight is non-zero (the perturbation keeps the sign and its Jacobian divides by the weight).
    let checkNonZero (name: string) (weights: Tensor) =
        use isZero = weights.eq (torch.zeros_like (weights))
        use anyZero = isZero.any ()

        if anyZero.item<bool>() then
            invalidArg
                name
                (sprintf
                    "%s must be non-zero for a multiplicative perturbation (its sign is kept and its Jacobian divides by the weight); shift or squash the predictions (e.g. softplus plus a small constant)."
                    name)

    let solve (call: Call<'D>) (sigma: float) (z: Tensor) (w: Tensor) : Tensor * Tensor =
        let b, s, m = z.shape.[0], z.shape.[1], z.shape.[2]
        use scaled = Safe.mulScalar z sigma
        use shifted = Safe.addScalar scaled (-0.5 * sigma * sigma)
        let factor = torch.exp shifted
        use perturbed = w * factor

        use flat =
            perturbed.reshape (Array.append [| b * s |] (Array.map int64 call.Problem.Shape))

        use ys = TensorSolve.solveValidated call.Parallelism call.Problem flat
        factor, ys.reshape (b, s, m)

/// The perturbed optimizer with multiplicative log-normal noise (Dalle et al., "Learning with combinatorial optimization
/// layers: a probabilistic approach", 2022, Sec. 3; PyEPO's `perturbedOptMul`, InferOpt's `PerturbedMultiplicative`
/// after its fix InferOpt#82): forward ȳ(w) = (1/S)·Σ_s y(w ⊙ exp(σZ_s − σ²/2)); backward
/// J·v = (1/S)·Σ_s ⟨y_s, v⟩·Z_s ⊘ (σ·w), or with the control variate ⟨y_s − ȳ₋ₛ, v⟩ in place of ⟨y_s, v⟩. The
/// perturbation keeps the sign of every weight (and E[exp(σZ − σ²/2)] = 1). Call data: σ and Z [B, S, m], with the
/// options.
type internal MultiplicativePerturbedFunction() =
    inherit CallFunction<MultiplicativePerturbedFunction, PerturbedOptions * float * Tensor>()

    override _.Forward(ctx, weights, call, _) =
        let _, sigma, z = call.Details
        ctx.save_data ("call", call)
        let w = weights.detach().reshape(call.Rows, 1L, call.Size)
        let factor, ys = MultiplicativeCalls.solve call sigma z w
        factor.Dispose()
        ctx.save_for_backward (List [ ys; w ])
        ys.mean([| 1L |]).reshape(weights.shape)

    override _.backward(ctx, grad) =
        Calls.guarded
            "multiplicative perturbed optimizer"
            2
            ctx
            grad
            (fun (call: Call<PerturbedOptions * float * Tensor>) ->
                let options, sigma, z = call.Details
                let saved = ctx.get_saved_variables ()
                let ys, w = saved.[0], saved.[1]
                use v = grad.reshape (call.Rows, 1L, call.Size)
                // Z_s is independent of the other samples, so the control variate keeps the mean gradient.
                use centred = Calls.controlVariate options.ControlVariate ys

                use dots = (centred * v).sum([| 2L |], true) // [B, S, 1]
                use weighted = dots * z
                use mean = weighted.mean ([| 1L |], true) // [B, 1, m]
                use denominator = Safe.mulScalar w sigma
                use g = mean / denominator
                g.reshape (call.Rows, call.Size))
