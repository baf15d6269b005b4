/// The report of the `gradcheck` command: its results (one row per problem and estimator) and the report.md written
/// from them.
module Imle.Examples.Experiments.GradCheckReport

open Imle.Examples.Output

/// One row of results.json.
type Row =
    { Problem: string
      Estimator: string
      Samples: int
      Cosine: float
      RelativeBias: float
      Variance: float }

/// Prints the rows as a table (the console form: compact names, the samples in the title) and returns its Markdown.
let printRows (rows: Row[]) =
    let compact (name: string) = name.Replace(", ", ",")

    let samples =
        rows |> Array.map (fun r -> r.Samples) |> Array.distinct |> Array.map string

    tableFor
        (sprintf
            "Estimators against the exact gradient (cosine 1 = exact direction; %s draws)"
            (String.concat "/" samples))
        ([| "problem"; "estimator"; "cosine"; "rel. bias"; "variance" |],
         rows
         |> Array.map (fun r ->
             [| compact r.Problem
                compact r.Estimator
                fmt 3 r.Cosine
                fmt 3 r.RelativeBias
                fmt 3 r.Variance |]))
        ([| "problem"; "estimator"; "samples"; "cosine"; "relative bias"; "variance" |],
         rows
         |> Array.map (fun r ->
             [| r.Problem
                r.Estimator
                string r.Samples
                fmt 3 r.Cosine
                fmt 3 r.RelativeBias
                fmt 3 r.Variance |]))

/// Writes report.md into the context's output folder (and prints the table): the command and the rows against the
/// exact gradient, from `samples` Monte Carlo draws per estimator.
let write (ctx: RunContext) (samples: int) (rows: Row[]) : unit =
    let md = printRows rows

    writeReport
        ctx
        "gradcheck"
        (sprintf
            "# Gradient check\n\nCommand: `dotnet run --project examples/Imle.Examples -c Release -- gradcheck --seed %d --samples %d --out %s`\n\nThe exact gradient is ∇θ E_p[ℓ(z)] at τ = 1 by enumeration. Relaxations (Gumbel-softmax, relaxed top-k) are compared on their relaxed outputs.\n\n%s\n"
            ctx.Seed
            samples
            ctx.OutDir
            md)
