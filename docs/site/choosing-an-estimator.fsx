(**
---
title: Choosing an estimator
category: Tutorials
categoryindex: 1
index: 5
---

# Choosing an estimator

## Install

Build the packages in a clone of the repository (`dotnet fsi build.fsx pack`), then start your script or notebook
with these lines (the first names the clone's package folder):

<pre><code class="language-fsharp">&#35;i "nuget: &lt;clone&gt;/artifacts/packages"
&#35;r "nuget: Imle.Torch, *-*"
&#35;r "nuget: libtorch-cpu-linux-x64, 2.10.0"
Imle.Torch.Native.ensure () // makes TorchSharp's native library load, once per script</code></pre>

Download this page as a notebook: [choosing-an-estimator.ipynb](choosing-an-estimator.ipynb), which starts with those lines.

Imle implements I-MLE together with the estimators it unifies and competes with. They differ in what their backward
pass returns, and that is measurable: on one small problem, the [gradient check](gradient-checks.html) compares each
estimator's mean gradient with the exact gradient of E_{z∼p(z;θ)}[ℓ(z)]. All numbers on this page are computed by
`GradCheck.run` when the site is built (fixed seeds; Monte Carlo over the stated number of draws).
*)
(*** hide ***)
#load ".shared/load.fsx"
open Load
Docs.page "choosing-an-estimator"
(*** show ***)
open System.Diagnostics
open Imle
open Imle.Torch

// 2-of-5 subsets, the paper's synthetic loss ‖z − b‖², 2,000 gradient draws per estimator.
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

let results =
    [ for estimator in estimators do
          let watch = Stopwatch.StartNew()
          let r = GradCheck.run problem estimator weights loss 2000 7L
          r, watch.Elapsed.TotalMilliseconds / 2000.0 ]

printfn "%-52s %7s %9s %9s %9s" "estimator" "cosine" "rel.bias" "variance" "ms/draw"

for r, ms in results do
    printfn "%-52s %7.3f %9.3f %9.3f %9.3f" r.Estimator r.Cosine r.RelativeBias r.Variance ms
(*** include-output ***)
(*** hide ***)
let score = results |> List.find (fun (r, _) -> r.Estimator.StartsWith "ScoreFunction") |> fst
Docs.expect (score.Cosine > 0.9) "the score function, unbiased, points along the exact gradient"
let byName (prefix: string) = results |> List.map fst |> List.filter (fun r -> r.Estimator.StartsWith prefix)
let imle1, imleSym = (byName "I-MLE").[0], (byName "I-MLE").[1]
let blackbox, ste = (byName "Blackbox").[0], (byName "STE").[0]
Docs.expect (imleSym.Variance < imle1.Variance && imleSym.RelativeBias < imle1.RelativeBias) "symmetric I-MLE (S = 10) has a lower variance and bias than I-MLE (S = 1)"
let rfwo = (byName "RFWO").[0]
let simple, sfess = (byName "SIMPLE").[0], (byName "SFESS").[0]
let ofExpectedLoss = results |> List.map fst |> List.filter (fun r -> r <> rfwo)
Docs.expect (blackbox.Variance < 1e-12 && ofExpectedLoss |> List.forall (fun r -> r.Cosine >= blackbox.Cosine)) "blackbox: zero variance, the worst direction of the estimators of the expected loss's gradient"
Docs.expect (rfwo.Variance < 1e-12 && abs rfwo.Cosine < 0.5) "RFWO: deterministic, and not aligned with the expected loss's gradient"
Docs.expect (simple.Cosine > 0.95 && sfess.Cosine > 0.95 && simple.RelativeBias < imle1.RelativeBias && sfess.RelativeBias < imle1.RelativeBias) "SIMPLE and SFESS: cosine above 0.95 and a lower relative bias than I-MLE with one sample"
Docs.expect (results |> List.forall (fun (r, _) -> r.RelativeBias <= ste.RelativeBias && r.Variance <= ste.Variance)) "straight-through: the largest relative bias and variance"

Docs.barPlot
    "Cosine with the exact gradient (2-of-5, ‖z − b‖²)"
    "cosine"
    (results |> List.map (fun (r, _) -> (r.Estimator.Split '[').[0]) |> Array.ofList)
    (results |> List.map (fun (r, _) -> r.Cosine) |> Array.ofList)
(*** include-it-raw ***)
(**
## Reading the table

The checks under the table hold for the numbers above (the build fails if they stop holding):

- **Score function (REINFORCE)** is unbiased: its cosine is close to 1 and its relative bias is Monte Carlo error.
  It needs exact samples of p(z; θ) (enumerable problems, k-subsets), so it is the reference rather than the tool
  for large combinatorial problems.
- **I-MLE** needs only a MAP solver. With one sample its direction is good but a single draw is noisy; the symmetric
  variant with S = 10 samples has a far lower variance and bias, for ten times the solver calls.
- **Blackbox differentiation** is I-MLE with δ₀ noise and a PID target (the paper's footnote 10): deterministic, so
  its variance is zero — and its direction is the worst here, set by λ alone.
- **Straight-through** and **identity** pass dL/dz through as dL/dθ: cheap and well aligned here, but their
  magnitude is far off (the largest relative bias) and a single draw is the noisiest.
- **Perturbed optimizers** average S perturbed MAP states (a smoothed solver), at the cost of S solver calls.
- **Relaxed top-k** replaces the discrete step by a continuous relaxation (it differentiates a different function);
  on this small problem it is close to the exact gradient.
- **SIMPLE** and **SFESS** need the exact k-subset distribution (Imle's O(m·k) dynamic programme): SIMPLE
  differentiates the exact marginals, SFESS is a score function with a leave-one-out baseline. Both point within a
  few degrees of the exact gradient, with a lower bias than I-MLE with one sample, but they exist only for k-subsets
  (the [frontier](frontier.html) compares them at larger m).
- **RFWO** (regularised Frank–Wolfe) is deterministic and differentiates a different problem: the quadratically
  regularised one, at its own fractional solution. Its gradient is not an estimate of the expected loss's gradient,
  and here it is nearly orthogonal to it; it is a decision-focused learning tool (see the DFL pages), not a sampler.

The table computes every catalogue case that applies to a k-subset problem; the categorical ones (`ReinMax`, softmax
straight-through) need a one-hot problem and are in the `gradcheck` command's report. Each case runs through the same
`Discrete.apply` and the same `GradCheck.run`:

| case | problems | forward | backward |
|---|---|---|---|
| `Simple τ` (SIMPLE, Ahmed et al. 2023) | k-subsets | an exact draw from p(z; θ) ∝ exp(⟨z, θ⟩/τ) | the exact marginals' Jacobian times dL/dz, O(m·k) |
| `Sfess(τ, S)` (SFESS, Wijk et al. 2025) | k-subsets | S ≥ 2 exact draws (their mean, or all of them with `AllSamples`) | score function with the exact score (z − μ)/τ and a leave-one-out baseline |
| `ReinMax τ` (Liu et al. 2023) | categorical | an exact one-hot draw from softmax(θ) | second-order straight-through 2·J(π½)·g − ½·J(π₀)·g |
| `SoftmaxStraightThrough` | categorical | an exact one-hot draw from softmax(θ) | J(softmax(θ))·g |
| `RegularizedFrankWolfe options` (PyEPO 2.2's RFWO) | any (MAP calls only) | argmax over conv(C) of ⟨θ, μ⟩ − (λ/2)‖μ‖² by Frank–Wolfe (λ = 1, 20 iterations, gap 1e-6 by default) | the projection onto the active face, divided by λ |

Interpolation (Vlastelica et al. 2020) is blackbox differentiation under its first name: use `Blackbox λ` (the C#
façade's `Estimators.Interpolation` returns it). A problem of the wrong kind is refused with an `ArgumentException`
naming `estimator`.

What matters for a choice is measured here on a 5-item problem; on your problem, run the same check on a small
instance. The paper's larger experiments (synthetic, Warcraft, DFL) are reproduced in
[the results](results.html).
*)
(*** hide ***)
Docs.finish [ box results ]
