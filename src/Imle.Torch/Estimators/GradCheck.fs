namespace Imle.Torch

open System
open TorchSharp
open Imle

/// The result of comparing an estimator's expected gradient with the exact gradient ∇θ E_p[ℓ(z)].
type GradCheckResult =
    {
        /// The problem's name.
        Problem: string
        /// The estimator's description.
        Estimator: string
        /// The number of Monte Carlo gradient draws.
        Samples: int
        /// Cosine similarity between the Monte Carlo mean gradient and the exact gradient (1 = same direction).
        Cosine: float
        /// ‖ĝ − g‖ / ‖g‖: the relative distance of the mean estimate ĝ from the exact gradient g (includes Monte Carlo
        /// error of order √(Variance / Samples) / ‖g‖).
        RelativeBias: float
        /// The total variance E‖gₙ − ĝ‖² of a single gradient draw.
        Variance: float
        /// The exact gradient w.r.t. the weights.
        Exact: float[]
        /// The Monte Carlo mean of the estimator's gradients.
        Mean: float[]
    }

/// A gradient-check tool: for a small problem (enumerable, or any k-subset) and a differentiable loss, estimate an
/// estimator's expected gradient by Monte Carlo and compare it with the exact gradient ∇θ E_{z∼p(z;θ)}[ℓ(z)] at
/// temperature τ = 1 — the sanity check users of the Python libraries asked for (torch-imle#4).
[<RequireQualifiedAccess>]
module GradCheck =

    let private norm (v: float[]) = sqrt (Array.sumBy (fun x -> x * x) v)

    /// The exact gradient of E_p[ℓ(z)] w.r.t. the weights (in the problem's sense), τ = 1, computing ℓ on tensors.
    let exactGradient (problem: Problem) (weights: float[]) (loss: Tensor -> Tensor) : float[] =
        let lossOf (z: float[]) =
            use zt =
                torch.tensor(z, dtype = torch.float64).reshape(Array.map int64 problem.Shape)

            use l = loss zt
            l.ToDouble()

        Exact.gradientOf problem 1.0 weights lossOf

    let private validateRun (problem: Problem) (weights: float[]) (loss: Tensor -> Tensor) (samples: int) =
        if isNull (box problem) then
            nullArg "problem"

        Validate.length "weights" problem.Size weights
        Validate.allFinite "weights" weights
        Validate.intAtLeast "samples" 2 samples

        if obj.ReferenceEquals(loss, null) then
            nullArg "loss"

    /// The weights [N, ...shape] (N = samples copies, requiring grad) that every check differentiates.
    let private batchedWeights (problem: Problem) (weights: float[]) (samples: int) : Tensor =
        let stateShape = Array.map int64 problem.Shape

        use w0 =
            torch.tensor(weights, dtype = torch.float64).reshape(Array.append [| 1L |] stateShape)

        w0.expand(Array.append [| int64 samples |] stateShape).contiguous().requires_grad_(true)

    /// The result from the rows of w.grad ([N, m], one independent gradient draw per row).
    let private summarise (problem: Problem) (name: string) (samples: int) (exact: float[]) (w: Tensor) =
        let m = problem.Size
        use grads = w.grad.reshape(int64 samples, int64 m).detach().cpu()
        let g = grads.data<float>().ToArray()
        let rows = Array.init samples (fun r -> Array.sub g (r * m) m)

        let mean = Array.init m (fun i -> rows |> Array.averageBy (fun row -> row.[i]))

        let variance =
            rows
            |> Array.averageBy (fun row -> Array.fold2 (fun acc x y -> acc + (x - y) * (x - y)) 0.0 row mean)

        let exactNorm = norm exact
        let dot = Array.fold2 (fun acc x y -> acc + x * y) 0.0 mean exact

        { Problem = problem.Name
          Estimator = name
          Samples = samples
          Cosine =
            (if exactNorm = 0.0 || norm mean = 0.0 then
                 0.0
             else
                 dot / (exactNorm * norm mean))
          RelativeBias =
            (if exactNorm = 0.0 then
                 nan
             else
                 norm (Array.map2 (-) mean exact) / exactNorm)
          Variance = variance
          Exact = exact
          Mean = mean }

    /// True REINFORCE on the batched weights: ℓ(z) values, S exact samples per row, with or without the leave-one-out
    /// baseline (the mean loss of the row's other S − 1 samples); backpropagates into w.
    let private reinforce
        (problem: Problem)
        (s: int)
        (baseline: bool)
        (generator: torch.Generator)
        (w: Tensor)
        (loss: Tensor -> Tensor)
        =
        let n = w.shape.[0]
        let m = int64 problem.Size
        let stateShape = Array.map int64 problem.Shape
        use zs = ExactTensor.sample problem 1.0 s generator w // [N, S, m]
        use zsShaped = zs.reshape (Array.append [| n; int64 s |] stateShape)
        use values = (loss zsShaped).reshape(n, int64 s).detach()

        use centred =
            if baseline && s > 1 then
                use others = values.sum ([| 1L |], true) - values
                use mean = Safe.divScalar others (float (s - 1))
                values - mean
            else
                values.alias ()

        use wS = w.reshape(n, 1L, m).expand(n, int64 s, m).reshape(n * int64 s, m)
        use logp = ExactTensor.logProbability problem 1.0 wS (zs.reshape (n * int64 s, m))
        use total = (logp * centred.reshape (n * int64 s)).sum()
        use surrogate = Safe.divScalar total (float s)
        surrogate.backward ()

    /// Runs `samples` independent draws of the estimator's gradient in one batched forward/backward pass (rows are
    /// independent: the loss is applied per row and summed) and compares their mean with the exact gradient.
    /// `loss` maps states [..., ...problem.Shape] to per-state losses [...]. The score function is evaluated as true
    /// REINFORCE (loss values times ∇ log p, leave-one-out baseline); the other estimators through their layers.
    let run
        (problem: Problem)
        (estimator: Estimator)
        (weights: float[])
        (loss: Tensor -> Tensor)
        (samples: int)
        (seed: int64)
        : GradCheckResult =
        Estimator.validate estimator |> ignore
        validateRun problem weights loss samples
        let exact = exactGradient problem weights loss
        use _scope = torch.NewDisposeScope()
        let generator = new torch.Generator(uint64 seed)
        let w = batchedWeights problem weights samples

        match estimator with
        | ScoreFunction s -> reinforce problem s true generator w loss
        | _ ->
            // An adaptive target starts from its initial state (β₀) for this one backward pass.
            let adaptive =
                match estimator with
                | Imle { Target = Adaptive settings } -> Some(AdaptiveLambdaCell settings)
                | _ -> None

            let z =
                Discrete.apply
                    { DiscreteOptions.Default with
                        Adaptive = adaptive }
                    problem
                    estimator
                    generator
                    w

            use l = (loss z).sum()
            l.backward ()

        summarise problem (Estimator.describe estimator) samples exact w

    /// `run` for the score-function estimator (REINFORCE with `s` ≥ 1 exact samples per draw), with or without its
    /// leave-one-out baseline, so a report can show the variance the baseline removes at the same mean (the baseline
    /// of a sample does not depend on it, so both are unbiased).
    let runScoreFunction
        (problem: Problem)
        (s: int)
        (baseline: bool)
        (weights: float[])
        (loss: Tensor -> Tensor)
        (samples: int)
        (seed: int64)
        : GradCheckResult =
        Estimator.validate (ScoreFunction s) |> ignore
        validateRun problem weights loss samples
        let exact = exactGradient problem weights loss
        use _scope = torch.NewDisposeScope()
        let generator = new torch.Generator(uint64 seed)
        let w = batchedWeights problem weights samples
        reinforce problem s baseline generator w loss

        let name =
            sprintf "%s%s" (Estimator.describe (ScoreFunction s)) (if baseline then " + baseline" else ", no baseline")

        summarise problem name samples exact w

    /// `run` for any differentiable layer `layer generator weights` → states [N, ...shape] (e.g.
    /// `Discrete.apply DiscreteOptions.Default problem (Perturbed options)` with a control variate), named
    /// `name` in the result. The layer must draw its noise from the generator it is given.
    let runLayer
        (problem: Problem)
        (name: string)
        (layer: torch.Generator -> Tensor -> Tensor)
        (weights: float[])
        (loss: Tensor -> Tensor)
        (samples: int)
        (seed: int64)
        : GradCheckResult =
        if String.IsNullOrWhiteSpace name then
            invalidArg "name" "name must be a non-empty string."

        if obj.ReferenceEquals(layer, null) then
            nullArg "layer"

        validateRun problem weights loss samples
        let exact = exactGradient problem weights loss
        use _scope = torch.NewDisposeScope()
        let generator = new torch.Generator(uint64 seed)
        let w = batchedWeights problem weights samples
        let z = layer generator w
        use l = (loss z).sum()
        l.backward ()
        summarise problem name samples exact w

    /// z reshaped to [...leading dims, n]: its trailing dims (dropped from the end until their product is n) flattened,
    /// for a flat, row-major per-state vector `name` of length n. Raises ArgumentException naming z when no trailing
    /// dims hold exactly n entries.
    let private flattenTrailing (name: string) (n: int) (z: Tensor) : Tensor =
        let shape = z.shape
        let mutable product = 1L
        let mutable cut = shape.Length

        while product < int64 n && cut > 0 do
            cut <- cut - 1
            product <- product * shape.[cut]

        if product <> int64 n then
            invalidArg
                "z"
                (sprintf
                    "the trailing dims of z %s do not hold %d entries (the length of %s)."
                    (Validate.shapeText shape)
                    n
                    name)

        z.reshape (Array.append shape.[.. cut - 1] [| product |])

    /// The linear loss ⟨z, a⟩ per state, for states [..., ...shape] whose trailing dims hold a.Length entries (a is
    /// flat, row-major). On one-hot or k-subset states ‖z − b‖² = const − 2⟨z, b⟩, so `linear (−2b)` has the same exact
    /// gradient as `squaredDistance b` there, while its gradient w.r.t. z does not depend on the samples.
    let linear (a: float[]) : Tensor -> Tensor =
        Validate.allFinite "a" a

        fun z ->
            use flat = flattenTrailing "a" a.Length z
            use at = torch.tensor (a, dtype = z.dtype, device = z.device)
            (flat * at).sum([| -1L |])

    /// The paper's synthetic loss ‖z − b‖² per state, for states [..., ...shape] whose trailing dims hold b.Length
    /// entries (b is flat, row-major).
    let squaredDistance (b: float[]) : Tensor -> Tensor =
        Validate.allFinite "b" b

        fun z ->
            use flat = flattenTrailing "b" b.Length z
            use bt = torch.tensor (b, dtype = z.dtype, device = z.device)
            use d = flat - bt
            (d * d).sum([| -1L |])
