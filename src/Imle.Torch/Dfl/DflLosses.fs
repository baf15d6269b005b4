namespace Imle.Torch

open System
open System.Collections.Generic
open TorchSharp
open Imle

/// Call data of the SPO+ function: the true costs c and the true optimal solutions w*(c), both [B, m].
type internal SpoPlusDetails =
    { TrueCosts: Tensor
      TrueSolutions: Tensor }

/// The SPO+ loss (Elmachtoub and Grigas, "Smart 'Predict, then Optimize'", Management Science 2022, Eq. (9)) as a
/// TorchSharp autograd function over predicted costs ĉ [B, m]; returns the batch mean. See `DflLosses.spoPlus` for the
/// sense convention.
type internal SpoPlusFunction() =
    inherit torch.autograd.SingleTensorFunction<SpoPlusFunction>()
    override _.Name = "SpoPlusFunction"

    override _.forward(ctx, args) =
        let predicted = args.[0] :?> Tensor
        let call = args.[1] :?> Call<SpoPlusDetails>
        ctx.save_data ("call", call)
        let b, m = call.Rows, call.Size

        let sign =
            match call.Problem.Sense with
            | Minimise -> 1.0
            | Maximise -> -1.0

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

            let sign =
                match call.Problem.Sense with
                | Minimise -> 1.0
                | Maximise -> -1.0
            // d/dĉ = 2·sign·(w*(c) − w*(2ĉ − c)) per row, divided by B for the mean, times the upstream gradient.
            use diff = wc - wa
            use scaled = Safe.mulScalar diff (2.0 * sign / float call.Rows)
            scaled * grad)

/// Losses of decision-focused learning (predict-then-optimise) over predicted costs.
[<RequireQualifiedAccess>]
module DflLosses =

    let private checkLike (name: string) (like: Tensor) (t: Tensor) =
        if isNull t then
            raise (ArgumentNullException(name, sprintf "%s must not be null." name))

        if t.shape <> like.shape then
            invalidArg
                name
                (sprintf
                    "%s has shape %s but predicted has shape %s; they must match."
                    name
                    (Validate.shapeText t.shape)
                    (Validate.shapeText like.shape))

    /// The SPO+ loss (Elmachtoub and Grigas 2022, Eq. (9); PyEPO's `pyepo/func/spoplus.py`), averaged over the batch,
    /// with its subgradient as backward pass.
    ///
    /// Sense convention (stated once; PyEPO#56/#57/#60 were confusion here): `predicted` ĉ, `trueCosts` c and
    /// `trueSolutions` w*(c) are all in the problem's OWN sense — costs for a Minimise problem, values (scores) for a
    /// Maximise problem — with w*(c) the problem's optimal solution for c (e.g. `TensorSolve.solve problem c` or a
    /// `DflDataset`'s Solutions). For Minimise:
    ///
    ///   ℓ_SPO+(ĉ, c) = −min_{w ∈ S} (2ĉ − c)ᵀw + 2ĉᵀw*(c) − z*(c),   subgradient 2(w*(c) − w*(2ĉ − c)),
    ///
    /// with z*(c) = cᵀw*(c). A Maximise problem is the Minimise problem on −values, so ℓ(v̂, v) = ℓ_min(−v̂, −v) and the
    /// subgradient is 2(w*(2v̂ − v) − w*(v)), with w* the problem's own (maximising) solutions. In both senses ℓ ≥ 0,
    /// ℓ = 0 at ĉ = c, and ℓ is convex in ĉ. Shapes: [..batch, ...problem.Shape] for all three; returns a scalar (the
    /// mean over the batch). One batched solve of 2ĉ − c per call (CPU rows in parallel).
    let spoPlus (problem: Problem) (predicted: Tensor) (trueCosts: Tensor) (trueSolutions: Tensor) : Tensor =
        BackwardErrors.throwIfAny ()

        if isNull (box problem) then
            nullArg "problem"

        let dims = Shapes.batchDims "predicted" problem predicted
        checkLike "trueCosts" predicted trueCosts
        TensorSolve.validate "trueCosts" problem trueCosts
        checkLike "trueSolutions" predicted trueSolutions
        TensorSolve.validate "trueSolutions" problem trueSolutions

        let call: Call<SpoPlusDetails> =
            { Problem = problem
              BatchDims = dims
              Parallelism = TensorSolve.defaultParallelism
              Details =
                { TrueCosts = trueCosts.detach ()
                  TrueSolutions = trueSolutions.detach () } }

        SpoPlusFunction.apply (predicted, call)
