/// Statistical helpers shared by the property tests: each test states the false-failure rate it accepts.
module Imle.Tests.TestUtil

open System
open Expecto

/// Kolmogorov–Smirnov statistic D = sup |F_n(x) − F(x)| of a sample against a CDF.
let ksStatistic (cdf: float -> float) (sample: float[]) =
    let xs = Array.sort sample
    let n = float xs.Length
    let mutable d = 0.0

    for i in 0 .. xs.Length - 1 do
        let f = cdf xs.[i]
        d <- max d (max (float (i + 1) / n - f) (f - float i / n))

    d

/// The asymptotic KS critical value c(α)/√n for the given false-failure rate α (one-sample test).
let ksCritical (alpha: float) (n: int) =
    sqrt (-0.5 * log (alpha / 2.0)) / sqrt (float n)

/// Two-sample KS statistic.
let ksTwoSample (a: float[]) (b: float[]) =
    let xa = Array.sort a
    let xb = Array.sort b
    let mutable i = 0
    let mutable j = 0
    let mutable d = 0.0

    while i < xa.Length && j < xb.Length do
        let x = min xa.[i] xb.[j]

        while i < xa.Length && xa.[i] <= x do
            i <- i + 1

        while j < xb.Length && xb.[j] <= x do
            j <- j + 1

        d <- max d (abs (float i / float xa.Length - float j / float xb.Length))

    d

/// Two-sample KS critical value for false-failure rate α.
let ksTwoSampleCritical (alpha: float) (n: int) (m: int) =
    sqrt (-0.5 * log (alpha / 2.0)) * sqrt (float (n + m) / (float n * float m))

/// Gumbel(0, τ) CDF.
let gumbelCdf (tau: float) (x: float) = exp (-exp(-x / tau))

/// Pearson chi-square statistic of observed counts against expected probabilities (cells with tiny expectation merged away
/// by the caller).
let chiSquare (observed: int[]) (probabilities: float[]) =
    let n = float (Array.sum observed)

    Array.fold2
        (fun acc (o: int) p -> let e = n * p in acc + (float o - e) * (float o - e) / e)
        0.0
        observed
        probabilities

/// Upper quantile of the chi-square distribution with `df` degrees of freedom (Wilson–Hilferty approximation),
/// for the false-failure rate given by the standard normal quantile `z` (e.g. z = 3.09 for α = 0.001).
let chiSquareQuantile (df: int) (z: float) =
    let k = float df
    let a = 2.0 / (9.0 * k)
    k * pown (1.0 - a + z * sqrt a) 3

/// Cosine similarity of two vectors.
let cosine (a: float[]) (b: float[]) =
    let dot = Array.fold2 (fun s x y -> s + x * y) 0.0 a b
    let na = sqrt (Array.sumBy (fun x -> x * x) a)
    let nb = sqrt (Array.sumBy (fun x -> x * x) b)
    dot / (na * nb)

/// Asserts that `f` raises an exception deriving from ArgumentException whose message mentions `name`.
let throwsNaming (name: string) (f: unit -> 'a) =
    try
        f () |> ignore
        failwithf "expected an ArgumentException naming '%s', got none" name
    with
    | :? ArgumentException as e when e.Message.Contains(name: string) -> ()
    | :? ArgumentException as e -> failwithf "ArgumentException did not name '%s': %s" name e.Message

/// log Γ(x) for x > 0: the one implementation, in the examples' statistics module (Lanczos, g = 7, n = 9).
let logGamma (x: float) = Imle.Examples.Statistics.logGamma x

/// A fresh temporary folder named `<prefix>-<guid>`, and a disposable that deletes it.
let tempDir (prefix: string) =
    let dir =
        IO.Path.Combine(IO.Path.GetTempPath(), prefix + "-" + Guid.NewGuid().ToString("N"))

    IO.Directory.CreateDirectory dir |> ignore

    dir,
    { new IDisposable with
        member _.Dispose() =
            try
                IO.Directory.Delete(dir, true)
            with _ ->
                () }

/// The regularized lower incomplete gamma function P(a, x) (series for x < a + 1, continued fraction otherwise).
let gammaP (a: float) (x: float) =
    if x <= 0.0 then
        0.0
    elif x < a + 1.0 then
        let mutable ap = a
        let mutable sum = 1.0 / a
        let mutable del = sum
        let mutable n = 0

        while n < 10000 && abs del > abs sum * 1e-15 do
            ap <- ap + 1.0
            del <- del * x / ap
            sum <- sum + del
            n <- n + 1

        sum * exp (-x + a * log x - logGamma a)
    else
        let tiny = 1e-300
        let mutable b = x + 1.0 - a
        let mutable c = 1.0 / tiny
        let mutable d = 1.0 / b
        let mutable h = d
        let mutable i = 1
        let mutable fin = false

        while not fin && i < 10000 do
            let an = -float i * (float i - a)
            b <- b + 2.0
            d <- an * d + b

            if abs d < tiny then
                d <- tiny

            c <- b + an / c

            if abs c < tiny then
                c <- tiny

            d <- 1.0 / d
            let del = d * c
            h <- h * del

            if abs (del - 1.0) < 1e-15 then
                fin <- true

            i <- i + 1

        1.0 - exp (-x + a * log x - logGamma a) * h

/// Gamma(shape, scale) CDF.
let gammaCdf (shape: float) (scale: float) (x: float) = gammaP shape (x / scale)

/// Normal(0, σ²) CDF, through Φ(x) = (1 + sign(x)·P(1/2, x²/2))/2.
let normalCdf (sigma: float) (x: float) =
    let t = x / sigma
    let p = gammaP 0.5 (t * t / 2.0)
    if t >= 0.0 then 0.5 * (1.0 + p) else 0.5 * (1.0 - p)

/// Total-variation distance ½ Σ |p − q| of two distributions on the same cells.
let totalVariation (p: float[]) (q: float[]) =
    0.5 * Array.fold2 (fun acc a b -> acc + abs (a - b)) 0.0 p q

/// Counts of each state (by index in `states`, compared entry by entry) among samples; fails on an unknown state.
let countStates (states: float[][]) (samples: seq<float[]>) =
    let index = Collections.Generic.Dictionary<string, int>()
    let key (z: float[]) = String.Join(",", z)
    states |> Array.iteri (fun i z -> index.[key z] <- i)
    let counts = Array.zeroCreate states.Length

    for z in samples do
        match index.TryGetValue(key z) with
        | true, i -> counts.[i] <- counts.[i] + 1
        | _ -> failwithf "sample %s is not one of the enumerated states" (key z)

    counts

/// ⟨a, b⟩ for equal-length vectors.
let dot (a: float[]) (b: float[]) =
    Array.fold2 (fun s x y -> s + x * y) 0.0 a b

/// Expects every entry of `actual` within `tolerance` of `expected`, naming `what` and both vectors on failure.
let expectClose (tolerance: float) (actual: float[]) (expected: float[]) (what: string) =
    let error = Array.map2 (fun a e -> abs (a - e)) actual expected |> Array.max

    Expect.isLessThanOrEqual
        error
        tolerance
        (sprintf "%s: max |Δ| %g > %g; got %A, expected %A" what error tolerance actual expected)
