namespace Imle.Torch

open System
open System.Collections.Generic
open TorchSharp
open Imle

/// Errors raised inside autograd backward passes. libtorch calls `backward` from native code, where a managed exception
/// would end the process; so every Imle backward pass catches its exceptions, records them here and returns a NaN
/// gradient. The error is rethrown, with its original message, by `Training.backward` and by the next forward pass of
/// any Imle layer, estimator or loss (every one builds its call with `Calls.create` or solves with
/// `Discrete.mapValidated`, the two places that rethrow), so it cannot pass unnoticed.
[<RequireQualifiedAccess>]
module internal BackwardErrors =
    // Per thread: libtorch's CPU autograd engine runs a backward pass on the thread that called backward(), so an
    // error belongs to that thread's training loop and must not surface in another thread's.
    let private queues =
        new System.Threading.ThreadLocal<System.Collections.Concurrent.ConcurrentQueue<exn>>(fun () ->
            System.Collections.Concurrent.ConcurrentQueue<exn>())

    let private pending () = queues.Value

    /// Records an error raised inside a backward pass.
    let record (e: exn) = (pending ()).Enqueue e

    /// Rethrows (as InvalidOperationException wrapping the original) the first recorded error, clearing the others.
    let throwIfAny () =
        let queue = pending ()

        match queue.TryDequeue() with
        | true, e ->
            let mutable rest = Unchecked.defaultof<exn>

            while queue.TryDequeue(&rest) do
                ()

            raise (InvalidOperationException(sprintf "An Imle backward pass failed: %s" e.Message, e))
        | _ -> ()

    /// Runs a backward body; on an exception records it and returns a NaN gradient of the given shape for the first
    /// input (and null for the other `inputs − 1` non-tensor arguments).
    let guard (shape: int64[]) (like: Tensor) (inputs: int) (body: unit -> Tensor) : List<Tensor> =
        let g =
            try
                body ()
            with e ->
                record e
                Safe.full shape Double.NaN like.dtype like.device

        let result = List<Tensor>()
        result.Add g

        for _ in 2..inputs do
            result.Add null

        result

/// What every autograd call needs besides its weights, saved in the autograd context (TorchSharp keeps one function
/// instance per type, so nothing per call may live in fields): the problem, the weights' batch dims, the solver
/// threads and the estimator's own data.
type internal Call<'Details> =
    {
        Problem: Problem
        BatchDims: int64[]
        /// Threads for the CPU solver rows.
        Parallelism: int
        Details: 'Details
    }

    /// B, the number of rows (product of the batch dims).
    member this.Rows = Shapes.batchSize this.BatchDims
    /// m, the number of entries of a state.
    member this.Size = int64 this.Problem.Size
    /// The weights' (and their gradient's) shape.
    member this.WeightShape = Shapes.weightShape this.BatchDims this.Problem

/// The preamble and the guarded backward every autograd function shares.
module internal Calls =

    /// The call of an estimator or loss on validated weights: first rethrows an error a previous backward pass recorded
    /// (the one place forward passes do so), then holds what the autograd function needs.
    let create (problem: Problem) (batchDims: int64[]) (parallelism: int) (details: 'D) : Call<'D> =
        BackwardErrors.throwIfAny ()

        { Problem = problem
          BatchDims = batchDims
          Parallelism = parallelism
          Details = details }

    /// The weights and the call an autograd function's `apply` was given (its first two arguments).
    let arguments<'D> (args: obj[]) : Tensor * Call<'D> =
        (args.[0] :?> Tensor), (args.[1] :?> Call<'D>)

    /// Saves the call in the context and returns θ (maximisation terms) as [B, 1, m].
    let start (ctx: torch.autograd.AutogradContext) (call: Call<'D>) (weights: Tensor) : Tensor =
        ctx.save_data ("call", call)
        (Shapes.toScores call.Problem weights).reshape(call.Rows, 1L, call.Size)

    /// MAP(θ + scale·ε) in maximisation terms for scores θ [B, 1, m] (or [B, S, m]) and noise ε [B, S, m] → states
    /// [B, S, m]. θ and ε are validated already (θ at the entry point, ε drawn by TensorNoise), so the solve skips the
    /// checks (each would force a device sync).
    let solvePerturbed (call: Call<'D>) (theta: Tensor) (eps: Tensor) (scale: float) : Tensor =
        let b, s, m = eps.shape.[0], eps.shape.[1], eps.shape.[2]

        use scaled =
            if scale = 1.0 then
                eps.alias ()
            else
                Safe.mulScalar eps scale

        use perturbed = Safe.add theta scaled

        use flat =
            perturbed.reshape (Array.append [| b * s |] (Array.map int64 call.Problem.Shape))

        use z = TensorSolve.solveScoresValidated call.Parallelism call.Problem flat
        z.reshape (b, s, m)

    /// A guarded backward pass: reads the call, checks dL/dz, runs `body` (which returns dL/dw with the weights' number
    /// of entries) and reshapes its result to the weights' shape; errors are recorded (`BackwardErrors`), never thrown
    /// into libtorch. `inputs` is the number of arguments `apply` was called with.
    let guarded
        (name: string)
        (inputs: int)
        (ctx: torch.autograd.AutogradContext)
        (grad: Tensor)
        (body: Call<'D> -> Tensor)
        =
        let call = ctx.get_data ("call") :?> Call<'D>

        BackwardErrors.guard call.WeightShape grad inputs (fun () ->
            Shapes.checkGradient name grad
            (body call).reshape(call.WeightShape))

    /// `guarded` for a body that returns dL/dθ (maximisation terms): mapped to dL/dw in the problem's sense.
    let backward
        (name: string)
        (inputs: int)
        (ctx: torch.autograd.AutogradContext)
        (grad: Tensor)
        (body: Call<'D> -> Tensor)
        =
        guarded name inputs ctx grad (fun call -> Shapes.toWeightGradient call.Problem (body call))

    /// The control variate of perturbed optimizers on solutions ys [B, S, m], additive or multiplicative: the core's
    /// `ControlVariate.apply` on tensors (parity tested): yₛ − ȳ₋ₛ = (yₛ − ȳ)·S/(S − 1) for the leave-one-out
    /// baseline, ys itself (an alias) without one. The caller disposes the result.
    let controlVariate (controlVariate: ControlVariate) (ys: Tensor) : Tensor =
        match controlVariate with
        | LeaveOneOut ->
            use mean = ys.mean ([| 1L |], true)
            use deviation = ys - mean
            let s = float ys.shape.[1]
            Safe.mulScalar deviation (s / (s - 1.0))
        | NoControlVariate -> ys.alias ()

/// The base of Imle's autograd functions over a `Call`: TorchSharp's one-instance-per-type function named after its
/// type, whose forward receives the weights and the call `apply` was given first (`rest` is every argument, for the
/// functions that pass more).
[<AbstractClass>]
type internal CallFunction<'Self, 'D
    when 'Self :> torch.autograd.SingleTensorFunction<'Self> and 'Self: (new: unit -> 'Self)>() =
    inherit torch.autograd.SingleTensorFunction<'Self>()
    override _.Name = typeof<'Self>.Name

    /// The forward pass on the weights and the call (and `apply`'s arguments, `rest`).
    abstract Forward: ctx: torch.autograd.AutogradContext * weights: Tensor * call: Call<'D> * rest: obj[] -> Tensor

    override this.forward(ctx, args) =
        let weights, call = Calls.arguments<'D> args
        this.Forward(ctx, weights, call, args)

/// The θ' rule of I-MLE's targets on tensors: the core's `Target.build` (the one definition) interpreted on scores
/// θ [B, S, m] and dL/dz [B, S, m]; parity with the core is tested. `direction` = +1 gives θ − λ·dL/dz, −1 gives
/// θ + λ·dL/dz (the other side of the symmetric variant). The caller disposes the result.
module internal TensorTarget =

    let build (target: Target) (lambda: float) (direction: float) (theta: Tensor) (dy: Tensor) : Tensor =
        match target with
        | Pid _
        | Adaptive _ ->
            use step = Safe.mulScalar dy lambda

            if direction > 0.0 then
                theta - step
            else
                Safe.add theta step
        | CombOpt ->
            use isZero = dy.eq (torch.zeros_like (dy))
            use negated = dy.neg ()
            torch.where (isZero, theta, negated)
        | CustomTarget(name, _) ->
            // A user's function of arrays: row by row on the CPU, through the core's rule.
            let b, s, m = theta.shape.[0], theta.shape.[1], theta.shape.[2]
            use thetaCpu = theta.reshape(b * s, m).``to``(torch.float64, torch.CPU)
            use dyCpu = dy.reshape(b * s, m).``to``(torch.float64, torch.CPU)
            let th = thetaCpu.data<float>().ToArray()
            let dv = dyCpu.data<float>().ToArray()

            let rows =
                Array.init (int (b * s)) (fun r ->
                    let seg (a: float[]) = Array.sub a (r * int m) (int m)
                    let t' = Target.build target lambda direction (seg th) (seg dv)
                    Validate.allFinite (sprintf "custom target '%s' output" name) t'
                    t')

            use flatTarget = torch.tensor (Array.concat rows)
            flatTarget.reshape(b, s, m).``to``(theta.dtype, theta.device)

/// What a discrete call returns when its estimator draws S samples.
type SampleOutput =
    /// The mean over the S samples, shaped like the weights (the default).
    | MeanOfSamples
    /// All samples, [..batch, S, ...shape] (I-MLE, and SFESS, whose backward is then the estimate for the loss the
    /// caller computes over the draws, as `KSubsetTensor.sfess`; the other estimators always return the mean).
    | AllSamples

/// I-MLE's own call data.
type internal ImleDetails =
    {
        Options: ImleOptions
        /// ε, shape [B, S, m].
        Eps: Tensor
        /// The mean over the S samples or all of them.
        Output: SampleOutput
        /// The layer's adaptive-λ state, for an adaptive target.
        Adaptive: AdaptiveLambdaCell option
    }

/// I-MLE (Eq. 9, Algorithm 1) as a TorchSharp autograd function over weights [B, ...]. Forward: ẑ = MAP(θ + τ_in·ε)
/// per sample; backward: (ẑ − MAP(θ' + τ_t·ε))/λ with the same ε, averaged over the S samples. θ' is the target's rule
/// (Target.build, here on tensors; parity with the reference core is tested).
type internal ImleFunction() =
    inherit CallFunction<ImleFunction, ImleDetails>()

    override _.Forward(ctx, weights, call, _) =
        let d = call.Details
        let b, m, s = call.Rows, call.Size, int64 d.Options.Samples
        use theta = Calls.start ctx call weights
        let z3 = Calls.solvePerturbed call theta d.Eps d.Options.InputTemperature
        ctx.save_for_backward (List [ theta.detach().reshape(b, m); z3 ])
        let stateDims = Array.map int64 call.Problem.Shape

        match d.Output with
        | MeanOfSamples -> z3.mean([| 1L |]).reshape(call.WeightShape)
        | AllSamples -> z3.reshape (Array.concat [ call.BatchDims; [| s |]; stateDims ])

    override _.backward(ctx, grad) =
        Calls.backward "I-MLE" 2 ctx grad (fun (call: Call<ImleDetails>) ->
            let saved = ctx.get_saved_variables ()
            let theta, z = saved.[0], saved.[1]
            let d = call.Details
            let o = d.Options
            let b, m, s = call.Rows, call.Size, int64 o.Samples

            use dy =
                match d.Output with
                | MeanOfSamples -> grad.reshape(b, 1L, m).expand(b, s, m).contiguous()
                | AllSamples -> grad.reshape (b, s, m)

            use thetaS = theta.unsqueeze(1L).expand(b, s, m)

            let solveAt (target: Tensor) =
                Calls.solvePerturbed call target d.Eps o.TargetTemperature

            let lambda =
                match o.Target with
                | Adaptive _ ->
                    // As torch-adaptive-imle: ‖θ‖ over the batch (each instance once), ‖dL/dz‖ over all B·S samples.
                    use tn = theta.norm ()
                    use gn = dy.norm ()

                    Target.lambdaFor
                        o.Target
                        (d.Adaptive |> Option.map (fun c -> c.State))
                        (tn.ToDouble())
                        (gn.ToDouble())
                | target -> Target.lambdaFor target None 0.0 0.0

            let diff =
                if o.Symmetric then
                    use up = TensorTarget.build o.Target lambda -1.0 thetaS dy
                    use down = TensorTarget.build o.Target lambda 1.0 thetaS dy
                    use zUp = solveAt up
                    use zDown = solveAt down
                    use difference = zUp - zDown
                    Safe.mulScalar difference 0.5
                else
                    use target = TensorTarget.build o.Target lambda 1.0 thetaS dy
                    use z' = solveAt target
                    z - z'

            use diff = diff

            match d.Adaptive with
            | Some cell ->
                use nz =
                    diff.ne(torch.zeros_like (diff)).sum(-1L, false, Nullable torch.float64).mean()

                cell.Record(nz.item<float>())
            | None -> ()

            let scale =
                match o.Scaling with
                | DivideByLambda when lambda > 0.0 -> 1.0 / lambda
                | _ -> 1.0

            use sampleMean = diff.mean ([| 1L |])
            Safe.mulScalar sampleMean scale)

/// Straight-through and identity with projection (Sahoo et al.): forward ẑ = MAP(θ + ε); backward dL/dθ = P(dL/dz).
/// Call data: the projection and ε [B, 1, m].
type internal IdentityFunction() =
    inherit CallFunction<IdentityFunction, Projection * Tensor>()

    override _.Forward(ctx, weights, call, _) =
        let _, eps = call.Details
        use theta = Calls.start ctx call weights
        use z = Calls.solvePerturbed call theta eps 1.0
        z.reshape (weights.shape)

    override _.backward(ctx, grad) =
        Calls.backward "identity" 2 ctx grad (fun (call: Call<Projection * Tensor>) ->
            let projection, _ = call.Details
            use flat = grad.reshape (call.Rows, call.Size)

            match projection with
            | NoProjection -> flat.alias ()
            | MeanCentre -> flat - flat.mean ([| 1L |], true)
            | Standardise ->
                use centred = flat - flat.mean ([| 1L |], true)
                use sd = (centred * centred).mean([| 1L |], true).sqrt()
                use safe = torch.where (sd.eq (torch.zeros_like (sd)), torch.ones_like (sd), sd)
                centred / safe)

/// The optimal value OPT(w) = ⟨z*(w), w⟩ of a linear problem as a differentiable function of the weights
/// (Gao et al.): its generalized gradient is the optimal solution z*(w), in the problem's own sense.
type internal OptimalValueFunction() =
    inherit CallFunction<OptimalValueFunction, unit>()

    override _.Forward(ctx, weights, call, _) =
        ctx.save_data ("call", call)
        let z = TensorSolve.solveValidated call.Parallelism call.Problem weights
        ctx.save_for_backward (List [ z ])
        use prod = (z * weights).reshape(call.Rows, call.Size)
        prod.sum([| 1L |]).reshape(call.BatchDims)

    override _.backward(ctx, grad) =
        // dOPT/dw = z*, already in the weights' own sense.
        Calls.guarded "optimal value" 2 ctx grad (fun (call: Call<unit>) ->
            let z = ctx.get_saved_variables().[0]
            use g = grad.reshape (call.Rows, 1L)
            use zFlat = z.reshape (call.Rows, call.Size)
            zFlat * g)

/// The score-function backward: REINFORCE with the reward ⟨dL/dz, z⟩ (exact for losses linear in z up to a constant
/// over C, such as ‖z − b‖² on k-subsets) and a leave-one-out baseline over the S samples. Call data: τ. The exact
/// samples [B, S, m] are drawn outside and passed as the third argument.
type internal ScoreFunctionFunction() =
    inherit CallFunction<ScoreFunctionFunction, float>()

    override _.Forward(ctx, weights, call, args) =
        let zs = args.[2] :?> Tensor
        ctx.save_data ("call", call)
        ctx.save_for_backward (List [ weights.detach (); zs ])
        zs.mean([| 1L |]).reshape(weights.shape)

    override _.backward(ctx, grad) =
        Calls.backward "score function" 3 ctx grad (fun (call: Call<float>) ->
            let saved = ctx.get_saved_variables ()
            let weights, zs = saved.[0], saved.[1]
            let p = call.Problem
            let b, m = call.Rows, call.Size
            let s = zs.shape.[1]
            use dy = grad.reshape (b, 1L, m)
            use reward = (zs * dy).sum([| 2L |]) // [B, S]

            use baseline =
                if s > 1L then
                    use others = reward.sum ([| 1L |], true) - reward
                    Safe.divScalar others (float (s - 1L))
                else
                    torch.zeros_like (reward)

            use advantage = reward - baseline
            use enabled = torch.enable_grad ()

            use theta =
                (Shapes.toScores p weights).reshape(b, 1L, m).expand(b, s, m).contiguous().requires_grad_(true)

            use logp =
                ExactTensor.logProbabilityOfScores p call.Details (theta.reshape (b * s, m)) (zs.reshape (b * s, m))

            use total = (logp * advantage.reshape (b * s)).sum()
            use surrogate = Safe.divScalar total (float s)
            let gs = torch.autograd.grad (List [ surrogate ], List [ theta ])
            gs.[0].sum([| 1L |]))
