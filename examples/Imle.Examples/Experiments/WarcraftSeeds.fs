/// The summary of `warcraft` runs made one (method, seed) per process (`warcraft --aggregate`): Table 2's accuracy as
/// mean ± sd over the seeds that have finished, whether each run's learning curve has flattened, the curves themselves,
/// the measured cost per epoch and what the rest of the protocol would cost at that rate.
module Imle.Examples.Experiments.WarcraftSeeds

open System
open System.IO
open Imle.Examples
open Imle.Examples.Output
open Imle.Examples.Experiments.WarcraftReport

/// One run's per-epoch numbers as `curves.json` holds them.
type WarcraftCurve =
    { K: int
      Method: string
      Seed: int
      TestOptimalPathAccuracy: float[]
      TrainingLoss: float[] }

/// How far a learning curve still moves: the least-squares trend of the test accuracy over the last fifth of the
/// epochs (slope × span, in points), and whether it is under the flatness bar.
type Convergence =
    {
        /// Epochs in the last fifth (at least 2).
        Window: int
        /// The fitted change over the window, in accuracy points.
        Trend: float
        /// Mean accuracy over the window.
        WindowMean: float
        /// |Trend| below `flatBar`.
        Flat: bool
    }

/// A curve counts as flat when its fitted change over the last fifth of the epochs is under half a point.
let flatBar = 0.5

/// The trend of `values` over their last fifth (at least two points): slope of the least-squares line × (n − 1).
let convergence (values: float[]) : Convergence =
    if values.Length < 2 then
        invalidArg "values" (sprintf "A learning curve needs at least 2 epochs to judge; got %d." values.Length)

    let window = max 2 (int (Math.Round(float values.Length / 5.0)))
    let tail = values.[values.Length - window ..]
    let xs = Array.init window float
    let mx = Array.average xs
    let my = Array.average tail

    let slope =
        Array.fold2 (fun acc x y -> acc + (x - mx) * (y - my)) 0.0 xs tail
        / (xs |> Array.sumBy (fun x -> (x - mx) ** 2.0))

    let trend = slope * float (window - 1)

    { Window = window
      Trend = trend
      WindowMean = my
      Flat = abs trend < flatBar }

/// One finished run: its row, its curve, its convergence and the negative-cost rule it ran under.
type FinishedRun =
    { Row: WarcraftRow
      Curve: WarcraftCurve
      Convergence: Convergence
      NegativeCosts: string }

/// What the summary groups seeds by: K, the method and the negative-cost rule.
let private column (r: FinishedRun) =
    r.Row.K, r.Row.MethodId, r.NegativeCosts

/// Reads the finished runs in `dirs` (one configuration that differs only in methods, seeds, the negative-cost rule and
/// output folder); each (K, method, rule, seed) once. Returns the runs and the common settings.
let finishedRuns (dirs: string list) : FinishedRun list * string =
    let settings, commands =
        Seeds.sameSettings
            "warcraft"
            [ "seeds"
              "methods"
              "out"
              "resume"
              "time-budget"
              "cache"
              "threads"
              "negative-costs" ]
            dirs

    let runs =
        List.zip dirs commands
        |> List.collect (fun (d, command) ->
            let rule =
                match Seeds.optionValue "negative-costs" command with
                | "" -> "shift"
                | given -> given

            let results = Path.Combine(d, "results.json")
            let curves = Path.Combine(d, "curves.json")

            if not (File.Exists results && File.Exists curves) then
                invalidArg
                    "aggregate"
                    (sprintf "--aggregate: %s has no results.json and curves.json (a run that has not finished)." d)

            let rows = readJson<WarcraftRow[]> results
            let curves = readJson<WarcraftCurve[]> curves

            rows
            |> List.ofArray
            |> List.map (fun row ->
                match
                    curves
                    |> Array.tryFind (fun c -> c.K = row.K && c.Method = row.Method && c.Seed = row.Seed)
                with
                | Some curve ->
                    { Row = row
                      Curve = curve
                      Convergence = convergence curve.TestOptimalPathAccuracy
                      NegativeCosts = rule }
                | None ->
                    invalidArg
                        "aggregate"
                        (sprintf "--aggregate: %s has no curve for %s, K = %d, seed %d." d row.MethodId row.K row.Seed)))

    runs
    |> List.countBy (fun r -> column r, r.Row.Seed)
    |> List.tryFind (fun (_, n) -> n > 1)
    |> Option.iter (fun (((k, id, rule), seed), _) ->
        invalidArg
            "aggregate"
            (sprintf "--aggregate: %s (%s) at K = %d with seed %d appears in two run folders." id rule k seed))

    runs, settings

/// The accuracy table: per K and method, each seed's final accuracy, mean ± sd, the paper's number, convergence.
let private accuracyTable (runs: FinishedRun list) =
    markdownTable
        [| "K"
           "method"
           "seeds"
           "per seed (final epoch)"
           "mean ± sd"
           "paper (5 runs)"
           "flat runs"
           "epochs" |]
        [| for (k, id, rule), group in runs |> List.groupBy column do
               let group = group |> List.sortBy (fun r -> r.Row.Seed)
               let acc = group |> List.map (fun r -> r.Row.OptimalPathAccuracy) |> Array.ofList

               yield
                   [| string k
                      sprintf "%s (`%s`, `--negative-costs %s`)" group.Head.Row.Method id rule
                      String.Join(", ", group |> List.map (fun r -> r.Row.Seed))
                      String.Join(" / ", acc |> Array.map (fmt 1))
                      Seeds.meanCell 1 acc.Length (Array.average acc) (Seeds.sampleSd acc)
                      group.Head.Row.Paper
                      sprintf
                          "%d of %d"
                          (group |> List.filter (fun r -> r.Convergence.Flat) |> List.length)
                          group.Length
                      string group.Head.Row.Epochs |] |]

/// The convergence table: per run, the window, its mean and its fitted trend.
let private convergenceTable (runs: FinishedRun list) =
    markdownTable
        [| "K"
           "method"
           "seed"
           "last-fifth window (epochs)"
           "window mean %"
           "fitted change (points)"
           "flat?" |]
        [| for r in runs ->
               [| string r.Row.K
                  sprintf "%s (%s)" r.Row.MethodId r.NegativeCosts
                  string r.Row.Seed
                  string r.Convergence.Window
                  fmt 1 r.Convergence.WindowMean
                  sprintf "%+.2f" r.Convergence.Trend
                  (if r.Convergence.Flat then "yes" else "**no**") |] |]

/// Cost per epoch per (K, method), from the runs' recorded seconds, and the derived cost of `seedsWanted` seeds of
/// every method present.
let private costLines (runs: FinishedRun list) (seedsWanted: int) =
    [ for (k, id, rule), group in runs |> List.groupBy column do
          let perEpoch =
              group
              |> List.map (fun r -> r.Row.Seconds / float r.Row.Epochs)
              |> Array.ofList
              |> Array.average

          let epochs = group.Head.Row.Epochs
          let missing = max 0 (seedsWanted - group.Length)

          yield
              sprintf
                  "- K = %d, `%s` (%s): %s s per epoch (mean of %d run%s) → %s h per %d-epoch run; %d more seed%s to reach %d: %s CPU-hours."
                  k
                  id
                  rule
                  (fmt 0 perEpoch)
                  group.Length
                  (if group.Length = 1 then "" else "s")
                  (fmt 1 (perEpoch * float epochs / 3600.0))
                  epochs
                  missing
                  (if missing = 1 then "" else "s")
                  seedsWanted
                  (fmt 1 (perEpoch * float epochs * float missing / 3600.0)) ]

/// Writes report.md, summary.json and the mean learning curves (test-accuracy-mean-K<k>.png) into `ctx.OutDir`.
let writeSummary (ctx: RunContext) (dirs: string list) : FinishedRun list =
    let runs, settings = finishedRuns dirs
    let dir = ensureDir ctx.OutDir

    writeJson
        (Path.Combine(dir, "summary.json"))
        (runs
         |> List.map (fun r ->
             {| k = r.Row.K
                methodId = r.Row.MethodId
                negativeCosts = r.NegativeCosts
                seed = r.Row.Seed
                optimalPathAccuracy = r.Row.OptimalPathAccuracy
                seconds = r.Row.Seconds
                convergence = r.Convergence |})
         |> Array.ofList)

    for k, group in runs |> List.groupBy (fun r -> r.Row.K) do
        linePlot
            (Path.Combine(dir, sprintf "test-accuracy-mean-K%d.png" k))
            (sprintf "Test optimal-path accuracy, K = %d (mean ± sd over the seeds)" k)
            "epoch"
            "optimal path %"
            [ for (_, id, rule), perMethod in group |> List.groupBy column do
                  let epochs =
                      perMethod
                      |> List.map (fun r -> r.Curve.TestOptimalPathAccuracy.Length)
                      |> List.min

                  let at e =
                      perMethod
                      |> List.map (fun r -> r.Curve.TestOptimalPathAccuracy.[e])
                      |> Array.ofList

                  yield
                      { Label =
                          sprintf
                              "%s, %s (%d seed%s)"
                              id
                              rule
                              perMethod.Length
                              (if perMethod.Length = 1 then "" else "s")
                        X = Array.init epochs (fun e -> float (e + 1))
                        Y = Array.init epochs (at >> Array.average)
                        Band = Some(Array.init epochs (at >> Seeds.sampleSd)) } ]

    let report =
        String.concat
            "\n"
            ([ "# Warcraft-style shortest path over seeds (paper Table 2)"
               ""
               "One configuration, up to the negative-cost rule, which the tables give per row (each run's report.md holds its configuration table against the paper's):"
               ""
               "```"
               settings.Replace("dotnet run --project examples/Imle.Examples -c Release -- ", "")
               "```"
               ""
               "Each (method, seed) ran as its own resumable process (`--methods M --seeds N --out DIR`, continued with `--resume DIR`); then:"
               ""
               "```"
               sprintf
                   "dotnet run --project examples/Imle.Examples -c Release -- warcraft --aggregate %s --out %s"
                   (String.Join(" ", dirs))
                   ctx.OutDir
               "```"
               ""
               "Optimal-path accuracy on the test maps after the last epoch, mean ± sample standard deviation over the finished seeds (the paper: mean ± sd over 5 runs)."
               ""
               accuracyTable runs
               ""
               "## Have the learning curves flattened?"
               ""
               sprintf
                   "A run counts as flat when the least-squares line through its test accuracy over the last fifth of the epochs changes by less than %g points over that window. Curves: `test-accuracy-mean-K<k>.png` (mean ± sd over seeds)."
                   flatBar
               ""
               convergenceTable runs
               ""
               "## Cost"
               ""
               "Measured from each run's recorded training and evaluation seconds (wall clock, under whatever else its machine ran; the thread count is in the command line), and what three seeds of each method present would cost at that rate:"
               "" ]
             @ costLines runs 3
             @ [ "" ])

    writeReport ctx "warcraft" report
    runs
