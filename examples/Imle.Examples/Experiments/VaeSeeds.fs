/// The summary of `vae` runs over seeds (`vae --aggregate`): per method, the mean test loss of the last ten epochs of
/// each run, then the mean ± sample standard deviation of that over the seeds, and the comparisons the paper's claims
/// rest on, each called a difference only where it exceeds twice its standard error.
module Imle.Examples.Experiments.VaeSeeds

open System
open System.IO
open Imle.Examples
open Imle.Examples.Output
open Imle.Examples.Experiments.VaeReport

/// One method over the seeds.
type VaeSeedSummary =
    {
        /// The method's command-line id.
        MethodId: string
        /// The method as the report names it.
        Method: string
        /// The forward noise's standard deviation.
        NoiseStd: float
        /// The seeds it ran with.
        Seeds: int[]
        /// Each seed's mean test loss over its last ten epochs (or all epochs when fewer), in seed order.
        LastTen: float[]
        /// Mean over the seeds.
        Mean: float
        /// Sample standard deviation over the seeds (0 with one seed).
        Sd: float
        /// Epochs per run.
        Epochs: int
    }

/// Reads the runs in `dirs` (one configuration; any methods and seeds, each (method, seed) once) and summarises them
/// per method, in the order of first appearance; returns the summaries and the common settings.
let summarise (dirs: string list) : VaeSeedSummary[] * string =
    let settings, _ = Seeds.sameSettings "vae" [ "seed"; "out"; "methods" ] dirs

    let rows =
        dirs
        |> List.collect (fun d -> readJson<VaeRow[]>(Path.Combine(d, "results.json")) |> List.ofArray)

    let runs = rows |> List.groupBy (fun r -> r.MethodId, r.Seed)

    let summaries =
        runs
        |> List.groupBy (fun ((methodId, _), _) -> methodId)
        |> List.map (fun (methodId, perSeed) ->
            let perSeed = perSeed |> List.sortBy (fun ((_, seed), _) -> seed)

            let lastTen =
                perSeed
                |> List.map (fun (_, rs) ->
                    let byEpoch = rs |> List.sortBy (fun r -> r.Epoch) |> Array.ofList

                    if
                        byEpoch |> Array.map (fun r -> r.Epoch) |> Array.distinct |> Array.length
                        <> byEpoch.Length
                    then
                        invalidArg
                            "aggregate"
                            (sprintf "--aggregate: %s with seed %d appears in two run folders." methodId rs.Head.Seed)

                    byEpoch
                    |> Array.skip (max 0 (byEpoch.Length - 10))
                    |> Array.averageBy (fun r -> r.TestLoss))
                |> Array.ofList

            let first = (snd perSeed.Head).Head

            { MethodId = methodId
              Method = first.Method
              NoiseStd = first.NoiseStd
              Seeds = perSeed |> List.map (fun ((_, s), _) -> s) |> Array.ofList
              LastTen = lastTen
              Mean = Array.average lastTen
              Sd = Seeds.sampleSd lastTen
              Epochs = perSeed |> List.map (fun (_, rs) -> rs.Length) |> List.max })
        |> Array.ofList

    summaries, settings

/// The comparisons the report draws when both methods are present: (first, second, what the comparison asks).
let private comparisons =
    [ "imle-sog-tf", "imle-gumbel1", "the paper's comparison: SoG as the notebook draws it against Gumbel(0, 1)"
      "imle-sog-tf",
      "imle-gumbel-matched",
      "shape at equal scale: the notebook's SoG against Gumbel with the same standard deviation"
      "imle-sog-eq13-matched", "imle-gumbel-matched", "shape at equal scale: Eq. 13 SoG against Gumbel at the same sd"
      "imle-gumbel-matched", "imle-gumbel1", "scale alone: Gumbel at sd 0.62 against Gumbel(0, 1)"
      "imle-sog-tf", "imle-sog-eq13-matched", "the two SoG forms at the same sd"
      "imle-sog-eq13-tau10", "imle-gumbel1", "Eq. 13 SoG at τ = 10 as printed against Gumbel(0, 1)"
      "simple",
      "imle-sog-tf",
      "an exact sample with the marginals' Jacobian (SIMPLE) against I-MLE with the notebook's SoG (the lowest I-MLE loss here)"
      "sfess",
      "imle-sog-tf",
      "the exact sample's score with a baseline (SFESS) against I-MLE with the notebook's SoG (the lowest I-MLE loss here)"
      "simple", "sfess", "the two exact-sample estimators"
      "simple", "imle-gumbel1", "SIMPLE against I-MLE with Gumbel(0, 1), the paper's standard noise"
      "imle-sog-eq13-tau10", "ste", "the paper's I-MLE against straight-through with the same Eq. 13 SoG noise (τ = 10)"
      "imle-sog-tf", "ste", "I-MLE with the notebook's SoG against straight-through"
      "imle-sog-tf", "gsm", "I-MLE with the notebook's SoG against the 1-subset Gumbel-softmax VAE" ]

/// One comparison's sentence: the difference of the means, its standard error from the two spreads, and a verdict
/// only where at least two seeds each and |difference| > 2 standard errors.
let compare (a: VaeSeedSummary) (b: VaeSeedSummary) : string =
    let diff, se, counts = Seeds.difference a.LastTen b.LastTen

    let verdict =
        if a.LastTen.Length < 2 || b.LastTen.Length < 2 then
            "one seed on a side: no verdict"
        elif counts then
            if diff < 0.0 then
                "the first lower (more than two standard errors)"
            else
                "the first **higher** (more than two standard errors)"
        else
            "no difference these seeds resolve"

    sprintf
        "%s vs %s: %s vs %s (difference %s, standard error %s) → %s"
        a.MethodId
        b.MethodId
        (fmt 2 a.Mean)
        (fmt 2 b.Mean)
        (fmt 2 diff)
        (fmt 2 se)
        verdict

/// Writes report.md and summary.json into `ctx.OutDir`.
let writeSummary (ctx: RunContext) (dirs: string list) : VaeSeedSummary[] =
    let summaries, settings = summarise dirs
    let dir = ensureDir ctx.OutDir
    writeJson (Path.Combine(dir, "summary.json")) summaries

    let table =
        markdownTable
            [| "method"; "noise sd"; "seeds"; "epochs"; "per seed"; "mean ± sd" |]
            [| for s in summaries ->
                   [| sprintf "%s (`%s`)" s.Method s.MethodId
                      VaeReport.noiseSdText 2 s.NoiseStd
                      String.Join(", ", s.Seeds)
                      string s.Epochs
                      String.Join(" / ", s.LastTen |> Array.map (fmt 2))
                      Seeds.meanCell 2 s.Seeds.Length s.Mean s.Sd |] |]

    let find id =
        summaries |> Array.tryFind (fun s -> s.MethodId = id)

    let lines =
        comparisons
        |> List.choose (fun (a, b, what) ->
            match find a, find b with
            | Some x, Some y ->
                Some(sprintf "- %s. %s" (what.Substring(0, 1).ToUpperInvariant() + what.Substring 1) (compare x y))
            | _ -> None)

    let report =
        String.concat
            "\n"
            ([ "# Discrete VAE over seeds"
               ""
               "One configuration (each run's report.md holds its configuration table against the paper's):"
               ""
               "```"
               settings.Replace("dotnet run --project examples/Imle.Examples -c Release -- ", "")
               "```"
               ""
               "Reproduce with one run per seed and method (`--seed N --methods M --out DIR`), then:"
               ""
               "```"
               sprintf
                   "dotnet run --project examples/Imle.Examples -c Release -- vae --aggregate %s --out %s"
                   (String.Join(" ", dirs))
                   ctx.OutDir
               "```"
               ""
               "Test loss (BCE + KL, lower is better) per run as the mean of its last ten epochs, then mean ± sample standard deviation over the seeds. Each seed sets the initialisation, the batches and the noise; the data split is fixed."
               ""
               table
               ""
               "## Comparisons"
               ""
               "A difference is called only where each side has at least two seeds and the difference of the means exceeds twice its standard error (√(sd₁²/n₁ + sd₂²/n₂))."
               "" ]
             @ lines
             @ [ "" ])

    writeReport ctx "vae" report
    summaries
