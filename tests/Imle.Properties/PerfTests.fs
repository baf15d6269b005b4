/// Guards of the performance work (issue 15): the rewritten grid Dijkstra gives the same states as before, bit for
/// bit; TensorSolve's float32 path gives the same states as its float64 path; the tensor (device-side) grid solver
/// finds paths of Dijkstra's optimal cost. Fixed seeds; exact comparisons (float32 costs: relative 1e-5).
module Imle.Tests.PerfTests

open System
open Expecto
open TorchSharp
open Imle
open Imle.Solvers
open Imle.Torch

let private f32 = torch.ScalarType.Float32
let private f64 = torch.ScalarType.Float64

/// Random costs for one map: from a small set with zeros (many ties), or continuous; `negative` adds values below 0.
let private randomCosts (rng: Random) (v: int) (negative: bool) =
    let discrete = rng.Next 2 = 0
    let levels = [| 0.0; 0.8; 1.2; 5.3; 9.2 |]

    Array.init v (fun _ ->
        let x =
            if discrete then
                levels.[rng.Next levels.Length]
            else
                rng.NextDouble() * 10.0

        if negative && rng.Next 4 = 0 then -x else x)

let private sizes = [ 1, 1; 1, 6; 6, 1; 2, 2; 3, 7; 7, 3; 12, 12; 13, 17; 30, 30 ]

let private dijkstraTests =
    testCase "grid Dijkstra: the same states and costs as the previous implementation, bit for bit (1,800 maps)"
    <| fun () ->
        let rng = Random 15

        for rows, cols in sizes do
            for neighbourhood in [ Four; Eight ] do
                for _ in 1..100 do
                    let costs = randomCosts rng (rows * cols) false
                    let a = Array.zeroCreate (rows * cols)
                    let b = Array.zeroCreate (rows * cols)

                    let ca =
                        GridShortestPath.solveInto (rows, cols, neighbourhood, ReadOnlySpan costs, Span a)

                    let cb =
                        OldDijkstra.solveInto (rows, cols, neighbourhood, ReadOnlySpan costs, Span b)

                    Expect.equal ca cb (sprintf "cost %dx%d %A" rows cols neighbourhood)
                    Expect.equal a b (sprintf "state %dx%d %A" rows cols neighbourhood)

let private float32PathTests =
    testCase "TensorSolve: float32 grid costs give the same states as the same costs in float64"
    <| fun () ->
        let rng = Random 16

        for rows, cols in [ 12, 12; 5, 9; 30, 30 ] do
            for negative in [ false; true ] do
                let problem = Problem.gridShortestPath rows cols Eight

                let data =
                    Array.init 37 (fun _ -> randomCosts rng (rows * cols) negative) |> Array.concat

                use c32 =
                    torch.tensor(Array.map float32 data, dtype = f32).view(37L, int64 rows, int64 cols)

                use c64 = c32.``to`` f64
                use z32 = TensorSolve.solve problem c32
                use z64 = TensorSolve.solve problem c64
                Expect.equal z32.dtype f32 "dtype kept"
                use back = z32.``to`` f64
                use same = back.eq z64
                use all = same.all ()
                Expect.isTrue (all.item<bool>()) (sprintf "%dx%d negative=%b" rows cols negative)

/// Cost of a state under costs, in float64.
let private costOf (costs: float[]) (state: float[]) =
    Array.fold2 (fun acc c z -> acc + c * z) 0.0 costs state

let private tensorSolverTests =
    testCase
        "TensorGridPath: paths of Dijkstra's optimal cost on random maps (4 and 8 neighbours, both negative-cost policies, float64 and float32)"
    <| fun () ->
        let rng = Random 17
        let n = 24

        for rows, cols in sizes do
            for neighbourhood in [ Four; Eight ] do
                for policy in [ ClampToZero; ShiftToZero ] do
                    for dtype in [ f64; f32 ] do
                        let maps = Array.init n (fun _ -> randomCosts rng (rows * cols) true)

                        let maps =
                            if dtype = f32 then
                                maps |> Array.map (Array.map (fun x -> float (float32 x)))
                            else
                                maps

                        let problem = Problem.gridShortestPathTensorWith policy rows cols neighbourhood
                        let host = Problem.gridShortestPathWith policy rows cols neighbourhood

                        use costs =
                            torch.tensor(Array.concat maps, dtype = dtype).view(int64 n, int64 rows, int64 cols)

                        use states = TensorSolve.solve problem costs
                        Expect.equal states.dtype dtype "dtype kept"
                        Expect.equal states.shape costs.shape "shape kept"
                        use flat = states.``to``(f64).contiguous()
                        let z = flat.data<double>().ToArray()

                        for i in 0 .. n - 1 do
                            let w = maps.[i]

                            let adjusted =
                                let lowest = min 0.0 (Array.min w)

                                match policy with
                                | ClampToZero -> w |> Array.map (max 0.0)
                                | ShiftToZero -> w |> Array.map (fun x -> x - lowest)
                                | Unchanged -> failtest "the tensor solver does not take Unchanged"

                            let state = Array.sub z (i * rows * cols) (rows * cols)
                            let what = sprintf "map %d, %dx%d %A %A %A" i rows cols neighbourhood policy dtype
                            Expect.isTrue (GridShortestPath.isPath rows cols neighbourhood state) (what + ": a path")
                            let best = costOf adjusted (Problem.solve host w)
                            let ours = costOf adjusted state
                            let tolerance = (if dtype = f32 then 1e-5 else 1e-12) * (1.0 + abs best)
                            Expect.isLessThanOrEqual (abs (ours - best)) tolerance (what + ": optimal cost")

let private tensorSolverChecks =
    testCase "TensorGridPath.solve: rejects a null, non-3-dim, integer or non-finite costs tensor with a clear message"
    <| fun () ->
        Expect.throwsT<ArgumentNullException> (fun () -> TensorGridPath.solve ClampToZero Eight null |> ignore) "null"
        use flat = torch.zeros ([| 4L |], dtype = f32)

        Expect.throwsT<ArgumentException> (fun () -> TensorGridPath.solve ClampToZero Eight flat |> ignore) "1 dim"

        use ints = torch.zeros ([| 1L; 2L; 2L |], dtype = torch.ScalarType.Int64)

        Expect.throwsT<ArgumentException> (fun () -> TensorGridPath.solve ClampToZero Eight ints |> ignore) "int"

        use bad = torch.tensor ([| 1.0; nan; 1.0; 1.0 |], dtype = f64)
        use bad = bad.view (1L, 2L, 2L)
        Expect.throwsT<ArgumentException> (fun () -> TensorGridPath.solve ClampToZero Eight bad |> ignore) "NaN"

let private intraOpTests =
    testCase "SoG noise and the tensor grid solver leave libtorch's intra-op thread count as they found it"
    <| fun () ->
        let before = torch.get_num_threads ()

        try
            torch.set_num_threads 2
            use g = new torch.Generator(7UL, torch.CPU)

            use eps =
                TensorNoise.sample (SumOfGamma(5.0, 1.0, 10)) g [| 100L; 100L |] f32 torch.CPU

            Expect.equal (torch.get_num_threads ()) 2 "after SoG noise"
            use costs = torch.rand ([| 3L; 5L; 5L |], generator = g)
            use z = TensorGridPath.solve ClampToZero Eight costs
            Expect.equal (torch.get_num_threads ()) 2 "after the tensor grid solver"
        finally
            torch.set_num_threads before

[<Tests>]
let tests =
    testList
        "perf"
        [ dijkstraTests
          float32PathTests
          tensorSolverTests
          tensorSolverChecks
          intraOpTests ]
