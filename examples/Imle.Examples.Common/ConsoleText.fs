/// Console text made for people, with no dependencies (the tests reference this library): tables that fit a
/// terminal's width (cells cut with "…" rather than wrapped), and progress lines for redirected output (throttled, with
/// %, elapsed time and ETA). Output.fs in the examples prints them.
module Imle.Examples.ConsoleText

open System
open System.Globalization

/// The width console text is fitted to: the terminal's, or 80 columns when the output is redirected or the width is
/// unknown.
let consoleWidth () : int =
    if Console.IsOutputRedirected then
        80
    else
        try
            let w = Console.WindowWidth
            if w >= 40 then w else 80
        with _ ->
            80

/// `text` cut to at most `width` characters, ending in "…" when cut.
let ellipsize (width: int) (text: string) : string =
    if width <= 0 then ""
    elif text.Length <= width then text
    elif width = 1 then "…"
    else text.Substring(0, width - 1) + "…"

/// `text` cut to at most `width` characters in the middle ("I-MLE[SoG(κ=5,…S=10,symmetric]"): long names that share
/// a beginning stay apart by their ends.
let ellipsizeMiddle (width: int) (text: string) : string =
    if width < 8 || text.Length <= width then
        ellipsize width text
    else
        let head = (width - 1) * 3 / 5
        let tail = width - 1 - head
        text.Substring(0, head) + "…" + text.Substring(text.Length - tail)

/// The smallest width a column is shrunk to (its header and cells are cut to it).
let minColumnWidth = 6

/// The gap between two columns.
let columnGap = "  "

/// Column widths that fit `width` (gaps included): the natural widths when they fit; otherwise the widest column is
/// narrowed one character at a time (never below `minColumnWidth`, nor below a column's natural width) until they fit
/// or nothing can shrink.
let fitColumns (width: int) (natural: int[]) : int[] =
    let widths = Array.copy natural

    let total () =
        Array.sum widths + columnGap.Length * max 0 (widths.Length - 1)

    let mutable shrinking = true

    while shrinking && total () > width do
        let widest = widths |> Array.max
        let i = widths |> Array.findIndex ((=) widest)

        if widest > minColumnWidth then
            widths.[i] <- widest - 1
        else
            shrinking <- false

    widths

let private looksNumeric (cell: string) =
    let first = cell.Trim().Split(' ').[0].TrimEnd('%')

    first.Length > 0
    && (first = "–"
        || Double.TryParse(first, NumberStyles.Float, CultureInfo.InvariantCulture) |> fst)

/// A table as plain text lines of at most `width` characters (when the columns can shrink that far): a title, a header
/// row, a rule, one line per row. Cells that do not fit are cut in the middle with "…" (the report keeps the full
/// text); columns
/// whose cells are all numbers are right-aligned.
let renderTable (width: int) (title: string) (headers: string[]) (rows: string[][]) : string list =
    let columns = headers.Length

    let cell (r: string[]) i =
        if i < r.Length && not (isNull r.[i]) then r.[i] else ""

    let natural =
        Array.init columns (fun i -> rows |> Array.fold (fun m r -> max m (cell r i).Length) headers.[i].Length)

    let widths = fitColumns width natural

    let numeric =
        Array.init columns (fun i -> rows.Length > 0 && rows |> Array.forall (fun r -> looksNumeric (cell r i)))

    let line (cells: string[]) =
        let parts =
            Array.init columns (fun i ->
                let text = ellipsizeMiddle widths.[i] (cell cells i)

                if numeric.[i] then
                    text.PadLeft widths.[i]
                else
                    text.PadRight widths.[i])

        String.Join(columnGap, parts).TrimEnd()

    let rule = String.Join(columnGap, widths |> Array.map (fun w -> String('─', w)))

    [ yield ellipsize width title
      yield line headers
      yield rule
      for r in rows do
          yield line r ]

/// A duration as m:ss, or h:mm:ss from an hour on.
let clock (t: TimeSpan) : string =
    let t = if t < TimeSpan.Zero then TimeSpan.Zero else t

    if t.TotalHours >= 1.0 then
        sprintf "%d:%02d:%02d" (int t.TotalHours) t.Minutes t.Seconds
    else
        sprintf "%d:%02d" (int t.TotalMinutes) t.Seconds

/// Progress lines for output that is not a terminal (a log file, a pipe): `Tick` returns a line at most once per
/// `interval` and only when the whole percentage has changed since the last line, so a slow task never repeats a
/// percentage and a fast one prints little; `Finish` returns the closing line unless the last line already said 100 %.
type ProgressLog(description: string, total: int, interval: TimeSpan) =
    let empty = total <= 0 // nothing to do: the closing line says 100 %
    let total = max total 1
    let mutable lastTime = TimeSpan.Zero
    let mutable lastPercent = -1
    let gate = obj ()

    let format (elapsed: TimeSpan) (completed: int) (percent: int) =
        let eta =
            if completed <= 0 || completed >= total then
                ""
            else
                let remaining =
                    TimeSpan.FromSeconds(elapsed.TotalSeconds * float (total - completed) / float completed)

                sprintf "  ETA %s" (clock remaining)

        sprintf "%s: %3d%% (%d/%d)  elapsed %s%s" description percent completed total (clock elapsed) eta

    /// The percentage (0 to 100) of `completed` steps.
    member _.Percent(completed: int) =
        if empty then
            100
        else
            min 100 (max 0 completed * 100 / total)

    /// The line to print after `completed` steps at `elapsed`, if one is due.
    member this.Tick(elapsed: TimeSpan, completed: int) : string option =
        lock gate (fun () ->
            let percent = this.Percent completed

            if percent <> lastPercent && elapsed - lastTime >= interval then
                lastTime <- elapsed
                lastPercent <- percent
                Some(format elapsed completed percent)
            else
                None)

    /// The closing line (once the work is over), unless the last line printed already said 100 %.
    member this.Finish(elapsed: TimeSpan, completed: int) : string option =
        lock gate (fun () ->
            let percent = this.Percent completed

            if lastPercent = 100 && percent = 100 then
                None
            else
                lastTime <- elapsed
                lastPercent <- percent
                Some(format elapsed completed percent))
