/// The reference code's float32 arithmetic for the synthetic grid's final value (tf-imle SYNTH/main.py
/// `sensibility_imle`, SYNTH/utils.py `expect_obj`, SYNTH/distributions.py `DiscreteExpFamily.pmf`), so that its
/// post-processing — a final gap below 0 counts as 5 ("all lost") — can be applied to our runs as it was applied to
/// theirs.
///
/// The reference computes, all in float32 on PyTorch tensors:
///   w = states @ θ;  A = log(sum(exp(w)));  p = exp(w − A);  L(θ) = sum(stack(p_z · objective(z)))
/// with objective(z) = ((z − b)²).sum() over one state at a time, and the minimum in NumPy float32:
///   sum(sorted(b)[:k]²) + sum((sorted(b)[k:] − 1)²).
/// Here the same operations run on libtorch's float32 kernels (TorchSharp) in the same order; the minimum follows
/// NumPy's reduction of short float32 arrays (a left-to-right sum from −0.0). Sums of a few float32 terms depend on the
/// reduction order of the library version, so the decision "gap < 0" is exact only up to that (the report says so).
module Imle.Examples.Experiments.SyntheticFloat32

open System
open TorchSharp

/// NumPy's float32 `np.sum` of a short contiguous array (fewer than 8 elements: a left-to-right loop from −0.0).
let numpySum32 (xs: float32[]) : float32 =
    if xs.Length >= 8 then
        invalidArg "xs" (sprintf "numpySum32 emulates arrays of fewer than 8 elements; got %d." xs.Length)

    let mutable acc = -0.0f

    for x in xs do
        acc <- acc + x

    acc

/// The reference's `min_value_of_exp` in float32: sum(sorted(b)[:k]²) + sum((sorted(b)[k:] − 1)²), b = |float32(randn)|.
/// It is the minimum of ‖z − b‖² over k-subsets only where m − k = k (the reference's m = 10, k = 5).
let referenceMinimum (b: float[]) (k: int) : float32 =
    let sorted = b |> Array.map (fun v -> abs (float32 v)) |> Array.sort
    let low = sorted.[.. k - 1] |> Array.map (fun v -> v * v)
    let high = sorted.[k..] |> Array.map (fun v -> (v - 1.0f) * (v - 1.0f))
    numpySum32 low + numpySum32 high

/// The reference's float32 expected loss L(θ) and its float32 gap L(θ) − minimum for one problem instance. Holds the
/// states and the per-state objectives as float32 tensors; dispose it when done. Thread-safe: `gap` allocates only
/// inside its own dispose scope.
type ReferenceEvaluator(states: float[][], b: float[], k: int) =
    do
        if isNull states || states.Length = 0 then
            invalidArg "states" "ReferenceEvaluator needs at least one state."

        if isNull b || b.Length <> states.[0].Length then
            invalidArg "b" "ReferenceEvaluator needs one b value per coordinate of a state."

    let m = b.Length
    let b32 = b |> Array.map (fun v -> abs (float32 v))

    let statesTensor =
        use flat =
            torch.tensor (Array.init (states.Length * m) (fun i -> float32 states.[i / m].[i % m]))

        flat.reshape (int64 states.Length, int64 m)

    // objective(z) = ((z − b)²).sum(): one 1-D float32 reduction per state, as the reference evaluates it; (z − b)² as
    // (z − b)·(z − b), which is what PyTorch's pow kernel computes for the exponent 2.
    let objectives =
        let values =
            states
            |> Array.map (fun z ->
                use scope = torch.NewDisposeScope()
                let zt: torch.Tensor = torch.tensor (z |> Array.map float32)
                let bt: torch.Tensor = torch.tensor b32
                let d = zt - bt
                (d * d).sum().ToSingle())

        let t: torch.Tensor = torch.tensor values
        t

    let minimum = referenceMinimum b k

    /// The reference's float32 minimum (`min_value_of_exp`).
    member _.Minimum = minimum

    /// The reference's float32 L(θ) at θ (θ rounded to float32, as the reference's θ is a float32 parameter).
    member _.ExpectedLoss(theta: float[]) : float32 =
        if isNull theta || theta.Length <> m then
            invalidArg "theta" (sprintf "theta must have %d entries." m)

        use scope = torch.NewDisposeScope()
        let thetaT: torch.Tensor = torch.tensor (theta |> Array.map float32)
        let w = statesTensor.matmul thetaT
        let logPartition = w.exp().sum().log()
        let pmf = (w - logPartition).exp()
        (pmf * objectives).sum().ToSingle()

    /// The reference's final value after its post-processing: the float32 gap L(θ) − minimum, or 5 where that gap is
    /// below 0. The second value is true where the post-processing fired.
    member this.PostProcessedGap(theta: float[]) : float * bool =
        let gap = this.ExpectedLoss theta - minimum
        if gap < 0.0f then 5.0, true else float gap, false

    interface IDisposable with
        member _.Dispose() =
            statesTensor.Dispose()
            objectives.Dispose()
