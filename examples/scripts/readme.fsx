// The README's F# snippet, verbatim below the three reference lines (run by `dotnet fsi build.fsx test`, so the README
// stays true).
#r "nuget: Imle.Torch, *-*"
#r "nuget: libtorch-cpu-linux-x64, 2.10.0"

Imle.Torch.Native.ensure () // scripts only: makes TorchSharp's native library load (patched for Debian 12 if needed)

open TorchSharp
open Imle
open Imle.Torch

// A linear scorer followed by an I-MLE k-subset layer: scores [B, 10] -> 3-hot states [B, 10].
let layer =
    Layers.kSubset
        10
        3
        { KSubsetLayerOptions.Default with
            Lambda = 10.0
            Samples = 5
            Seed = 42L } // m = 10, k = 3

let model = torch.nn.Sequential(torch.nn.Linear(8L, 10L), layer)
let optimizer = torch.optim.Adam(model.parameters (), lr = 0.05)
let x = torch.randn (128L, 8L)
let y = TensorSolve.solve (Problem.kSubset 10 3) (x.matmul (torch.randn (8L, 10L))) // target 3-subsets

for step in 1..100 do
    use _ = torch.NewDisposeScope()
    optimizer.zero_grad ()
    let loss = Losses.hamming Reduction.Mean (model.forward x) y
    Training.backward loss // loss.backward(), then surfaces errors from the discrete backward pass
    optimizer.step () |> ignore

    if step % 25 = 0 then
        printfn "step %d  loss %.3f" step (loss.ToDouble())
// Estimators and problems are values that compose:
let symmetric =
    Imle(ImleOptions.Create(5.0, 2.0).WithSamples(10).WithSymmetric true)

let paths =
    Layers.create (Problem.gridShortestPath 12 12 Solvers.Eight) (Blackbox 20.0) LayerOptions.Default
