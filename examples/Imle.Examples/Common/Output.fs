/// What every experiment shares: its run context, progress, tables, results.json, Markdown reports and PNG plots.
module Imle.Examples.Output

open System
open System.IO
open System.Text.Json
open System.Text.Json.Serialization
open Spectre.Console

/// The options every command takes.
type RunContext =
    {
        /// The seed every random choice derives from.
        Seed: int
        /// The output folder (created if missing).
        OutDir: string
        /// Reduced sizes (the demo's setting).
        Quick: bool
        /// The torch device name from `--device` ("cpu" unless given; used by the commands that train on tensors).
        Device: string
    }

/// Checks a `--device` value (cpu, cuda or cuda:N; CUDA only where available) and returns it normalised.
let deviceName (value: string) : string =
    let name = value.Trim().ToLowerInvariant()

    if name <> "cpu" && not (name.StartsWith "cuda") then
        invalidArg "device" (sprintf "--device must be cpu or cuda[:N]; got '%s'." name)

    if name.StartsWith "cuda" && not (TorchSharp.torch.cuda.is_available ()) then
        invalidArg
            "device"
            "--device cuda was asked for, but CUDA is not available (this build uses the CPU libtorch; swap the native package)."

    name

/// Checks that an integer option is at least 1 and returns it.
let positiveInt (name: string) (value: int) : int =
    if value < 1 then
        invalidArg name (sprintf "--%s must be at least 1; got %d." name value)
    else
        value

/// Checks that an integer option is at least `lo` and returns it.
let intAtLeast (name: string) (lo: int) (value: int) : int =
    if value < lo then
        invalidArg name (sprintf "--%s must be at least %d; got %d." name lo value)
    else
        value

/// Checks that a float option is positive and finite (not NaN or ∞) and returns it.
let positiveFloat (name: string) (value: float) : float =
    if not (value > 0.0) || Double.IsInfinity value then
        invalidArg name (sprintf "--%s must be a positive finite number; got %g." name value)

    value

/// Checks that a float option is at least 0 and finite and returns it.
let nonNegativeFloat (name: string) (value: float) : float =
    if not (value >= 0.0) || Double.IsInfinity value then
        invalidArg name (sprintf "--%s must be a finite number >= 0; got %g." name value)

    value

/// Checks that a list option has at least one value and returns it.
let nonEmpty (name: string) (values: 'T list) : 'T list =
    if values.IsEmpty then
        invalidArg name (sprintf "--%s needs at least one value." name)
    else
        values

/// Checks a list of ids (e.g. `--methods`) against the known ones: at least one, each known. Returns them normalised.
let knownIds (name: string) (known: string list) (ids: string list) : string list =
    let ids = nonEmpty name ids |> List.map (fun s -> s.Trim().ToLowerInvariant())

    match ids |> List.tryFind (fun id -> not (List.contains id known)) with
    | Some bad -> invalidArg name (sprintf "--%s: unknown value '%s'; known: %s." name bad (String.Join(", ", known)))
    | None -> ids

/// Checks an explicit `--batch` against the number of training items (a larger batch would silently be the whole set).
let batchAtMost (itemsOption: string) (items: int) (batch: int) : int =
    if batch > items then
        invalidArg
            "batch"
            (sprintf
                "--batch %d is larger than --%s %d (the whole training set); use at most %d."
                batch
                itemsOption
                items
                items)

    batch

/// Creates the output folder and returns its full path.
let ensureDir (dir: string) =
    let full = Path.GetFullPath dir
    Directory.CreateDirectory full |> ignore
    full

let private jsonOptions =
    let o =
        JsonSerializerOptions(WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase)

    o.NumberHandling <- JsonNumberHandling.AllowNamedFloatingPointLiterals
    o

/// Writes a value (records serialise with camelCase field names) as indented JSON.
let writeJson (path: string) (value: 'T) =
    File.WriteAllText(path, JsonSerializer.Serialize(value, jsonOptions))

/// Reads a value written by `writeJson` (camelCase field names).
let readJson<'T> (path: string) : 'T =
    JsonSerializer.Deserialize<'T>(File.ReadAllText path, jsonOptions)

/// Formats a float for tables.
let fmt (digits: int) (x: float) =
    if Double.IsNaN x then
        "–"
    else
        x.ToString("F" + string digits, Globalization.CultureInfo.InvariantCulture)

/// A Markdown table. A `|` inside a cell is escaped (`\|`) unless it already is, so it cannot end the cell.
let markdownTable (headers: string[]) (rows: string[][]) =
    let escape (cell: string) =
        Text.RegularExpressions.Regex.Replace(cell, @"(?<!\\)\|", @"\|")

    let line (cells: string[]) =
        "| " + String.Join(" | ", Array.map escape cells) + " |"

    String.Join(
        "\n",
        [| line headers; line (headers |> Array.map (fun _ -> "---")) |] |> Array.append
        <| (rows |> Array.map line)
    )

/// `--quiet`: no progress and no console tables (reports, results.json and plots are written as always; errors and the
/// closing summary line are still printed). Set once by Program before the command runs.
let mutable quiet = false

/// Prints a table for a terminal of `ConsoleText.consoleWidth ()` columns (80 when redirected): cells that do not fit
/// are cut with "…", never wrapped. Nothing under `--quiet`.
let printTable (title: string) (headers: string[]) (rows: string[][]) =
    if not quiet then
        printfn ""

        for line in ConsoleText.renderTable (ConsoleText.consoleWidth ()) title headers rows do
            printfn "%s" line

/// Prints the console form of a table (short names, fitted to the terminal) and returns the full form as Markdown for
/// the report: `console` and `report` are each (headers, rows).
let tableFor (title: string) (console: string[] * string[][]) (report: string[] * string[][]) : string =
    printTable title (fst console) (snd console)
    markdownTable (fst report) (snd report)

/// Prints a table to the console (fitted to its width, see `printTable`) and returns the same table as Markdown.
let table (title: string) (headers: string[]) (rows: string[][]) : string =
    tableFor title (headers, rows) (headers, rows)

/// Seconds between two progress lines when the output is not a terminal.
let progressLineSeconds = 5.0

/// Runs `work` with `total` steps; `work` calls the function it is given once per step. On a terminal, a live progress
/// bar (Spectre.Console); on redirected output, a line at most every `progressLineSeconds` with %, elapsed time and
/// ETA, never the same percentage twice (`ConsoleText.ProgressLog`); nothing under `--quiet`.
let progress (description: string) (total: int) (work: (unit -> unit) -> 'T) : 'T =
    if quiet then
        work ignore
    elif not Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive then
        let mutable result = Unchecked.defaultof<'T>

        AnsiConsole
            .Progress()
            .AutoClear(false)
            .Columns(
                [| TaskDescriptionColumn() :> ProgressColumn
                   ProgressBarColumn()
                   PercentageColumn()
                   ElapsedTimeColumn()
                   RemainingTimeColumn() |]
            )
            .Start(fun ctx ->
                let task = ctx.AddTask(Markup.Escape description, maxValue = float (max total 1))
                result <- work (fun () -> task.Increment 1.0))

        result
    else
        let log =
            ConsoleText.ProgressLog(description, total, TimeSpan.FromSeconds progressLineSeconds)

        let clock = Diagnostics.Stopwatch.StartNew()
        let completed = [| 0 |] // steps may be counted from several threads

        let result =
            work (fun () ->
                let now = Threading.Interlocked.Increment(&completed.[0])
                log.Tick(clock.Elapsed, now) |> Option.iter (printfn "%s"))

        log.Finish(clock.Elapsed, completed.[0]) |> Option.iter (printfn "%s")
        result

/// One line of a plot: a label, x values, y values and an optional ± band (e.g. a standard deviation).
type Series =
    { Label: string
      X: float[]
      Y: float[]
      Band: float[] option }

/// A line plot with optional ± bands, saved as PNG.
let linePlot (path: string) (title: string) (xLabel: string) (yLabel: string) (series: Series list) =
    use plt = new ScottPlot.Plot()
    let palette = ScottPlot.Palettes.Category10()

    series
    |> List.iteri (fun i s ->
        let color = palette.GetColor i

        match s.Band with
        | Some band ->
            let lo = Array.map2 (-) s.Y band
            let hi = Array.map2 (+) s.Y band
            let fill = plt.Add.FillY(s.X, lo, hi)
            fill.FillColor <- color.WithAlpha(0.2)
            fill.LineWidth <- 0.0f
        | None -> ()

        let line = plt.Add.ScatterLine(s.X, s.Y)
        line.Color <- color
        line.LineWidth <- 2.0f
        line.LegendText <- s.Label)

    plt.Title title
    plt.XLabel xLabel
    plt.YLabel yLabel
    plt.ShowLegend() |> ignore
    plt.SavePng(path, 900, 560) |> ignore

/// A heatmap of values[row, col] with labelled axes, saved as PNG.
let heatmap (path: string) (title: string) (xLabel: string) (yLabel: string) (values: float[,]) =
    use plt = new ScottPlot.Plot()
    let hm = plt.Add.Heatmap(values)
    hm.Colormap <- ScottPlot.Colormaps.Viridis()
    plt.Add.ColorBar(hm) |> ignore
    plt.Title title
    plt.XLabel xLabel
    plt.YLabel yLabel
    plt.SavePng(path, 800, 600) |> ignore

/// A bar chart of one value per label, saved as PNG.
let barPlot (path: string) (title: string) (yLabel: string) (labels: string[]) (values: float[]) =
    use plt = new ScottPlot.Plot()
    let bars = plt.Add.Bars(values)
    ignore bars
    let ticks = labels |> Array.mapi (fun i l -> ScottPlot.Tick(float i, l))
    plt.Axes.Bottom.TickGenerator <- ScottPlot.TickGenerators.NumericManual(ticks)
    plt.Title title
    plt.YLabel yLabel
    plt.SavePng(path, 900, 560) |> ignore

/// The name and folder of the last report written in this process (Cli.execute's closing summary says where it is).
let mutable lastReport: (string * string) option = None

/// Writes the Markdown report (report.md in the output folder) of the experiment `name`; the command's closing summary
/// (Cli.execute) says where it and the plots are and how long the command took.
let writeReport (ctx: RunContext) (name: string) (markdown: string) =
    let dir = ensureDir ctx.OutDir
    let path = Path.Combine(dir, "report.md")
    File.WriteAllText(path, markdown)
    lastReport <- Some(name, dir)
