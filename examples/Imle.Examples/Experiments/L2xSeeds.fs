/// The summary of `l2x` runs over seeds (`l2x --aggregate`): per selector and k, the mean ± sample standard deviation
/// over seeds of the approximator's test accuracy and the post-hoc accuracy, and I-MLE against every other selector,
/// a difference called only beyond two standard errors.
module Imle.Examples.Experiments.L2xSeeds

open System
open System.IO
open Imle.Examples
open Imle.Examples.Output
open Imle.Examples.Experiments.L2xReport

/// One selector at one k over the seeds.
type L2xSeedSummary =
    {
        MethodId: string
        Method: string
        K: int
        Seeds: int[]
        /// The approximator's test accuracy (%) per seed, in seed order (NaN without an approximator).
        ApproximatorAccuracy: float[]
        /// The post-hoc accuracy (%) per seed, in seed order.
        PostHocAccuracy: float[]
    }

/// The rows of an `l2x` run's results.json.
type L2xResults = { Rows: L2xRow[] }

/// Reads the runs in `dirs` (one configuration that differs only in --seed and --out, each seed once) and summarises
/// them per selector and k; returns the summaries and the common settings.
let summarise (dirs: string list) : L2xSeedSummary[] * string =
    let settings, commands = Seeds.sameSettings "l2x" [ "seed"; "out" ] dirs
    let seeds = commands |> List.map (Seeds.optionValue "seed")

    if List.length (List.distinct seeds) <> seeds.Length then
        invalidArg "aggregate" (sprintf "--aggregate: a seed appears twice (%s)." (String.Join(", ", seeds)))

    let rows =
        dirs
        |> List.collect (fun d -> (readJson<L2xResults>(Path.Combine(d, "results.json"))).Rows |> List.ofArray)

    let summaries =
        rows
        |> List.groupBy (fun r -> r.MethodId, r.K)
        |> List.map (fun ((methodId, k), rs) ->
            let rs = rs |> List.sortBy (fun r -> r.Seed) |> Array.ofList

            { MethodId = methodId
              Method = rs.[0].Method
              K = k
              Seeds = rs |> Array.map (fun r -> r.Seed)
              ApproximatorAccuracy = rs |> Array.map (fun r -> r.ApproximatorAccuracy)
              PostHocAccuracy = rs |> Array.map (fun r -> r.PostHocAccuracy) })
        |> Array.ofList

    summaries, settings

let private meanSd (values: float[]) =
    if values |> Array.exists Double.IsNaN then
        "–"
    else
        sprintf "%s ± %s" (fmt 1 (Array.average values)) (fmt 1 (Seeds.sampleSd values))

/// Writes report.md and summary.json into `ctx.OutDir`.
let writeSummary (ctx: RunContext) (dirs: string list) : L2xSeedSummary[] =
    let summaries, settings = summarise dirs
    let dir = ensureDir ctx.OutDir
    writeJson (Path.Combine(dir, "summary.json")) summaries
    let ks = summaries |> Array.map (fun s -> s.K) |> Array.distinct |> Array.sort
    let methods = summaries |> Array.map (fun s -> s.MethodId) |> Array.distinct

    let find m k =
        summaries |> Array.tryFind (fun s -> s.MethodId = m && s.K = k)

    let table (title: string) (metric: L2xSeedSummary -> float[]) =
        title
        + "\n\n"
        + markdownTable
            (Array.append [| "selector" |] (ks |> Array.map (sprintf "k = %d")))
            [| for m in methods ->
                   Array.append
                       [| (summaries |> Array.find (fun s -> s.MethodId = m)).Method |]
                       (ks
                        |> Array.map (fun k -> find m k |> Option.map (metric >> meanSd) |> Option.defaultValue "–")) |]

    let comparisons =
        [ for m in methods do
              if m <> "imle" then
                  for k in ks do
                      match find "imle" k, find m k with
                      | Some a, Some b when
                          not (Array.exists Double.IsNaN a.ApproximatorAccuracy)
                          && not (Array.exists Double.IsNaN b.ApproximatorAccuracy)
                          ->
                          let diff, se, counts =
                              Seeds.difference a.ApproximatorAccuracy b.ApproximatorAccuracy

                          yield
                              sprintf
                                  "- k = %d, I-MLE vs `%s`: %s points (standard error %s) → %s"
                                  k
                                  m
                                  (fmt 1 diff)
                                  (fmt 1 se)
                                  (if not counts then "no difference these seeds resolve"
                                   elif diff > 0.0 then "I-MLE higher"
                                   else "I-MLE **lower**")
                      | _ -> () ]

    let report =
        String.concat
            "\n"
            ([ "# Learning to explain over seeds"
               ""
               "One configuration (each run's report.md holds its configuration table against the paper's and its validation search):"
               ""
               "```"
               settings.Replace("dotnet run --project examples/Imle.Examples -c Release -- ", "")
               "```"
               ""
               "Reproduce with one run per seed (`--seed N --out DIR/seedN`), then:"
               ""
               "```"
               sprintf
                   "dotnet run --project examples/Imle.Examples -c Release -- l2x --aggregate %s --out %s"
                   (String.Join(" ", dirs))
                   ctx.OutDir
               "```"
               ""
               "Mean ± sample standard deviation over the seeds (each seed sets the classifier, the explainers, the batches, the noise and the validation search; the data are the same)."
               ""
               table "Approximator test accuracy (%), the paper's setting:" (fun s -> s.ApproximatorAccuracy)
               ""
               table "Post-hoc accuracy (%):" (fun s -> s.PostHocAccuracy)
               ""
               "## I-MLE against each selector (approximator accuracy)"
               ""
               "A difference is called only where each side has at least two seeds and the difference of the means exceeds twice its standard error (√(sd₁²/n₁ + sd₂²/n₂))."
               "" ]
             @ comparisons
             @ [ "" ])

    writeReport ctx "l2x" report
    summaries
