/// Invariants of the reference estimators over arrays (issue: foundation), each an exact check.
module Imle.Tests.EstimatorTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open Imle
open Imle.Solvers
open Imle.Tests.TestUtil

let private config =
    { FsCheckConfig.defaultConfig with
        maxTest = 200 }

/// A random k-subset instance: m in [2, 12], k in [1, m], θ and dL/dz bounded, with a seed for the noise.
type KSubsetCase =
    { M: int
      K: int
      Theta: float[]
      Dy: float[]
      Seed: int }

let private kSubsetCase =
    gen {
        let! m = Gen.choose (2, 12)
        let! k = Gen.choose (1, m)

        let! theta =
            Gen.arrayOfLength m (Gen.choose (-1000, 1000) |> Gen.map (fun i -> float i / 100.0))

        let! dy =
            Gen.arrayOfLength m (Gen.choose (-1000, 1000) |> Gen.map (fun i -> float i / 100.0))

        let! seed = Gen.choose (0, Int32.MaxValue)

        return
            { M = m
              K = k
              Theta = theta
              Dy = dy
              Seed = seed }
    }
    |> Arb.fromGen

let private prop name (f: KSubsetCase -> bool) =
    testPropertyWithConfig config name (Prop.forAll kSubsetCase f)

let private imle noise target samples scaling =
    Imle
        { Noise = noise
          InputTemperature = 1.0
          TargetTemperature = 1.0
          Target = target
          Samples = samples
          Scaling = scaling
          Symmetric = false }

let private gumbelNoise = Gumbel 1.0

[<Tests>]
let tests =
    testList
        "reference estimators"
        [ prop "I-MLE with S = 1, binary states, unscaled: every entry lies in {-1, 0, 1}" (fun c ->
              let p = Problem.kSubset c.M c.K
              let est = imle (SumOfGamma(float c.K, 1.0, 10)) (Pid 3.0) 1 Unscaled
              let _, g = Reference.estimate p est (Random c.Seed) c.Theta (fun _ -> c.Dy)
              g |> Array.forall (fun x -> x = -1.0 || x = 0.0 || x = 1.0))

          prop "a zero downstream gradient gives a zero I-MLE gradient (PID, CombOpt, symmetric)" (fun c ->
              let p = Problem.kSubset c.M c.K
              let zero = Array.zeroCreate c.M

              [ imle gumbelNoise (Pid 2.0) 3 DivideByLambda
                imle gumbelNoise CombOpt 1 DivideByLambda
                Imle
                    { (ImleOptions.Create(float c.K, 1.5)) with
                        Symmetric = true } ]
              |> List.forall (fun est ->
                  let _, g = Reference.estimate p est (Random c.Seed) c.Theta (fun _ -> zero)
                  g |> Array.forall ((=) 0.0)))

          prop
              "blackbox differentiation equals I-MLE with δ₀ noise and the PID target (footnote 10), maximisation"
              (fun c ->
                  let p = Problem.kSubset c.M c.K
                  let lambda = 0.5 + float (c.Seed % 50) / 10.0

                  let _, bb =
                      Reference.estimate p (Blackbox lambda) (Random c.Seed) c.Theta (fun _ -> c.Dy)

                  let _, im =
                      Reference.estimate p (imle Zero (Pid lambda) 1 DivideByLambda) (Random c.Seed) c.Theta (fun _ ->
                          c.Dy)

                  bb = im)

          testCase
              "blackbox equals I-MLE with δ₀ noise on a minimisation problem (grid shortest path), gradients w.r.t. costs"
          <| fun () ->
              let rng = Random 7
              let p = Problem.gridShortestPath 5 5 Eight

              for _ in 1..100 do
                  let costs = Array.init 25 (fun _ -> rng.NextDouble() * 9.0 + 0.5)
                  let dy = Array.init 25 (fun _ -> rng.NextDouble() * 2.0 - 1.0)
                  let _, bb = Reference.estimate p (Blackbox 5.0) rng costs (fun _ -> dy)

                  let _, im =
                      Reference.estimate p (imle Zero (Pid 5.0) 1 DivideByLambda) rng costs (fun _ -> dy)

                  Expect.equal bb im "BB = I-MLE(δ₀, PID)"
                  // Pogančić et al. directly on costs: −(z − MAP(w + λ·dy))/λ.
                  let z = Problem.solve p costs
                  let z' = Problem.solve p (Array.map2 (fun w d -> w + 5.0 * d) costs dy)
                  let expected = Array.map2 (fun a b -> -(a - b) / 5.0) z z'
                  Expect.equal bb expected "BB on costs follows Pogančić et al.'s rule"

          prop "Fact 1: Hamming loss, Eq. 14 target and δ₀ noise give the perceptron rule z − y" (fun c ->
              let p = Problem.kSubset c.M c.K
              let y = Problem.solveScores p c.Dy // any feasible state as the label
              let hammingGrad = y |> Array.map (fun yi -> 1.0 - 2.0 * yi)

              let pass, g =
                  Reference.estimate p (imle Zero CombOpt 1 DivideByLambda) (Random c.Seed) c.Theta (fun _ ->
                      hammingGrad)

              g = Array.map2 (-) pass.States.[0] y)

          prop "the symmetric variant is the mean of the two one-sided differences" (fun c ->
              let p = Problem.kSubset c.M c.K

              let o =
                  { (ImleOptions.Create(float c.K, 2.0)) with
                      Symmetric = true
                      Noise = Zero }

              let _, g = Reference.estimate p (Imle o) (Random c.Seed) c.Theta (fun _ -> c.Dy)
              let plus = Problem.solveScores p (Array.map2 (fun t d -> t + 2.0 * d) c.Theta c.Dy)
              let minus = Problem.solveScores p (Array.map2 (fun t d -> t - 2.0 * d) c.Theta c.Dy)
              g = Array.map2 (fun a b -> (a - b) / 4.0) plus minus)

          prop
              "the same ε is reused in the backward pass: zero target shift gives zero gradient for any noise"
              (fun c ->
                  // θ' = θ (CombOpt with dy = 0 where θ is kept) must reproduce ẑ exactly, which only holds if ε is reused.
                  let p = Problem.kSubset c.M c.K
                  let est = imle (SumOfGamma(float c.K, 5.0, 10)) (Pid 1.0) 4 DivideByLambda
                  let pass = Reference.forward p est (Random c.Seed) c.Theta
                  let g = Reference.backward p est pass [| Array.zeroCreate c.M |]
                  g |> Array.forall ((=) 0.0))

          prop "1/λ scaling: the scaled estimate is the unscaled one divided by λ" (fun c ->
              let p = Problem.kSubset c.M c.K
              let scaled = imle gumbelNoise (Pid 4.0) 2 DivideByLambda
              let unscaled = imle gumbelNoise (Pid 4.0) 2 Unscaled
              let _, a = Reference.estimate p scaled (Random c.Seed) c.Theta (fun _ -> c.Dy)
              let _, b = Reference.estimate p unscaled (Random c.Seed) c.Theta (fun _ -> c.Dy)
              Array.forall2 (fun x y -> abs (x * 4.0 - y) < 1e-12) a b)

          prop
              "identity with projection: mean-centring gives a zero-mean gradient, standardising unit variance"
              (fun c ->
                  let p = Problem.kSubset c.M c.K

                  let _, centred =
                      Reference.estimate p (Identity(MeanCentre, Zero)) (Random c.Seed) c.Theta (fun _ -> c.Dy)

                  let _, std =
                      Reference.estimate p (Identity(Standardise, Zero)) (Random c.Seed) c.Theta (fun _ -> c.Dy)

                  let mean = Array.average std
                  let var = Array.averageBy (fun x -> (x - mean) * (x - mean)) std
                  let constant = c.Dy |> Array.forall (fun d -> d = c.Dy.[0])

                  abs (Array.average centred) < 1e-9
                  && abs mean < 1e-9
                  && (constant || abs (var - 1.0) < 1e-9))

          prop "straight-through passes dL/dz through; on costs its sign flips" (fun c ->
              let p = Problem.kSubset c.M c.K

              let _, g =
                  Reference.estimate p (StraightThrough gumbelNoise) (Random c.Seed) c.Theta (fun _ -> c.Dy)

              let costs =
                  Problem.create "k-subset on costs" [| c.M |] Minimise (fun w ->
                      TopK.solve c.K (Array.map (fun x -> -x) w))

              let _, gc =
                  Reference.estimate costs (StraightThrough gumbelNoise) (Random c.Seed) c.Theta (fun _ -> c.Dy)

              g = c.Dy && gc = Array.map (fun d -> -d) c.Dy)

          testCase "adaptive λ (AIMLE) moves β up while gradients are all zero, and down once they exceed the target"
          <| fun () ->
              let settings =
                  { AdaptiveLambda.Default with
                      InitialBeta = 0.0
                      BetaStep = 0.5
                      Decay = 0.0 }

              let p = Problem.kSubset 6 2

              let est =
                  Imle
                      { (ImleOptions.Create(2.0, 1.0)) with
                          Target = Adaptive settings
                          Noise = Zero }

              let theta = [| 3.0; 2.0; 1.0; 0.0; -1.0; -2.0 |]
              let dy = [| 1.0; 1.0; 0.0; -1.0; -1.0; 0.0 |]

              let step state =
                  let pass = Reference.forward p est (Random 1) theta
                  Reference.backwardAdaptive p est state pass [| dy |]
              // β = 0 → λ = 0 → zero gradient → the average is below the target → β grows.
              let g0, s1 = step (AdaptiveLambda.initial settings)
              Expect.isTrue (g0 |> Array.forall ((=) 0.0)) "λ = 0 gives a zero gradient"
              Expect.equal s1.Beta 0.5 "β moved up by one step"
              // With β = 0.5, λ ≈ 1.09 flips two entries (2 non-zero > target 1), so β must come back down: β oscillates
              // around the point where the non-zero count crosses the target instead of growing by 10 steps to 5.5.
              let states = List.scan (fun s _ -> snd (step s)) s1 [ 1..10 ]

              Expect.isLessThanOrEqual
                  (List.last states).Beta
                  1.0
                  "β went down once the non-zero count exceeded the target"

              Expect.isGreaterThan
                  (states |> List.map (fun s -> s.AverageNonZero) |> List.max)
                  1.0
                  "non-zero gradient entries were counted"

              Expect.throwsT<ArgumentException>
                  (fun () ->
                      Reference.backward p est (Reference.forward p est (Random 1) theta) [| dy |]
                      |> ignore)
                  "the stateless backward refuses an adaptive target"

          testList
              "validation names the parameter"
              [ testCase "λ ≤ 0"
                <| fun () -> throwsNaming "lambda" (fun () -> Estimator.validate (Blackbox 0.0))
                testCase "PID λ NaN"
                <| fun () -> throwsNaming "lambda" (fun () -> Estimator.validate (imle Zero (Pid nan) 1 DivideByLambda))
                testCase "S < 1"
                <| fun () ->
                    throwsNaming "samples" (fun () -> Estimator.validate (imle Zero (Pid 1.0) 0 DivideByLambda))
                testCase "temperature ≤ 0"
                <| fun () ->
                    throwsNaming "inputTemperature" (fun () ->
                        Estimator.validate (
                            Imle
                                { ImleOptions.Create(2.0, 1.0) with
                                    InputTemperature = -1.0 }
                        ))
                testCase "target temperature < 0 (0 is allowed: a noiseless target)"
                <| fun () ->
                    Estimator.validate (
                        Imle
                            { ImleOptions.Create(2.0, 1.0) with
                                TargetTemperature = 0.0 }
                    )
                    |> ignore

                    throwsNaming "targetTemperature" (fun () ->
                        Estimator.validate (
                            Imle
                                { ImleOptions.Create(2.0, 1.0) with
                                    TargetTemperature = -0.5 }
                        ))
                testCase "κ < 1"
                <| fun () -> throwsNaming "kappa" (fun () -> Estimator.validate (Imle(ImleOptions.Create(0.5, 1.0))))
                testCase "symmetric with CombOpt"
                <| fun () ->
                    throwsNaming "Symmetric" (fun () ->
                        Estimator.validate (
                            Imle
                                { ImleOptions.Create(2.0, 1.0) with
                                    Target = CombOpt
                                    Symmetric = true }
                        ))
                testCase "k > m" <| fun () -> throwsNaming "k" (fun () -> Problem.kSubset 3 4)
                testCase "k ≤ 0" <| fun () -> throwsNaming "k" (fun () -> Problem.kSubset 3 0)
                testCase "weights with NaN"
                <| fun () -> throwsNaming "weights" (fun () -> Problem.solve (Problem.kSubset 3 1) [| 1.0; nan; 0.0 |])
                testCase "weights of the wrong length"
                <| fun () -> throwsNaming "weights" (fun () -> Problem.solve (Problem.kSubset 3 1) [| 1.0 |])
                testCase "dL/dz with infinity"
                <| fun () ->
                    let p = Problem.kSubset 3 1
                    let est = imle Zero (Pid 1.0) 1 DivideByLambda
                    let pass = Reference.forward p est (Random 1) [| 1.0; 2.0; 3.0 |]
                    throwsNaming "gradients" (fun () -> Reference.backward p est pass [| [| 0.0; infinity; 0.0 |] |])
                testCase "a user solver returning an infeasible or misshaped state is refused"
                <| fun () ->
                    let bad = Problem.create "bad" [| 3 |] Maximise (fun _ -> [| 1.0; 0.5; 0.0 |])

                    Expect.throwsT<InvalidOperationException>
                        (fun () -> Problem.solve bad [| 1.0; 2.0; 3.0 |] |> ignore)
                        "non-binary"

                    let short = Problem.create "short" [| 3 |] Maximise (fun _ -> [| 1.0 |])

                    Expect.throwsT<InvalidOperationException>
                        (fun () -> Problem.solve short [| 1.0; 2.0; 3.0 |] |> ignore)
                        "wrong length"

                    let infeasible =
                        Problem.kSubset 3 1 |> Problem.withSolver (fun _ -> [| 1.0; 1.0; 0.0 |])

                    Expect.throwsT<InvalidOperationException>
                        (fun () -> Problem.solve infeasible [| 1.0; 2.0; 3.0 |] |> ignore)
                        "two ones in a 1-subset" ] ]
