// Your own MAP solver as an Imle problem, and an I-MLE layer training through it.
// The solver here picks the cheapest cell of each row of a 3×4 cost matrix (one choice per row): any function that maps
// weights to a binary state of the same size will do. Run after `dotnet fsi build.fsx pack` (examples/scripts/nuget.config
// adds artifacts/packages as a source):  dotnet fsi examples/scripts/custom-solver.fsx
#r "nuget: Imle.Torch, *-*"
#r "nuget: libtorch-cpu-linux-x64, 2.10.0"

Imle.Torch.Native.ensure () // scripts only: makes TorchSharp's native library load (patched for Debian 12 if needed)

open TorchSharp
open Imle
open Imle.Torch

let rows, cols = 3, 4

/// The user's MAP oracle: costs (row-major rows×cols) in, the indicator of each row's cheapest cell out.
let cheapestPerRow (costs: float[]) : float[] =
    let z = Array.zeroCreate (rows * cols)

    for r in 0 .. rows - 1 do
        let row = costs.[r * cols .. r * cols + cols - 1]
        z.[r * cols + Array.findIndex ((=) (Array.min row)) row] <- 1.0

    z

let problem =
    Problem.create "cheapest-per-row" [| rows; cols |] Minimise cheapestPerRow

// A model predicts costs from features; the target choices come from a hidden linear teacher.
torch.manual_seed 0L |> ignore
let features, batch = 6, 128
let teacher = torch.randn (features, int64 (rows * cols))
let x = torch.randn (batch, features)
let y = TensorSolve.solve problem (x.matmul(teacher).reshape(batch, rows, cols))

let estimator =
    Estimator.Imle(ImleOptions.Create(1.0, 10.0).WithNoise(Gumbel 1.0).WithSamples 5)

let layer = Layers.create problem estimator (LayerOptions.Default.WithSeed 42L)
let linear = torch.nn.Linear(int64 features, int64 (rows * cols))
let optimizer = torch.optim.Adam(linear.parameters (), lr = 0.05)

let losses =
    [ for step in 1..100 do
          use _ = torch.NewDisposeScope()
          optimizer.zero_grad ()
          let z = layer.forward (linear.forward(x).reshape(batch, rows, cols))
          let loss = Losses.hamming Reduction.Mean z y
          Training.backward loss
          optimizer.step () |> ignore

          if step % 20 = 0 then
              printfn "step %3d  Hamming loss %.3f" step (loss.ToDouble())

          loss.ToDouble() ]

// Sanity check for CI: the loss went down.
let first, last = List.average losses.[..9], List.average losses.[90..]
printfn "mean loss of the first 10 steps %.3f, of the last 10 %.3f" first last

if last >= 0.7 * first then
    eprintfn "unexpected: the loss did not fall"
    exit 1
