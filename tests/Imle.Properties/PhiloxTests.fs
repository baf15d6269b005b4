/// Philox 4×32-10 and the noise drawn from it: Random123's known answers, the same words on every SIMD path and thread
/// count, and the distributions (KS and moments). Every statistical test uses a fixed key and states its false-failure
/// rate α (the probability, for a correct implementation, that it fails for a random key).
module Imle.Tests.PhiloxTests

open System
open Expecto
open TorchSharp
open Imle
open Imle.Torch
open Imle.Tests.TestUtil

let private knownAnswers =
    // Random123's kat_vectors for philox4x32_10.
    testList
        "Random123 known answers"
        [ for (counter, key, expected) in
              [ [| 0u; 0u; 0u; 0u |], [| 0u; 0u |], [| 0x6627e8d5u; 0xe169c58du; 0xbc57ac4cu; 0x9b00dbd8u |]
                [| 0xffffffffu; 0xffffffffu; 0xffffffffu; 0xffffffffu |],
                [| 0xffffffffu; 0xffffffffu |],
                [| 0x408f276du; 0x41c83b0eu; 0xa20bc7c6u; 0x6d5451fdu |]
                [| 0x243f6a88u; 0x85a308d3u; 0x13198a2eu; 0x03707344u |],
                [| 0xa4093822u; 0x299f31d0u |],
                [| 0xd16cfe09u; 0x94fdccebu; 0x5001e420u; 0x24126ea1u |] ] do
              test (sprintf "ctr %08x key %08x" counter.[0] key.[0]) {
                  Expect.equal (Philox.block counter key) expected "philox4x32_10 differs from Random123's answer"
              } ]

let private paths = [ ScalarBlocks; Sse2Lanes; Avx2Lanes ]

let private noises =
    [ Gumbel 1.5
      Normal 0.7
      SumOfGamma(32.0, 1.0, 10)
      SumOfGammaCorrected(5.0, 2.0, 10)
      SumOfGamma(1.0, 1.0, 3) ]

let private sameBits =
    testList
        "same output on every path and thread count"
        [ test "raw words: scalar, SSE2 and AVX2 paths (1001 words, a partial last group)" {
              let words (p: PhiloxPath) =
                  let a = Array.zeroCreate<uint32> 1001
                  Philox.fillWith p 0x0123456789abcdefUL a
                  a

              let reference = words ScalarBlocks

              for p in paths do
                  Expect.equal (words p) reference (sprintf "%A gives other words than the scalar path" p)

              // The stream order: word e is word ⌊(e mod 32)/8⌋ of block 8⌊e/32⌋ + e mod 8.
              let key = 0x0123456789abcdefUL
              let b = 8UL * 30UL + 5UL

              let direct =
                  Philox.block [| uint32 b; 0u; 0u; 0u |] [| uint32 key; uint32 (key >>> 32) |]

              Expect.equal reference.[32 * 30 + 8 * 2 + 5] direct.[2] "word e is not where the documented order says"
          }
          for noise in noises do
              test (sprintf "%s: paths × threads 1, 2, 3 (50,001 draws)" (Noise.describe noise)) {
                  let draw p threads =
                      let a = Array.zeroCreate<float32> 50001
                      PhiloxNoise.sampleIntoWith p noise 99UL threads a
                      a

                  let reference = draw ScalarBlocks 1

                  for p in paths do
                      for threads in [ 1; 2; 3 ] do
                          let other = draw p threads

                          Expect.isTrue
                              (Array.forall2
                                  (fun (x: float32) y ->
                                      BitConverter.SingleToInt32Bits x = BitConverter.SingleToInt32Bits y)
                                  other
                                  reference)
                              (sprintf "%A on %d threads differs from the scalar path on 1 thread" p threads)

                  Expect.isTrue (reference |> Array.forall Single.IsFinite) "non-finite draw"
              } ]

let private draws (noise: Noise) (key: uint64) (n: int) =
    let a = Array.zeroCreate<float32> n
    PhiloxNoise.sampleInto noise key a
    Array.map float a

let private distributions =
    testList
        "distributions"
        [ test "Gumbel(0, 1.5): KS against the CDF (n = 20,000, α = 0.001)" {
              let n = 20000
              let d = ksStatistic (gumbelCdf 1.5) (draws (Gumbel 1.5) 1UL n)
              Expect.isLessThan d (ksCritical 0.001 n) (sprintf "KS %.4f" d)
          }
          test "Normal(0, 0.7): KS against the CDF (n = 20,000, α = 0.001)" {
              let n = 20000
              let d = ksStatistic (normalCdf 0.7) (draws (Normal 0.7) 2UL n)
              Expect.isLessThan d (ksCritical 0.001 n) (sprintf "KS %.4f" d)
          }
          // Philox SoG against the reference sampler (Noise.sample on System.Random: the same distribution by another
          // path), two-sample KS, 20,000 draws each, α = 0.001 per case (3 cases: family-wise ≤ 0.003).
          for (noise, key, seed) in
              [ SumOfGamma(32.0, 1.0, 10), 3UL, 31
                SumOfGamma(5.0, 1.0, 10), 4UL, 32
                SumOfGammaCorrected(5.0, 2.0, 10), 5UL, 33 ] do
              test (sprintf "%s: two-sample KS against the System.Random sampler (α = 0.001)" (Noise.describe noise)) {
                  let n = 20000
                  let d = ksTwoSample (draws noise key n) (Noise.sample noise (Random seed) n)
                  let critical = ksTwoSampleCritical 0.001 n n
                  Expect.isLessThan d critical (sprintf "two-sample KS %.4f ≥ %.4f" d critical)
              }
          test "SoG(κ = 32, s = 10): mean and variance of 10⁶ draws within 5 standard errors (α < 1e-6 each)" {
              // Eq. 13: mean τ/κ·(H_s − log s), variance τ²/κ·Σ_{i≤s} 1/i² (Var Gamma(1/κ, κ/i) = κ/i²).
              let kappa, s = 32.0, 10
              let xs = draws (SumOfGamma(kappa, 1.0, s)) 6UL 1000000
              let n = float xs.Length
              let harmonic = Seq.sum (seq { for i in 1..s -> 1.0 / float i })
              let squares = Seq.sum (seq { for i in 1..s -> 1.0 / float (i * i) })
              let mean = Array.average xs
              let var = xs |> Array.averageBy (fun x -> (x - mean) ** 2.0)
              let m4 = xs |> Array.averageBy (fun x -> (x - mean) ** 4.0)
              let expectedMean = (harmonic - log (float s)) / kappa
              let expectedVar = squares / kappa

              Expect.isLessThan
                  (abs (mean - expectedMean))
                  (5.0 * sqrt (var / n))
                  (sprintf "mean %.5f vs %.5f" mean expectedMean)

              Expect.isLessThan
                  (abs (var - expectedVar))
                  (5.0 * sqrt ((m4 - var * var) / n))
                  (sprintf "variance %.5f vs %.5f" var expectedVar)
          }
          test
              "Lemma 1 with Philox: the sum of κ = 5 SoG(5, 1, s = 1000) draws is Gumbel(0, 1) (KS, n = 4000, α = 0.001)" {
              // The finite-s error at s = 1000 is ≤ 0.005 in KS distance (NoiseTests), below 1/6 of the critical value.
              let n, kappa = 4000, 5
              let xs = draws (SumOfGamma(float kappa, 1.0, 1000)) 7UL (n * kappa)
              let sums = Array.init n (fun i -> Array.sum xs.[i * kappa .. i * kappa + kappa - 1])
              let d = ksStatistic (gumbelCdf 1.0) sums
              Expect.isLessThan d (ksCritical 0.001 n) (sprintf "KS %.4f" d)
          } ]

/// Whether two tensors hold the same values.
let private same (a: torch.Tensor) (b: torch.Tensor) =
    a.shape = b.shape && a.allclose (b, 0.0, 0.0)

let private tensors =
    testList
        "TensorNoise with Philox"
        [ test "sampleWith Philox: same generator seed, same tensor; the generator advances; float64 and shape kept" {
              let draw seed =
                  use g = new torch.Generator(uint64 seed, torch.CPU)

                  let a =
                      TensorNoise.sampleWith Philox (SumOfGamma(8.0, 1.0, 10)) g [| 3L; 50L |] torch.float64 torch.CPU

                  let b =
                      TensorNoise.sampleWith Philox (SumOfGamma(8.0, 1.0, 10)) g [| 3L; 50L |] torch.float64 torch.CPU

                  a, b

              let a1, b1 = draw 11
              let a2, _ = draw 11
              Expect.sequenceEqual a1.shape [| 3L; 50L |] "shape"
              Expect.equal a1.dtype torch.float64 "dtype"
              Expect.isTrue (same a1 a2) "the same seed gave other noise"
              Expect.isFalse (same a1 b1) "two calls on one generator gave the same noise"
          }
          test "sample keeps libtorch's stream by default; withGenerator switches it and restores it" {
              let draw () =
                  use g = new torch.Generator(5UL, torch.CPU)
                  TensorNoise.sample (Gumbel 1.0) g [| 100L |] torch.float32 torch.CPU

              let byDefault = draw ()
              use g = new torch.Generator(5UL, torch.CPU)

              let libtorch =
                  TensorNoise.sampleWith Libtorch (Gumbel 1.0) g [| 100L |] torch.float32 torch.CPU

              Expect.isTrue (same byDefault libtorch) "the default is not libtorch's stream"
              let inside = TensorNoise.withGenerator Philox draw
              Expect.isFalse (same inside byDefault) "withGenerator Philox did not switch"
              Expect.equal (TensorNoise.currentGenerator ()) Libtorch "the choice was not restored"
              Expect.isTrue (same (draw ()) byDefault) "the default changed after withGenerator"
          }
          test "Custom noise is refused by the core and falls back to libtorch in TensorNoise" {
              let custom = Custom("uniform", fun rng -> rng.NextDouble())

              Expect.throwsT<ArgumentException>
                  (fun () -> PhiloxNoise.sampleInto custom 1UL (Array.zeroCreate 4))
                  "Custom accepted"

              use g = new torch.Generator(1UL, torch.CPU)
              let t = TensorNoise.sampleWith Philox custom g [| 4L |] torch.float32 torch.CPU
              Expect.sequenceEqual t.shape [| 4L |] "shape"
          } ]

[<Tests>]
let tests = testList "philox" [ knownAnswers; sameBits; distributions; tensors ]
