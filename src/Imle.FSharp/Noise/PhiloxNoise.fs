namespace Imle

#nowarn "9" // The tensor-buffer entry point writes through a native pointer.

open System
open System.Runtime.Intrinsics
open System.Threading.Tasks
open Microsoft.FSharp.NativeInterop

/// Float32 arithmetic on eight lanes built only from IEEE-exact operations (+, −, ×, ÷, √, floor, conversions, bit
/// operations), so that the result is the same bit for bit on every processor and every Philox path: the logarithm
/// and exponential are Cephes' single-precision polynomials (as in sse_mathfun), the cosine a Taylor polynomial on a
/// reduced argument (error < 1e-8).
module internal LaneMath =
    type V = Vector256<float32>

    let inline k (x: float32) : V = Vector256.Create x

    /// Natural logarithm for positive lanes (values below the smallest normal float are raised to it first).
    let vlog (x: V) : V =
        let x = Vector256.Max(x, k 1.17549435e-38f)
        let bits = x.AsInt32()
        let e0 = Vector256.ShiftRightLogical(bits, 23) - Vector256.Create 127

        let m =
            ((bits &&& Vector256.Create 0x007FFFFF) ||| Vector256.Create 0x3F000000).AsSingle()

        let e1 = Vector256.ConvertToSingle e0 + k 1.0f
        let small = Vector256.LessThan(m, k 0.707106781186547524f)
        let tmp = m &&& small
        let x = m - k 1.0f
        let e = e1 - (k 1.0f &&& small)
        let x = x + tmp
        let z = x * x
        let mutable y = k 7.0376836292e-2f
        y <- y * x + k -1.1514610310e-1f
        y <- y * x + k 1.1676998740e-1f
        y <- y * x + k -1.2420140846e-1f
        y <- y * x + k 1.4249322787e-1f
        y <- y * x + k -1.6668057665e-1f
        y <- y * x + k 2.0000714765e-1f
        y <- y * x + k -2.4999993993e-1f
        y <- y * x + k 3.3333331174e-1f
        y <- y * x * z
        y <- y + e * k -2.12194440e-4f
        y <- y - z * k 0.5f
        x + y + e * k 0.693359375f

    /// Exponential (arguments clamped to ±88.376).
    let vexp (x: V) : V =
        let x = Vector256.Min(Vector256.Max(x, k -88.3762626647949f), k 88.3762626647949f)
        let fx = Vector256.Floor(x * k 1.44269504088896341f + k 0.5f)
        let x = x - fx * k 0.693359375f - fx * k -2.12194440e-4f
        let z = x * x
        let mutable y = k 1.9875691500e-4f
        y <- y * x + k 1.3981999507e-3f
        y <- y * x + k 8.3334519073e-3f
        y <- y * x + k 4.1665795894e-2f
        y <- y * x + k 1.6666665459e-1f
        y <- y * x + k 5.0000001201e-1f
        y <- y * z + x + k 1.0f

        let pow2 =
            Vector256.ShiftLeft(Vector256.ConvertToInt32 fx + Vector256.Create 127, 23).AsSingle()

        y * pow2

    /// cos(2πu) for u in [0, 1].
    let cos2Pi (u: V) : V =
        let t = u - k 0.5f // cos(2πu) = −cos(2πt)
        let a = Vector256.Abs t
        let far = Vector256.GreaterThan(a, k 0.25f) // cos(2πa) = −cos(2π(½ − a))
        let b = Vector256.ConditionalSelect(far, k 0.5f - a, a)
        let y = b * k 6.28318530717958648f
        let z = y * y
        let mutable c = k (1.0f / 479001600.0f)
        c <- c * z - k (1.0f / 3628800.0f)
        c <- c * z + k (1.0f / 40320.0f)
        c <- c * z - k (1.0f / 720.0f)
        c <- c * z + k (1.0f / 24.0f)
        c <- c * z - k 0.5f
        c <- c * z + k 1.0f
        Vector256.ConditionalSelect(far, c, -c)

    /// Uniform on (0, 1) from 32 random bits: (⌊w / 2⁸⌋ + ½)·2⁻²⁴ (never 0 or 1).
    let uniform (w: Vector256<uint32>) : V =
        (Vector256.ConvertToSingle(Vector256.ShiftRightLogical(w, 8).AsInt32()) + k 0.5f)
        * k 5.9604644775390625e-8f

    /// Standard normal draws by Box–Muller's cosine branch from two words: √(−2 log U₁)·cos(2πU₂).
    let normal (w1: Vector256<uint32>) (w2: Vector256<uint32>) : V =
        Vector256.Sqrt(k -2.0f * vlog (uniform w1)) * cos2Pi (uniform w2)

/// Perturbation noise (`Noise`) drawn from Philox 4×32-10 (`Philox`) in float32, eight lanes at a time and split
/// across threads by counter: element e's draws come from counters that name e, so the output depends only on the key,
/// never on the thread count or the SIMD path.
///
/// Counters: Gumbel element e uses word e of the key's stream (`Philox`); Normal element e = 32q + 16h + 8j + l uses
/// words 2j, 2j + 1 of block 8(2q + h) + l; Sum-of-Gamma element e's proposal r (r = 0, 1, …) uses the block with
/// counter (e mod 2³², ⌊e / 2³²⌋, r, 1): words 0 and 1 give the Marsaglia–Tsang normal, word 2 the acceptance uniform
/// (recycled for the shape boost as in TensorNoise), and its accepted proposals in order are the terms i = 1..s; the
/// corrected variant's Normal tail uses counter (e mod 2³², ⌊e / 2³²⌋, 0, 0).
[<RequireQualifiedAccess>]
module PhiloxNoise =
    open LaneMath

    /// Elements per work item handed to a thread (a multiple of 32).
    let private chunk = 8192L

    /// Gamma(1/κ) sampler constants: the shape a, the Marsaglia–Tsang α (a + 1 when a < 1), d = α − 1/3, c = 1/√(9d).
    type private GammaConsts =
        { A: float32
          Boosted: bool
          D: float32
          C: float32
          LogD: float32 }

    let private gammaConsts (kappa: float) =
        let a = 1.0 / kappa
        let alpha = if a < 1.0 then a + 1.0 else a
        let d = alpha - 1.0 / 3.0

        { A = float32 a
          Boosted = a < 1.0
          D = float32 d
          C = float32 (1.0 / sqrt (9.0 * d))
          LogD = float32 (log d) }

    /// Σ_{i=1..s} Gamma(1/κ, κ/i) for the eight elements first .. first + 7. Every lane draws one Marsaglia–Tsang
    /// proposal per round r (counter (e mod 2³², ⌊e / 2³²⌋, r, 1)); an accepted proposal becomes the lane's next term i
    /// (scaled by κ/i), until every lane has its s terms.
    let private gammaSums8 path (k0: uint32) (k1: uint32) (g: GammaConsts) (kappa: float) (terms: int) (first: uint64) =
        let c0 = Philox.laneIndex (uint32 first)
        let c1 = Vector256.Create(uint32 (first >>> 32))
        let one = Vector256.Create 1u
        let dKappa = k (g.D * float32 kappa)
        let last = Vector256.Create(float32 terms)
        let mutable sum = Vector256<float32>.Zero
        // The lane's next term index i (1-based, as float32); lanes with i > s are done.
        let mutable term = k 1.0f
        let mutable pending = Vector256<float32>.AllBitsSet
        let mutable r = 0u

        while Vector256.ExtractMostSignificantBits pending <> 0u do
            let struct (w0, w1, w2, _) = Philox.lanes8 path c0 c1 (Vector256.Create r) one k0 k1

            let x = normal w0 w1
            let t = k 1.0f + k g.C * x
            let positive = Vector256.GreaterThan(t, Vector256<float32>.Zero)
            let tS = Vector256.ConditionalSelect(positive, t, k 1.0f)
            let logT = vlog tS
            let v = tS * tS * tS
            // h = x²/2 + d(1 − v + log v); accepted where t > 0 and log u < h.
            let h = x * x * k 0.5f + k g.D * (k 1.0f - v + k 3.0f * logT)
            let logU = vlog (uniform w2)
            let accepted = positive &&& Vector256.LessThan(logU, h) &&& pending
            // Gamma(α)/d = t³; for a boosted shape times U^(1/a) with U = u·e^(−h) (TensorNoise's recycling).
            let mutable logG = k 3.0f * logT

            if g.Boosted then
                logG <- logG + (logU - h) * k (1.0f / g.A)

            let draw = vexp logG * dKappa / term
            sum <- sum + (draw &&& accepted)
            term <- term + (k 1.0f &&& accepted)
            pending <- Vector256.LessThanOrEqual(term, last)
            r <- r + 1u

        sum

    /// The 32 draws of group q (elements 32q .. 32q + 31) into `out` (32 floats).
    let private group32 path (noise: Noise) (key: uint64) (q: uint64) (out: nativeptr<float32>) =
        let struct (k0, k1) = Philox.keyWords key

        let store (offset: int) (v: Vector256<float32>) =
            Vector256.Store(v, NativePtr.add out offset)

        match noise with
        | Zero -> Span<float32>(NativePtr.toVoidPtr out, 32).Clear()
        | Gumbel tau ->
            let struct (w0, w1, w2, w3) = Philox.group path key 0u q

            let gumbel w =
                k (float32 -tau) * vlog (k 0.0f - vlog (uniform w))

            store 0 (gumbel w0)
            store 8 (gumbel w1)
            store 16 (gumbel w2)
            store 24 (gumbel w3)
        | Normal sigma ->
            for h in 0..1 do
                let struct (w0, w1, w2, w3) = Philox.group path key 0u (2UL * q + uint64 h)
                store (16 * h) (k (float32 sigma) * normal w0 w1)
                store (16 * h + 8) (k (float32 sigma) * normal w2 w3)
        | SumOfGamma(kappa, tau, terms) ->
            let g = gammaConsts kappa
            let shift = k (float32 (log (float terms)))
            let scale = k (float32 (tau / kappa))

            for j in 0..3 do
                let sums = gammaSums8 path k0 k1 g kappa terms (32UL * q + uint64 (8 * j))
                store (8 * j) ((sums - shift) * scale)
        | SumOfGammaCorrected(kappa, tau, terms) ->
            let g = gammaConsts kappa
            let shift = k (float32 (Noise.harmonic terms - Noise.eulerGamma))

            let inverseSquares =
                Seq.sum (seq { for i in 1..terms -> 1.0 / (float i * float i) })

            let tailSd =
                k (float32 (sqrt (max 0.0 (kappa * (Math.PI * Math.PI / 6.0 - inverseSquares)))))

            let scale = k (float32 (tau / kappa))

            for j in 0..3 do
                let first = 32UL * q + uint64 (8 * j)
                let sums = gammaSums8 path k0 k1 g kappa terms first

                let struct (w0, w1, _, _) =
                    Philox.lanes8
                        path
                        (Philox.laneIndex (uint32 first))
                        (Vector256.Create(uint32 (first >>> 32)))
                        Vector256.Zero
                        Vector256.Zero
                        k0
                        k1

                store (8 * j) ((sums - shift + tailSd * normal w0 w1) * scale)
        | Custom(name, _) ->
            invalidArg
                "noise"
                (sprintf "Custom noise '%s' draws from System.Random; Philox draws only built-in noises." name)

    /// Fills `count` floats at `address` (native memory the caller keeps alive) with i.i.d. draws of `noise` under
    /// `key`, on up to `threads` threads and the given path. Validates the noise (Custom is refused).
    let internal sampleIntoAddress
        (path: PhiloxPath)
        (noise: Noise)
        (key: uint64)
        (threads: int)
        (address: nativeint)
        (count: int64)
        : unit =
        Noise.validate noise |> ignore
        Validate.intAtLeast "threads" 1 threads

        match noise with
        | Custom(name, _) ->
            invalidArg
                "noise"
                (sprintf "Custom noise '%s' draws from System.Random; Philox draws only built-in noises." name)
        | _ -> ()

        let chunks = (count + chunk - 1L) / chunk

        let work (c: int64) =
            let start = c * chunk
            let stop = min count (start + chunk)
            let tail = Array.zeroCreate<float32> 32
            let mutable e = start

            while e < stop do
                let q = uint64 (e / 32L)
                let n = int (min 32L (stop - e))
                let target = NativePtr.add (NativePtr.ofNativeInt<float32> address) (int e)

                if n = 32 then
                    group32 path noise key q target
                else
                    use tailPtr = fixed tail
                    group32 path noise key q tailPtr
                    Span<float32>(tail, 0, n).CopyTo(Span<float32>(NativePtr.toVoidPtr target, n))

                e <- e + 32L

        if threads = 1 || chunks <= 1L then
            for c in 0L .. chunks - 1L do
                work c
        else
            Parallel.For(0L, chunks, ParallelOptions(MaxDegreeOfParallelism = threads), (fun c -> work c))
            |> ignore

    /// Fills `into` with i.i.d. float32 draws of `noise` under `key` on the given Philox path and up to `threads`
    /// threads (the values do not depend on either). Custom noise is refused (ArgumentException); so are a null
    /// array and `threads` < 1.
    let sampleIntoWith (path: PhiloxPath) (noise: Noise) (key: uint64) (threads: int) (into: float32[]) : unit =
        Validate.notNull "into" into

        if into.Length > 0 then
            use pin = fixed into
            sampleIntoAddress path noise key threads (NativePtr.toNativeInt pin) (int64 into.Length)
        else
            Noise.validate noise |> ignore

    /// Fills `into` with i.i.d. float32 draws of `noise` under `key` (`Philox.bestPath`, one thread per core).
    let sampleInto (noise: Noise) (key: uint64) (into: float32[]) : unit =
        sampleIntoWith Philox.bestPath noise key Environment.ProcessorCount into
