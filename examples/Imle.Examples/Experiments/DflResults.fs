/// The results of `dfl` runs: one row per method and degree, PyEPO's published numbers, and the summary over seeds
/// (`dfl --aggregate`): mean ± sample standard deviation of the normalised regret over runs that differ only in their
/// seed, beside PyEPO's 10-run means.
module Imle.Examples.Experiments.DflResults

open System
open System.IO
open Imle.Examples
open Imle.Examples.Output

/// One result: a method at one polynomial degree.
type DflRow =
    {
        /// The method's id.
        Method: string
        /// The polynomial degree of the data.
        Deg: int
        /// Normalised regret on the test set: Σ (cᵀw*(ĉ) − z*(c)) / Σ |z*(c)|.
        NormalizedRegret: float
        /// Training and evaluation time in seconds.
        Seconds: float
    }

/// PyEPO's own results, normalised test regret averaged over their 10 runs (fractions), read from the CSV files of
/// their `res/` folder (github.com/khalil-research/PyEPO, since deleted from the default branch; the commits are named
/// per entry): (problem, our method id, deg) → value, PyEPO's setting.
let pyepoPublished: ((string * string * int) * float * string) list =
    let sp = "res/sp/h5w5/gurobi/n1000p5-d{deg}-e0.5_"
    let ks = "res/ks/i32d1c20/gurobi/n1000p5-d{deg}-e0.5_"

    [ for deg, v in [ 1, 0.1544; 2, 0.1059; 4, 0.0882; 6, 0.1264 ] ->
          ("sp", "2s", deg), v, sp + "2s-lr.csv (scikit-learn linear regression; commit 5745f1d)"
      for deg, v in [ 1, 0.1626; 2, 0.1123; 4, 0.0835; 6, 0.0870 ] ->
          ("sp", "spo+", deg),
          v,
          sp
          + "spo_lr_adam0.01_bs32_l10.0l20.0_c8.csv (Adam 0.01, 20 epochs; commit 2a93dc0)"
      for deg, v in [ 1, 0.1778; 2, 0.1351; 4, 0.1142; 6, 0.1378 ] ->
          ("sp", "dbb", deg),
          v,
          sp
          + "dbb_lr_adam0.1_bs32_l10.0l20.0_c8-lamb20.csv (Adam 0.1, λ = 20, 20 epochs; commit 2a93dc0)"
      for deg, v in [ 1, 0.2230; 2, 0.2139; 4, 0.2244; 6, 0.3174 ] ->
          ("sp", "dpo", deg),
          v,
          sp
          + "dpo_lr_adam0.01_bs32_l10.0l20.0_c8-samp1eps1.0.csv (Adam 0.01, S = 1, σ = 1, 20 epochs; commit 4f4d81d)"
      for deg, v in [ 1, 0.1633; 2, 0.1100; 4, 0.0766; 6, 0.0788 ] ->
          ("sp", "pfyl", deg),
          v,
          sp
          + "pfyl_lr_adam0.01_bs32_l10.0l20.0_c8-samp1eps1.0.csv (Adam 0.01, S = 1, σ = 1, 20 epochs; commit 4f4d81d)"
      for deg, v in [ 1, 0.1305; 2, 0.0982; 4, 0.0903; 6, 0.1183 ] ->
          ("knapsack", "2s", deg), v, ks + "2s-lr.csv (scikit-learn linear regression; commit 186fe74)"
      for deg, v in [ 1, 0.1375; 2, 0.1030; 4, 0.0790; 6, 0.0698 ] ->
          ("knapsack", "spo+", deg),
          v,
          ks
          + "spo_lr_adam0.01_bs32_l10.0l20.0_c32.csv (Adam 0.01, 300 epochs; commit 5492db2)"
      for deg, v in [ 1, 0.1423; 2, 0.1137; 4, 0.1203; 6, 0.1324 ] ->
          ("knapsack", "dbb", deg),
          v,
          ks
          + "bb_lr_adam0.05_bs32_l10.0l20.0_c32-lamb10.csv (Adam 0.05, λ = 10, 300 epochs; commit 5492db2)" ]
    |> List.map (fun ((p, m, d), v, file) -> (p, m, d), v, file.Replace("{deg}", string d))


/// One method at one degree over the seeds.
type DflSeedSummary =
    {
        Method: string
        Deg: int
        /// The runs (seeds) the row averages.
        Runs: int
        /// Mean normalised regret (a fraction).
        Mean: float
        /// Sample standard deviation over the runs (0 for one run).
        Sd: float
        /// PyEPO's published 10-run mean at this setting, NaN where it publishes none.
        Pyepo: float
    }

/// Reads the runs in `dirs` (each one seed of the same command), checks that they differ only in --seed and --out,
/// and returns the per-(method, degree) summaries, the common command and the seeds.
let summarise (dirs: string list) : DflSeedSummary[] * string * string list =
    let command, commands = Seeds.sameSettings "dfl" [ "seed"; "out" ] dirs
    let seeds = commands |> List.map (Seeds.optionValue "seed")

    if List.length (List.distinct seeds) <> seeds.Length then
        invalidArg "aggregate" (sprintf "--aggregate: a seed appears twice (%s)." (String.Join(", ", seeds)))

    let problem =
        if command.Contains "--problem knapsack" then
            "knapsack"
        else
            "sp"

    let rows =
        dirs
        |> List.collect (fun d -> readJson<DflRow[]>(Path.Combine(d, "results.json")) |> List.ofArray)

    let summaries =
        rows
        |> List.groupBy (fun r -> r.Method, r.Deg)
        |> List.map (fun ((methodId, deg), rs) ->
            let values = rs |> List.map (fun r -> r.NormalizedRegret) |> Array.ofList
            let mean = Array.average values
            let sd = Seeds.sampleSd values

            { Method = methodId
              Deg = deg
              Runs = values.Length
              Mean = mean
              Sd = sd
              Pyepo =
                pyepoPublished
                |> List.tryFind (fun ((p, m, dd), _, _) -> p = problem && m = methodId && dd = deg)
                |> Option.map (fun (_, v, _) -> v)
                |> Option.defaultValue nan })
        |> Array.ofList

    summaries, command, seeds

/// Writes report.md and summary.json into `ctx.OutDir`: per method and degree, mean ± sd over the seeds in percent,
/// PyEPO's published mean beside it, and whether PyEPO's mean lies within two standard errors of ours.
let writeSummary (ctx: RunContext) (dirs: string list) : DflSeedSummary[] =
    let summaries, command, seeds = summarise dirs
    let dir = ensureDir ctx.OutDir
    writeJson (Path.Combine(dir, "summary.json")) summaries

    let degrees =
        summaries |> Array.map (fun s -> s.Deg) |> Array.distinct |> Array.sort

    let methods = summaries |> Array.map (fun s -> s.Method) |> Array.distinct
    let pct (v: float) = fmt 2 (100.0 * v)

    let cell (s: DflSeedSummary) =
        let ours = sprintf "%s ± %s" (pct s.Mean) (pct s.Sd)

        if Double.IsNaN s.Pyepo then
            ours
        else
            let se = s.Sd / sqrt (float s.Runs)
            let within = s.Runs < 2 || abs (s.Mean - s.Pyepo) <= 2.0 * se
            sprintf "%s (PyEPO %s%s)" ours (pct s.Pyepo) (if within then "" else " *")

    let table =
        markdownTable
            (Array.append [| "method" |] (degrees |> Array.map (sprintf "deg %d")))
            [| for m in methods ->
                   Array.append
                       [| m |]
                       (degrees
                        |> Array.map (fun d ->
                            summaries
                            |> Array.tryFind (fun s -> s.Method = m && s.Deg = d)
                            |> Option.map cell
                            |> Option.defaultValue "–")) |]

    let report =
        String.concat
            "\n"
            [ "# Decision-focused learning over seeds"
              ""
              sprintf
                  "%d run%s (seeds %s) of one configuration:"
                  seeds.Length
                  (if seeds.Length = 1 then "" else "s")
                  (String.Join(", ", seeds))
              ""
              "```"
              command.Replace("dotnet run --project examples/Imle.Examples -c Release -- ", "")
              "```"
              ""
              "Reproduce with one such run per seed (`--seed N --out DIR/seedN`), then:"
              ""
              "```"
              sprintf
                  "dotnet run --project examples/Imle.Examples -c Release -- dfl --aggregate %s --out %s"
                  (String.Join(" ", dirs))
                  ctx.OutDir
              "```"
              ""
              "Normalised test regret in percent, mean ± sample standard deviation over the seeds; PyEPO's published mean of its 10 runs in brackets where it publishes one (the configuration table of each run's report.md says what differs). \\* marks a PyEPO mean more than two standard errors (sd/√runs) from ours: a difference this set of seeds resolves, not a verdict on either implementation (no mark with a single run)."
              ""
              table
              ""
              "Each seed draws its own data (the generator takes the seed), initialisation and noise, so the spread is over data sets as well as training runs, as PyEPO's 10 runs are."
              "" ]

    writeReport ctx "dfl" report
    summaries
