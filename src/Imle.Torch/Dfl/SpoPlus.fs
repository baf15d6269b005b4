namespace Imle.Torch

open System.Collections.Generic
open TorchSharp
open Imle

/// Call data of the SPO+ function: the true costs c and the true optimal solutions w*(c), both [B, m].
type internal SpoPlusDetails =
    { TrueCosts: Tensor
      TrueSolutions: Tensor }

/// The SPO+ loss (Elmachtoub and Grigas, "Smart 'Predict, then Optimize'", Management Science 2022, Eq. (9)) as a
/// TorchSharp autograd function over predicted costs ĉ [B, m]; returns the batch mean. The sense through
/// `DflLoss.orientation`; the reference is `DflLoss.reference` with `SpoPlus`.
type internal SpoPlusFunction() =
    inherit CallFunction<SpoPlusFunction, SpoPlusDetails>()

    override _.Forward(ctx, predicted, call, _) =
        ctx.save_data ("call", call)
        let b, m = call.Rows, call.Size

        let sign = DflLoss.orientation call.Problem
        use cHat = predicted.detach().reshape(b, m)

        use c =
            call.Details.TrueCosts.reshape(b, m).``to``(predicted.dtype, predicted.device)

        use wc =
            call.Details.TrueSolutions.reshape(b, m).``to``(predicted.dtype, predicted.device)
        // a = 2ĉ − c, solved in the problem's own sense: w*(a).
        use twice = Safe.mulScalar cHat 2.0
        use a = twice - c

        use stateShape =
            a.reshape (Array.append [| b |] (Array.map int64 call.Problem.Shape))

        use waShaped = TensorSolve.solveValidated call.Parallelism call.Problem stateShape
        let wa = waShaped.reshape (b, m)
        // Per row, in minimisation terms: −aᵀw*(a) + 2ĉᵀw*(c) − cᵀw*(c), times the sense sign.
        use aw = (a * wa).sum([| 1L |])
        use chw = (cHat * wc).sum([| 1L |])
        use cw = (c * wc).sum([| 1L |])
        use twiceChw = Safe.mulScalar chw 2.0
        use partial = twiceChw - aw
        use rowLoss = partial - cw
        use signed = Safe.mulScalar rowLoss sign
        ctx.save_for_backward (List [ wa; wc.alias () ])
        signed.mean ()

    override _.backward(ctx, grad) =
        Calls.guarded "SPO+" 2 ctx grad (fun (call: Call<SpoPlusDetails>) ->
            let saved = ctx.get_saved_variables ()
            let wa, wc = saved.[0], saved.[1]

            let sign = DflLoss.orientation call.Problem
            // d/dĉ = 2·sign·(w*(c) − w*(2ĉ − c)) per row, divided by B for the mean, times the upstream gradient.
            use diff = wc - wa
            use scaled = Safe.mulScalar diff (2.0 * sign / float call.Rows)
            scaled * grad)
