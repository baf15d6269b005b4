/// The report: bench/results.json (one object per row), bench/machine.json and bench/results.md.
module Imle.Bench.Report

open System
open System.IO
open System.Text.Json
open System.Text.Json.Nodes
open Imle.Bench.Timing
open Imle.Bench.Cases

let private num (x: float option) : JsonNode =
    match x with
    | Some v when Imle.Validate.isFinite v -> JsonValue.Create v :> JsonNode
    | _ -> null

let private toJson (row: Row) : JsonNode =
    let o = JsonObject()
    o.["case"] <- JsonValue.Create row.Case
    o.["oursMs"] <- num (row.Ours |> Option.map (fun s -> s.Median))
    o.["referenceMs"] <- num (row.Reference |> Option.map (fun s -> s.Median))
    o.["floorMs"] <- num (row.Floor |> Option.map (fun s -> s.Median))
    o.["ratioToReference"] <- num (ratio row.Ours row.Reference)
    o.["ratioToFloor"] <- num (ratio row.Ours row.Floor)
    o.["oursMinMs"] <- num (row.Ours |> Option.map (fun s -> s.Min))
    o.["oursMaxMs"] <- num (row.Ours |> Option.map (fun s -> s.Max))

    o.["oursReps"] <-
        (row.Ours
         |> Option.map (fun s -> JsonValue.Create s.Reps :> JsonNode)
         |> Option.toObj)

    o.["referenceMinMs"] <- num (row.Reference |> Option.map (fun s -> s.Min))
    o.["referenceMaxMs"] <- num (row.Reference |> Option.map (fun s -> s.Max))

    o.["referenceReps"] <-
        (row.Reference
         |> Option.map (fun s -> JsonValue.Create s.Reps :> JsonNode)
         |> Option.toObj)

    o.["floorMinMs"] <- num (row.Floor |> Option.map (fun s -> s.Min))
    o.["floorMaxMs"] <- num (row.Floor |> Option.map (fun s -> s.Max))
    o.["target"] <- JsonValue.Create row.Target
    o.["targetMet"] <- (row.Met |> Option.map (fun b -> JsonValue.Create b :> JsonNode) |> Option.toObj)
    o.["notes"] <- JsonValue.Create row.Notes

    for key, value in row.Extra do
        o.[key] <- value

    o :> JsonNode

let private fmt (x: float option) =
    match x with
    | Some v when v >= 100.0 -> sprintf "%.0f" v
    | Some v when v >= 10.0 -> sprintf "%.1f" v
    | Some v -> sprintf "%.2f" v
    | None -> "–"

let cell (s: Stat option) =
    match s with
    | Some s -> sprintf "%s (%s–%s)" (fmt (Some s.Median)) (fmt (Some s.Min)) (fmt (Some s.Max))
    | None -> "–"

/// What the profile (`--profile`) showed about the misses; kept with the numbers.
let private knownBounds =
    String.concat
        "\n"
        [ "## Profile of the misses (from `Imle.Bench --profile` and paired in-process timings)"
          ""
          "- Grid paths: TensorSolve's own overhead is < 0.1 ms; float32 costs are widened and states narrowed row by row in the solver threads (no libtorch operation, so no OpenMP region whose idle threads spin on the cores the solver threads need). The time is GridShortestPath.solveInto itself (padded grid, indexed binary heap of (distance, cell) keys, per-thread buffers); the `cppMs` / `oneThreadOverCpp` fields compare it with a plain C++ binary-heap Dijkstra (bench/dijkstra.cpp, g++ -O3, 1 thread) and `secondCoreSpeedUp` gives the 2-thread gain. On a machine with other load the second core is not there to gain from."
          "- Case 3t (the tensor solver on CPU libtorch): Bellman–Ford needs as many rounds as the longest shortest-path tree branch (`rounds` field), each a handful of tensor operations over [70, K, K]; it is built for a GPU, where those operations are launches of a few µs and no host copy is needed; on the CPU the host Dijkstra is faster."
          "- Warcraft step with S = 10: the discrete part is SoG noise for [70, 10, 144] (≈ 1 M Gamma draws, bounded by libtorch's serial generator: one normal and one uniform per draw) plus 2 × 700 Dijkstras on 12×12."
          "- Busy machine (case 6): every libtorch operation above 32,768 elements is an OpenMP region ending in a barrier; with a core taken by another process one of its threads is often descheduled, and a sampler issuing hundreds of regions waits at each. Imle's SoG sampler and tensor grid solver therefore run on one intra-op thread on the CPU (IntraOp.serialOnCpu); the grid's CPU solver uses .NET threads with dynamically handed-out chunks."
          "- Timings drift by up to 2× between runs on this shared 2-core VM; the reference and the .NET side run one after the other, so ratios carry that drift." ]

let private markdown (machine: (string * string) list) (rows: Row list) (commandLine: string) =
    let sb = Text.StringBuilder()
    let line (s: string) = sb.AppendLine s |> ignore
    line "# Imle benchmark results"
    line ""

    line (
        sprintf
            "Produced by `%s` (bench/Imle.Bench; the PyTorch reference is bench/reference.py, run in the same session). Times in milliseconds: median (min–max) over the repetitions, each after a warm-up; ratios are of medians. `ours / ref` below 1 means Imle is faster (speed-up = 1 / ratio)."
            commandLine
    )

    line ""
    line "## Machine"
    line ""

    for k, v in machine do
        line (sprintf "- %s: %s" k v)

    line ""
    line "## Results"
    line ""
    line "| case | ours ms | reference ms | floor ms | ours / ref | speed-up | ours / floor | target | met |"
    line "|---|---|---|---|---|---|---|---|---|"

    for r in rows do
        let vsRef = ratio r.Ours r.Reference

        let speedUp =
            vsRef
            |> Option.map (fun x -> sprintf "%.1f×" (1.0 / x))
            |> Option.defaultValue "–"

        let met =
            match r.Met with
            | Some true -> "yes"
            | Some false -> "**no**"
            | None -> "–"

        line (
            sprintf
                "| %s | %s | %s | %s | %s | %s | %s | %s | %s |"
                r.Case
                (cell r.Ours)
                (cell r.Reference)
                (cell r.Floor)
                (fmt vsRef)
                speedUp
                (fmt (ratio r.Ours r.Floor))
                r.Target
                met
        )

    line ""
    line "## Notes per case"
    line ""

    for r in rows do
        line (sprintf "- **%s**: %s" r.Case r.Notes)

    line ""

    line
        "Floors are timed alone in the same process: noise — the same count of uniforms from libtorch; I-MLE step — our noise draw + libtorch's two top-k + scatter + the element-wise work; grid paths — our solver on 1 thread (no libtorch floor exists). Case 4 has no Python counterpart: its CNN would run on Debian's single-threaded reference BLAS, which says nothing about I-MLE."

    line ""
    line knownBounds
    sb.ToString()

/// Writes results.json (the array of rows), machine.json (the machine, apart from the rows) and results.md to `outDir`.
let write (outDir: string) (machine: (string * string) list) (rows: Row list) (commandLine: string) =
    let options =
        JsonSerializerOptions(
            WriteIndented = true,
            Encoder = Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping
        )

    let array = JsonArray(rows |> List.map toJson |> List.toArray)
    File.WriteAllText(Path.Combine(outDir, "results.json"), array.ToJsonString options)
    let json = JsonObject()

    for k, v in machine do
        json.[k] <- JsonValue.Create v

    File.WriteAllText(Path.Combine(outDir, "machine.json"), json.ToJsonString options)
    File.WriteAllText(Path.Combine(outDir, "results.md"), markdown machine rows commandLine)

    printfn
        "wrote %s, %s and %s"
        (Path.Combine(outDir, "results.json"))
        (Path.Combine(outDir, "machine.json"))
        (Path.Combine(outDir, "results.md"))
