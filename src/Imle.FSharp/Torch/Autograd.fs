namespace Imle.Torch

open System
open System.Collections.Generic
open TorchSharp
open Imle

/// Shape bookkeeping shared by the autograd functions: weights [..batch, ...problem.Shape] are viewed as [B, m].
module internal Shapes =

    /// Checks `weights` with `TensorSolve.validate` (trailing dims = the problem's shape, finite floating entries) and
    /// returns the batch dims.
    let batchDims (parameter: string) (problem: Problem) (weights: Tensor) : int64[] =
        TensorSolve.validate parameter problem weights
        let shape = weights.shape
        shape.[.. shape.Length - problem.Shape.Length - 1]

    let batchSize (dims: int64[]) = Array.fold (*) 1L dims

    /// The shape of weights (and of their gradient): the batch dims followed by the problem's state shape.
    let weightShape (batchDims: int64[]) (problem: Problem) : int64[] =
        Array.append batchDims (Array.map int64 problem.Shape)

    /// Scores θ from weights in the problem's sense (θ = −c for minimisation).
    let toScores (problem: Problem) (weights: Tensor) : Tensor =
        match problem.Sense with
        | Maximise -> weights.alias()
        | Minimise -> weights.neg()

    /// dL/dw from dL/dθ.
    let toWeightGradient (problem: Problem) (gradTheta: Tensor) : Tensor =
        match problem.Sense with
        | Maximise -> gradTheta
        | Minimise -> gradTheta.neg()

    /// MAP(θ + scale·ε) in maximisation terms for scores θ [B, 1, m] and noise ε [B, S, m] → states [B, S, m].
    let solvePerturbed (problem: Problem) (theta: Tensor) (eps: Tensor) (scale: float) : Tensor =
        let b, s, m = eps.shape.[0], eps.shape.[1], eps.shape.[2]
        use scaled = if scale = 1.0 then eps.alias() else Safe.mulScalar eps scale
        use perturbed = Safe.add theta scaled
        use flat = perturbed.reshape(Array.append [| b * s |] (Array.map int64 problem.Shape))
        use z = TensorSolve.solveScores problem flat
        z.reshape(b, s, m)

    /// Checks an upstream gradient for NaN/∞ before an estimator uses it.
    let checkGradient (name: string) (grad: Tensor) =
        use finite = torch.isfinite(grad).all()
        if not (finite.item<bool>()) then
            invalidOp (sprintf "%s: the incoming gradient dL/dz contains NaN or infinite entries; the estimator cannot use it (check the downstream loss)." name)

/// Errors raised inside autograd backward passes. libtorch calls `backward` from native code, where a managed exception
/// would end the process; so every Imle backward pass catches its exceptions, records them here and returns a NaN
/// gradient. The error is rethrown, with its original message, by `Training.backward` and by the next forward pass of
/// any Imle layer or function, so it cannot pass unnoticed.
[<RequireQualifiedAccess>]
module BackwardErrors =
    // Per thread: libtorch's CPU autograd engine runs a backward pass on the thread that called backward(), so an
    // error belongs to that thread's training loop and must not surface in another thread's.
    let private queues = new System.Threading.ThreadLocal<System.Collections.Concurrent.ConcurrentQueue<exn>>(fun () -> System.Collections.Concurrent.ConcurrentQueue<exn>())
    let private pending () = queues.Value

    /// Records an error raised inside a backward pass.
    let record (e: exn) = (pending ()).Enqueue e

    /// Rethrows (as InvalidOperationException wrapping the original) the first recorded error, clearing the others.
    let throwIfAny () =
        let queue = pending ()
        match queue.TryDequeue() with
        | true, e ->
            let mutable rest = Unchecked.defaultof<exn>
            while queue.TryDequeue(&rest) do ()
            raise (InvalidOperationException(sprintf "An Imle backward pass failed: %s" e.Message, e))
        | _ -> ()

    /// Runs a backward body; on an exception records it and returns a NaN gradient of the given shape for the first
    /// input (and null for the other `inputs − 1` non-tensor arguments).
    let guard (shape: int64[]) (like: Tensor) (inputs: int) (body: unit -> Tensor) : List<Tensor> =
        let g =
            try body ()
            with e ->
                record e
                Safe.full shape Double.NaN like.dtype like.device
        let result = List<Tensor>()
        result.Add g
        for _ in 2..inputs do result.Add null
        result

/// What an I-MLE call needs besides θ; saved in the autograd context (TorchSharp keeps one function instance per type,
/// so nothing per call may live in fields).
type internal ImleCall =
    { Problem: Problem
      Options: ImleOptions
      /// ε, shape [B, S, m].
      Eps: Tensor
      MeanOutput: bool
      BatchDims: int64[]
      /// The layer's adaptive-λ state, for an adaptive target.
      Adaptive: AdaptiveLambdaCell option }

/// I-MLE (Eq. 9, Algorithm 1) as a TorchSharp autograd function over weights [B, ...]. Forward: ẑ = MAP(θ + τ_in·ε)
/// per sample; backward: (ẑ − MAP(θ' + τ_t·ε))/λ with the same ε, averaged over the S samples.
type internal ImleFunction() =
    inherit torch.autograd.SingleTensorFunction<ImleFunction>()
    override _.Name = "ImleFunction"

    override _.forward(ctx, args) =
        let weights = args.[0] :?> Tensor
        let call = args.[1] :?> ImleCall
        let p = call.Problem
        let m = int64 p.Size
        let b = Shapes.batchSize call.BatchDims
        let s = int64 call.Options.Samples
        use theta = (Shapes.toScores p weights).reshape(b, 1L, m)
        let z3 = Shapes.solvePerturbed p theta call.Eps call.Options.InputTemperature
        ctx.save_for_backward(List [ theta.detach().reshape(b, m); z3 ])
        ctx.save_data("call", call)
        let stateDims = Array.map int64 p.Shape
        if call.MeanOutput then
            z3.mean([| 1L |]).reshape(Array.append call.BatchDims stateDims)
        else
            z3.reshape(Array.concat [ call.BatchDims; [| s |]; stateDims ])

    override _.backward(ctx, grad) =
        let call = ctx.get_data("call") :?> ImleCall
        BackwardErrors.guard (Shapes.weightShape call.BatchDims call.Problem) grad 2 (fun () ->
            let saved = ctx.get_saved_variables()
            let theta, z = saved.[0], saved.[1]
            let p = call.Problem
            let o = call.Options
            let m = int64 p.Size
            let b = Shapes.batchSize call.BatchDims
            let s = int64 o.Samples
            Shapes.checkGradient "I-MLE" grad
            use dy =
                if call.MeanOutput then grad.reshape(b, 1L, m).expand(b, s, m).contiguous()
                else grad.reshape(b, s, m)
            use thetaS = theta.unsqueeze(1L).expand(b, s, m)
            let solveAt (target: Tensor) = Shapes.solvePerturbed p target call.Eps o.TargetTemperature
            let lambda =
                match o.Target with
                | Adaptive _ ->
                    // As torch-adaptive-imle: ‖θ‖ over the batch (each instance once), ‖dL/dz‖ over all B·S samples.
                    use tn = theta.norm()
                    use gn = dy.norm()
                    Target.lambdaFor o.Target (call.Adaptive |> Option.map (fun c -> c.State)) (tn.ToDouble()) (gn.ToDouble())
                | target -> Target.lambdaFor target None 0.0 0.0
            let diff =
                match o.Target with
                | Pid _ | Adaptive _ ->
                    if o.Symmetric then
                        use step = Safe.mulScalar dy lambda
                        use up = Safe.add thetaS step
                        use down = thetaS - step
                        use zUp = solveAt up
                        use zDown = solveAt down
                        use difference = zUp - zDown
                        Safe.mulScalar difference 0.5
                    else
                        use step = Safe.mulScalar dy lambda
                        use target = thetaS - step
                        use z' = solveAt target
                        z - z'
                | CombOpt ->
                    use isZero = dy.eq(torch.zeros_like(dy))
                    use target = torch.where(isZero, thetaS, dy.neg())
                    use z' = solveAt target
                    z - z'
                | CustomTarget(name, _) ->
                    use thetaCpu = thetaS.reshape(b * s, m).``to``(torch.float64, torch.CPU)
                    use dyCpu = dy.reshape(b * s, m).``to``(torch.float64, torch.CPU)
                    let th = thetaCpu.data<float>().ToArray()
                    let dv = dyCpu.data<float>().ToArray()
                    let rows =
                        Array.init (int (b * s)) (fun r ->
                            let seg (a: float[]) = Array.sub a (r * int m) (int m)
                            let t' = Target.build o.Target 1.0 1.0 (seg th) (seg dv)
                            Validate.allFinite (sprintf "custom target '%s' output" name) t'
                            t')
                    use flatTarget = torch.tensor(Array.concat rows)
                    use target = flatTarget.reshape(b, s, m).``to``(theta.dtype, theta.device)
                    use z' = solveAt target
                    z - z'
            use diff = diff
            match call.Adaptive with
            | Some cell ->
                use nz = diff.ne(torch.zeros_like(diff)).sum(-1L, false, Nullable torch.float64).mean()
                cell.Record(nz.item<float>())
            | None -> ()
            let scale = match o.Scaling with DivideByLambda when lambda > 0.0 -> 1.0 / lambda | _ -> 1.0
            use sampleMean = diff.mean([| 1L |])
            use meanDiff = Safe.mulScalar sampleMean scale
            let g = Shapes.toWeightGradient p (meanDiff.reshape(Shapes.weightShape call.BatchDims p))
            g)

/// What the identity / straight-through backward needs.
type internal IdentityCall =
    { Problem: Problem
      Projection: Projection
      Eps: Tensor
      BatchDims: int64[] }

/// Straight-through and identity with projection (Sahoo et al.): forward ẑ = MAP(θ + ε); backward dL/dθ = P(dL/dz).
type internal IdentityFunction() =
    inherit torch.autograd.SingleTensorFunction<IdentityFunction>()
    override _.Name = "IdentityFunction"

    override _.forward(ctx, args) =
        let weights = args.[0] :?> Tensor
        let call = args.[1] :?> IdentityCall
        ctx.save_data("call", call)
        use theta = Shapes.toScores call.Problem weights
        use perturbed = Safe.add theta call.Eps
        TensorSolve.solveScores call.Problem perturbed

    override _.backward(ctx, grad) =
        let call = ctx.get_data("call") :?> IdentityCall
        BackwardErrors.guard (Shapes.weightShape call.BatchDims call.Problem) grad 2 (fun () ->
            Shapes.checkGradient "identity" grad
            let p = call.Problem
            let b = Shapes.batchSize call.BatchDims
            use flat = grad.reshape(b, int64 p.Size)
            use projected =
                match call.Projection with
                | NoProjection -> flat.alias()
                | MeanCentre -> flat - flat.mean([| 1L |], true)
                | Standardise ->
                    use centred = flat - flat.mean([| 1L |], true)
                    use sd = (centred * centred).mean([| 1L |], true).sqrt()
                    use safe = torch.where(sd.eq(torch.zeros_like(sd)), torch.ones_like(sd), sd)
                    centred / safe
            Shapes.toWeightGradient p (projected.reshape(grad.shape)))

/// What the perturbed-optimizer backward needs.
type internal PerturbedCall =
    { Problem: Problem
      Noise: Noise
      /// ε, shape [B, S, m].
      Eps: Tensor
      BatchDims: int64[] }

/// Perturbed optimizers (Berthet et al. 2020): forward ȳ = (1/S)·Σ MAP(θ + εₛ); backward
/// J·v = (1/S)·Σ ⟨yₛ, v⟩·∇ν(εₛ/σ)/σ, with ∇ν(Z) = Z for Normal and 1 − e^(−Z) for Gumbel noise.
type internal PerturbedFunction() =
    inherit torch.autograd.SingleTensorFunction<PerturbedFunction>()
    override _.Name = "PerturbedFunction"

    override _.forward(ctx, args) =
        let weights = args.[0] :?> Tensor
        let call = args.[1] :?> PerturbedCall
        let p = call.Problem
        let m = int64 p.Size
        let b = Shapes.batchSize call.BatchDims
        use theta = (Shapes.toScores p weights).reshape(b, 1L, m)
        let ys = Shapes.solvePerturbed p theta call.Eps 1.0
        ctx.save_for_backward(List [ ys ])
        ctx.save_data("call", call)
        ys.mean([| 1L |]).reshape(weights.shape)

    override _.backward(ctx, grad) =
        let call = ctx.get_data("call") :?> PerturbedCall
        BackwardErrors.guard (Shapes.weightShape call.BatchDims call.Problem) grad 2 (fun () ->
            Shapes.checkGradient "perturbed optimizer" grad
            let ys = ctx.get_saved_variables().[0]
            let p = call.Problem
            let b = Shapes.batchSize call.BatchDims
            let m = int64 p.Size
            use v = grad.reshape(b, 1L, m)
            use dots = (ys * v).sum([| 2L |], true) // [B, S, 1]
            let sigma =
                match call.Noise with
                | Normal sigma -> sigma
                | Gumbel tau -> tau
                | other -> invalidOp (sprintf "Perturbed optimizers need Normal or Gumbel noise; got %s." (Noise.describe other))
            use zStd = Safe.divScalar call.Eps sigma
            use gradNu =
                match call.Noise with
                | Gumbel _ ->
                    use decay = torch.exp(zStd.neg())
                    Safe.subtractFrom 1.0 decay
                | _ -> zStd.alias()
            use weighted = dots * gradNu
            use terms = Safe.divScalar weighted sigma
            use g = terms.mean([| 1L |])
            Shapes.toWeightGradient p (g.reshape(grad.shape)))

/// The optimal value OPT(w) = ⟨z*(w), w⟩ of a linear problem as a differentiable function of the weights
/// (Gao et al.): its generalized gradient is the optimal solution z*(w).
type internal OptimalValueFunction() =
    inherit torch.autograd.SingleTensorFunction<OptimalValueFunction>()
    override _.Name = "OptimalValueFunction"

    override _.forward(ctx, args) =
        let weights = args.[0] :?> Tensor
        let problem = args.[1] :?> Problem
        let dims = Shapes.batchDims "weights" problem weights
        let b = Shapes.batchSize dims
        let z = TensorSolve.solve problem weights
        ctx.save_for_backward(List [ z ])
        use prod = (z * weights).reshape(b, int64 problem.Size)
        prod.sum([| 1L |]).reshape(dims)

    override _.backward(ctx, grad) =
        BackwardErrors.guard (ctx.get_saved_variables().[0].shape) grad 2 (fun () ->
            let z = ctx.get_saved_variables().[0]
            Shapes.checkGradient "optimal value" grad
            let extra = z.shape.Length - grad.shape.Length
            use g = grad.reshape(Array.append grad.shape (Array.create extra 1L))
            z * g)

/// The Fenchel–Young loss of perturbed optimizers (Berthet et al. 2020), batched: value
/// F(θ) − ⟨θ, y⟩ with F(θ) = E[max_z ⟨z, θ + ε⟩], gradient ȳ(θ) − y w.r.t. θ (sign flipped for costs).
type internal FenchelYoungCall =
    { Problem: Problem
      Eps: Tensor
      Target: Tensor
      BatchDims: int64[] }

type internal FenchelYoungFunction() =
    inherit torch.autograd.SingleTensorFunction<FenchelYoungFunction>()
    override _.Name = "FenchelYoungFunction"

    override _.forward(ctx, args) =
        let weights = args.[0] :?> Tensor
        let call = args.[1] :?> FenchelYoungCall
        let p = call.Problem
        let m = int64 p.Size
        let b = Shapes.batchSize call.BatchDims
        use theta = (Shapes.toScores p weights).reshape(b, 1L, m)
        use ys = Shapes.solvePerturbed p theta call.Eps 1.0
        use perturbed = Safe.add theta call.Eps
        use values = (ys * perturbed).sum([| 2L |]).mean([| 1L |]) // F(θ) per row
        use y = call.Target.reshape(b, m).``to``(weights.dtype, weights.device)
        use linear = (theta.squeeze(1L) * y).sum([| 1L |])
        let yBar = ys.mean([| 1L |])
        ctx.save_for_backward(List [ yBar; y.alias() ])
        ctx.save_data("call", call)
        (values - linear).mean()

    override _.backward(ctx, grad) =
        let call = ctx.get_data("call") :?> FenchelYoungCall
        BackwardErrors.guard (Shapes.weightShape call.BatchDims call.Problem) grad 2 (fun () ->
            let saved = ctx.get_saved_variables()
            let yBar, y = saved.[0], saved.[1]
            let b = Shapes.batchSize call.BatchDims
            use residual = yBar - y
            use weighted = residual * grad
            use diff = Safe.divScalar weighted (float b)
            let g = Shapes.toWeightGradient call.Problem (diff.reshape(Shapes.weightShape call.BatchDims call.Problem))
            g)

/// The score-function backward: REINFORCE with the reward ⟨dL/dz, z⟩ (exact for losses linear in z up to a constant
/// over C, such as ‖z − b‖² on k-subsets) and a leave-one-out baseline over the S samples.
type internal ScoreFunctionCall =
    { Problem: Problem
      Tau: float
      BatchDims: int64[] }

type internal ScoreFunctionFunction() =
    inherit torch.autograd.SingleTensorFunction<ScoreFunctionFunction>()
    override _.Name = "ScoreFunctionFunction"

    override _.forward(ctx, args) =
        let weights = args.[0] :?> Tensor
        let call = args.[1] :?> ScoreFunctionCall
        let zs = args.[2] :?> Tensor // [B, S, m], drawn outside
        ctx.save_for_backward(System.Collections.Generic.List [ weights.detach(); zs ])
        ctx.save_data("call", call)
        zs.mean([| 1L |]).reshape(weights.shape)

    override _.backward(ctx, grad) =
        let call = ctx.get_data("call") :?> ScoreFunctionCall
        BackwardErrors.guard (Shapes.weightShape call.BatchDims call.Problem) grad 3 (fun () ->
            Shapes.checkGradient "score function" grad
            let saved = ctx.get_saved_variables()
            let weights, zs = saved.[0], saved.[1]
            let p = call.Problem
            let b = Shapes.batchSize call.BatchDims
            let m = int64 p.Size
            let s = zs.shape.[1]
            use dy = grad.reshape(b, 1L, m)
            use reward = (zs * dy).sum([| 2L |]) // [B, S]
            use baseline =
                if s > 1L then
                    use others = reward.sum([| 1L |], true) - reward
                    Safe.divScalar others (float (s - 1L))
                else torch.zeros_like(reward)
            use advantage = reward - baseline
            let g =
                use enabled = torch.enable_grad()
                use theta = (Shapes.toScores p weights).reshape(b, 1L, m).expand(b, s, m).contiguous().requires_grad_(true)
                use logp = ExactTensor.logProbability p call.Tau (theta.reshape(b * s, m)) (zs.reshape(b * s, m))
                use total = (logp * advantage.reshape(b * s)).sum()
                use surrogate = Safe.divScalar total (float s)
                let gs = torch.autograd.grad(System.Collections.Generic.List [ surrogate ], System.Collections.Generic.List [ theta ])
                gs.[0].sum([| 1L |])
            Shapes.toWeightGradient p (g.reshape(grad.shape)))
