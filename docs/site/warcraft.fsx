(**
---
title: Warcraft shortest paths
category: Tutorials
categoryindex: 1
index: 6
---

# Warcraft shortest paths

## Install

Build the packages in a clone of the repository (`dotnet fsi build.fsx pack`), then start your script or notebook
with these lines (the first names the clone's package folder):

<pre><code class="language-fsharp">&#35;i "nuget: &lt;clone&gt;/artifacts/packages"
&#35;r "nuget: Imle.Torch, *-*"
&#35;r "nuget: Imle.Data, *-*"
&#35;r "nuget: libtorch-cpu-linux-x64, 2.10.0"
Imle.Torch.Native.ensure () // makes TorchSharp's native library load, once per script</code></pre>

Download this page as a notebook: [warcraft.ipynb](warcraft.ipynb), which starts with those lines.

The paper's Table 2 task: from the image of a terrain map, predict the cost of every cell so that the shortest path
(8-neighbour moves, top-left to bottom-right) under the predicted costs is the true shortest path. The model never
sees a cost: it learns from the true *paths* only, through a shortest-path layer.

The original Warcraft data set is not available here, so `Imle.Data.WarcraftMaps` generates Warcraft-style maps
procedurally (six terrain types with the original data set's costs 0.8 … 9.2, textured 8×8-pixel tiles, roads;
deterministic per seed). This page uses a few small 8×8 maps so that it runs in seconds; [the results](results.html)
have the full-size runs (12×12 to 30×30, thousands of maps).
*)
(*** hide ***)
#load ".shared/load.fsx"
open Load
Docs.page "warcraft"
(*** show ***)
open System
open TorchSharp
open Imle
open Imle.Torch
open Imle.Data

let k = 8
let train = Array.init 200 (WarcraftMaps.generate 0 k 0) // (seed, K, split 0 = train, index)
let test = Array.init 32 (WarcraftMaps.generate 0 k 1)
let m0 = test.[0]

printfn "a %d×%d map: image %d×%d pixels, true path of %d cells, cost %.1f"
    k k (WarcraftMaps.imageSide k) (WarcraftMaps.imageSide k) (m0.Path |> Array.sumBy int) m0.PathCost
(*** include-output ***)
(*** hide ***)
Docs.heatmap "True cell costs of a test map" (Array2D.init k k (fun r c -> float m0.Costs.[r * k + c]))
(*** include-it-raw ***)
(**
## Images, costs and paths as tensors
*)
/// Images [B, 3, 8K, 8K] in [0, 1], true costs [B, K, K] and true paths [B, K, K] of some maps.
let tensors (maps: WarcraftMaps.WarcraftMap[]) =
    let b, side = int64 maps.Length, int64 (WarcraftMaps.imageSide k)
    let image = maps |> Array.collect (fun m -> m.Image)
    let x = Safe.divScalar (torch.tensor(image).reshape(b, 3L, side, side).to_type torch.float32) 255.0
    let c = torch.tensor(maps |> Array.collect (fun m -> m.Costs)).reshape(b, int64 k, int64 k)
    let y = torch.tensor(maps |> Array.collect (fun m -> m.Path |> Array.map float32)).reshape(b, int64 k, int64 k)
    x, c, y
(**
## A cost network and an I-MLE shortest-path layer

`WarcraftCostNet` is a small CNN (image → positive costs [B, K, K]). The problem is `WarcraftMaps.problem k`, a
minimisation: the layer takes costs. The estimator is I-MLE with the paper's Warcraft settings: Sum-of-Gamma noise
with κ = ⌊1.3·K⌋ and the CombOpt target (Eq. 14); the loss is the Hamming loss between the layer's path and the true
path.
*)
torch.manual_seed 0L |> ignore
let problem = WarcraftMaps.problem k
let model = new WarcraftCostNet(k, 16L)
let optimizer = torch.optim.Adam(model.parameters (), lr = 0.01)

let estimator =
    Imle
        { ImleOptions.Create(float (int (1.3 * float k)), 1.0) with
            Target = CombOpt }

let layer = Layers.create problem estimator (LayerOptions.Default.WithSeed 1L)

/// The share of test maps whose predicted path (MAP of the predicted costs) costs as much as the true one.
let optimalShare () =
    model.eval ()
    use _ = torch.no_grad ()
    use _ = torch.NewDisposeScope()
    let x, c, y = tensors test
    let z = Discrete.map problem (model.forward x)
    let cost = z.mul(c).sum([| 1L; 2L |]).data<float32>().ToArray()
    let best = y.mul(c).sum([| 1L; 2L |]).data<float32>().ToArray()
    float (Array.map2 (fun a b -> abs (a - b) <= 1e-4f * b) cost best |> Array.filter id |> Array.length) / float test.Length

let before = optimalShare ()

let epochLosses =
    [| for epoch in 1..10 do
           model.train ()
           let mutable sum = 0.0
           let batches = Training.shuffledBatches (Random epoch) train.Length 16

           for idx in batches do
               use _ = torch.NewDisposeScope()
               let x, _, y = tensors (idx |> Array.map (fun i -> train.[i]))
               optimizer.zero_grad ()
               let loss = Losses.hamming Reduction.Mean (layer.forward (model.forward x)) y
               Training.backward loss
               optimizer.step () |> ignore
               sum <- sum + loss.ToDouble()

           let mean = sum / float batches.Length
           printfn "epoch %2d  training Hamming loss (perturbed paths) %.2f" epoch mean
           mean |]

let after = optimalShare ()
printfn "optimal test paths: %.0f %% before training, %.0f %% after" (100.0 * before) (100.0 * after)
(*** include-output ***)
(*** hide ***)
Docs.expect (after > before) "training raises the share of optimal test paths"
(**
Ten epochs on 200 maps are far from the paper's protocol (10,000 maps, 50 epochs); the point here is the code. The
predicted costs of the test map above, after training:
*)
(*** hide ***)
let predicted =
    model.eval ()
    use _ = torch.no_grad ()
    let x, _, _ = tensors [| m0 |]
    model.forward(x).data<float32>().ToArray()

Docs.heatmap "Predicted cell costs of the same test map" (Array2D.init k k (fun r c -> float predicted.[r * k + c]))
(*** include-it-raw ***)
(**
## Negative perturbed costs

Noise can push a cell's cost below 0, and Dijkstra is exact only for costs ≥ 0. `WarcraftMaps.problemWith rule k`
(or `Problem.gridShortestPathWith rule rows cols Eight`; in C# the `negativeCosts` argument of
`Problems.GridShortestPath`) says what happens then:

- `ClampToZero` (the default): each negative cost becomes 0, blackbox-backprop's rule.
- `ShiftToZero`: the map's minimum is subtracted from every cell. tf-imle does this to noiseless targets. On noisy
  costs it adds the same amount to every cell, which favours paths through fewer cells. In our Warcraft runs it cost
  μ-μ about 17 points (46.2 % against 63.0 %, 600 maps × 8 epochs, three seeds each).
- `Unchanged`: Dijkstra runs as written on the negative costs, settling each cell at its first pop
  (`GridShortestPath.solveSettlingOnceInto`). tf-imle runs noisy costs through this rule. The path need not be the
  cheapest once a cost is negative: with 8 neighbours two adjacent negative cells form a negative cycle, and the
  cheapest simple path is NP-hard.

The full experiment (every column of the paper's Table 2, several seeds, reports and plots) is the examples app's
`warcraft` command: `dotnet run --project examples/Imle.Examples -c Release -- warcraft --help`.
*)
(*** hide ***)
Docs.finish [ box epochLosses; box after; box predicted ]
