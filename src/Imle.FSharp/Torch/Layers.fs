namespace Imle.Torch

open System
open TorchSharp
open Imle

/// Exact distributions on tensors for the score-function estimator: log-probabilities (differentiable in θ) and exact
/// samples, by enumeration or, for k-subsets, by the O(m·k) dynamic programme.
[<RequireQualifiedAccess>]
module ExactTensor =

    /// Checks scores for the exact distribution: a finite floating tensor whose trailing dims are the problem's shape
    /// or its size m, over a problem whose partition function is computable (a k-subset problem or an enumerable one).
    let private checkScores (problem: Problem) (scores: Tensor) =
        if isNull (box problem) then nullArg "problem"
        if isNull scores then nullArg "scores"
        let shape = scores.shape
        if problem.Shape.Length > 1 && shape.Length >= 1 && shape.[shape.Length - 1] = int64 problem.Size then
            // Flattened [..., m]: check it viewed as [..., ...problem.Shape].
            use asStates = scores.reshape(Array.append shape.[.. shape.Length - 2] (Array.map int64 problem.Shape))
            TensorSolve.validate "scores" problem asStates
        else
            TensorSolve.validate "scores" problem scores
        match problem.Kind with
        | KSubsetKind _ -> ()
        | _ when problem.Enumerate.IsSome -> ()
        | _ ->
            invalidArg "problem"
                (sprintf "problem '%s' cannot be enumerated, so its exact distribution is not available (k-subset problems and enumerable ones are)." problem.Name)

    /// log p(z; θ) = ⟨z, θ⟩/τ − A(θ) for scores θ and states z of shape [..., ...problem.Shape] (or flattened
    /// [..., m]), differentiable in θ. Uses the k-subset
    /// dynamic programme for k-subset problems and enumeration otherwise.
    let logProbability (problem: Problem) (tau: float) (scores: Tensor) (states: Tensor) : Tensor =
        Validate.positive "tau" tau
        checkScores problem scores
        if isNull states then nullArg "states"
        if states.shape <> scores.shape then
            invalidArg "states" (sprintf "states must have the shape of scores, %A; got %A." scores.shape states.shape)
        let m = int64 problem.Size
        use flat = scores.reshape(-1L, m)
        use theta = Safe.divScalar flat tau
        use z = states.reshape(-1L, m).``to``(scores.dtype)
        use energy = (theta * z).sum([| 1L |])
        let logZ =
            match problem.Kind with
            | KSubsetKind k ->
                // log e_k(exp θ) by the recursion E_j(i) = logaddexp(E_j(i−1), E_{j−1}(i−1) + θ_i), j = 0..k.
                let b = theta.shape.[0]
                // A large finite stand-in for −∞: logaddexp(−∞, −∞) has a NaN gradient, logaddexp(−1e30, −1e30) a zero one.
                let negInf = Safe.full [| b; int64 k |] -1e30 scores.dtype scores.device
                let mutable e = torch.cat([| torch.zeros([| b; 1L |], dtype = scores.dtype, device = scores.device); negInf |], 1L)
                for i in 0L .. m - 1L do
                    let ti = theta.narrow(1L, i, 1L)
                    let shifted = torch.cat([| negInf.narrow(1L, 0L, 1L); Safe.add (e.narrow(1L, 0L, int64 k)) ti |], 1L)
                    e <- torch.logaddexp(e, shifted)
                e.narrow(1L, int64 k, 1L).squeeze(1L)
            | _ ->
                let all = Problem.states problem
                use s = torch.tensor(Array.concat all, dtype = scores.dtype, device = scores.device).reshape(int64 all.Length, m)
                use logits = theta.matmul(s.t())
                torch.logsumexp(logits, 1L, false)
        use logZ = logZ
        // Leading dims: scores may be [..., ...problem.Shape] or flattened [..., m].
        let shape = scores.shape
        let k = problem.Shape.Length
        let leading =
            if shape.Length >= k && shape.[shape.Length - k ..] = Array.map int64 problem.Shape then shape.[.. shape.Length - k - 1]
            else shape.[.. shape.Length - 2]
        (energy - logZ).reshape(leading)

    /// `samples` exact samples of p(z; θ) for each row of scores [B, m] → [B, S, m] (drawn from `generator`).
    let sample (problem: Problem) (tau: float) (samples: int) (generator: torch.Generator) (scores: Tensor) : Tensor =
        Validate.positive "tau" tau
        Validate.intAtLeast "samples (S)" 1 samples
        if isNull generator then nullArg "generator"
        checkScores problem scores
        let m = int64 problem.Size
        use theta = scores.detach().reshape(-1L, m).``to``(torch.float64, torch.CPU)
        let b = theta.shape.[0]
        let values = theta.data<float>().ToArray()
        use seedTensor = torch.randint(int64 Int32.MaxValue, [| 1L |], dtype = torch.int64, generator = generator)
        let rng = Random(int (seedTensor.item<int64>()))
        let rows =
            match problem.Kind with
            | KSubsetKind k ->
                Array.init (int b * samples) (fun r ->
                    let row = Array.sub values (r / samples * int m) (int m)
                    KSubset.sample tau k row rng)
            | _ ->
                let all = Problem.states problem
                Array.init (int b * samples) (fun r ->
                    let row = Array.sub values (r / samples * int m) (int m)
                    Exact.sample tau all row rng)
        torch.tensor(Array.concat rows).reshape(b, int64 samples, m).``to``(scores.dtype, scores.device)

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

/// The differentiable discrete layers as functions: each estimator's forward (MAP states, samples or their mean)
/// with its backward attached.
[<RequireQualifiedAccess>]
module Discrete =

    /// MAP without noise and without gradient: eval-mode output.
    let map (problem: Problem) (weights: Tensor) : Tensor =
        BackwardErrors.throwIfAny ()
        Shapes.batchDims "weights" problem weights |> ignore
        use noGrad = torch.no_grad()
        TensorSolve.solve problem (weights.detach())

    let private noiseTensor (noise: Noise) (generator: torch.Generator) (shape: int64[]) (like: Tensor) =
        TensorNoise.sample noise generator shape like.dtype like.device

    /// `apply` with the adaptive-λ state an adaptive target needs (None for every other estimator); the state is
    /// updated by the backward pass.
    let applyWithState (adaptive: AdaptiveLambdaCell option) (problem: Problem) (estimator: Estimator) (generator: torch.Generator) (meanOutput: bool) (weights: Tensor) : Tensor =
        BackwardErrors.throwIfAny ()
        match estimator, adaptive with
        | Imle { Target = Adaptive settings }, Some cell when cell.Settings <> settings ->
            invalidArg "adaptive" "the adaptive-λ state was made for other settings than the estimator's target."
        | Imle { Target = Adaptive _ }, None ->
            invalidArg "estimator" "An adaptive-λ target (AIMLE) keeps β between backward passes: use a DiscreteLayer (which owns that state) or Discrete.applyWithState."
        | _ -> ()
        Estimator.validate estimator |> ignore
        if isNull generator then nullArg "generator"
        let dims = Shapes.batchDims "weights" problem weights
        let b = Shapes.batchSize dims
        let m = int64 problem.Size
        match estimator with
        | Imle o ->
            let eps = noiseTensor o.Noise generator [| b; int64 o.Samples; m |] weights
            let cell = match o.Target with Adaptive _ -> adaptive | _ -> None
            ImleFunction.apply(weights, ({ Problem = problem; Options = o; Eps = eps; MeanOutput = meanOutput; BatchDims = dims; Adaptive = cell }: ImleCall))
        | Blackbox lambda ->
            let eps = torch.zeros([| b; 1L; m |], dtype = weights.dtype, device = weights.device)
            ImleFunction.apply(weights, ({ Problem = problem; Options = ImleOptions.Blackbox lambda; Eps = eps; MeanOutput = true; BatchDims = dims; Adaptive = None }: ImleCall))
        | Identity(projection, noise) ->
            use eps = noiseTensor noise generator weights.shape weights
            IdentityFunction.apply(weights, ({ Problem = problem; Projection = projection; Eps = eps; BatchDims = dims }: IdentityCall))
        | StraightThrough noise ->
            use eps = noiseTensor noise generator weights.shape weights
            IdentityFunction.apply(weights, ({ Problem = problem; Projection = NoProjection; Eps = eps; BatchDims = dims }: IdentityCall))
        | Perturbed(noise, samples) ->
            let eps = noiseTensor noise generator [| b; int64 samples; m |] weights
            PerturbedFunction.apply(weights, ({ Problem = problem; Noise = noise; Eps = eps; BatchDims = dims }: PerturbedCall))
        | ScoreFunction samples ->
            use theta = Shapes.toScores problem weights
            let zs = ExactTensor.sample problem 1.0 samples generator theta
            ScoreFunctionFunction.apply(weights, ({ Problem = problem; Tau = 1.0; BatchDims = dims }: ScoreFunctionCall), zs)
        | GumbelSoftmax tau ->
            match problem.Kind with
            | CategoricalKind -> ()
            | _ -> invalidArg "estimator" (sprintf "Gumbel-softmax needs a categorical problem; got '%s'." problem.Name)
            use g = noiseTensor (Gumbel 1.0) generator weights.shape weights
            use theta = Shapes.toScores problem weights
            use perturbed = Safe.add theta g
            use logits = Safe.divScalar perturbed tau
            torch.softmax(logits, -1)
        | RelaxedTopK tau ->
            let k =
                match problem.Kind with
                | KSubsetKind k -> k
                | _ -> invalidArg "estimator" (sprintf "The relaxed top-k needs a k-subset problem; got '%s'." problem.Name)
            // SoftSub (Xie and Ermon 2019): k rounds of softmax, each round suppressing what was already chosen.
            use g = noiseTensor (Gumbel 1.0) generator [| b; m |] weights
            use theta = (Shapes.toScores problem weights).reshape(b, m)
            let mutable alpha = Safe.add theta g
            let mutable khot = torch.zeros_like(theta)
            for _ in 1..k do
                use logits = Safe.divScalar alpha tau
                let p = torch.softmax(logits, -1)
                khot <- Safe.add khot p
                use remaining = Safe.subtractFrom 1.0 p
                use floored = Safe.clampMin remaining 1e-20
                use logRemaining = torch.log(floored)
                alpha <- Safe.add alpha logRemaining
            khot.reshape(weights.shape)

    /// Applies an estimator to weights [..batch, ...shape] in the problem's sense. `meanOutput` chooses between the
    /// mean over the S samples ([..batch, ...shape]) and all samples ([..batch, S, ...shape]) for I-MLE; perturbed
    /// optimizers and the score function always return the mean. Noise is drawn from `generator` only. An adaptive-λ
    /// target needs state: use a `DiscreteLayer` or `applyWithState`.
    let apply (problem: Problem) (estimator: Estimator) (generator: torch.Generator) (meanOutput: bool) (weights: Tensor) : Tensor =
        applyWithState None problem estimator generator meanOutput weights

/// A discrete layer as a TorchSharp module: weights in (scores or costs, per the problem's sense), states out, with the
/// chosen estimator's backward pass. In training mode it perturbs and samples; in eval mode it returns the MAP state
/// without noise (unless `noiseInEval`). Per-call state lives in the autograd context, so one layer may be used for
/// many forward passes before their backward passes; the layer's generator is shared, so concurrent use from several
/// threads is refused with an InvalidOperationException rather than silently racing.
type DiscreteLayer(problem: Problem, estimator: Estimator, generator: torch.Generator, meanOutput: bool, noiseInEval: bool, name: string) =
    inherit torch.nn.Module<Tensor, Tensor>(name)
    do
        Estimator.validate estimator |> ignore
        if isNull generator then nullArg "generator"
    let mutable busy = 0
    // The adaptive-λ state lives here, next to the generator: never in the estimator value.
    let adaptive =
        match estimator with
        | Imle { Target = Adaptive settings } -> Some(AdaptiveLambdaCell settings)
        | _ -> None

    /// A layer with its own generator seeded by `seed`, returning the mean over samples, MAP in eval mode.
    new(problem: Problem, estimator: Estimator, seed: int64) =
        new DiscreteLayer(problem, estimator, new torch.Generator(uint64 seed), true, false, "DiscreteLayer")

    /// The problem solved by this layer.
    member _.Problem = problem
    /// The estimator used in training mode.
    member _.Estimator = estimator
    /// The generator the noise is drawn from.
    member _.Generator = generator
    /// The layer's adaptive-λ state (β and moving average) when its estimator has an adaptive target.
    member _.Adaptive : AdaptiveLambdaCell option = adaptive

    /// Forward pass: weights [..batch, ...problem.Shape] → states.
    override this.forward(weights: Tensor) : Tensor =
        if Threading.Interlocked.Exchange(&busy, 1) = 1 then
            invalidOp "DiscreteLayer.forward was called from two threads at once; a layer's generator is not shared across threads. Use one layer per thread."
        try
            if this.training || noiseInEval then Discrete.applyWithState adaptive problem estimator generator meanOutput weights
            else Discrete.map problem weights
        finally
            busy <- 0

/// Ready-made layers.
[<RequireQualifiedAccess>]
module Layers =

    /// An I-MLE k-subset layer: scores [B, m] → k-hot states [B, m], SoG(k, τ, 10) noise, PID λ, mean over S samples.
    let kSubset (m: int) (k: int) (lambda: float) (samples: int) (seed: int64) : DiscreteLayer =
        let problem = Problem.kSubset m k
        let options = { ImleOptions.Create(float k, lambda) with Samples = samples }
        new DiscreteLayer(problem, Imle options, seed)

    /// A layer for any problem and estimator.
    let create (problem: Problem) (estimator: Estimator) (seed: int64) : DiscreteLayer =
        new DiscreteLayer(problem, estimator, seed)

/// Training helpers.
[<RequireQualifiedAccess>]
module Training =

    /// `loss.backward()`, then rethrows any error an Imle backward pass recorded (a NaN/∞ dL/dz, an infeasible state
    /// from a user solver): errors inside libtorch's backward cannot propagate as exceptions, so call this instead of
    /// `loss.backward()` to see them at once (otherwise they surface at the next forward pass).
    let backward (loss: Tensor) : unit =
        if isNull loss then nullArg "loss"
        loss.backward()
        BackwardErrors.throwIfAny ()
