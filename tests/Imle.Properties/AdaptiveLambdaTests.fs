/// AIMLE's adaptive λ exactly as the reference (torch-adaptive-imle, imle/target.py `AdaptiveTargetDistribution` and
/// imle/aimle.py), in both backends, with numbers derived by hand from the reference's formula.
///
/// The case: a 2-subset of m = 4, θ = (3, 1, 0, −2), no noise (δ₀, so every sample's MAP is z = (1, 1, 0, 0)), the
/// upstream gradient dL/dz = g = (1, 0, −1, 0) for every sample, default settings (β₀ = 1, target 1, step 1e-4, decay
/// 0.9, moving average starting at 1). The reference computes, per backward pass:
///   λ = β·‖θ‖/‖dy‖ with θ the [B, m] input (each instance once) and dy the [B·S, m] gradient of all samples;
///   θ' = θ − λ·dy, z' = MAP(θ'), gradient = mean over samples of (z − z')/λ;
///   avg ← 0.9·avg + 0.1·(non-zero entries of z − z' per sample), then β ← β + 1e-4 if avg < 1, else β − 1e-4.
/// ‖θ‖ = √14. With S = 3: ‖dy‖ = √3·√2 = √6, λ = √(14/6) ≈ 1.5275, θ' = (1.4725, 1, 1.5275, −2), z' = (1, 0, 1, 0),
/// z − z' = (0, 1, −1, 0) (2 non-zero), gradient (0, 1/λ, −1/λ, 0); avg = 0.9 + 0.2 = 1.1 ≥ 1 → β = 0.9999; then
/// avg = 1.19, β = 0.9998; avg = 1.271, β = 0.9997. With S = 1: ‖dy‖ = √2, λ = √7 ≈ 2.6458, θ' = (0.354, 1, 2.646, −2),
/// z' = (0, 1, 1, 0), gradient (1/√7, 0, −1/√7, 0), the same β sequence.
/// Before the fix the torch backend used ‖θ repeated S times‖ (λ = √7 at S = 3: gradient 1/√3 ≈ 0.577 of the
/// reference's) and an average starting at 0 (first β 1.0001, the wrong way).
module Imle.Tests.AdaptiveLambdaTests

open System
open Expecto
open TorchSharp
open Imle
open Imle.Torch

let private theta = [| 3.0; 1.0; 0.0; -2.0 |]
let private g = [| 1.0; 0.0; -1.0; 0.0 |]
let private problem = Problem.kSubset 4 2

let private estimator samples =
    Imle
        { ImleOptions.Create(2.0, 1.0) with
            Noise = Zero
            Target = Adaptive AdaptiveLambda.Default
            Samples = samples }

/// The hand-derived gradient for S samples (see the module comment).
let private expectedGradient samples =
    if samples = 3 then
        let l = sqrt (14.0 / 6.0) in [| 0.0; 1.0 / l; -1.0 / l; 0.0 |]
    else
        let l = sqrt 7.0 in [| 1.0 / l; 0.0; -1.0 / l; 0.0 |]

let private expectedBetas = [ 0.9999; 0.9998; 0.9997 ]
let private expectedAverages = [ 1.1; 1.19; 1.271 ]

let private close (what: string) (expected: float[]) (actual: float[]) =
    Expect.equal actual.Length expected.Length (what + ": length")
    Array.iteri2 (fun i e a -> Expect.floatClose Accuracy.veryHigh a e (sprintf "%s[%d]" what i)) expected actual

/// Three backward passes of a torch layer; returns the gradients and states after each.
let private torchSteps (samples: int) (meanOutput: bool) =
    use layer =
        new DiscreteLayer(
            problem,
            estimator samples,
            { LayerOptions.Default with
                Seed = 1L
                Output = (if meanOutput then MeanOfSamples else AllSamples) }
        )

    layer.train ()
    let cell = layer.Adaptive.Value

    [ for _ in 1..3 do
          use _ = torch.NewDisposeScope()

          let w =
              torch.tensor(theta, dtype = torch.float64).reshape(1L, 4L).requires_grad_(true)

          let z = layer.forward w
          use gt = torch.tensor (g, dtype = torch.float64)
          let loss = (z * gt).sum() // dL/dz = g for the mean, and for every sample when all samples are returned
          Training.backward loss
          yield w.grad.reshape(4L).data<float>().ToArray(), cell.State ]

[<Tests>]
let tests =
    testList
        "adaptive λ (AIMLE) as the reference"
        [ for samples in [ 1; 3 ] do
              test (sprintf "reference core, S = %d: gradient and first three β / averages by hand" samples) {
                  let est = estimator samples
                  let mutable state = AdaptiveLambda.initial AdaptiveLambda.Default
                  Expect.equal state { Beta = 1.0; AverageNonZero = 1.0 } "the reference starts at β = 1, average 1"

                  for beta, average in List.zip expectedBetas expectedAverages do
                      let pass = Reference.forward problem est (Random 0) theta
                      let grad, next = Reference.backwardAdaptive problem est state pass [| g |]
                      close "gradient" (expectedGradient samples |> Array.map (fun x -> x / state.Beta)) grad
                      Expect.floatClose Accuracy.veryHigh next.Beta beta "β"
                      Expect.floatClose Accuracy.veryHigh next.AverageNonZero average "moving average"
                      state <- next
              }

              for meanOutput in [ true; false ] do
                  test (
                      sprintf
                          "torch layer, S = %d, %s: gradient and β by hand"
                          samples
                          (if meanOutput then "mean output" else "all samples")
                  ) {
                      let steps = torchSteps samples meanOutput

                      List.iteri2
                          (fun i (grad, state: AdaptiveState) (beta, average) ->
                              close
                                  (sprintf "gradient at pass %d" (i + 1))
                                  (expectedGradient samples
                                   |> Array.map (fun x -> x * (1.0 / (List.item i [ 1.0; 0.9999; 0.9998 ]))))
                                  grad

                              Expect.floatClose Accuracy.veryHigh state.Beta beta "β"
                              Expect.floatClose Accuracy.veryHigh state.AverageNonZero average "moving average")
                          steps
                          (List.zip expectedBetas expectedAverages)
                  }
          test "two layers built from one estimator keep independent β" {
              let est = estimator 1
              use a = new DiscreteLayer(problem, est, 1L)
              use b = new DiscreteLayer(problem, est, 1L)
              a.train ()

              for _ in 1..3 do
                  use _ = torch.NewDisposeScope()

                  let w =
                      torch.tensor(theta, dtype = torch.float64).reshape(1L, 4L).requires_grad_(true)

                  use gt = torch.tensor (g, dtype = torch.float64)
                  Training.backward ((a.forward w * gt).sum())

              Expect.floatClose Accuracy.veryHigh a.Adaptive.Value.State.Beta 0.9997 "a moved three times"
              Expect.equal b.Adaptive.Value.State (AdaptiveLambda.initial AdaptiveLambda.Default) "b untouched"
          }
          test "Discrete.apply DiscreteOptions.Default refuses an adaptive target without state (it would lose β)" {
              use w = torch.tensor(theta, dtype = torch.float64).reshape(1L, 4L)

              Expect.throwsT<ArgumentException>
                  (fun () ->
                      Discrete.apply DiscreteOptions.Default problem (estimator 1) (new torch.Generator(1UL)) w
                      |> ignore)
                  "refused"
          } ]
