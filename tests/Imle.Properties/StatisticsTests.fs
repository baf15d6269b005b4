/// The examples' statistics (examples/Imle.Examples/Common/Statistics.fs) and NumPy's legacy generator
/// (Common/NumpyRandom.fs), both linked into this project, against published values:
/// - Student's sleep data (R `datasets::sleep`, extra hours of sleep, drug 1 vs drug 2 in the same 10 patients):
///   R's `t.test(x, y, paired = TRUE)` gives t = −4.0621, df = 9, p = 0.002833; `wilcox.test(x, y, paired = TRUE)`
///   (normal approximation because of a zero and ties, continuity correction) gives V = 0, p = 0.009091.
/// - Closed forms: I_x(a, 1) = x^a, I_x(1, b) = 1 − (1 − x)^b, I_{1/2}(a, a) = 1/2; t with 1 degree of freedom is
///   Cauchy (P(|T| ≥ t) = 1 − 2·atan(t)/π); the t quantiles 2.228139 (df 10) and 12.7062 (df 1) at two-sided 0.05;
///   Φ(1.959964) = 0.975; ln Γ(1/2) = ln √π, ln Γ(10) = ln 9!.
/// - Holm on (0.01, 0.04, 0.03, 0.005) at 0.05: 0.005 ≤ 0.0125 and 0.01 ≤ 0.05/3 are rejected, 0.03 > 0.025 stops.
/// - `np.random.seed(0); np.random.randn(20)` and `np.random.seed(12345); np.random.randn(8)` (NumPy's documentation
///   and countless notebooks print these values).
module Imle.Tests.StatisticsTests

open System
open Expecto
open Imle.Examples
open Imle.Examples.Statistics

let private drug1 = [| 0.7; -1.6; -0.2; -1.2; -0.1; 3.4; 3.7; 0.8; 0.0; 2.0 |]
let private drug2 = [| 1.9; 0.8; 1.1; 0.1; -0.1; 4.4; 5.5; 1.6; 4.6; 3.4 |]

let private close (tolerance: float) (actual: float) (expected: float) (what: string) =
    Expect.isTrue
        (abs (actual - expected) <= tolerance)
        (sprintf "%s: got %.10g, expected %.10g (± %g)" what actual expected tolerance)

let private numpySeed0 =
    [| 1.76405235
       0.40015721
       0.97873798
       2.2408932
       1.86755799
       -0.97727788
       0.95008842
       -0.15135721
       -0.10321885
       0.4105985
       0.14404357
       1.45427351
       0.76103773
       0.12167502
       0.44386323
       0.33367433
       1.49407907
       -0.20515826
       0.3130677
       -0.85409574 |]

let private numpySeed12345 =
    [| -0.20470766
       0.47894334
       -0.51943872
       -0.5557303
       1.96578057
       1.39340583
       0.09290788
       0.28174615 |]

/// The tests.
[<Tests>]
let tests =
    testList
        "statistics"
        [ test "special functions match closed forms" {
              close 1e-13 (logGamma 0.5) (0.5 * log Math.PI) "ln Γ(1/2)"
              close 1e-12 (logGamma 10.0) (log 362880.0) "ln Γ(10)"
              close 1e-12 (logGamma 0.1) 2.252712651734206 "ln Γ(0.1)"

              for x in [ 0.01; 0.3; 0.5; 0.77; 0.99 ] do
                  close 1e-12 (incompleteBeta 3.5 1.0 x) (x ** 3.5) (sprintf "I_%g(3.5, 1)" x)
                  close 1e-12 (incompleteBeta 1.0 4.25 x) (1.0 - (1.0 - x) ** 4.25) (sprintf "I_%g(1, 4.25)" x)

              close 1e-12 (incompleteBeta 7.3 7.3 0.5) 0.5 "I_0.5(7.3, 7.3)"

              for t in [ 0.1; 1.0; 3.0; 40.0 ] do
                  close 1e-12 (studentTTwoSided t 1.0) (1.0 - 2.0 * atan t / Math.PI) (sprintf "Cauchy tail at %g" t)

              close 1e-6 (studentTTwoSided 2.228139 10.0) 0.05 "t(10) two-sided 0.05 quantile"
              close 1e-5 (studentTTwoSided -12.7062 1.0) 0.05 "t(1) two-sided 0.05 quantile"
              close 2e-7 (normalCdf 1.959964) 0.975 "Φ(1.959964)"
              close 2e-7 (normalCdf -1.959964) 0.025 "Φ(−1.959964)"
              close 1e-7 (normalCdf 0.0) 0.5 "Φ(0)"
          }

          test "the paired t-test reproduces R's t.test on the sleep data" {
              let r = pairedTTest drug1 drug2
              Expect.equal r.N 10 "pairs"
              close 1e-12 r.MeanDifference -1.58 "mean difference"
              close 5e-5 r.Statistic -4.0621 "t"
              close 5e-7 r.P 0.002833 "p"
              // Swapping the samples flips the sign only.
              let s = pairedTTest drug2 drug1
              close 1e-12 s.Statistic -r.Statistic "t swapped"
              close 1e-15 s.P r.P "p swapped"
          }

          test "the signed-rank test reproduces R's wilcox.test on the sleep data" {
              let r = wilcoxonSignedRank drug1 drug2
              Expect.equal r.N 9 "the zero difference is dropped"
              // V = W+ = 0: every non-zero difference is negative; z = (0 − 22.5 + 0.5)/√71.125.
              close 1e-12 r.Statistic (-22.0 / sqrt 71.125) "z"
              close 5e-7 r.P 0.009091 "p"
          }

          test "degenerate pairs: all differences zero or all equal" {
              let z = pairedTTest [| 1.0; 2.0; 3.0 |] [| 1.0; 2.0; 3.0 |]
              Expect.equal z.P 1.0 "no difference"
              let c = pairedTTest [| 2.0; 3.0; 4.0 |] [| 1.0; 2.0; 3.0 |]
              Expect.equal c.P 0.0 "a constant non-zero difference"
              Expect.equal (wilcoxonSignedRank [| 1.0; 2.0 |] [| 1.0; 2.0 |]).P 1.0 "signed rank, no difference"
          }

          test "Holm's step-down procedure" {
              Expect.equal (holm 0.05 [| 0.01; 0.04; 0.03; 0.005 |]) [| true; false; false; true |] "Holm"
              Expect.equal (holm 0.05 [| 0.001; 0.01; 0.02; 0.04 |]) [| true; true; true; true |] "all"
              Expect.equal (holm 0.05 [||]) [||] "empty"
          }

          test "bad input is refused with the parameter named" {
              Expect.throwsT<ArgumentException> (fun () -> pairedTTest [| 1.0 |] [| 2.0 |] |> ignore) "one pair"
              Expect.throwsT<ArgumentException> (fun () -> pairedTTest [| 1.0; 2.0 |] [| 2.0 |] |> ignore) "lengths"

              Expect.throwsT<ArgumentException>
                  (fun () -> wilcoxonSignedRank [| 1.0; nan |] [| 2.0; 1.0 |] |> ignore)
                  "NaN"

              Expect.throwsT<ArgumentException> (fun () -> holm 0.0 [| 0.5 |] |> ignore) "alpha"
              Expect.throwsT<ArgumentException> (fun () -> incompleteBeta 1.0 1.0 1.5 |> ignore) "x"
              Expect.throwsT<ArgumentException> (fun () -> logGamma 0.0 |> ignore) "x"
          }

          test "NumPy's legacy RandomState: randn reproduces NumPy's published values" {
              let r0 = NumpyRandom.LegacyRandomState(0L)
              let got0 = r0.Randn 20

              for i in 0 .. numpySeed0.Length - 1 do
                  close 5e-9 got0.[i] numpySeed0.[i] (sprintf "seed 0, draw %d" i)

              let r1 = NumpyRandom.LegacyRandomState(12345L)
              let got1 = r1.Randn 8

              for i in 0 .. numpySeed12345.Length - 1 do
                  close 5e-9 got1.[i] numpySeed12345.[i] (sprintf "seed 12345, draw %d" i)

              Expect.throwsT<ArgumentException> (fun () -> NumpyRandom.LegacyRandomState(-1L) |> ignore) "seed"
          } ]
