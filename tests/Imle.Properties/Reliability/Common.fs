/// Helpers shared by the reliability tests: tensors to arrays and bits, finiteness, `Discrete.apply DiscreteOptions.Default` for any estimator,
/// and a small I-MLE model with its training step.
module Imle.Tests.Reliability.Common

open System
open TorchSharp
open Imle
open Imle.Torch

/// `Discrete.apply` with the given solver threads and a fresh adaptive-λ state when the estimator's target is
/// adaptive (which keeps state).
let applyAnyWith
    (parallelism: int)
    (problem: Problem)
    (estimator: Estimator)
    (generator: torch.Generator)
    (w: torch.Tensor)
    =
    let adaptive =
        match estimator with
        | Imle { Target = Adaptive settings } -> Some(AdaptiveLambdaCell settings)
        | _ -> None

    Discrete.apply
        { DiscreteOptions.Default with
            Adaptive = adaptive
            Parallelism = parallelism }
        problem
        estimator
        generator
        w

/// `applyAnyWith` with one solver thread per core.
let applyAny problem estimator generator w =
    applyAnyWith TensorSolve.defaultParallelism problem estimator generator w

let f64 = torch.float64
let f32 = torch.float32

let toArray (t: torch.Tensor) =
    if t.numel () = 0L then
        [||]
    else
        use c = t.detach().``to``(torch.float64, torch.CPU).contiguous()
        c.data<float>().ToArray()

let bits (a: float[]) =
    a |> Array.map BitConverter.DoubleToInt64Bits

let allFinite (a: float[]) =
    a |> Array.forall (fun x -> not (Double.IsNaN x || Double.IsInfinity x))

/// A small model: a linear map to scores, then an I-MLE k-subset layer.
type Net(inputs: int64, m: int, k: int, seed: int64) as this =
    inherit torch.nn.Module<torch.Tensor, torch.Tensor>("Net")
    let fc = torch.nn.Linear(inputs, int64 m, dtype = torch.float64)

    let layer =
        Layers.kSubset
            m
            k
            { Lambda = 1.0
              Samples = 2
              Seed = seed }

    do this.RegisterComponents()
    member _.Layer = layer
    member _.Scores(x: torch.Tensor) = fc.forward x
    override _.forward(x) = layer.forward (fc.forward x)

let mib = Imle.Tests.Memory.mib
let workingSet = Imle.Tests.Memory.workingSet

/// One training step in its own dispose scope; returns the loss.
let trainStep (net: Net) (optimizer: torch.optim.Optimizer) (teacher: torch.Tensor) (dataGen: torch.Generator) =
    use _scope = torch.NewDisposeScope()
    let x = torch.randn ([| 8L; 12L |], dtype = f64, generator = dataGen)
    let y = TensorSolve.solve (Problem.kSubset 20 5) (x.matmul teacher)
    let z = net.forward x
    let loss = Losses.hamming Reduction.Mean z y
    optimizer.zero_grad ()
    Training.backward loss
    optimizer.step () |> ignore
    loss.ToDouble()
