/// What the theory says about the catalogue's newer cases (SIMPLE, SFESS, ReinMax, the categorical straight-through,
/// the regularised Frank–Wolfe optimizer and its Fenchel–Young loss), checked exactly or against finite differences on
/// small cases, plus their refusals and descriptions on both backends. Deterministic: fixed seeds and exact
/// enumeration, no statistical test (false-failure rate 0).
module Imle.Tests.CatalogueTheoryTests

open System
open Expecto
open TorchSharp
open Imle
open Imle.Torch
open Imle.Tests.TestUtil

let private normals (rng: Random) (n: int) =
    Array.init n (fun _ -> Sampling.standardNormal rng)

/// A full-support case of the simplex projection: sparsemax(θ/λ) has every entry positive, so Frank–Wolfe keeps
/// every vertex active and its backward is the sparsemax Jacobian.
let private interior = [| 0.30; 0.10; 0.22; 0.05 |]

let private converged =
    { FrankWolfeOptions.Default with
        MaxIterations = 20000
        Tolerance = 1e-12 }

[<Tests>]
let tests =
    testList
        "catalogue theory"
        [ test "SIMPLE's backward is the exact marginals' Jacobian-vector product (finite differences)" {
              let rng = Random 7

              for tau in [ 0.5; 1.0; 2.0 ] do
                  let problem = Problem.kSubset 7 3
                  let theta = normals rng 7
                  let g = normals rng 7
                  let pass = Reference.forward problem (Simple tau) (Random 1) theta
                  let backward = Reference.backward problem (Simple tau) pass [| g |]
                  let h = 1e-5
                  let up = KSubset.marginals tau 3 (Array.map2 (fun t v -> t + h * v) theta g)
                  let down = KSubset.marginals tau 3 (Array.map2 (fun t v -> t - h * v) theta g)
                  // J_μ is symmetric (Cov/τ), so J·g = Jᵀ·g.
                  let fd = Array.map2 (fun a b -> (a - b) / (2.0 * h)) up down
                  expectClose 1e-7 backward fd (sprintf "τ = %g" tau)
                  Expect.equal (Array.sum pass.States.[0]) 3.0 "the forward draw has k ones"
          }

          test "SFESS is unbiased: its expectation over all pairs of draws is the exact gradient (enumeration)" {
              let rng = Random 11
              let problem = Problem.kSubset 4 2
              let states = Problem.states problem

              for tau in [ 1.0; 0.7 ] do
                  let theta = normals rng 4
                  let g = normals rng 4
                  let p = states |> Array.map (fun z -> exp (KSubset.logProbability tau 2 theta z))
                  let estimator = Sfess(tau, 2)
                  let mutable expected = Array.zeroCreate 4

                  for i in 0 .. states.Length - 1 do
                      for j in 0 .. states.Length - 1 do
                          let pass =
                              Reference.forwardWithStates problem estimator [| states.[i]; states.[j] |] theta

                          let e = Reference.backward problem estimator pass [| g |]
                          expected <- Array.map2 (fun acc v -> acc + p.[i] * p.[j] * v) expected e

                  // ∇θ E[⟨g, z⟩] = J_μ(θ)·g.
                  expectClose 1e-10 expected (KSubset.marginalsJvp tau 2 theta g) (sprintf "τ = %g" tau)
          }

          test "ReinMax and the categorical straight-through: exact expectations by enumeration" {
              let rng = Random 13
              let problem = Problem.categorical 5
              let theta = normals rng 5
              let b = normals rng 5
              // A loss quadratic in D: f(D) = ‖D − b‖², ∇f(D) = 2(D − b). ReinMax at τ = 1 is exact for it.
              let f (d: float[]) =
                  Array.fold2 (fun acc x y -> acc + (x - y) * (x - y)) 0.0 d b

              let grad (d: float[]) =
                  Array.map2 (fun x y -> 2.0 * (x - y)) d b

              let expectedOf (estimator: Estimator) =
                  ReinMax.expectedBackward theta grad (fun d g ->
                      let pass = Reference.forwardWithStates problem estimator [| d |] theta
                      Reference.backward problem estimator pass [| g |])

              expectClose 1e-10 (expectedOf (ReinMax 1.0)) (ReinMax.exactGradient theta f) "ReinMax τ = 1"

              let pi = ReinMax.probabilities theta

              expectClose
                  1e-12
                  (expectedOf SoftmaxStraightThrough)
                  (ReinMax.straightThroughBackward theta (grad pi))
                  "straight-through: J(π)·E[∇f(D)] = J(π)·∇f(π) for a loss quadratic in D"
          }

          test "regularised Frank-Wolfe on the simplex is sparsemax(θ/λ), its backward the sparsemax Jacobian / λ" {
              let problem = Problem.categorical 4

              for lambda in [ 1.0; 0.5 ] do
                  let options = { converged with Lambda = lambda }
                  let theta = interior |> Array.map (fun t -> t * lambda)
                  let result = FrankWolfe.solve problem options theta
                  let exact = Sparsemax.project (theta |> Array.map (fun t -> t / lambda))
                  expectClose 1e-3 result.Solution exact (sprintf "solution, λ = %g" lambda)
                  Expect.equal result.Vertices.Length 4 "every vertex stays active"
                  let g = [| 1.0; -2.0; 0.5; 0.3 |]

                  let pass =
                      Reference.forward problem (RegularizedFrankWolfe options) (Random 1) theta

                  let backward =
                      Reference.backward problem (RegularizedFrankWolfe options) pass [| g |]

                  let jacobian =
                      Sparsemax.jvp (theta |> Array.map (fun t -> t / lambda)) g
                      |> Array.map (fun v -> v / lambda)

                  expectClose 1e-9 backward jacobian (sprintf "backward, λ = %g" lambda)
          }

          test "RFY: the Danskin gradient matches finite differences of the loss (simplex, converged Frank-Wolfe)" {
              let problem = Problem.categorical 4
              let target = [| 0.0; 1.0; 0.0; 0.0 |]

              let loss (w: float[]) =
                  Imle.Dfl.DecisionLosses.regularizedFenchelYoung converged problem w target

              let r = loss interior
              Expect.isGreaterThanOrEqual r.Value 0.0 "the loss is non-negative"

              let fd =
                  Array.init 4 (fun i ->
                      let h = 1e-4
                      let up = Array.mapi (fun j v -> if i = j then v + h else v) interior
                      let down = Array.mapi (fun j v -> if i = j then v - h else v) interior
                      ((loss up).Value - (loss down).Value) / (2.0 * h))

              expectClose 1e-3 r.Gradient fd "gradient"
          }

          test "the new estimators refuse other problems and bad parameters on both backends, naming them" {
              let subset = Problem.kSubset 5 2
              let categorical = Problem.categorical 5
              let w = Array.create 5 0.5

              let refusals =
                  [ Simple 1.0, categorical, "estimator"
                    Sfess(1.0, 3), categorical, "estimator"
                    ReinMax 1.0, subset, "estimator"
                    SoftmaxStraightThrough, subset, "estimator"
                    Simple 0.0, subset, "tau"
                    Sfess(1.0, 1), subset, "samples"
                    ReinMax(-1.0), categorical, "tau"
                    RegularizedFrankWolfe
                        { FrankWolfeOptions.Default with
                            Lambda = 0.0 },
                    subset,
                    "Lambda"
                    RegularizedFrankWolfe
                        { FrankWolfeOptions.Default with
                            MaxIterations = 0 },
                    subset,
                    "MaxIterations" ]

              for estimator, problem, name in refusals do
                  throwsNaming name (fun () -> Reference.forward problem estimator (Random 1) w)

                  throwsNaming name (fun () ->
                      use t = torch.tensor (w, dtype = torch.float64)
                      Discrete.apply DiscreteOptions.Default problem estimator (new torch.Generator(1UL)) t)
          }

          test "SFESS with all draws: the mean of the draws' losses has the mean output's gradient (same generator)" {
              use _scope = torch.NewDisposeScope()
              let problem = Problem.kSubset 6 2
              let rng = Random 19

              let w0 =
                  torch.tensor (Array.init 12 (fun _ -> Sampling.standardNormal rng), dtype = torch.float64)

              let g =
                  torch.tensor (Array.init 12 (fun _ -> Sampling.standardNormal rng), dtype = torch.float64)

              let estimator = Sfess(1.0, 4)

              let gradient (output: SampleOutput) =
                  let w = w0.reshape(2L, 6L).detach().requires_grad_(true)

                  let options =
                      { DiscreteOptions.Default with
                          Output = output }

                  let z = Discrete.apply options problem estimator (new torch.Generator(3UL)) w

                  let loss =
                      match output with
                      | AllSamples ->
                          Expect.equal z.shape [| 2L; 4L; 6L |] "[B, S, m]"
                          (z * g.reshape (2L, 1L, 6L)).sum([| 2L |]).mean([| 1L |]).sum()
                      | MeanOfSamples -> (z * g.reshape (2L, 6L)).sum()

                  Training.backward loss
                  use c = w.grad.contiguous ()
                  c.data<float>().ToArray()

              expectClose 1e-12 (gradient AllSamples) (gradient MeanOfSamples) "gradients"
          }

          test "CaVE on tensors needs the binding normals, one entry per row" {
              use _scope = torch.NewDisposeScope()
              let problem = Problem.kSubset 4 2
              let predicted = torch.ones (2L, 4L, dtype = torch.float64)
              let batch = DflBatch.Create(predicted, null, null)
              throwsNaming "BindingNormals" (fun () -> DflLosses.compute problem Cave DflSources.None batch)

              throwsNaming "BindingNormals" (fun () ->
                  DflLosses.compute
                      problem
                      Cave
                      DflSources.None
                      { batch with
                          BindingNormals = [| [| [| 1.0; 0.0; 0.0; 0.0 |] |] |] })
          }

          test "descriptions name the method and its parameters" {
              Expect.equal (Estimator.describe (Simple 1.0)) "SIMPLE(τ=1)" "SIMPLE"
              Expect.equal (Estimator.describe (Sfess(1.0, 10))) "SFESS(τ=1, S=10)" "SFESS"
              Expect.equal (Estimator.describe (ReinMax 1.0)) "ReinMax(τ=1)" "ReinMax"
              Expect.equal (Estimator.sampleCount (Sfess(1.0, 10))) 10 "SFESS draws S samples"
              Expect.isNone (Estimator.forwardNoise (Simple 1.0)) "SIMPLE draws exact samples"
              Expect.equal (DflLoss.describe (PerturbationGradient(Imle.Dfl.Pgf, 0.1))) "PGF(h=0.1)" "PGF"
          } ]
