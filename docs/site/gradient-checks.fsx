(**
---
title: Gradient checks
category: Tutorials
categoryindex: 1
index: 4
---

# Gradient checks: is my estimator pointing the right way?

## Install

Build the packages in a clone of the repository (`dotnet fsi build.fsx pack`), then start your script or notebook
with these lines (the first names the clone's package folder):

<pre><code class="language-fsharp">&#35;i "nuget: &lt;clone&gt;/artifacts/packages"
&#35;r "nuget: Imle.Torch, *-*"
&#35;r "nuget: libtorch-cpu-linux-x64, 2.10.0"
Imle.Torch.Native.ensure () // makes TorchSharp's native library load, once per script</code></pre>

Download this page as a notebook: [gradient-checks.ipynb](gradient-checks.ipynb), which starts with those lines.

A discrete layer's backward pass is an *estimate*: I-MLE, blackbox differentiation, straight-through and the others
return something other than the true gradient, and a wrong sense (costs where scores were meant), a λ far off or a bug
in a custom setup shows up only as training that does not work. On a small problem the truth is computable: for the
distribution p(z; θ) ∝ exp(⟨z, θ⟩) over the states of the problem and a loss ℓ(z), the exact gradient
∇θ E_{z∼p}[ℓ(z)] follows by enumerating the states (or, for k-subsets of any size, by a dynamic programme).

`GradCheck.run problem estimator weights loss samples seed` draws `samples` independent gradients of the estimator in
one batched pass and compares their mean ĝ with the exact gradient g:

- **cosine** cos(ĝ, g): 1 = the same direction, 0 = unrelated, below 0 = uphill;
- **relative bias** ‖ĝ − g‖ / ‖g‖ (it includes the Monte Carlo error of the mean);
- **variance** E‖gₙ − ĝ‖² of a single draw — what one training step sees.
*)
(*** hide ***)
#load ".shared/load.fsx"
open Load
Docs.page "gradient-checks"
(*** show ***)
open Imle
open Imle.Torch

// Pick 2 of 5 items; the loss is the paper's synthetic ‖z − b‖² with target b = {item 0, item 2}.
let problem = Problem.kSubset 5 2
let weights = [| 0.5; -0.2; 0.1; 0.8; -0.6 |]
let loss = GradCheck.squaredDistance [| 1.0; 0.0; 1.0; 0.0; 0.0 |]

let imle = Estimator.Imle(ImleOptions.Create(2.0, 1.0)) // Sum-of-Gamma noise with κ = 2, λ = 1
let r = GradCheck.run problem imle weights loss 2000 7L

printfn "%s: cosine %.3f, relative bias %.3f, variance %.3f" r.Estimator r.Cosine r.RelativeBias r.Variance
printfn "exact gradient g : %s" (r.Exact |> Array.map (sprintf "%+.3f") |> String.concat " ")
printfn "mean estimate  ĝ : %s" (r.Mean |> Array.map (sprintf "%+.3f") |> String.concat " ")
(*** include-output ***)
(**
The signs agree item by item: descending along ĝ moves the scores the way the exact gradient would. The magnitudes
differ (I-MLE's estimate is scaled by 1/λ and biased), which an optimiser with an adaptive step such as Adam absorbs.

## λ: from too small to too large

I-MLE's λ sets how far the target distribution moves from the current one. Too small and the target's perturbed MAP
state rarely differs from the current one (most draws give a zero gradient, and the rest are scaled up by 1/λ); too
large and the target jumps to a different state regardless of the loss's local shape. The relative bias shows the
trade-off — it is lowest at an intermediate λ:
*)
let lambdas = [| 0.1; 0.3; 1.0; 3.0; 10.0; 30.0 |]

let sweep =
    [| for lambda in lambdas do
           let e = Estimator.Imle(ImleOptions.Create(2.0, lambda).WithSamples 5)
           GradCheck.run problem e weights loss 1000 11L |]

for lambda, r in Array.zip lambdas sweep do
    printfn "λ = %5.1f  cosine %.3f  relative bias %.3f" lambda r.Cosine r.RelativeBias
(*** include-output ***)
(*** hide ***)
Docs.expect (sweep |> Array.forall (fun r -> r.Cosine > 0.0)) "I-MLE points downhill at every λ tried"
let best = sweep |> Array.minBy (fun r -> r.RelativeBias)
Docs.expect (best <> sweep.[0] && best <> sweep.[sweep.Length - 1]) "the relative bias is lowest at an intermediate λ"
Docs.linePlot "I-MLE on 2-of-5: relative bias against λ" "log10 λ" "relative bias ‖ĝ − g‖ / ‖g‖" [ ("S = 5", Array.map log10 lambdas, sweep |> Array.map (fun r -> r.RelativeBias)) ]
(*** include-it-raw ***)
(**
## Checking your own setup

Run the check on a small instance of your problem (enumerable: a few dozen to a few thousand states; any k-subset)
with your estimator and a loss like yours, before a long training run. A cosine near 0 or negative means the layer
is not learning what you think: look at the problem's sense (`Minimise` takes costs, `Maximise` scores), at λ, and at
the noise temperature. The `gradcheck` command of the examples app runs every estimator on the paper's synthetic
problem (`dotnet run --project examples/Imle.Examples -c Release -- gradcheck`); [choosing an
estimator](choosing-an-estimator.html) compares them on one page.
*)
(*** hide ***)
Docs.finish [ box r; box sweep ]
