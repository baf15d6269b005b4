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

/// The control-variate rows paired up (name without the suffix, row without baseline, row with it), for rows named
/// "..., no baseline" and "... + baseline".
let baselinePairs (rows: Row[]) =
    rows
    |> Array.choose (fun r ->
        if r.Estimator.EndsWith ", no baseline" then
            let name = r.Estimator.Substring(0, r.Estimator.Length - ", no baseline".Length)

            rows
            |> Array.tryFind (fun o -> o.Problem = r.Problem && o.Estimator = name + " + baseline")
            |> Option.map (fun o -> name, r, o)
        else
            None)

/// Prints the control-variate comparison and returns its Markdown ("" without such rows).
let printBaselines (rows: Row[]) =
    let pairs = baselinePairs rows

    if pairs.Length = 0 then
        ""
    else
        table
            "Control variates (leave-one-out baselines) at equal bias: the same noise with and without"
            [| "problem"
               "estimator"
               "relative bias without"
               "relative bias with"
               "variance without"
               "variance with"
               "variance ratio" |]
            (pairs
             |> Array.map (fun (name, a, b) ->
                 [| a.Problem
                    name
                    fmt 3 a.RelativeBias
                    fmt 3 b.RelativeBias
                    fmt 3 a.Variance
                    fmt 3 b.Variance
                    fmt 3 (b.Variance / a.Variance) |]))

/// Writes report.md into the context's output folder (and prints the table): the command and the rows against the
/// exact gradient, from `samples` Monte Carlo draws per estimator.
let write (ctx: RunContext) (samples: int) (rows: Row[]) : unit =
    let md = printRows rows
    let baselines = printBaselines rows

    writeReport
        ctx
        "gradcheck"
        (sprintf
            "# Gradient check\n\nCommand: `dotnet run --project examples/Imle.Examples -c Release -- gradcheck --seed %d --samples %d --out %s`\n\nThe exact gradient is ∇θ E_p[ℓ(z)] at τ = 1 by enumeration. Relaxations (Gumbel-softmax, relaxed top-k) are compared on their relaxed outputs.\n\n%s\n\n## Control variates\n\nThe perturbed optimizers (additive and multiplicative `Perturbed` estimators, `ControlVariate = LeaveOneOut`) and the score function, each with and without its leave-one-out baseline (PyEPO's and InferOpt's `variance_reduction`): the baseline of sample s is the mean over the other S − 1 samples, independent of sample s's noise, so both estimators have the same mean (equal bias, up to Monte Carlo error) and differ only in variance. Problem: categorical(m=10), loss −2⟨z, b⟩ (on one-hot states the same exact gradient as ‖z − b‖², and its gradient w.r.t. z does not depend on the samples), S = 10, the same noise (seed) with and without. The Gumbel-perturbed optimizer on a categorical problem is the softmax (Gumbel-max), so its bias against the exact τ = 1 gradient is Monte Carlo error only; Normal and multiplicative noise define other distributions, so their bias is the same nonzero number with and without the baseline.\n\n%s\n"
            ctx.Seed
            samples
            ctx.OutDir
            md
            baselines)
