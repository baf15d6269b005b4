namespace Imle.Torch

#nowarn "9" // Philox noise is written straight into the tensor buffer through a native pointer.

open System
open TorchSharp
open Imle

/// The random source TensorNoise draws from. Both are reproducible from the `torch.Generator` passed in.
type NoiseGenerator =
    /// libtorch's own generator (`torch.rand` / `torch.randn` on the `torch.Generator`): the stream every earlier
    /// release used and the default, so committed results reproduce.
    | Libtorch
    /// Philox 4×32-10 (`Philox`, `PhiloxNoise`): one 63-bit key drawn from the `torch.Generator` per call, then the
    /// noise computed in float32 in SIMD lanes on libtorch's intra-op thread count, written straight into the tensor's
    /// buffer; the values depend only on the key (not on the thread count). Float64 results are float32 draws widened.
    /// `Custom` noise falls back to `Libtorch`.
    | Philox

/// Perturbation noise ε ~ ρ(ε) as tensors (paper Sec. 3.2 and Eq. 13), drawn on the requested device from an explicit
/// `torch.Generator` only: the global generator is never touched, so the same generator state gives the same bits.
[<RequireQualifiedAccess>]
module TensorNoise =

    /// The dtype the arithmetic runs in: float64 when float64 is asked for, float32 otherwise (half types are computed
    /// in float32 and converted at the end).
    let private workType (dtype: torch.ScalarType) =
        if dtype = torch.ScalarType.Float64 then
            torch.ScalarType.Float64
        else
            torch.ScalarType.Float32

    /// The smallest positive normal number of the working dtype (keeps log(U) finite when U = 0 is drawn).
    let private tiny (work: torch.ScalarType) =
        if work = torch.ScalarType.Float64 then
            2.2250738585072014e-308
        else
            1.1754943508222875e-38

    /// A 0-dim constant of the working dtype on the device (registered in the caller's dispose scope).
    let private constant (work: torch.ScalarType) (device: torch.Device) (v: float) =
        torch.tensor (v, dtype = work, device = device)

    /// `count` standard normal draws. float32 uses libtorch's vectorised `randn`; its float64 path is scalar
    /// (≈ 5× slower here), so float64 uses Box–Muller over two uniform tensors instead (exact, vectorised).
    let private normals (generator: torch.Generator) (work: torch.ScalarType) (device: torch.Device) (count: int64) =
        if work <> torch.ScalarType.Float64 then
            torch.randn ([| count |], dtype = work, device = device, generator = generator)
        else
            let k = constant work device
            let half = (count + 1L) / 2L

            use u1 =
                torch.rand ([| half |], dtype = work, device = device, generator = generator)

            use u2 =
                torch.rand ([| half |], dtype = work, device = device, generator = generator)

            use floor = (tiny work).ToScalar()
            // r = √(−2 log U₁), θ = 2πU₂; (r cos θ, r sin θ) are two independent N(0, 1) draws.
            use r = u1.clamp_min_(floor).log_().mul_(k (-2.0)).sqrt_()
            use theta = u2.mul_ (k (2.0 * Math.PI))
            use a = theta.cos().mul_(r)
            use b = theta.sin_().mul_(r)
            use both = torch.cat ([| a; b |], 0L)
            both.narrow(0L, 0L, count).contiguous()

    /// One round of vectorised Marsaglia–Tsang proposals for Gamma(α, 1), α = `shape` (+ 1 when `shape` < 1),
    /// d = α − 1/3, c = 1/√(9d): x ~ N(0, 1), u ~ U(0, 1), t = 1 + c·x, v = t³, accepted where v > 0 and
    /// log u < h(x) = x²/2 + d(1 − v + log v). The squeeze u < 1 − 0.0331x⁴ lies inside that region, so the
    /// vectorised test omits it with the same decisions; where t ≤ 0 the logarithm is NaN or −∞ and the comparison is
    /// false, which is the v > 0 condition. Returns log(Gamma/d)/3 (= log t for α = shape) for every proposal (the
    /// factor 3 and log d are applied by the caller in one fused step) and the mask of rejected proposals.
    ///
    /// Shapes below 1 use Gamma(a) = Gamma(a + 1)·U^(1/a) in log space (no underflow for tiny a). U is recycled from
    /// the acceptance step rather than drawn anew: given x and acceptance, u is uniform on (0, e^h(x)) (h ≤ 0 for
    /// Marsaglia–Tsang), so U = u·e^(−h(x)) is exactly U(0, 1) and independent of the accepted Gamma(a + 1). This
    /// saves a third of the random numbers (the serial CPU generator is the bottleneck).
    let private proposalRound
        (generator: torch.Generator)
        (work: torch.ScalarType)
        (device: torch.Device)
        (shape: float)
        (count: int64)
        : torch.Tensor * torch.Tensor =
        let boosted = shape < 1.0
        let alpha = if boosted then shape + 1.0 else shape
        let d = alpha - 1.0 / 3.0
        let c = 1.0 / sqrt (9.0 * d)
        use one = constant work device 1.0
        use cS = c.ToScalar()
        use three = (3.0).ToScalar()
        use negD = (-d).ToScalar()
        use threeD = (3.0 * d).ToScalar()
        use half = (0.5).ToScalar()
        use dS = d.ToScalar()
        use unit = (1.0).ToScalar()
        use x = normals generator work device count

        use u =
            torch.rand ([| count |], dtype = work, device = device, generator = generator)

        use t = torch.add (one, x, cS)
        let logT = t.log ()
        // h = d(1 − t³ + 3 log t) + x²/2, computed in t's buffer.
        t.pow_(three).mul_(negD).add_(logT, threeD).addcmul_(x, x, half).add_(dS, unit)
        |> ignore

        use logU = u.log_ ()
        let rejected = logU.lt(t).logical_not_()

        if boosted then
            // log U' = log u − h; log(Gamma(a)/d)/3 = log t + log U'/(3a).
            use scale = (1.0 / (3.0 * shape)).ToScalar()
            logT.add_ (logU.sub_ (t), scale) |> ignore

        logT, rejected

    /// `count` i.i.d. draws of log(Gamma(shape, 1)/d)/3 (d as in `proposalRound`): one round of proposals, then only
    /// the rejected entries (< 5 %) are redrawn, recursively, and copied into place.
    let rec private logGammaOverD
        (generator: torch.Generator)
        (work: torch.ScalarType)
        (device: torch.Device)
        (shape: float)
        (count: int64)
        : torch.Tensor =
        let logT, rejected = proposalRound generator work device shape count
        use rejected = rejected
        use positions = rejected.nonzero ()
        let redraw = positions.shape.[0]

        if redraw > 0L then
            use flat = positions.view (redraw)
            use replacement = logGammaOverD generator work device shape redraw
            logT.index_copy_ (0L, flat, replacement) |> ignore

        logT

    /// Σ_{i=1..s} Gamma(shape 1/κ, scale κ/i) for `count` elements. Blocks of columns are drawn as [s, b] tensors
    /// (s·b ≈ 2^18 Gammas, cache-sized, so no block pays for fresh pages), scaled per row by κ/i, summed over s.
    let private gammaSums
        (generator: torch.Generator)
        (work: torch.ScalarType)
        (device: torch.Device)
        (kappa: float)
        (terms: int)
        (count: int64)
        : torch.Tensor =
        let shape = 1.0 / kappa
        let alpha = if shape < 1.0 then shape + 1.0 else shape
        let d = alpha - 1.0 / 3.0
        let s = int64 terms
        // log(d·κ/i): the Marsaglia–Tsang factor d and the scale of term i, added before exponentiating.
        use logScales =
            torch
                .tensor(Array.init terms (fun i -> log d + log (kappa / float (i + 1))), dtype = work, device = device)
                .view(s, 1L)

        use three = (3.0).ToScalar()
        let out = torch.empty ([| count |], dtype = work, device = device)
        let block = max 1L ((1L <<< 18) / s)
        let mutable j = 0L

        while j < count do
            let b = min block (count - j)
            use logG = logGammaOverD generator work device shape (s * b)
            use grid = logG.view (s, b)
            use scaled = torch.add(logScales, grid, three).exp_()
            use sum = scaled.sum (0L)
            use slice = out.narrow (0L, j, b)
            slice.copy_ (sum) |> ignore
            j <- j + b

        out

    let private validateShape (shape: int64[]) =
        if isNull shape then
            nullArg "shape"

        shape
        |> Array.iteri (fun i d ->
            if d < 0L then
                invalidArg "shape" (sprintf "shape[%d] must be >= 0; got %d." i d))

    /// The generator `sample` uses on this logical thread (async flow): `Libtorch` unless `withGenerator` says otherwise.
    let private ambient = System.Threading.AsyncLocal<NoiseGenerator>()

    /// The generator `sample` currently uses (`Libtorch` by default).
    let currentGenerator () : NoiseGenerator =
        // An unset AsyncLocal of a union holds null, which is the first (field-less) case.
        match box ambient.Value with
        | null -> Libtorch
        | _ -> ambient.Value

    /// Runs `f` with `sample` (and so every layer, estimator and loss that draws noise through it) drawing from
    /// `source`, restoring the previous choice afterwards (also on an exception). The choice flows with async calls.
    let withGenerator (source: NoiseGenerator) (f: unit -> 'T) : 'T =
        let before = currentGenerator ()
        ambient.Value <- source

        try
            f ()
        finally
            ambient.Value <- before

    /// One 63-bit Philox key drawn from `generator` (so the generator's state still decides the stream).
    let private philoxKey (generator: torch.Generator) (device: torch.Device) : uint64 =
        use draw =
            torch.randint (
                0L,
                Int64.MaxValue,
                [| 1L |],
                dtype = torch.ScalarType.Int64,
                device = device,
                generator = generator
            )

        uint64 (draw.item<int64>())

    /// Philox noise as a float32 CPU tensor of `count` elements, filled in place.
    let private philoxSample (noise: Noise) (key: uint64) (count: int64) : torch.Tensor =
        let out = torch.empty ([| count |], dtype = torch.ScalarType.Float32)

        if count > 0L then
            let bytes = out.bytes
            let first = &System.Runtime.InteropServices.MemoryMarshal.GetReference(bytes)

            let address =
                Microsoft.FSharp.NativeInterop.NativePtr.toNativeInt (
                    Microsoft.FSharp.NativeInterop.NativePtr.ofVoidPtr<byte>(
                        System.Runtime.CompilerServices.Unsafe.AsPointer(&first)
                    )
                )

            PhiloxNoise.sampleIntoAddress Philox.bestPath noise key (max 1 (torch.get_num_threads ())) address count
            GC.KeepAlive out

        out

    /// The checks every sampler makes: a valid noise, a generator, a valid shape, a floating dtype and a device.
    let private checkArguments
        (noise: Noise)
        (generator: torch.Generator)
        (shape: int64[])
        (dtype: torch.ScalarType)
        (device: torch.Device)
        =
        Noise.validate noise |> ignore

        if isNull generator then
            nullArg "generator"

        validateShape shape

        if not (torch.is_floating_point dtype) then
            invalidArg "dtype" (sprintf "dtype must be a floating-point type (e.g. Float32, Float64); got %A." dtype)

        if isNull device then
            nullArg "device"

    /// `count` draws of ε ~ noise from libtorch's generator (the `Libtorch` source), flat, in the working type of
    /// `dtype` on `device` (Float64 for `Custom` noise, which runs the user's sampler on the CPU).
    let private libtorchDraws
        (noise: Noise)
        (generator: torch.Generator)
        (count: int64)
        (dtype: torch.ScalarType)
        (device: torch.Device)
        : torch.Tensor =
        let work = workType dtype
        use scope = torch.NewDisposeScope()
        let k = constant work device

        // The Gamma sampler's many block operations on one intra-op thread on the CPU (see IntraOp): its time is
        // mostly libtorch's serial generator, and parallel regions collapse on a busy machine.
        let sums kappa terms =
            IntraOp.serialOnCpu device (fun () -> gammaSums generator work device kappa terms count)

        let result =
            match noise with
            | Zero -> torch.zeros ([| count |], dtype = work, device = device)
            | _ when count = 0L -> torch.zeros ([| 0L |], dtype = work, device = device)
            | Gumbel tau ->
                let u =
                    torch.rand ([| count |], dtype = work, device = device, generator = generator)
                // −τ·log(−log U), U clamped away from 0 so the result stays finite.
                use floor = (tiny work).ToScalar()
                u.clamp_min_(floor).log_().neg_().log_().mul_(k (-tau))
            | Normal sigma -> (normals generator work device count).mul_(k sigma)
            | SumOfGamma(kappa, tau, terms) ->
                let sums = sums kappa terms
                sums.sub_(k (log (float terms))).mul_(k (tau / kappa))
            | SumOfGammaCorrected(kappa, tau, terms) ->
                let shift = Noise.harmonic terms - Noise.eulerGamma

                let inverseSquares =
                    Seq.sum (seq { for i in 1..terms -> 1.0 / (float i * float i) })

                let tailSd = sqrt (max 0.0 (kappa * (Math.PI * Math.PI / 6.0 - inverseSquares)))
                let sums = sums kappa terms
                use tail = normals generator work device count
                (Safe.addInPlace sums (tail.mul_ (k tailSd))).sub_(k shift).mul_(k (tau / kappa))
            | Custom _ ->
                if count > int64 Int32.MaxValue then
                    invalidArg
                        "shape"
                        (sprintf "Custom noise fills a managed array; %d elements exceed its limit." count)

                let seed =
                    use draw =
                        torch.randint (
                            0L,
                            int64 Int32.MaxValue,
                            [| 1L |],
                            dtype = torch.ScalarType.Int64,
                            device = device,
                            generator = generator
                        )

                    draw.item<int64>()

                let values = Array.zeroCreate<float>(int count)
                Noise.sampleInto noise (Random(int seed)) values
                torch.tensor (values, dtype = torch.ScalarType.Float64)

        result.MoveToOuterDisposeScope()

    /// `flat` viewed as `shape`, in `dtype` on `device` (an alias when it is a CPU tensor of that type already).
    let private shapedAs (flat: torch.Tensor) (shape: int64[]) (dtype: torch.ScalarType) (device: torch.Device) =
        use view = flat.view shape

        if
            view.dtype = dtype
            && view.device_type = DeviceType.CPU
            && device.``type`` = DeviceType.CPU
        then
            view.alias ()
        else
            view.``to`` (dtype, device)

    /// ε ~ noise, i.i.d., with the given shape, dtype (floating point) and device, drawn from `generator` only,
    /// through `source` (see `NoiseGenerator`). Sum-of-Gamma is Eq. 13 exactly: τ/κ·(Σ_{i=1..s} Gamma(1/κ, κ/i) −
    /// log s), with a vectorised Marsaglia–Tsang Gamma sampler (no per-element managed loop). `Custom` noise seeds a
    /// System.Random from one draw of the generator and runs the user's sampler per element on the CPU
    /// (deterministic), then copies once; it draws from libtorch's generator under either source.
    let sampleWith
        (source: NoiseGenerator)
        (noise: Noise)
        (generator: torch.Generator)
        (shape: int64[])
        (dtype: torch.ScalarType)
        (device: torch.Device)
        : torch.Tensor =
        checkArguments noise generator shape dtype device
        let count = Array.fold (*) 1L shape

        match source, noise with
        | _, Zero -> torch.zeros (shape, dtype = dtype, device = device)
        | Philox, Custom _
        | Libtorch, _ ->
            use flat = libtorchDraws noise generator count dtype device
            shapedAs flat shape dtype device
        | Philox, _ ->
            use flat = philoxSample noise (philoxKey generator device) count
            shapedAs flat shape dtype device

    /// ε ~ noise, i.i.d., with the given shape, dtype (floating point) and device, drawn from `generator` only, through
    /// the current source (`currentGenerator`: `Libtorch` unless inside `withGenerator`). See `sampleWith`.
    let sample noise generator shape dtype device : torch.Tensor =
        sampleWith (currentGenerator ()) noise generator shape dtype device
