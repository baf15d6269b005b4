namespace Imle

open System
open System.Runtime.Intrinsics
open System.Runtime.Intrinsics.X86

/// The instruction path that computes Philox blocks. Every path gives the same words bit for bit; the choice only
/// changes the speed (`Philox.bestPath` picks the widest the processor has).
type PhiloxPath =
    /// One block at a time in 64-bit integer arithmetic (any processor).
    | ScalarBlocks
    /// Four blocks at a time in 128-bit SSE2 lanes.
    | Sse2Lanes
    /// Eight blocks at a time in 256-bit AVX2 lanes.
    | Avx2Lanes

/// Philox 4×32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011; the generator PyTorch uses
/// on CUDA): a counter-based generator, each 128-bit counter and 64-bit key mapped to four 32-bit words by ten rounds of
/// multiply-and-xor. Any word of the stream is computed from its index alone, so blocks can be generated in SIMD lanes
/// and on any number of threads with the same result.
///
/// The stream of a key: word e is word ⌊(e mod 32) / 8⌋ of block 8·⌊e / 32⌋ + (e mod 8), block b having the counter
/// (b mod 2³², ⌊b / 2³²⌋, 0, 0). (Eight consecutive blocks fill 32 consecutive words, so eight SIMD lanes store whole
/// vectors.)
[<RequireQualifiedAccess>]
module Philox =

    [<Literal>]
    let private M0 = 0xD2511F53u

    [<Literal>]
    let private M1 = 0xCD9E8D57u

    [<Literal>]
    let private W0 = 0x9E3779B9u

    [<Literal>]
    let private W1 = 0xBB67AE85u

    /// The widest path this processor runs natively.
    let bestPath: PhiloxPath =
        if Avx2.IsSupported then Avx2Lanes
        elif Sse2.IsSupported then Sse2Lanes
        else ScalarBlocks

    /// The ten rounds on counters c0..c3 and key (k0, k1), written once for every path: on words (`blockOf`) or on
    /// vectors of any width (lane l of c0..c3 is block l's counter). `mulHiLo` gives the (lane-wise) high and low words
    /// of a product, `splat` puts one word in every lane.
    let inline private roundsOf
        ([<InlineIfLambda>] mulHiLo: 'V -> 'V -> struct ('V * 'V))
        ([<InlineIfLambda>] splat: uint32 -> 'V)
        (c0: 'V)
        (c1: 'V)
        (c2: 'V)
        (c3: 'V)
        (k0: uint32)
        (k1: uint32)
        : struct ('V * 'V * 'V * 'V) =
        let m0 = splat M0
        let m1 = splat M1
        let mutable c0 = c0
        let mutable c1 = c1
        let mutable c2 = c2
        let mutable c3 = c3
        let mutable k0 = k0
        let mutable k1 = k1

        for r in 0..9 do
            if r > 0 then
                k0 <- k0 + W0
                k1 <- k1 + W1

            let struct (hi0, lo0) = mulHiLo c0 m0
            let struct (hi1, lo1) = mulHiLo c2 m1
            let n0 = hi1 ^^^ c1 ^^^ splat k0
            let n2 = hi0 ^^^ c3 ^^^ splat k1
            c0 <- n0
            c1 <- lo1
            c2 <- n2
            c3 <- lo0

        struct (c0, c1, c2, c3)

    /// The high and low words of the 64-bit product of two words.
    let inline private mulHiLo32 (a: uint32) (m: uint32) =
        let p = uint64 a * uint64 m
        struct (uint32 (p >>> 32), uint32 p)

    /// The ten rounds on one counter (c0..c3) and key (k0, k1), as Random123's philox4x32_R(10, …).
    let internal blockOf
        (c0: uint32)
        (c1: uint32)
        (c2: uint32)
        (c3: uint32)
        (k0: uint32)
        (k1: uint32)
        : struct (uint32 * uint32 * uint32 * uint32) =
        roundsOf mulHiLo32 id c0 c1 c2 c3 k0 k1

    /// One Philox 4×32-10 block: the four words of `counter` (4 words) under `key` (2 words). Raises an
    /// ArgumentException when either array is null or of the wrong length.
    let block (counter: uint32[]) (key: uint32[]) : uint32[] =
        if isNull counter || counter.Length <> 4 then
            invalidArg "counter" "counter must be an array of 4 words."

        if isNull key || key.Length <> 2 then
            invalidArg "key" "key must be an array of 2 words."

        let struct (a, b, c, d) =
            blockOf counter.[0] counter.[1] counter.[2] counter.[3] key.[0] key.[1]

        [| a; b; c; d |]

    /// High and low 32 bits of the lane-wise products a·m (AVX2).
    let inline private mulHiLo256 (a: Vector256<uint32>) (m: Vector256<uint32>) =
        // vpmuludq on the even and the odd lanes, recombined with 32-bit blends (no vpmulld).
        let even = Avx2.Multiply(a, m).AsUInt32()
        let odd = Avx2.Multiply(Avx2.ShiftRightLogical(a.AsUInt64(), 32uy).AsUInt32(), m)

        let hi =
            Avx2.Blend(Avx2.ShiftRightLogical(even.AsUInt64(), 32uy).AsUInt32(), odd.AsUInt32(), 0xAAuy)

        let lo = Avx2.Blend(even, Avx2.ShiftLeftLogical(odd, 32uy).AsUInt32(), 0xAAuy)
        struct (hi, lo)

    /// High and low 32 bits of the lane-wise products a·m (SSE2).
    let inline private mulHiLo128 (a: Vector128<uint32>) (m: Vector128<uint32>) =
        let even = Sse2.Multiply(a, m)
        let odd = Sse2.Multiply(Sse2.ShiftRightLogical(a.AsUInt64(), 32uy).AsUInt32(), m)
        let hiMask = Vector128.Create 0xFFFFFFFF00000000UL
        let loMask = Vector128.Create 0x00000000FFFFFFFFUL
        let hi = Sse2.Or(Sse2.ShiftRightLogical(even, 32uy), Sse2.And(odd, hiMask))
        let lo = Sse2.Or(Sse2.And(even, loMask), Sse2.ShiftLeftLogical(odd, 32uy))
        struct (hi.AsUInt32(), lo.AsUInt32())

    let private rounds256 c0 c1 c2 c3 (k0: uint32) (k1: uint32) =
        roundsOf mulHiLo256 (fun (w: uint32) -> Vector256.Create w) c0 c1 c2 c3 k0 k1

    let private rounds128 c0 c1 c2 c3 (k0: uint32) (k1: uint32) =
        roundsOf mulHiLo128 (fun (w: uint32) -> Vector128.Create w) c0 c1 c2 c3 k0 k1

    /// Eight blocks in the lanes of four vectors: lane l of (c0, c1, c2, c3) is the counter of block l; lane l of the
    /// result holds that block's four words. Every path gives the same lanes (a path the processor lacks falls back to
    /// the next narrower one).
    let internal lanes8
        (path: PhiloxPath)
        (c0: Vector256<uint32>)
        (c1: Vector256<uint32>)
        (c2: Vector256<uint32>)
        (c3: Vector256<uint32>)
        (k0: uint32)
        (k1: uint32)
        : struct (Vector256<uint32> * Vector256<uint32> * Vector256<uint32> * Vector256<uint32>) =
        match path with
        | Avx2Lanes when Avx2.IsSupported -> rounds256 c0 c1 c2 c3 k0 k1
        | Avx2Lanes
        | Sse2Lanes when Sse2.IsSupported ->
            let struct (a0, a1, a2, a3) =
                rounds128 (c0.GetLower()) (c1.GetLower()) (c2.GetLower()) (c3.GetLower()) k0 k1

            let struct (b0, b1, b2, b3) =
                rounds128 (c0.GetUpper()) (c1.GetUpper()) (c2.GetUpper()) (c3.GetUpper()) k0 k1

            struct (Vector256.Create(a0, b0),
                    Vector256.Create(a1, b1),
                    Vector256.Create(a2, b2),
                    Vector256.Create(a3, b3))
        | _ ->
            let w0 = Array.zeroCreate<uint32> 8
            let w1 = Array.zeroCreate<uint32> 8
            let w2 = Array.zeroCreate<uint32> 8
            let w3 = Array.zeroCreate<uint32> 8

            for l in 0..7 do
                let struct (a, b, c, d) =
                    blockOf (c0.GetElement l) (c1.GetElement l) (c2.GetElement l) (c3.GetElement l) k0 k1

                w0.[l] <- a
                w1.[l] <- b
                w2.[l] <- c
                w3.[l] <- d

            struct (Vector256.Create<uint32>(w0: uint32[]),
                    Vector256.Create<uint32>(w1: uint32[]),
                    Vector256.Create<uint32>(w2: uint32[]),
                    Vector256.Create<uint32>(w3: uint32[]))

    /// Lanes 0..7 plus `first` (wrapping at 2³²), as a counter word.
    let internal laneIndex (first: uint32) =
        Vector256.Create(first) + Vector256.Create(0u, 1u, 2u, 3u, 4u, 5u, 6u, 7u)

    /// The 64-bit key as its two words (low, high).
    let internal keyWords (key: uint64) =
        struct (uint32 key, uint32 (key >>> 32))

    /// The eight blocks 8q .. 8q + 7 of the raw stream (counters (b mod 2³², ⌊b / 2³²⌋, `c2`, 0)).
    let internal group (path: PhiloxPath) (key: uint64) (c2: uint32) (q: uint64) =
        let b = 8UL * q
        let struct (k0, k1) = keyWords key

        lanes8
            path
            (laneIndex (uint32 b))
            (Vector256.Create(uint32 (b >>> 32)))
            (Vector256.Create c2)
            Vector256.Zero
            k0
            k1

    /// Fills `into` with words 0 .. into.Length − 1 of the key's stream on the given path (the same words on every
    /// path). Raises an ArgumentNullException when `into` is null.
    let fillWith (path: PhiloxPath) (key: uint64) (into: uint32[]) : unit =
        if isNull into then
            nullArg "into"

        let groups = (into.Length + 31) / 32
        let tmp = Array.zeroCreate<uint32> 32

        for q in 0 .. groups - 1 do
            let struct (w0, w1, w2, w3) = group path key 0u (uint64 q)
            w0.CopyTo(tmp, 0)
            w1.CopyTo(tmp, 8)
            w2.CopyTo(tmp, 16)
            w3.CopyTo(tmp, 24)
            let n = min 32 (into.Length - 32 * q)
            Array.blit tmp 0 into (32 * q) n

    /// Fills `into` with words 0 .. into.Length − 1 of the key's stream (`bestPath`).
    let fill (key: uint64) (into: uint32[]) : unit = fillWith bestPath key into
