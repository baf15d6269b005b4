namespace Imle.Torch

#nowarn "9" // Spans over tensor memory are built from native pointers.

open System
open System.Buffers
open System.Runtime.CompilerServices
open System.Runtime.ExceptionServices
open System.Runtime.InteropServices
open System.Threading.Tasks
open Microsoft.FSharp.NativeInterop
open TorchSharp
open Imle

/// Batched MAP oracles over tensors. Weights have shape [..batch, ...problem.Shape] (any number of leading batch
/// dims, possibly none); every row is solved in the problem's own sense and the states come back with the input's
/// shape, dtype and device.
///
/// k-subset and categorical problems run on the tensor's device (top-k / argmax plus a scatter of ones), with no CPU
/// round trip. Device top-k breaks ties as libtorch does; the pure reference breaks them towards the lower index, so
/// bit-for-bit parity with `Problem.solve` holds for distinct scores (argmax takes the first maximum, like the
/// reference). Every other problem is solved row by row on the CPU, in parallel, over the tensor memory through
/// `Problem.SolveSpan` (or `Problem.Solve` with arrays for user array functions), bit for bit as the reference.
[<RequireQualifiedAccess>]
module TensorSolve =

    /// The default number of threads for CPU rows: one per core. Layers and `solveWithParallelism` take their own;
    /// results never depend on it (rows are independent, each solved by the same deterministic oracle).
    let defaultParallelism = Environment.ProcessorCount


    /// The address of the first element of a contiguous CPU tensor (its memory is native and does not move).
    let private addressOf (t: torch.Tensor) : nativeint =
        let bytes = t.bytes
        let first = &MemoryMarshal.GetReference(bytes)
        NativePtr.toNativeInt (NativePtr.ofVoidPtr<byte>(Unsafe.AsPointer(&first)))

    /// Below this many entries a contiguous CPU float32/float64 tensor is checked (and converted) by a managed loop
    /// on the calling thread instead of by libtorch: above libtorch's grain size its element-wise operations run in
    /// an OpenMP region, whose idle threads then spin on the cores that the solver threads need.
    let private managedLimit = 1L <<< 20

    /// Whether every entry is finite.
    let private allFinite (t: torch.Tensor) : bool =
        let n = t.numel ()

        if
            t.device_type = DeviceType.CPU
            && t.is_contiguous ()
            && n <= managedLimit
            && (t.dtype = torch.ScalarType.Float32 || t.dtype = torch.ScalarType.Float64)
        then
            let address = addressOf t
            let mutable ok = true

            if t.dtype = torch.ScalarType.Float32 then
                let xs = ReadOnlySpan<float32>(address.ToPointer(), int n)

                for i in 0 .. xs.Length - 1 do
                    ok <- ok && Single.IsFinite xs.[i]
            else
                let xs = ReadOnlySpan<float>(address.ToPointer(), int n)

                for i in 0 .. xs.Length - 1 do
                    ok <- ok && Double.IsFinite xs.[i]

            GC.KeepAlive t
            ok
        else
            use isFinite = torch.isfinite t
            use finite = isFinite.all ()
            finite.item<bool>()

    /// Checks a weights (or scores) tensor against the problem: not null, floating dtype, trailing dims equal to the
    /// problem's shape, all entries finite. Raises ArgumentException naming `name` otherwise. (Every tensor entry point
    /// checks its weights with this one function.)
    let internal validate (name: string) (problem: Problem) (weights: torch.Tensor) =
        if isNull (box problem) then
            nullArg "problem"

        if isNull weights then
            raise (ArgumentNullException(name, sprintf "%s must not be null." name))

        if not (weights.is_floating_point ()) then
            invalidArg
                name
                (sprintf "%s must have a floating-point dtype (Float32, Float64, ...); got %A." name weights.dtype)

        let actual = weights.shape
        let expected = problem.Shape |> Array.map int64
        let batchDims = actual.Length - expected.Length

        if batchDims < 0 || Array.sub actual batchDims expected.Length <> expected then
            invalidArg
                name
                (sprintf
                    "%s must have shape [..batch, %s] (the shape %s of problem '%s' as its trailing dims); got %s."
                    name
                    (String.Join(", ", expected))
                    (Validate.shapeText expected)
                    problem.Name
                    (Validate.shapeText actual))

        if not (allFinite weights) then
            invalidArg name (sprintf "%s must be finite; NaN and infinity are not allowed." name)

    /// Solves one row over tensor memory: `weights` and `states` point at float64 rows of `size` entries.
    let private solveRow (problem: Problem) (weights: nativeint) (states: nativeint) (size: int) (row: int) =
        let offset = nativeint row * nativeint size * 8n
        let w = ReadOnlySpan<float>((weights + offset).ToPointer(), size)
        let z = Span<float>((states + offset).ToPointer(), size)

        match problem.SolveSpan with
        | Some solver ->
            solver.Invoke(w, z)

            if problem.Kind = UserDefined then
                Problem.checkState problem (z.ToArray()) |> ignore
        | None ->
            let state = Problem.checkState problem (problem.Solve(w.ToArray()))
            ReadOnlySpan<float>(state).CopyTo(z)

    /// Solves rows first .. last − 1 of float32 tensor memory: each row is widened into a float64 buffer, solved, and
    /// its state narrowed into the float32 output (the same states as the float64 path, without libtorch conversions).
    let private solveRowsF32 (problem: Problem) (weights: nativeint) (states: nativeint) (size: int) first last =
        let w = ArrayPool<float>.Shared.Rent size
        let z = ArrayPool<float>.Shared.Rent size

        try
            for row in first .. last - 1 do
                let offset = nativeint row * nativeint size * 4n
                let source = ReadOnlySpan<float32>((weights + offset).ToPointer(), size)
                let target = Span<float32>((states + offset).ToPointer(), size)

                for i in 0 .. size - 1 do
                    w.[i] <- float source.[i]

                let ws = ReadOnlySpan<float>(w, 0, size)
                let zs = Span<float>(z, 0, size)

                match problem.SolveSpan with
                | Some solver ->
                    solver.Invoke(ws, zs)

                    if problem.Kind = UserDefined then
                        Problem.checkState problem (zs.ToArray()) |> ignore
                | None ->
                    let state = Problem.checkState problem (problem.Solve(ws.ToArray()))
                    ReadOnlySpan<float>(state).CopyTo(zs)

                for i in 0 .. size - 1 do
                    target.[i] <- float32 z.[i]
        finally
            ArrayPool<float>.Shared.Return w
            ArrayPool<float>.Shared.Return z

    /// Runs `solveChunk first last` over `rows` rows, in parallel over chunks of consecutive rows when there is enough
    /// work. Chunks are handed out dynamically (4 per thread), so a thread that loses its core to other work holds
    /// back at most one chunk.
    let private solveRows (solveChunk: int -> int -> unit) (size: int) (rows: int) (dop: int) =
        let chunks = min rows (4 * dop)

        if dop <= 1 || chunks <= 1 || int64 rows * int64 size <= 256L then
            solveChunk 0 rows
        else
            let options = ParallelOptions(MaxDegreeOfParallelism = dop)

            try
                Parallel.For(
                    0,
                    chunks,
                    options,
                    fun (chunk: int) ->
                        let first = int (int64 rows * int64 chunk / int64 chunks)
                        let last = int (int64 rows * int64 (chunk + 1) / int64 chunks)
                        solveChunk first last
                )
                |> ignore
            with :? AggregateException as e when e.InnerExceptions.Count > 0 ->
                ExceptionDispatchInfo.Capture(e.InnerExceptions.[0]).Throw()

    /// The batched solve behind every entry point; `weights` has been validated (internal callers pass tensors that
    /// were validated at the public entry point, so no check forces a device sync twice).
    let internal solveValidated (dop: int) (problem: Problem) (weights: torch.Tensor) : torch.Tensor =
        use scope = torch.NewDisposeScope()
        let size = int64 problem.Size
        let rows = if size = 0L then 0L else weights.numel () / size
        let flat = weights.detach().reshape([| rows; size |])

        let result =
            match problem.Kind with
            | KSubsetKind k when problem.Sense = Maximise ->
                let struct (_, indices) = flat.topk (k, dim = 1)
                let ones = torch.ones (indices.shape, dtype = flat.dtype, device = flat.device)
                torch.zeros_like(flat).scatter_(1L, indices, ones)
            | CategoricalKind when problem.Sense = Maximise ->
                let indices = flat.argmax (1L, keepdim = true)
                let ones = torch.ones (indices.shape, dtype = flat.dtype, device = flat.device)
                torch.zeros_like(flat).scatter_(1L, indices, ones)
            | GridPathTensorKind(negativeCosts, neighbourhood) ->
                let shape = problem.Shape
                use maps = flat.view (rows, int64 shape.[0], int64 shape.[1])
                let states, _ = TensorGridPath.solveCounted negativeCosts neighbourhood maps
                states
            | _ when
                flat.device_type = DeviceType.CPU
                && flat.dtype = torch.ScalarType.Float32
                && rows * size <= managedLimit
                ->
                // float32 on the CPU: widened and narrowed row by row in the solver threads (no libtorch region).
                let input = flat.contiguous ()
                let states = torch.empty ([| rows; size |], dtype = torch.ScalarType.Float32)

                if rows > 0L then
                    let wAddress = addressOf input
                    let zAddress = addressOf states

                    solveRows
                        (fun first last -> solveRowsF32 problem wAddress zAddress (int size) first last)
                        (int size)
                        (int rows)
                        dop

                    GC.KeepAlive input

                states
            | _ ->
                let input = flat.``to``(torch.ScalarType.Float64, torch.CPU).contiguous()

                let states =
                    torch.zeros ([| rows; size |], dtype = torch.ScalarType.Float64, device = torch.CPU)

                if rows > 0L then
                    if rows * size * 8L > int64 Int32.MaxValue then
                        invalidArg
                            "weights"
                            (sprintf
                                "weights has %d entries; CPU solvers handle at most %d per call (split the batch)."
                                (rows * size)
                                (Int32.MaxValue / 8))

                    let wAddress = addressOf input
                    let zAddress = addressOf states

                    solveRows
                        (fun first last ->
                            for row in first .. last - 1 do
                                solveRow problem wAddress zAddress (int size) row)
                        (int size)
                        (int rows)
                        dop

                    GC.KeepAlive input

                states.``to`` (weights.dtype, weights.device)

        result.reshape(weights.shape).MoveToOuterDisposeScope()

    /// MAP of every row in the problem's own sense (scores for Maximise, costs for Minimise) with the given degree of
    /// parallelism for CPU rows. See `solve`.
    let solveWithParallelism (degreeOfParallelism: int) (problem: Problem) (weights: torch.Tensor) : torch.Tensor =
        Validate.intAtLeast "degreeOfParallelism" 1 degreeOfParallelism
        validate "weights" problem weights
        solveValidated degreeOfParallelism problem weights

    /// MAP of every row in the problem's own sense. `weights` has shape [..batch, ...problem.Shape] (leading dims are
    /// batch dims, possibly none), a floating dtype and finite entries; returns the states with the same shape, dtype
    /// and device. Bit for bit equal to `Problem.solve` row by row (device top-k: for distinct scores). A user solver
    /// that returns a misshaped, non-binary or infeasible state raises InvalidOperationException naming the problem.
    let solve (problem: Problem) (weights: torch.Tensor) : torch.Tensor =
        solveWithParallelism defaultParallelism problem weights

    /// MAP in maximisation terms for validated scores (see `solveScores`).
    let internal solveScoresValidated (dop: int) (problem: Problem) (scores: torch.Tensor) : torch.Tensor =
        match problem.Sense with
        | Maximise -> solveValidated dop problem scores
        | Minimise ->
            use negated = scores.detach().neg()
            solveValidated dop problem negated

    /// MAP in maximisation terms: argmax_{z ∈ C} ⟨z, θ⟩ for scores θ whatever the problem's sense (a Minimise problem
    /// is solved on −θ). Same shapes and guarantees as `solve`.
    let solveScores (problem: Problem) (scores: torch.Tensor) : torch.Tensor =
        validate "scores" problem scores
        solveScoresValidated defaultParallelism problem scores
