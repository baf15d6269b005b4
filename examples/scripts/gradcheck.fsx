// Gradient check: how well each estimator's expected gradient matches the exact gradient ∇θ E_p[‖z − b‖²] on
// 2-subsets of 5 items (Monte Carlo over 2,000 draws). Run after `dotnet fsi build.fsx pack` (examples/scripts/nuget.config
// adds artifacts/packages as a source):  dotnet fsi examples/scripts/gradcheck.fsx
#r "nuget: Imle.Torch, *-*"
#r "nuget: libtorch-cpu-linux-x64, 2.10.0"

Imle.Torch.Native.ensure () // scripts only: sets up TorchSharp's native library (see docs/notes/native-fix.md)

open Imle
open Imle.Torch

let problem = Problem.kSubset 5 2
let weights = [| 0.5; -0.2; 0.1; 0.8; -0.6 |]
let loss = GradCheck.squaredDistance [| 1.0; 0.0; 1.0; 0.0; 0.0 |]

let estimators =
    [ Estimator.Imle(ImleOptions.Create(2.0, 1.0))
      Estimator.Imle(ImleOptions.Create(2.0, 1.0).WithSamples(10).WithSymmetric true)
      Blackbox 1.0
      StraightThrough(Gumbel 1.0)
      Identity(MeanCentre, Gumbel 1.0)
      Estimator.perturbed (Normal 1.0) 10
      ScoreFunction 10
      RelaxedTopK 1.0
      Simple 1.0
      Sfess(1.0, 10)
      RegularizedFrankWolfe FrankWolfeOptions.Default ]

printfn "%-56s %8s %10s %10s" "estimator" "cosine" "rel. bias" "variance"

let results =
    [ for estimator in estimators do
          let r = GradCheck.run problem estimator weights loss 2000 7L
          printfn "%-56s %8.3f %10.3f %10.3f" r.Estimator r.Cosine r.RelativeBias r.Variance
          r ]

// Sanity check for CI: the score function is unbiased, so its mean gradient points along the exact one.
let score = results |> List.find (fun r -> r.Estimator.StartsWith "ScoreFunction")

if score.Cosine < 0.9 then
    eprintfn "unexpected: score-function cosine %.3f < 0.9" score.Cosine
    exit 1
