/// Paired significance tests over plain arrays (no dependencies): the paired t-test, the Wilcoxon signed-rank test
/// (normal approximation) and Holm's step-down correction, with the special functions they need. The tests in
/// tests/Imle.Properties/StatisticsTests.fs check them against published values (R's `t.test` and `wilcox.test` on
/// Student's sleep data, closed forms of the incomplete beta function).
module Imle.Examples.Statistics

open System

/// ln Γ(x) for x > 0 (Lanczos, g = 7, nine coefficients; relative error about 1e-15).
let logGamma (x: float) : float =
    if not (x > 0.0) || Double.IsInfinity x then
        invalidArg "x" (sprintf "logGamma needs a finite x > 0; got %g." x)

    let c =
        [| 0.99999999999980993
           676.5203681218851
           -1259.1392167224028
           771.32342877765313
           -176.61502916214059
           12.507343278686905
           -0.13857109526572012
           9.9843695780195716e-6
           1.5056327351493116e-7 |]

    let lanczos (y: float) =
        // y ≥ 0.5: ln Γ(y) with Γ(y) = √(2π) t^(y − 1/2) e^(−t) A(y − 1), t = y − 1 + 7.5.
        let z = y - 1.0
        let mutable a = c.[0]

        for i in 1..8 do
            a <- a + c.[i] / (z + float i)

        let t = z + 7.5
        0.5 * log (2.0 * Math.PI) + (z + 0.5) * log t - t + log a

    if x < 0.5 then
        // Reflection: Γ(x) Γ(1 − x) = π / sin(πx).
        log (Math.PI / abs (sin (Math.PI * x))) - lanczos (1.0 - x)
    else
        lanczos x

/// The continued fraction of the incomplete beta function (modified Lentz), valid for x < (a + 1)/(a + b + 2).
let private betaContinuedFraction (a: float) (b: float) (x: float) =
    let tiny = 1e-300
    let qab, qap, qam = a + b, a + 1.0, a - 1.0
    let mutable c = 1.0
    let mutable d = 1.0 - qab * x / qap
    d <- (if abs d < tiny then tiny else d)
    d <- 1.0 / d
    let mutable h = d
    let mutable m = 1
    let mutable fin = false

    while not fin && m <= 10000 do
        let fm = float m
        let m2 = 2.0 * fm
        let aa = fm * (b - fm) * x / ((qam + m2) * (a + m2))
        d <- 1.0 + aa * d
        d <- (if abs d < tiny then tiny else d)
        c <- 1.0 + aa / c
        c <- (if abs c < tiny then tiny else c)
        d <- 1.0 / d
        h <- h * d * c
        let aa2 = -(a + fm) * (qab + fm) * x / ((a + m2) * (qap + m2))
        d <- 1.0 + aa2 * d
        d <- (if abs d < tiny then tiny else d)
        c <- 1.0 + aa2 / c
        c <- (if abs c < tiny then tiny else c)
        d <- 1.0 / d
        let del = d * c
        h <- h * del

        if abs (del - 1.0) < 1e-15 then
            fin <- true

        m <- m + 1

    h

/// The regularised incomplete beta function I_x(a, b) for a, b > 0 and 0 ≤ x ≤ 1.
let incompleteBeta (a: float) (b: float) (x: float) : float =
    if not (a > 0.0) || Double.IsInfinity a then
        invalidArg "a" (sprintf "incompleteBeta needs a finite a > 0; got %g." a)

    if not (b > 0.0) || Double.IsInfinity b then
        invalidArg "b" (sprintf "incompleteBeta needs a finite b > 0; got %g." b)

    if not (x >= 0.0 && x <= 1.0) then
        invalidArg "x" (sprintf "incompleteBeta needs 0 ≤ x ≤ 1; got %g." x)

    if x = 0.0 then
        0.0
    elif x = 1.0 then
        1.0
    else
        let front =
            exp (logGamma (a + b) - logGamma a - logGamma b + a * log x + b * log (1.0 - x))

        if x < (a + 1.0) / (a + b + 2.0) then
            front * betaContinuedFraction a b x / a
        else
            1.0 - front * betaContinuedFraction b a (1.0 - x) / b

/// The two-sided tail P(|T| ≥ |t|) of Student's t distribution with `df` > 0 degrees of freedom.
let studentTTwoSided (t: float) (df: float) : float =
    if not (df > 0.0) then
        invalidArg "df" (sprintf "studentTTwoSided needs df > 0; got %g." df)

    if Double.IsNaN t then
        invalidArg "t" "studentTTwoSided needs a t that is not NaN."

    if Double.IsInfinity t then
        0.0
    else
        incompleteBeta (0.5 * df) 0.5 (df / (df + t * t))

/// The standard normal distribution function Φ(x) (via erfc, Numerical Recipes' Chebyshev fit; relative error below
/// 1.2e-7 everywhere).
let normalCdf (x: float) : float =
    if Double.IsNaN x then
        invalidArg "x" "normalCdf needs an x that is not NaN."

    let erfc (y: float) =
        let z = abs y
        let t = 1.0 / (1.0 + 0.5 * z)

        let r =
            t
            * exp (
                -z * z - 1.26551223
                + t
                  * (1.00002368
                     + t
                       * (0.37409196
                          + t
                            * (0.09678418
                               + t
                                 * (-0.18628806
                                    + t
                                      * (0.27886807
                                         + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))))
            )

        if y >= 0.0 then r else 2.0 - r

    0.5 * erfc (-x / sqrt 2.0)

/// The result of a paired test of x against y (differences d = x − y).
type PairedTest =
    {
        /// Pairs used (for the signed-rank test: pairs with d ≠ 0).
        N: int
        /// Mean of d = x − y.
        MeanDifference: float
        /// The statistic: t for the t-test, the normal deviate z for the signed-rank test (negative: x tends lower).
        Statistic: float
        /// The two-sided p-value.
        P: float
    }

let private checkPairs (xs: float[]) (ys: float[]) =
    if isNull xs then
        nullArg "xs"

    if isNull ys then
        nullArg "ys"

    if xs.Length <> ys.Length then
        invalidArg "ys" (sprintf "paired samples need equal lengths; got %d and %d." xs.Length ys.Length)

    if xs.Length < 2 then
        invalidArg "xs" (sprintf "paired tests need at least 2 pairs; got %d." xs.Length)

    if Array.exists (fun v -> not (Double.IsFinite v)) xs then
        invalidArg "xs" "xs holds a NaN or infinite value."

    if Array.exists (fun v -> not (Double.IsFinite v)) ys then
        invalidArg "ys" "ys holds a NaN or infinite value."

    Array.map2 (-) xs ys

/// Student's paired t-test (two-sided) of mean(x − y) = 0: t = mean(d) / (sd(d)/√n), n − 1 degrees of freedom (sd with
/// n − 1). It assumes independent pairs and a normal mean of d, which the central limit theorem gives for bounded d
/// and large n. All d equal: p = 1 when they are 0, else p = 0.
let pairedTTest (xs: float[]) (ys: float[]) : PairedTest =
    let d = checkPairs xs ys
    let n = d.Length
    let mean = Array.average d

    let var = (d |> Array.sumBy (fun v -> (v - mean) * (v - mean))) / float (n - 1)

    if var = 0.0 then
        { N = n
          MeanDifference = mean
          Statistic =
            (if mean = 0.0 then 0.0
             elif mean > 0.0 then infinity
             else -infinity)
          P = (if mean = 0.0 then 1.0 else 0.0) }
    else
        let t = mean / sqrt (var / float n)

        { N = n
          MeanDifference = mean
          Statistic = t
          P = studentTTwoSided t (float (n - 1)) }

/// The Wilcoxon signed-rank test (two-sided) of x − y symmetric about 0, with the normal approximation as R's
/// `wilcox.test(x, y, paired = TRUE, exact = FALSE, correct = TRUE)`: zero differences dropped, tied |d| given their
/// mean rank, the variance reduced by Σ(t³ − t)/48 over tie groups, a continuity correction of 1/2.
let wilcoxonSignedRank (xs: float[]) (ys: float[]) : PairedTest =
    let all = checkPairs xs ys
    let d = all |> Array.filter (fun v -> v <> 0.0)
    let n = d.Length

    if n = 0 then
        { N = 0
          MeanDifference = 0.0
          Statistic = 0.0
          P = 1.0 }
    else
        let order = d |> Array.mapi (fun i v -> abs v, i) |> Array.sortBy fst
        let ranks = Array.zeroCreate n
        let mutable tieTerm = 0.0
        let mutable i = 0

        while i < n do
            let mutable j = i

            while j + 1 < n && fst order.[j + 1] = fst order.[i] do
                j <- j + 1

            // Positions i..j (0-based) share the mean rank of ranks i+1..j+1.
            let rank = 0.5 * float (i + j + 2)

            for q in i..j do
                ranks.[snd order.[q]] <- rank

            let t = float (j - i + 1)
            tieTerm <- tieTerm + (t * t * t - t)
            i <- j + 1

        let wPlus =
            Seq.sum (
                seq {
                    for q in 0 .. n - 1 do
                        if d.[q] > 0.0 then
                            yield ranks.[q]
                }
            )

        let nf = float n
        let mean = nf * (nf + 1.0) / 4.0
        let var = nf * (nf + 1.0) * (2.0 * nf + 1.0) / 24.0 - tieTerm / 48.0
        let diff = wPlus - mean

        let z =
            if var <= 0.0 then
                0.0
            else
                (diff - 0.5 * float (sign diff)) / sqrt var

        { N = n
          MeanDifference = Array.average all
          Statistic = z
          P = min 1.0 (2.0 * normalCdf (-(abs z))) }

/// Holm's step-down procedure: which of the p-values are rejected at family-wise level α (the k-th smallest, k = 0, 1,
/// …, is compared with α/(m − k) until the first one that is not rejected).
let holm (alpha: float) (ps: float[]) : bool[] =
    if not (alpha > 0.0 && alpha < 1.0) then
        invalidArg "alpha" (sprintf "holm needs 0 < alpha < 1; got %g." alpha)

    if isNull ps then
        nullArg "ps"

    if Array.exists (fun p -> not (p >= 0.0 && p <= 1.0)) ps then
        invalidArg "ps" "holm needs p-values in [0, 1]."

    let m = ps.Length
    let order = ps |> Array.mapi (fun i p -> p, i) |> Array.sortBy fst
    let rejected = Array.zeroCreate m
    let mutable k = 0

    while k < m && fst order.[k] <= alpha / float (m - k) do
        rejected.[snd order.[k]] <- true
        k <- k + 1

    rejected
