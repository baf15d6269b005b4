// The paper's synthetic experiment (Niepert et al. 2021, Sec. 5.1) in a page, on the pure reference core:
// learn θ ∈ R^10 so that 5-subsets z ~ p(z; θ) minimise E[‖z − b‖²], with I-MLE and with the straight-through
// estimator, and print each estimator's final gap to the best reachable loss min_z ‖z − b‖².
// Run after `dotnet fsi build.fsx pack` (examples/scripts/nuget.config adds artifacts/packages as a source):
//   dotnet fsi examples/scripts/synthetic.fsx
#r "nuget: Imle.FSharp, *-*" // the pure F# core only: no tensors, so no native package

open System
open Imle

let m, k = 10, 5
let problem = Problem.kSubset m k
let states = Problem.states problem // all C(10, 5) = 252 states: exact losses are cheap

let squaredDistance (b: float[]) (z: float[]) =
    Array.fold2 (fun s zi bi -> s + (zi - bi) ** 2.0) 0.0 z b

/// Trains θ for 500 steps of gradient descent with learning rate `lr`; returns the gap
/// E_p[‖z − b‖²] − min_z ‖z − b‖² before and after training.
let gaps (estimator: Estimator) (lr: float) (seed: int) =
    let rng = Random seed
    let b = Array.init m (fun _ -> Sampling.standardNormal rng)
    let mutable theta = Array.init m (fun _ -> Sampling.standardNormal rng)
    let best = states |> Array.map (squaredDistance b) |> Array.min

    let gap () =
        Exact.expectedLossOf problem 1.0 theta (squaredDistance b) - best

    let initial = gap ()

    for _ in 1..500 do
        let _, grad =
            Reference.estimate problem estimator rng theta (fun z -> Array.map2 (fun zi bi -> 2.0 * (zi - bi)) z b)

        theta <- Array.map2 (fun t g -> t - lr * g) theta grad

    initial, gap ()

let estimators =
    [ "I-MLE (SoG(5, 1, 10), λ = 1)", Estimator.Imle(ImleOptions.Create(float k, 1.0))
      "I-MLE (SoG, λ = 1, S = 10)", Estimator.Imle(ImleOptions.Create(float k, 1.0).WithSamples 10)
      "STE (Gumbel)", StraightThrough(Gumbel 1.0) ]

// Each estimator gets its best learning rate from a small grid (on seeds 1-5; the gap is the mean over them).
let learningRates = [ 0.01; 0.05; 0.2; 0.5; 1.0 ]
printfn "%-30s %8s %12s %10s" "estimator" "best lr" "initial gap" "final gap"

let results =
    [ for name, estimator in estimators do
          let lr, (initial, final) =
              learningRates
              |> List.map (fun lr ->
                  let runs = List.map (gaps estimator lr) [ 1..5 ]
                  lr, (List.averageBy fst runs, List.averageBy snd runs))
              |> List.minBy (fun (_, (_, final)) -> final)

          printfn "%-30s %8g %12.4f %10.4f" name lr initial final
          initial, final ]

// Sanity check for CI: every estimator closes most of the gap.
if results |> List.exists (fun (initial, final) -> final > 0.5 * initial) then
    eprintfn "unexpected: an estimator did not halve the gap"
    exit 1
