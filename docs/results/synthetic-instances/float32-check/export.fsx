// Writes thetas.txt: 400 θ (instance 0, from spread to near point masses on the optimum) with the float32 L that
// SyntheticFloat32.ReferenceEvaluator computes (libtorch). Run from this folder after building the examples (Release):
//   dotnet fsi export.fsx && /usr/bin/python3 compare.py   (compare.py needs NumPy and PyTorch, e.g. python3-numpy, python3-torch)
#r "../../../../examples/Imle.Examples/bin/Release/net10.0/TorchSharp.dll"
#r "../../../../examples/Imle.Examples/bin/Release/net10.0/Imle.FSharp.dll"
#r "../../../../examples/Imle.Examples/bin/Release/net10.0/Imle.Torch.dll"
#r "../../../../examples/Imle.Examples/bin/Release/net10.0/Imle.Examples.Common.dll"
#r "../../../../examples/Imle.Examples/bin/Release/net10.0/Imle.Examples.dll"
Imle.Torch.Native.ensure ()
open Imle.Examples.Experiments
let rng = Imle.Examples.NumpyRandom.LegacyRandomState(0L)
let theta0 = rng.Randn 10
let b = rng.Randn 10 |> Array.map abs
let states = Imle.Problem.states (Imle.Problem.kSubset 10 5)
let e = new SyntheticFloat32.ReferenceEvaluator(states, b, 5)
let r = System.Random(7)
let zstar = [|0.;1.;1.;0.;1.;0.;1.;0.;0.;1.|]
let lines = System.Collections.Generic.List<string>()
lines.Add(sprintf "min %d" (System.BitConverter.SingleToInt32Bits e.Minimum))
for i in 0 .. 399 do
    let scale = float (i % 20) * 2.0
    let theta = Array.init 10 (fun j -> (if zstar.[j] = 1.0 then scale else -scale) + r.NextDouble() * 2.0 - 1.0)
    let v = e.ExpectedLoss theta
    lines.Add(System.String.Join(" ", theta |> Array.map (fun t -> (float32 t).ToString("R"))) + " " + string (System.BitConverter.SingleToInt32Bits v))
System.IO.File.WriteAllLines("thetas.txt", lines)
printfn "b=%A min=%.9g" b e.Minimum
