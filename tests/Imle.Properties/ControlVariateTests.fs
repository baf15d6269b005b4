/// The gradient check of the control variates (leave-one-out baselines): the same mean (equal bias) and a lower
/// variance for the perturbed optimizers and the score function, and the real-state problems of `Problem.withRealStates`.
module Imle.Tests.ControlVariateTests

open System
open Expecto
open TorchSharp
open Imle
open Imle.Torch

/// Plain and baselined results on the same noise: the means agree within 4 standard errors of their difference (a
/// bound from both variances: E‖x̄ − ȳ‖² <= 2(Var x + Var y)/N), and the baseline's variance is below `ratio` times the
/// plain one's. The seeds are fixed, so the check is deterministic.
let private expectEqualBiasLowerVariance (ratio: float) (plain: GradCheckResult) (based: GradCheckResult) =
    let difference =
        sqrt (Array.fold2 (fun acc a b -> acc + (a - b) * (a - b)) 0.0 plain.Mean based.Mean)

    let bound =
        4.0 * sqrt (2.0 * (plain.Variance + based.Variance) / float plain.Samples)

    Expect.isLessThan
        difference
        bound
        (sprintf "%s: the means differ by %g (bound %g)" based.Estimator difference bound)

    Expect.isLessThan
        based.Variance
        (ratio * plain.Variance)
        (sprintf "%s: variance %g with, %g without" based.Estimator based.Variance plain.Variance)

[<Tests>]
let tests =
    testList
        "control variates"
        [ test
              "gradient check: perturbed optimizers (Gumbel, Normal, multiplicative) with and without baseline, equal bias, lower variance" {
              let rng = Random 41
              let m = 5
              let problem = Problem.categorical m
              let theta = Array.init m (fun _ -> Sampling.standardNormal rng)
              let b = Array.init m (fun _ -> abs (Sampling.standardNormal rng))
              let loss = GradCheck.linear (Array.map (fun x -> -2.0 * x) b)
              let s, n = 10, 3000

              let pairs =
                  [ (fun (g: torch.Generator) w ->
                        Discrete.apply DiscreteOptions.Default problem (Estimator.perturbed (Gumbel 1.0) s) g w),
                    (fun g w ->
                        let options = PerturbedOptions.Create(Gumbel 1.0, s).WithControlVariate LeaveOneOut
                        Discrete.apply DiscreteOptions.Default problem (Perturbed options) g w)
                    (fun g w -> DflTestUtil.additive problem 1.0 s g w),
                    (fun g w -> DflTestUtil.additiveWithBaseline problem 1.0 s g w)
                    (fun g w -> DflTestUtil.multiplicative problem 0.5 s g w),
                    (fun g w -> DflTestUtil.multiplicativeWithBaseline problem 0.5 s g w) ]

              pairs
              |> List.iteri (fun i (plain, based) ->
                  let seed = int64 (50 + i)
                  let p = GradCheck.runLayer problem "plain" plain theta loss n seed
                  let q = GradCheck.runLayer problem "baseline" based theta loss n seed
                  expectEqualBiasLowerVariance 0.8 p q)

              // The Gumbel-perturbed optimizer on a categorical problem is the softmax: both agree with the exact
              // gradient up to Monte Carlo error.
              let p = GradCheck.runLayer problem "plain" (fst pairs.[0]) theta loss n 50L
              let q = GradCheck.runLayer problem "baseline" (snd pairs.[0]) theta loss n 50L

              for r in [ p; q ] do
                  let distance =
                      sqrt (Array.fold2 (fun acc a e -> acc + (a - e) * (a - e)) 0.0 r.Mean r.Exact)

                  Expect.isLessThan distance (4.0 * sqrt (r.Variance / float n)) "unbiased for the exact gradient"
          }

          test
              "gradient check: the score function with its leave-one-out baseline has the same mean and a lower variance" {
              let rng = Random 42
              let m = 6
              let problem = Problem.categorical m
              let theta = Array.init m (fun _ -> Sampling.standardNormal rng)
              let b = Array.init m (fun _ -> 1.0 + abs (Sampling.standardNormal rng))
              let loss = GradCheck.linear (Array.map (fun x -> -2.0 * x) b)
              let p = GradCheck.runScoreFunction problem 10 false theta loss 3000 60L
              let q = GradCheck.runScoreFunction problem 10 true theta loss 3000 60L
              Expect.stringContains p.Estimator "no baseline" "named"
              expectEqualBiasLowerVariance 0.8 p q
              // Both are unbiased for the exact gradient.
              for r in [ p; q ] do
                  let distance =
                      sqrt (Array.fold2 (fun acc a e -> acc + (a - e) * (a - e)) 0.0 r.Mean r.Exact)

                  Expect.isLessThan distance (4.0 * sqrt (r.Variance / 3000.0)) "unbiased"
          }

          test "argument errors: the baseline needs S >= 2; runLayer needs a name" {
              let problem = Problem.categorical 2
              use g = new torch.Generator(1UL)
              use w = torch.ones (1L, 2L, dtype = torch.float64)

              TestUtil.throwsNaming "samples" (fun () ->
                  DflTestUtil.multiplicativeWithBaseline problem 0.5 1 g w |> ignore)

              TestUtil.throwsNaming "name" (fun () ->
                  GradCheck.runLayer problem " " (fun _ t -> t) [| 1.0; 2.0 |] (GradCheck.linear [| 1.0; 0.0 |]) 4 1L
                  |> ignore)
          }

          test "real states: Problem.withRealStates accepts finite non-binary states and still rejects NaN" {
              let half = Problem.create "half" [| 2 |] Minimise (fun _ -> [| 0.5; 0.25 |])
              Expect.throwsT<InvalidOperationException> (fun () -> Problem.solve half [| 1.0; 1.0 |] |> ignore) "binary"
              let real = Problem.withRealStates half
              Expect.isTrue real.RealStates "flag"
              Expect.equal (Problem.solve real [| 1.0; 1.0 |]) [| 0.5; 0.25 |] "accepted"

              let bad =
                  Problem.withRealStates (Problem.create "nan" [| 1 |] Minimise (fun _ -> [| nan |]))

              Expect.throwsT<InvalidOperationException> (fun () -> Problem.solve bad [| 1.0 |] |> ignore) "NaN"
          } ]
