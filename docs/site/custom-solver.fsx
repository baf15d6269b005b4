(**
---
title: Your own solver
category: Tutorials
categoryindex: 1
index: 3
---

# Your own solver

## Install

Build the packages in a clone of the repository (`dotnet fsi build.fsx pack`), then start your script or notebook
with these lines (the first names the clone's package folder):

<pre><code class="language-fsharp">&#35;i "nuget: &lt;clone&gt;/artifacts/packages"
&#35;r "nuget: Imle.Torch, *-*"
&#35;r "nuget: libtorch-cpu-linux-x64, 2.10.0"
Imle.Torch.Native.ensure () // makes TorchSharp's native library load, once per script</code></pre>

Download this page as a notebook: [custom-solver.ipynb](custom-solver.ipynb), which starts with those lines.

Any function that maps weights to a binary state of the same size is a MAP oracle, and `Problem.create` makes it an
Imle problem that every estimator and layer accepts. Here the solver picks the cheapest cell of each row of a 3×4
cost matrix (one choice per row), and a linear model learns, through an I-MLE layer, to make the choices a hidden
teacher makes.
*)
(*** hide ***)
#load ".shared/load.fsx"
open Load
Docs.page "custom-solver"
(*** show ***)
open TorchSharp
open Imle
open Imle.Torch

let rows, cols = 3, 4

/// The MAP oracle: costs (row-major rows×cols) in, the indicator of each row's cheapest cell out.
let cheapestPerRow (costs: float[]) : float[] =
    let z = Array.zeroCreate (rows * cols)

    for r in 0 .. rows - 1 do
        let row = costs.[r * cols .. r * cols + cols - 1]
        z.[r * cols + Array.findIndex ((=) (Array.min row)) row] <- 1.0

    z

// Minimise: the weights are costs, and the solver returns the state of least cost.
let problem = Problem.create "cheapest-per-row" [| rows; cols |] Minimise cheapestPerRow
(**
The sense matters: a `Minimise` problem takes costs, a `Maximise` problem scores, and layers return gradients with
respect to the weights in the problem's own sense — nobody negates by hand. Solver output is checked (binary, right
shape): a solver that returns something else stops training with a clear error instead of a silent wrong gradient.

## Training through it
*)
torch.manual_seed 0L |> ignore
let features, batch = 6, 128
let teacher = torch.randn (int64 features, int64 (rows * cols))
let x = torch.randn (int64 batch, int64 features)
let y = TensorSolve.solve problem (x.matmul(teacher).reshape(int64 batch, int64 rows, int64 cols))

let estimator =
    Estimator.Imle(ImleOptions.Create(1.0, 10.0).WithNoise(Gumbel 1.0).WithSamples 5)

let layer = Layers.create problem estimator (LayerOptions.Default.WithSeed 42L)
let linear = torch.nn.Linear(int64 features, int64 (rows * cols))
let optimizer = torch.optim.Adam(linear.parameters (), lr = 0.05)

let losses =
    [| for step in 1..100 do
           use _ = torch.NewDisposeScope()
           optimizer.zero_grad ()
           let z = layer.forward (linear.forward(x).reshape(int64 batch, int64 rows, int64 cols))
           let loss = Losses.hamming Reduction.Mean z y
           Training.backward loss
           optimizer.step () |> ignore

           if step % 20 = 0 then
               printfn "step %3d  Hamming loss %.3f" step (loss.ToDouble())

           loss.ToDouble() |]
(*** include-output ***)
(*** hide ***)
Docs.expect (Array.average losses.[90..] < 0.7 * Array.average losses.[..9]) "the loss falls"
Docs.linePlot "A user solver trained through I-MLE" "step" "Hamming loss" [ ("I-MLE, Gumbel noise, S = 5", Array.init losses.Length (fun i -> float (i + 1)), losses) ]
(*** include-it-raw ***)
(**
## Faster solvers

`Problem.createSpan` takes a solver over spans (no allocation per call); batch rows are solved in parallel in place.
Linear programs, MILPs and integer linear programs over binary variables are one model type in `Imle.OrTools` (build
with `Lp` or, for binary variables, `Ilp`; `Lp.problem` makes a problem; GLOP or SCIP via OR-Tools, in its own package).
*)
(*** hide ***)
Docs.finish [ box losses ]
