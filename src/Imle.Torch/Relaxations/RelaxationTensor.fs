namespace Imle.Torch

open System
open System.Collections.Generic
open TorchSharp
open Imle

/// A row-wise map with its vector–Jacobian product, evaluated on the CPU over float64 rows by the reference core: the
/// call data of `RowMapFunction`.
type internal RowMap =
    {
        /// The name errors carry.
        Name: string
        /// The output length per row.
        Width: int64
        /// Row index, input row → output row.
        Forward: int -> float[] -> float[]
        /// Row index, input row, cotangent row → the input's cotangent.
        Vjp: int -> float[] -> float[] -> float[]
    }

/// A custom autograd function over inputs [B, m] that runs a reference-core map per row (forward) and its VJP
/// (backward); errors in the backward pass are recorded (`BackwardErrors`), never thrown into libtorch.
type internal RowMapFunction() =
    inherit torch.autograd.SingleTensorFunction<RowMapFunction>()
    override _.Name = "RowMapFunction"

    override _.forward(ctx, args) =
        let input = args.[0] :?> Tensor
        let map = args.[1] :?> RowMap
        ctx.save_data ("map", map)
        ctx.save_data ("shape", input.shape)
        ctx.save_for_backward (List [ input.detach () ])
        let b, m = input.shape.[0], input.shape.[1]
        use cpu = input.detach().``to``(torch.float64, torch.CPU).contiguous()
        let values = cpu.data<float>().ToArray()

        let rows =
            Array.init (int b) (fun r -> map.Forward r (Array.sub values (r * int m) (int m)))

        use out =
            torch.tensor(Array.concat rows, dtype = torch.float64).reshape(b, map.Width)

        out.``to`` (input.dtype, input.device)

    override _.backward(ctx, grad) =
        let map = ctx.get_data ("map") :?> RowMap
        let shape = ctx.get_data ("shape") :?> int64[]

        BackwardErrors.guard shape grad 2 (fun () ->
            Shapes.checkGradient map.Name grad
            let input = ctx.get_saved_variables().[0]
            let b, m = shape.[0], shape.[1]
            use cpu = input.``to``(torch.float64, torch.CPU).contiguous()
            use gcpu = grad.``to``(torch.float64, torch.CPU).contiguous()
            let values = cpu.data<float>().ToArray()
            let gs = gcpu.data<float>().ToArray()
            let w = int map.Width

            let rows =
                Array.init (int b) (fun r -> map.Vjp r (Array.sub values (r * int m) (int m)) (Array.sub gs (r * w) w))

            use out = torch.tensor(Array.concat rows, dtype = torch.float64).reshape(b, m)
            out.``to`` (grad.dtype, grad.device))

/// Relaxation layers on tensors, rows [..., m] (the reference over arrays is `Imle.SoftSort`, `Imle.Sparsemax` and
/// `Imle.PerturbedOracle`; parity is tested): soft sort and soft rank (Blondel et al. 2020, by the core's
/// pool-adjacent-violators per row, on the CPU), sparsemax (on the tensor's device), soft argmax (softmax with a
/// temperature) and a perturbed oracle over any user function on arrays.
[<RequireQualifiedAccess>]
module RelaxationTensor =

    /// Applies a validated row map to θ [..., m] → [..., width].
    let private rowMap (map: RowMap) (theta: Tensor) =
        BackwardErrors.throwIfAny ()
        let m = theta.shape.[theta.shape.Length - 1]
        use rows = theta.reshape (-1L, m)
        use out = RowMapFunction.apply (rows, map)
        out.reshape (Array.append theta.shape.[.. theta.shape.Length - 2] [| map.Width |])

    /// A row map of `SoftSort` at strength ε: `forward` and its vector–Jacobian product `vjp` per row.
    let private softMap name epsilon (forward: float -> float[] -> float[]) vjp (theta: Tensor) =
        Validate.positive "epsilon" epsilon
        let m = Shapes.lastDimension "theta" theta

        rowMap
            { Name = name
              Width = m
              Forward = fun _ row -> forward epsilon row
              Vjp = fun _ row g -> vjp epsilon row g }
            theta

    /// The soft sort s_ε(θ) per row (descending; `SoftSort.softSort`), differentiable (`SoftSort.softSortVjp`).
    /// Raises ArgumentException naming `epsilon` (finite, > 0) or `theta` (a finite floating tensor [..., m]).
    let softSort (epsilon: float) (theta: Tensor) : Tensor =
        softMap "soft sort" epsilon SoftSort.softSort SoftSort.softSortVjp theta

    /// The soft rank r_ε(θ) per row (rank 1 for the largest; `SoftSort.softRank`), differentiable
    /// (`SoftSort.softRankVjp`). Raises ArgumentException naming `epsilon` or `theta`.
    let softRank (epsilon: float) (theta: Tensor) : Tensor =
        softMap "soft rank" epsilon SoftSort.softRank SoftSort.softRankVjp theta

    /// sparsemax(θ) over the last dimension (Martins & Astudillo 2016; InferOpt's sparse argmax): the Euclidean
    /// projection onto the simplex, max(θ − t, 0), on the tensor's device. Its gradient (by autograd, the threshold
    /// t = (Σ_{S} θ − 1)/|S| over the support S) is the core's `Sparsemax.jvp`. Raises ArgumentException naming
    /// `theta`.
    let sparsemax (theta: Tensor) : Tensor =
        let m = Shapes.lastDimension "theta" theta
        use scope = torch.NewDisposeScope()

        let support =
            use noGrad = torch.no_grad ()
            let struct (sorted, _) = theta.detach().sort(-1L, true)
            let cumulative = sorted.cumsum (-1L)
            // 1, 2, …, m as a running sum of ones (no Scalar temporaries, unlike torch.arange).
            let ranks = (Safe.full [| m |] 1.0 theta.dtype theta.device).cumsum(0L)
            // j is in the support of the sorted scores when 1 + j·θ_(j) > Σ_{i ≤ j} θ_(i).
            let inside = (Safe.addScalar (ranks * sorted) 1.0).gt(cumulative)
            let count = inside.sum ([| -1L |], true)
            // The threshold's support in θ's own order: θ_i ≥ θ_(|S|).
            let kth = sorted.gather (-1L, (Safe.addScalar count (-1.0)).``to``(torch.int64))
            theta.detach().ge(kth).``to``(theta.dtype)

        let size = support.sum ([| -1L |], true)
        let total = (theta * support).sum([| -1L |], true)
        let t = (Safe.addScalar total (-1.0)) / size
        (theta - t).relu().MoveToOuterDisposeScope()

    /// The soft argmax softmax(θ/τ) over the last dimension (InferOpt's `soft_argmax` at τ = 1). Raises
    /// ArgumentException naming `tau` (finite, > 0) or `theta`.
    let softArgmax (tau: float) (theta: Tensor) : Tensor =
        Validate.positive "tau" tau
        Shapes.lastDimension "theta" theta |> ignore
        use scaled = Safe.divScalar theta tau
        torch.softmax (scaled, -1)

    /// A perturbed oracle (`PerturbedOracle`) per row of θ [..., m]: the mean of oracle(θ + σZₛ) over `samples` normal
    /// draws (from `generator`), shape [..., d] (d the oracle's output length, `width`), with the backward pass
    /// gᵀJ ≈ (1/S)·Σₛ ⟨yₛ, g⟩·Zₛ/σ from the same draws. The oracle runs on the CPU over float64 arrays, one row at a
    /// time. Raises ArgumentException naming `sigma`, `samples`, `width` (≥ 1, the oracle's output length) or
    /// `theta`; an oracle returning the wrong length fails the forward pass with a message naming `oracle`.
    let perturbedOracle
        (oracle: float[] -> float[])
        (width: int)
        (sigma: float)
        (samples: int)
        (generator: torch.Generator)
        (theta: Tensor)
        : Tensor =
        PerturbedOracle.checkOptions oracle sigma samples

        if isNull generator then
            nullArg "generator"

        Validate.intAtLeast "width" 1 width
        Shapes.lastDimension "theta" theta |> ignore
        // One seed per call from the generator; rows draw from their own Random so the backward pass can reuse them.
        use seedTensor =
            torch.randint (int64 Int32.MaxValue, [| 1L |], dtype = torch.int64, generator = generator)

        let seed = int (seedTensor.item<int64>())
        let evaluations = Dictionary<int, PerturbedEvaluation>()

        let evaluate r row =
            let e = PerturbedOracle.evaluate oracle sigma samples (Random(seed + r)) row

            if e.Mean.Length <> width then
                invalidArg "oracle" (sprintf "the oracle returned %d entries; width says %d." e.Mean.Length width)

            lock evaluations (fun () -> evaluations.[r] <- e)
            e.Mean

        rowMap
            { Name = "perturbed oracle"
              Width = int64 width
              Forward = evaluate
              Vjp =
                fun r row g ->
                    let e =
                        lock evaluations (fun () ->
                            match evaluations.TryGetValue r with
                            | true, e -> e
                            | _ -> PerturbedOracle.evaluate oracle sigma samples (Random(seed + r)) row)

                    PerturbedOracle.vjp e g }
            theta
