/// What every `--aggregate` over seeds shares: reading a run's command line from its report.md, checking that runs
/// differ only in the options a summary may vary, the sample mean and standard deviation, and when a difference of two
/// means counts (more than two standard errors, at least two seeds a side).
module Imle.Examples.Seeds

open System
open System.IO
open System.Text.RegularExpressions

/// The command line recorded in `dir`/report.md (its first line starting with `dotnet run `).
let commandOf (experiment: string) (dir: string) : string =
    let report = Path.Combine(dir, "report.md")

    if not (File.Exists report) then
        invalidArg "aggregate" (sprintf "--aggregate: %s has no report.md (not the folder of a %s run)." dir experiment)

    File.ReadAllLines report
    |> Array.tryFind (fun l -> l.StartsWith "dotnet run ")
    |> Option.defaultWith (fun () -> invalidArg "aggregate" (sprintf "--aggregate: %s names no command." report))

/// The value of `--option` in a command line ("" when absent).
let optionValue (option: string) (command: string) : string =
    Regex.Match(command, sprintf "--%s (-?[0-9A-Za-z._/-]+)" option).Groups.[1].Value

/// The command line without the options in `varying` (each with its values, up to the next option).
let without (varying: string list) (command: string) : string =
    varying
    |> List.fold (fun c o -> Regex.Replace(c, sprintf "--%s( [^-\\s][^\\s]*| -[0-9][^\\s]*)* ?" o, "")) command
    |> fun c -> c.TrimEnd()

/// Reads the runs' command lines and checks that they agree once the `varying` options are removed; returns the
/// common settings and each run's full command line.
let sameSettings (experiment: string) (varying: string list) (dirs: string list) : string * string list =
    if List.isEmpty dirs then
        invalidArg "aggregate" "--aggregate needs at least one run folder."

    let commands = dirs |> List.map (commandOf experiment)
    let settings = commands |> List.map (without varying)

    match settings |> List.tryFind (fun s -> s <> settings.Head) with
    | Some other ->
        invalidArg
            "aggregate"
            (sprintf
                "--aggregate: the runs differ in more than %s: '%s' against '%s'."
                (String.Join(", ", varying |> List.map (sprintf "--%s")))
                settings.Head
                other)
    | None -> settings.Head, commands

/// A mean over `n` seeds as the summary tables show it, in bold: "m ± sd", or "m (one seed, no spread)" for n = 1.
let meanCell (digits: int) (n: int) (mean: float) (sd: float) : string =
    if n < 2 then
        sprintf "**%s** (one seed, no spread)" (Output.fmt digits mean)
    else
        sprintf "**%s ± %s**" (Output.fmt digits mean) (Output.fmt digits sd)

/// The sample standard deviation (n − 1; 0 for fewer than two values).
let sampleSd (values: float[]) : float =
    if values.Length < 2 then
        0.0
    else
        let m = Array.average values
        sqrt ((values |> Array.sumBy (fun v -> (v - m) ** 2.0)) / float (values.Length - 1))

/// The difference of two groups' means, its standard error √(sd₁²/n₁ + sd₂²/n₂), and whether it counts: at least two
/// values a side and |difference| > 2 standard errors.
let difference (a: float[]) (b: float[]) : float * float * bool =
    let diff = Array.average a - Array.average b

    let se =
        sqrt ((sampleSd a) ** 2.0 / float a.Length + (sampleSd b) ** 2.0 / float b.Length)

    diff, se, (a.Length >= 2 && b.Length >= 2 && abs diff > 2.0 * se)
