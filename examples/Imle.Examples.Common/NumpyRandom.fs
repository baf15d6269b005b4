/// NumPy's legacy `np.random.RandomState(seed)` generator (MT19937 seeded by `init_genrand`, doubles from two 32-bit
/// words as `genrand_res53`, normals by Marsaglia's polar method with the second value cached, as `legacy_gauss`), so
/// that an experiment can start from the very numbers a NumPy reference script drew (e.g. the synthetic experiment's
/// θ₀ and b of `RandomState(0)`). Tested against NumPy's published `np.random.seed(0); np.random.randn(20)`.
module Imle.Examples.NumpyRandom

open System

/// A `numpy.random.RandomState(seed)` for 0 ≤ seed < 2³², with `random_sample` and `standard_normal`.
type LegacyRandomState(seed: int64) =
    do
        if seed < 0L || seed > 0xFFFFFFFFL then
            invalidArg "seed" (sprintf "a RandomState seed must be between 0 and 2^32 - 1; got %d." seed)

    let n = 624
    let key: uint32[] = Array.zeroCreate n
    let mutable pos = n
    let mutable hasGauss = false
    let mutable gauss = 0.0

    do
        key.[0] <- uint32 seed

        for i in 1 .. n - 1 do
            let prev = key.[i - 1]
            key.[i] <- 1812433253u * (prev ^^^ (prev >>> 30)) + uint32 i

    let generate () =
        let upper, lower, matrixA = 0x80000000u, 0x7fffffffu, 0x9908b0dfu

        for i in 0 .. n - 1 do
            let y = (key.[i] &&& upper) ||| (key.[(i + 1) % n] &&& lower)
            let mag = if y &&& 1u = 1u then matrixA else 0u
            key.[i] <- key.[(i + 397) % n] ^^^ (y >>> 1) ^^^ mag

        pos <- 0

    /// The next 32-bit word (MT19937 with the standard tempering).
    member _.NextUInt32() : uint32 =
        if pos >= n then
            generate ()

        let mutable y = key.[pos]
        pos <- pos + 1
        y <- y ^^^ (y >>> 11)
        y <- y ^^^ ((y <<< 7) &&& 0x9d2c5680u)
        y <- y ^^^ ((y <<< 15) &&& 0xefc60000u)
        y ^^^ (y >>> 18)

    /// A uniform double in [0, 1) with 53 random bits (`random_sample`).
    member this.NextDouble() : float =
        let a = this.NextUInt32() >>> 5
        let b = this.NextUInt32() >>> 6
        (float a * 67108864.0 + float b) / 9007199254740992.0

    /// A standard normal draw (`standard_normal`, `randn`).
    member this.StandardNormal() : float =
        if hasGauss then
            hasGauss <- false
            gauss
        else
            let mutable x1 = 0.0
            let mutable x2 = 0.0
            let mutable r2 = 0.0

            let draw () =
                x1 <- 2.0 * this.NextDouble() - 1.0
                x2 <- 2.0 * this.NextDouble() - 1.0
                r2 <- x1 * x1 + x2 * x2

            draw ()

            while r2 >= 1.0 || r2 = 0.0 do
                draw ()

            let f = sqrt (-2.0 * log r2 / r2)
            gauss <- f * x1
            hasGauss <- true
            f * x2

    /// `randn(count)`: `count` standard normal draws.
    member this.Randn(count: int) : float[] =
        if count < 0 then
            invalidArg "count" (sprintf "count must be at least 0; got %d." count)

        Array.init count (fun _ -> this.StandardNormal())
