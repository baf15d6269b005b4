(**
---
title: Getting started (F#)
category: Tutorials
categoryindex: 1
index: 1
---

# Getting started in F#

## Install

Build the packages in a clone of the repository (`dotnet fsi build.fsx pack`), then start your script or notebook
with these lines (the first names the clone's package folder):

<pre><code class="language-fsharp">&#35;i "nuget: &lt;clone&gt;/artifacts/packages"
&#35;r "nuget: Imle.Torch, *-*"
&#35;r "nuget: libtorch-cpu-linux-x64, 2.10.0"
Imle.Torch.Native.ensure () // makes TorchSharp's native library load, once per script</code></pre>

Download this page as a notebook: [getting-started.ipynb](getting-started.ipynb), which starts with those lines.

Imle puts a *discrete* step — pick k of m items, a shortest path, a matching — inside a TorchSharp model and still
trains it by gradient descent. The discrete layer returns a binary state in the forward pass; in the backward pass an
estimator (here I-MLE, Niepert et al. 2021) turns the gradient with respect to that state into a gradient with respect
to the scores that produced it.

This page learns to pick the 3 items (of 10) that a hidden linear teacher would pick. Every number and plot below
was computed when this site was built.

## References

This page runs against the repository's build; in your own script, after the install lines above:
*)
(*** hide ***)
#load ".shared/load.fsx"
open Load
Docs.page "getting-started"
(**
```fsharp
open TorchSharp
open Imle        // problems, noise, estimators (values)
open Imle.Torch  // layers, losses, training on tensors
```
*)
(*** hide ***)
open TorchSharp
open Imle
open Imle.Torch
(**
## Data: a teacher that picks 3 of 10

The target states come from the library's own solver: `TensorSolve.solve problem scores` returns the MAP state of
every row, here the indicator of the 3 largest of 10 scores.
*)
torch.manual_seed 0L |> ignore
let features, m, k, batch = 8, 10, 3, 128
let problem = Problem.kSubset m k
let teacher = torch.randn (int64 features, int64 m)
let x = torch.randn (int64 batch, int64 features)
let y = TensorSolve.solve problem (x.matmul teacher) // [128, 10], three ones per row

printfn "problem %s, targets %A, ones per row %.0f" problem.Name y.shape (y.sum(1L).mean().ToDouble())
(*** include-output ***)
(**
## Model: a linear scorer followed by an I-MLE k-subset layer

`Layers.kSubset m k options` is a `torch.nn.Module`: scores `[B, m]` in, k-hot states `[B, m]` out. λ is I-MLE's
step size for the target distribution (Eq. 10 of the paper), `Samples` the number of perturbed MAP states S averaged
per input.
*)
let layer =
    Layers.kSubset
        m
        k
        { KSubsetLayerOptions.Default with
            Lambda = 10.0
            Samples = 5
            Seed = 42L }

let model = torch.nn.Sequential(torch.nn.Linear(int64 features, int64 m), layer)
let optimizer = torch.optim.Adam(model.parameters (), lr = 0.05)
(**
## Training

Use `Training.backward loss` rather than `loss.backward()`: libtorch runs the discrete backward pass from native
code, where a .NET exception cannot travel; Imle records such errors and `Training.backward` rethrows them. One
`torch.NewDisposeScope()` per step frees the step's tensors.
*)
let losses =
    [| for step in 1..100 do
           use _ = torch.NewDisposeScope()
           optimizer.zero_grad ()
           let loss = Losses.hamming Reduction.Mean (model.forward x) y
           Training.backward loss
           optimizer.step () |> ignore

           if step % 25 = 0 then
               printfn "step %3d  Hamming loss %.3f" step (loss.ToDouble())

           loss.ToDouble() |]
(*** include-output ***)
(**
In eval mode the layer returns the plain MAP state (no noise): the share of the teacher's items the model picks.
*)
let accuracy =
    model.eval ()
    use _ = torch.no_grad ()
    let z = model.forward x
    z.mul(y).sum().ToDouble() / float (batch * k)

printfn "picked the teacher's items: %.1f %%" (100.0 * accuracy)
(*** include-output ***)
(*** hide ***)
Docs.expect (Array.average losses.[90..] < 0.7 * Array.average losses.[..9]) "the loss falls"
(*** hide ***)
Docs.linePlot "Training loss" "step" "Hamming loss" [ ("I-MLE, λ = 10, S = 5", Array.init losses.Length (fun i -> float (i + 1)), losses) ]
(*** include-it-raw ***)
(**
## Estimators are values

An estimator, a problem and a noise distribution are plain F# values that compose; `Layers.create` turns any problem
and estimator into a layer:
*)
let symmetric =
    Imle(ImleOptions.Create(5.0, 2.0).WithSamples(10).WithSymmetric true)

let paths =
    Layers.create (Problem.gridShortestPath 12 12 Solvers.Eight) (Blackbox 20.0) LayerOptions.Default

printfn "%s" (Estimator.describe symmetric)
(*** include-output ***)
(*** hide ***)
Docs.finish [ box losses; box accuracy; box paths ]
(**
Next: [the same in C#](csharp.html), [your own solver](custom-solver.html), [gradient checks](gradient-checks.html).
*)
