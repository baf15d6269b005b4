/// `--profile`: the parts of the steps, timed one at a time, one line each (to explain a missed target).
module Imle.Bench.Profile

open System
open TorchSharp
open Imle
open Imle.Torch
open Imle.Torch
open Imle.Bench.Timing
open Imle.Bench.Cases

let private f32 = torch.ScalarType.Float32

let run () =
    let g = new torch.Generator(9UL, torch.CPU)

    let t (name: string) (reps: int) (f: unit -> unit) =
        let st = time 2 reps f
        printfn "%-44s %9.3f ms (min %.3f, max %.3f)" name st.Median st.Min st.Max

    let small = torch.randn ([| 64L; 200L |], dtype = f32, generator = g)
    let p200 = Problem.kSubset 200 8
    t "rand 128k" 30 (fun () -> torch.rand ([| 128000L |], dtype = f32, generator = g) |> ignore)
    t "randn 128k" 30 (fun () -> torch.randn ([| 128000L |], dtype = f32, generator = g) |> ignore)
    t "SoG(8) [64, 200]" 30 (fun () -> TensorNoise.sample (sog 8.0) g [| 64L; 200L |] f32 torch.CPU |> ignore)
    t "Gumbel [64, 200]" 30 (fun () -> TensorNoise.sample (Gumbel 1.0) g [| 64L; 200L |] f32 torch.CPU |> ignore)
    t "add [64, 200]" 100 (fun () -> (Safe.add small small) |> ignore)
    t "topk [64, 200]" 100 (fun () -> small.topk (8, dim = 1) |> ignore)
    t "TensorSolve k-subset [64, 200]" 100 (fun () -> TensorSolve.solve p200 small |> ignore)
    let w = small.clone().requires_grad_(true)
    let est = Imle(ImleOptions.Create(8.0, 10.0))

    t "I-MLE fwd+bwd [64, 200]" 30 (fun () ->
        let y = Discrete.apply DiscreteOptions.Default p200 est g w
        Training.backward ((y * small).sum()))

    t "I-MLE fwd+bwd [64, 200], zero noise" 30 (fun () ->
        let y =
            Discrete.apply
                DiscreteOptions.Default
                p200
                (Imle
                    { ImleOptions.Create(8.0, 10.0) with
                        Noise = Zero })
                g
                w

        Training.backward ((y * small).sum()))

    for k in [ 12; 30 ] do
        let problem = Problem.gridShortestPath k k Imle.Solvers.Eight
        let costs = warcraftCosts k 70 k
        let managed = (costs.``to``(torch.ScalarType.Float64).data<float>().ToArray())
        let state = Array.zeroCreate<float>(k * k)
        let v = k * k

        t (sprintf "grid K=%d: solveInto x70, managed" k) 51 (fun () ->
            for i in 0..69 do
                Imle.Solvers.GridShortestPath.solveInto (
                    k,
                    k,
                    Imle.Solvers.Eight,
                    ReadOnlySpan(managed, i * v, v),
                    Span state
                )
                |> ignore)

        t (sprintf "grid K=%d: SolveSpan x70, managed" k) 51 (fun () ->
            let solver = problem.SolveSpan.Value

            for i in 0..69 do
                solver.Invoke(ReadOnlySpan(managed, i * v, v), Span state))

        t (sprintf "grid K=%d: TensorSolve 1 thread" k) 51 (fun () ->
            TensorSolve.solveWithParallelism 1 problem costs |> ignore)

        t (sprintf "grid K=%d: TensorSolve 2 threads" k) 51 (fun () ->
            TensorSolve.solveWithParallelism 2 problem costs |> ignore)

        t (sprintf "grid K=%d: conversions only" k) 51 (fun () ->
            use _f = torch.isfinite(costs).all()
            _f.item<bool>() |> ignore
            let a = costs.``to``(torch.ScalarType.Float64).contiguous()
            let z = torch.zeros_like (a)
            z.``to`` (f32) |> ignore)

    let p12 = Problem.gridShortestPath 12 12 Imle.Solvers.Eight
    let c700 = warcraftCosts 7 700 12

    t "SoG(15) [70, 10, 144]" 20 (fun () ->
        TensorNoise.sample (sog 15.0) g [| 70L; 10L; 144L |] f32 torch.CPU |> ignore)

    t "TensorSolve grid [700, 12, 12]" 20 (fun () -> TensorSolve.solve p12 c700 |> ignore)
    t "rand 10.24M" 5 (fun () -> torch.rand ([| 10240000L |], dtype = f32, generator = g) |> ignore)
    t "randn 10.24M" 5 (fun () -> torch.randn ([| 10240000L |], dtype = f32, generator = g) |> ignore)
    t "SoG(32) [1024, 1000]" 5 (fun () -> TensorNoise.sample (sog 32.0) g [| 1024L; 1000L |] f32 torch.CPU |> ignore)
