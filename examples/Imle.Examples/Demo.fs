/// `demo`: the main job — a reduced synthetic experiment (paper Fig. 3) and a 12×12 Warcraft-style run (I-MLE against
/// blackbox differentiation), in about two minutes on two CPU cores, with no data to download.
module Imle.Examples.Demo

open System.Diagnostics
open System.IO
open Imle.Examples
open Imle.Examples.Output
open Imle.Examples.Experiments

/// Estimated seconds of the demo on this machine's cores: its two parts' own estimates.
let private seconds (ctx: RunContext) =
    Synthetic.quickSeconds () + Warcraft.quickSeconds ctx

/// The demo's estimate in words, e.g. "estimated time about 1 min 50 s (2 cores)".
let private estimate (ctx: RunContext) =
    sprintf "estimated time about %s (%d cores)" (Cli.formatDuration (seconds ctx)) System.Environment.ProcessorCount

/// Runs the demo.
let run (ctx: RunContext) : int =
    let sw = Stopwatch.StartNew()
    let dir = ensureDir ctx.OutDir
    printfn "demo: %s" (estimate ctx)

    Spectre.Console.AnsiConsole.MarkupLine
        "[bold]1/2 Synthetic experiment (paper Fig. 3): 5-subsets of 10, exact expected loss, 100 runs[/]"

    let synthetic = Synthetic.runQuick ctx

    let syntheticMd =
        table
            "Synthetic: final optimality gap (mean ± std over runs, lower is better)"
            [| "method"; "noise"; "lr"; "λ"; "steps"; "final gap" |]
            (synthetic
             |> Array.map (fun r ->
                 [| r.Method
                    r.Noise
                    fmt 4 r.LearningRate
                    fmt 1 r.Lambda
                    string r.Steps
                    sprintf "%s ± %s" (fmt 3 r.FinalGapMean) (fmt 3 r.FinalGapStd) |]))

    Spectre.Console.AnsiConsole.MarkupLine
        "[bold]2/2 Warcraft-style shortest paths (paper Table 2), K = 12: I-MLE MAP-MAP vs blackbox differentiation, as the authors ran them[/]"

    let warcraft = Warcraft.runQuick ctx

    let warcraftMd =
        table
            "Warcraft-style 12×12: share of test maps whose predicted path has optimal cost"
            [| "method"
               "target"
               "epochs"
               "train maps"
               "optimal path (ours, %)"
               "cell accuracy (%)"
               "paper (%, full protocol)" |]
            (warcraft
             |> Array.map (fun r ->
                 [| r.Method
                    r.Target
                    string r.Epochs
                    string r.TrainMaps
                    fmt 1 r.OptimalPathAccuracy
                    fmt 1 r.CellAccuracy
                    r.Paper |]))

    writeJson
        (Path.Combine(dir, "results.json"))
        {| synthetic = synthetic
           warcraft = warcraft |}

    let md =
        String.concat
            "\n"
            [ "# Imle demo"
              ""
              sprintf
                  "Command: `dotnet fsi build.fsx demo` (seed %d), %.0f s on %d cores."
                  ctx.Seed
                  sw.Elapsed.TotalSeconds
                  System.Environment.ProcessorCount
              ""
              "## Synthetic (paper Fig. 3, reduced: curves only, no λ × lr grid)"
              ""
              syntheticMd
              ""
              "![gap curves](synthetic_gap_curves.png)"
              ""
              "## Warcraft-style shortest paths, K = 12 (reduced: few epochs and maps)"
              ""
              warcraftMd
              ""
              "Details: `warcraft/report.md`. The paper's numbers come from 10,000 Warcraft II maps, 50 epochs and a ResNet18; ours from procedurally generated maps and a small CNN in a few epochs."
              "" ]

    writeReport ctx "demo" md
    0

/// The demo's plan: fixed sizes (a few minutes, well under the limits): the output folder and the time estimate.
let plan (ctx: RunContext) : Cli.Plan =
    { Folders = [ "--out", ctx.OutDir ]
      Needs = [ Cli.Time("demo", seconds ctx) ]
      Run = fun () -> run ctx }
