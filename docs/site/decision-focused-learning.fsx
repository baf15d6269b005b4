(**
---
title: Decision-focused learning
category: Tutorials
categoryindex: 1
index: 7
---

# Decision-focused learning

## Install

Build the packages in a clone of the repository (`dotnet fsi build.fsx pack`), then start your script or notebook
with these lines (the first names the clone's package folder):

<pre><code class="language-fsharp">&#35;i "nuget: &lt;clone&gt;/artifacts/packages"
&#35;r "nuget: Imle.Torch, *-*"
&#35;r "nuget: libtorch-cpu-linux-x64, 2.10.0"
Imle.Torch.Native.ensure () // makes TorchSharp's native library load, once per script</code></pre>

Download this page as a notebook: [decision-focused-learning.ipynb](decision-focused-learning.ipynb), which starts with those lines.

*Predict, then optimise*: a model predicts the costs of an optimisation problem from features, a solver turns the
predicted costs into a decision, and what counts is the quality of the decision — its **regret**, how much more the
decision costs under the true costs than the best decision would. Training on the regret directly (or on a surrogate
of it such as SPO+) rather than on the cost prediction error is decision-focused learning.

`Imle.Dfl` has PyEPO's synthetic data generators (Tang and Khalil 2022, after Elmachtoub and Grigas's SPO
experiments), datasets that solve every instance once, and the regret; `Imle.Torch.DflLosses.compute` with `DflLoss.SpoPlus` is the SPO+
loss with its subgradient. This page trains a linear model on PyEPO's shortest-path benchmark with SPO+ and with a
plain regression of the costs (the two-stage baseline), on a small dataset so that it runs in seconds.
*)
(*** hide ***)
#load ".shared/load.fsx"
open Load
Docs.page "decision-focused-learning"
(*** show ***)
open System
open TorchSharp
open Imle
open Imle.Dfl
open Imle.Torch

// 5×5 grid network: 40 arc costs from p = 5 features, polynomial degree 4 (a misspecified linear model),
// multiplicative noise of half-width 0.5.
let problem = Problem.gridDagShortestPath 5 5
let data = Generators.shortestPath 600 5 5 5 4 0.5 42
let dataset = DflDataset.ofGenerated problem data
let train = DflDataset.subset [| 0..399 |] dataset
let test = DflDataset.subset [| 400..599 |] dataset

printfn "%s: %d arcs; %d training and %d test instances" problem.Name problem.Size train.Count test.Count
(*** include-output ***)
(**
Rows of floats become float32 tensors; a prediction becomes rows again for the regret.
*)
let tensorOf (rows: float[][]) =
    torch.tensor(rows |> Array.concat |> Array.map float32).reshape(int64 rows.Length, int64 rows.[0].Length)

let rowsOf (t: torch.Tensor) =
    t.detach().to_type(torch.float64).data<float>().ToArray() |> Array.chunkBySize (int t.shape.[1])
(**
## Training: SPO+ against two-stage regression

Both methods train the same linear model with Adam; only the loss differs. SPO+ needs the true costs c and the true
optimal paths w*(c), which the dataset holds.
*)
let trainLinear (spo: bool) =
    torch.manual_seed 0L |> ignore
    let model = torch.nn.Linear(5L, int64 problem.Size)
    let optimizer = torch.optim.Adam(model.parameters (), lr = 0.01)
    let x, c, w = tensorOf train.Features, tensorOf train.Costs, tensorOf train.Solutions

    for epoch in 1..8 do
        for batch in Training.shuffledBatches (Random epoch) train.Count 32 do
            use _ = torch.NewDisposeScope()
            let idx = torch.tensor (batch |> Array.map int64)
            let xb, cb, wb = x.index_select (0L, idx), c.index_select (0L, idx), w.index_select (0L, idx)
            let predicted = model.forward xb

            let loss =
                if spo then
                    DflLosses.compute
                        problem
                        DflLoss.SpoPlus
                        DflSources.None
                        { Predicted = predicted
                          TrueCosts = cb
                          TrueSolutions = wb
                          BindingNormals = null }
                else
                    torch.nn.functional.mse_loss (predicted, cb, torch.nn.Reduction.Mean)

            optimizer.zero_grad ()
            Training.backward loss
            optimizer.step () |> ignore

    use _ = torch.no_grad ()
    rowsOf (model.forward (tensorOf test.Features))

let twoStage = Regret.normalised test (trainLinear false)
let spoPlus = Regret.normalised test (trainLinear true)

printfn "normalised test regret: two-stage %.3f, SPO+ %.3f" twoStage spoPlus
(*** include-output ***)
(*** hide ***)
Docs.expect (spoPlus < twoStage) "SPO+ has a lower regret than two-stage regression at degree 4"
(**
The normalised regret is PyEPO's: Σᵢ regretᵢ / Σᵢ |z*(cᵢ)| over the test set (0 = every decision optimal). With a
misspecified model (degree 4), fitting the costs well on average is not the same as deciding well: SPO+ trains for
the decision and ends with the lower regret — the effect PyEPO reports.

Besides SPO+, the same loop takes any discrete layer: `Losses.regret Reduction.Mean (layer.forward predicted) c w` trains through
I-MLE, blackbox differentiation or perturbed optimizers, and the other losses of the `DflLoss` catalogue
(Fenchel–Young, the contrastive `Nce` and `Cmap`, the ranking losses) go through the same `DflLosses.compute`. The examples app's `dfl` command runs all of them at several
degrees (`dotnet run --project examples/Imle.Examples -c Release -- dfl --help`); its results are in
[the results](results.html).

## The DFL loss catalogue

Every case of `DflLoss` has a reference over arrays (`DflLoss.reference`) and a tensor version
(`DflLosses.compute`), tested for parity; a `DflBatch` carries what a loss reads (`DflLoss.needsTrueCosts`,
`needsTrueSolutions`, `needsPool`, `needsBindingNormals`), the rest may be null.

| case | reads | what it is |
|---|---|---|
| `SpoPlus` | true costs, true solutions | SPO+ (Elmachtoub and Grigas 2022) |
| `FenchelYoung options` | true solutions, a generator | the perturbed Fenchel–Young loss (PyEPO's PFYL), additive or multiplicative |
| `Nce`, `Cmap` | true solutions, a pool | the contrastive losses (Mulamba et al. 2021) |
| `ListwiseLtr`, `PairwiseLtr`, `PointwiseLtr` | true costs, a pool | learning to rank (Mandi et al. 2022) |
| `PerturbationGradient(variant, h)` | true costs | PG losses (Huang and Gupta 2024): backward (`Pgb`), central (`Pgc`) or forward (`Pgf`) differences of the optimal value along c |
| `Cave` | `BindingNormals` | CaVE (Tang and Khalil 2024): 1 − cos between −ĉ and its projection onto the cone of the binding constraints' normals at the true optimum |
| `StructuredSvm α` | true solutions | the structured SVM with a Hamming margin α (InferOpt) |
| `Imitation(name, δ)` | true solutions | the imitation loss over a base loss δ, by enumeration (InferOpt) |
| `ZeroOne` | true solutions | 1[z*(ĉ) ≠ y], an evaluation metric (zero gradient) |
| `RegularizedFenchelYoung options` | true solutions | the Fenchel–Young loss of the regularised Frank–Wolfe optimizer (PyEPO 2.2's RFY) |

The C# façade has the newer ones in `DecisionLosses` (`PerturbationGradient` with a `PerturbationGradientVariant`,
`Cave`, `StructuredSvm`, `Imitation`, `ZeroOne`, `RegularizedFenchelYoung`, `NegativeIdentity`), the
DecisionFocusedLearningBenchmarks problems and PyEPO's kNN-robust labels in `DflBenchmarks` (`Argmax`, `Ranking`,
`SubsetSelection`, `FixedSizeShortestPath`, `KnnRobust`), and a perturbed oracle over any C# function in
`RelaxationLayers.PerturbedOracle`.
*)
(*** hide ***)
Docs.finish [ box twoStage; box spoPlus ]
