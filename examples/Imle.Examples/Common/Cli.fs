/// The command line's safety checks, shared by every command and applied before any work starts: usage errors (exit
/// code 2), that each output folder can be created and written, and a run's estimated memory, disk and time against
/// limits taken from this machine. `Program` sends every command through `execute`.
module Imle.Examples.Cli

open System
open System.IO

/// A bad command line (exit code 2). The message names the option or path and says what is wrong, in one line.
type UsageException(message: string) =
    inherit Exception(message)

/// Raises a UsageException with a formatted message.
let usageError fmt =
    Printf.kprintf (fun s -> raise (UsageException s)) fmt

/// The first line of a message (exception messages from native code can run over many lines).
let firstLine (s: string) =
    if isNull s then
        ""
    else
        let line =
            s.Split([| '\n'; '\r' |], StringSplitOptions.RemoveEmptyEntries)
            |> Array.tryHead
            |> Option.defaultValue ""

        line.Trim()

/// An ArgumentException's message without the " (Parameter 'x')" that .NET appends.
let argumentMessage (e: ArgumentException) =
    let m = firstLine e.Message
    let suffix = sprintf " (Parameter '%s')" e.ParamName

    if not (isNull e.ParamName) && m.EndsWith suffix then
        m.Substring(0, m.Length - suffix.Length)
    else
        m

// ----- limits ---------------------------------------------------------------------------------------------------------

/// What the runtime reports this process may use (physical memory, or a container's limit).
let availableMemoryBytes: int64 =
    let reported = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes
    if reported > 0L then reported else 4L <<< 30

/// The most memory a run may be estimated to need: half of `availableMemoryBytes`.
let memoryLimitBytes: int64 = availableMemoryBytes / 2L

/// The longest run a command starts, by its time estimate.
let timeLimitHours = 48.0

/// What the process needs whatever the sizes (the .NET runtime, libtorch, the plots), added to every memory estimate.
let baseMemoryBytes = 400.0 * 1024.0 * 1024.0

/// `IMLE_NO_LIMITS=1` skips the memory, disk and time checks (for a machine where the estimates are too cautious); the
/// checks of the options' values and of the output folders stay.
let limitsDisabled () =
    Environment.GetEnvironmentVariable "IMLE_NO_LIMITS" = "1"

/// The per-item costs of the commands were measured on a 2-core CPU; with more cores the estimate shrinks in proportion.
let cpuSeconds (secondsOnTwoCores: float) =
    secondsOnTwoCores * 2.0 / float (max 2 Environment.ProcessorCount)

/// How much faster than this CPU the time estimates assume a `--device` to be (a rough factor for CUDA).
let deviceSpeedup (deviceName: string) =
    if deviceName = "cpu" then 1.0 else 20.0

let private inv = Globalization.CultureInfo.InvariantCulture

/// Bytes in binary units, e.g. "1.9 TiB"; beyond EiB in scientific notation.
let formatBytes (bytes: float) =
    let units = [| "bytes"; "KiB"; "MiB"; "GiB"; "TiB"; "PiB"; "EiB" |]

    if Double.IsNaN bytes || bytes < 0.0 then
        "an unknown amount"
    elif bytes < 1024.0 then
        sprintf "%.0f bytes" bytes
    else
        let e = min (units.Length - 1) (int (floor (log bytes / log 1024.0)))
        let v = bytes / Math.Pow(1024.0, float e)

        if v >= 10000.0 then
            String.Format(inv, "{0:0.0e+0} bytes", bytes)
        else
            String.Format(inv, "{0:0.#} {1}", v, units.[e])

/// A duration in words, e.g. "25 minutes", "3.2 days", "1.2e+09 years".
let formatDuration (seconds: float) =
    let f (v: float) =
        if v >= 10000.0 then
            String.Format(inv, "{0:0.0e+0}", v)
        else
            String.Format(inv, "{0:0.#}", v)

    if Double.IsNaN seconds then
        "an unknown time"
    elif seconds < 120.0 then
        f seconds + " s"
    elif seconds < 7200.0 then
        f (seconds / 60.0) + " minutes"
    elif seconds < 3.0 * 86400.0 then
        f (seconds / 3600.0) + " hours"
    elif seconds < 2.0 * 365.25 * 86400.0 then
        f (seconds / 86400.0) + " days"
    else
        f (seconds / (365.25 * 86400.0)) + " years"

/// Options for a message: "--k 5000", or "--k 5000 with --train-maps 1000 and --test-maps 200" (empty items dropped).
let describe (options: string list) =
    match options |> List.filter (String.IsNullOrWhiteSpace >> not) with
    | [] -> ""
    | [ one ] -> one
    | first :: rest ->
        let rest = Array.ofList rest

        let tail =
            if rest.Length = 1 then
                rest.[0]
            else
                String.Join(", ", rest.[.. rest.Length - 2]) + " and " + rest.[rest.Length - 1]

        first + " with " + tail

/// One estimate of what a run needs; `options` names the options it follows from (see `describe`).
type Need =
    /// Memory held at once, for `what` (e.g. "map data").
    | Memory of options: string * what: string * bytes: float
    /// Space on the disk that holds `folder`, for `what`.
    | Disk of options: string * what: string * folder: string * bytes: float
    /// Wall-clock seconds on this machine (see `cpuSeconds`).
    | Time of options: string * seconds: float
    /// One .NET array of `bytes` bytes, for `what`: a hard limit (Array.MaxLength), checked even with IMLE_NO_LIMITS=1.
    | SingleArray of options: string * what: string * bytes: float

/// The sizes an image experiment (VAE, L2X) estimates its budget from: the images it will use (the requested train and
/// test sizes, capped by the data set's real sizes when its headers could be read), pixels per image, how to name the
/// data in a message, and the images loaded in all. Without readable headers, 28×28 images of the requested sizes.
let imageDataSizes (dataDir: string) (sizes: Imle.Data.Idx.IdxSizes option) (trainSize: int) (testSize: int) =
    match sizes with
    | Some d ->
        min trainSize d.Train,
        min testSize d.Test,
        float d.Rows * float d.Cols,
        sprintf "--data %s (%d images)" dataDir (d.Train + d.Test),
        float d.Train + float d.Test
    | None ->
        trainSize,
        testSize,
        784.0,
        describe [ sprintf "--train-size %d" trainSize; sprintf "--test-size %d" testSize ],
        float trainSize + float testSize

/// The free space of the file system holding `folder` (the mount point with the longest matching root), if known.
let freeDiskBytes (folder: string) : int64 option =
    try
        let full = Path.GetFullPath(folder).TrimEnd('/') + "/"

        DriveInfo.GetDrives()
        |> Array.filter (fun d ->
            full.StartsWith(d.RootDirectory.FullName.TrimEnd('/') + "/", StringComparison.Ordinal))
        |> Array.sortByDescending (fun d -> d.RootDirectory.FullName.Length)
        |> Array.tryPick (fun d ->
            try
                (if d.IsReady then Some d.AvailableFreeSpace else None)
            with _ ->
                None)
    with _ ->
        None

/// The total memory and time of a plan's needs.
let totals (needs: Need list) =
    let memory =
        baseMemoryBytes
        + (needs
           |> List.sumBy (function
               | Memory(_, _, b) -> b
               | _ -> 0.0))

    let time =
        needs
        |> List.sumBy (function
            | Time(_, s) -> s
            | _ -> 0.0)

    memory, time

/// Refuses (UsageException) a run whose estimated memory exceeds `memoryLimitBytes`, whose disk need exceeds the free
/// space, or whose estimated time exceeds `timeLimitHours` (these three skipped with IMLE_NO_LIMITS=1), or that needs a
/// .NET array beyond Array.MaxLength; the message names the options behind the largest part, the estimate and the limit.
let checkBudget (needs: Need list) =
    if not (limitsDisabled ()) then
        let memory =
            needs
            |> List.choose (function
                | Memory(o, w, b) -> Some(o, w, b)
                | _ -> None)

        let totalMemory, totalTime = totals needs

        if totalMemory > float memoryLimitBytes then
            let o, w, b = memory |> List.maxBy (fun (_, _, b) -> b)

            let inAll =
                if totalMemory > 1.05 * b then
                    sprintf " (%s in all)" (formatBytes totalMemory)
                else
                    ""

            usageError
                "%s needs about %s of memory for %s%s; the limit is %s (half this machine's memory)."
                o
                (formatBytes b)
                w
                inAll
                (formatBytes (float memoryLimitBytes))

        for need in needs do
            match need with
            | Disk(o, w, folder, bytes) when bytes > 0.0 ->
                match freeDiskBytes folder with
                | Some free when bytes > float free ->
                    usageError
                        "%s needs about %s of disk for %s in %s; only %s is free there."
                        o
                        (formatBytes bytes)
                        w
                        folder
                        (formatBytes (float free))
                | _ -> ()
            | _ -> ()

        if totalTime > timeLimitHours * 3600.0 then
            let o, _ =
                needs
                |> List.choose (function
                    | Time(o, s) -> Some(o, s)
                    | _ -> None)
                |> List.maxBy snd

            usageError
                "%s would take about %s on this machine (a rough estimate from measured per-item costs); the limit is %g hours."
                o
                (formatDuration totalTime)
                timeLimitHours

    for need in needs do
        match need with
        | SingleArray(o, w, bytes) when bytes > float Array.MaxLength ->
            usageError
                "%s needs one array of %s for %s; .NET arrays hold at most %s."
                o
                (formatBytes bytes)
                w
                (formatBytes (float Array.MaxLength))
        | _ -> ()

/// Why an output folder could not be written, from the exception (the OS's reason where .NET passes it on).
let private reason (e: exn) =
    match e with
    | :? UnauthorizedAccessException -> "permission denied"
    | :? PathTooLongException -> "the path is too long"
    | :? DirectoryNotFoundException
    | :? FileNotFoundException -> "no such file or directory (a folder cannot be created there)"
    | _ ->
        // On Unix .NET reports other errno values as "<strerror> : '<path>'", e.g. "Read-only file system : '/x'".
        let m = firstLine e.Message
        let i = m.IndexOf(" : '", StringComparison.Ordinal)
        let text = if i > 0 then m.Substring(0, i) else m

        if text.Length > 1 then
            Char.ToLowerInvariant(text.[0]).ToString() + text.Substring 1
        else
            text

/// Checks that the folder `path` (given as `option`, e.g. "--out") can be created and written: creates it, writes and
/// deletes a probe file. Raises UsageException naming the path and why not; returns the full path.
let checkWritableFolder (option: string) (path: string) : string =
    if String.IsNullOrWhiteSpace path then
        usageError "%s must name a folder; got an empty value." option

    let fail (why: string) =
        usageError "%s %s cannot be written: %s." option path why

    let full =
        try
            Path.GetFullPath path
        with e ->
            fail (firstLine e.Message)

    if File.Exists full then
        fail "it is an existing file, not a folder"
    // A file on the way (e.g. --out some-file/sub) is "not a directory".
    let rec fileAbove (p: string) =
        match Path.GetDirectoryName p with
        | null
        | "" -> None
        | parent when File.Exists parent -> Some parent
        | parent when Directory.Exists parent -> None
        | parent -> fileAbove parent

    match fileAbove full with
    | Some file -> fail (sprintf "not a directory (%s is a file)" file)
    | None -> ()

    try
        Directory.CreateDirectory full |> ignore

        let probe =
            Path.Combine(full, sprintf ".imle-write-probe-%d-%s" Environment.ProcessId (Guid.NewGuid().ToString("N")))

        File.WriteAllBytes(probe, [| 0uy |])
        File.Delete probe
    with
    | :? UsageException -> reraise ()
    | e -> fail (reason e)

    full

/// A command ready to run: its options checked, the folders it will write, what it is estimated to need, and the work.
type Plan =
    {
        /// (option, folder) for each folder the command writes, e.g. ("--out", "out/warcraft").
        Folders: (string * string) list
        /// The estimates checked by `checkBudget`.
        Needs: Need list
        /// The work; returns the exit code.
        Run: unit -> int
    }

/// The help text on the checks, appended to every command's --help (wrapped to 80 columns, as Argu's).
let limitsHelp () =
    let text =
        sprintf
            "Option values are checked (sizes at least 1, rates positive and finite); every output folder is created and a probe file written and deleted; and the run's estimated memory, disk and time are checked: memory at most %s (half of the %s this machine reports), disk at most the free space, time at most %g hours (a rough estimate from per-item costs measured on a 2-core CPU). A refused run prints one line naming the option, the estimate and the limit, and exits with code 2. IMLE_NO_LIMITS=1 skips the memory, disk and time checks. --dry-run (anywhere on the line) stops after the checks and prints the estimates. Errors during a run print one line and exit with code 1; --debug or IMLE_DEBUG=1 adds the stack trace."
            (formatBytes (float memoryLimitBytes))
            (formatBytes (float availableMemoryBytes))
            timeLimitHours

    let lines = ResizeArray [ "CHECKS (before any work starts):" ]
    let mutable line = "   "

    for word in text.Split ' ' do
        if line.Length + 1 + word.Length > 80 then
            lines.Add line
            line <- "   "

        line <- line + " " + word

    lines.Add line
    String.Join("\n", lines)

/// The closing line of a command: how long it took and where its report, results.json and plots are (`report`: the
/// name and folder of the last report written, see Output.writeReport).
let summaryLine (command: string) (seconds: float) (report: (string * string) option) : string =
    match report with
    | Some(_, dir) when Directory.Exists dir ->
        let plots = Directory.GetFiles(dir, "*.png").Length
        let json = File.Exists(Path.Combine(dir, "results.json"))

        let beside =
            [ (if json then "results.json" else "")
              (if plots = 1 then "1 plot"
               elif plots > 1 then sprintf "%d plots" plots
               else "") ]
            |> List.filter (String.IsNullOrEmpty >> not)

        sprintf
            "%s took %s. Report: %s%s"
            command
            (formatDuration seconds)
            (Path.Combine(dir, "report.md"))
            (if beside.IsEmpty then
                 ""
             else
                 sprintf " (%s beside it)" (String.Join(" and ", beside)))
    | _ -> sprintf "%s took %s." command (formatDuration seconds)

/// The path every command goes through: checks the memory and time estimates, then that every folder can be written,
/// then the disk space (`checkBudget`), then runs the work (or, for a dry run, prints the estimates and stops). Raises
/// UsageException on a refusal.
let execute (command: string) (dryRun: bool) (plan: Plan) : int =
    let disk, others =
        plan.Needs
        |> List.partition (function
            | Disk _ -> true
            | _ -> false)

    checkBudget others

    let folders =
        plan.Folders
        |> List.map (fun (option, folder) -> checkWritableFolder option folder)

    checkBudget disk

    if dryRun then
        let memory, time = totals plan.Needs

        printfn
            "%s: dry run: options checked; estimated memory %s (limit %s), time %s (limit %g hours)%s; writable: %s."
            command
            (formatBytes memory)
            (formatBytes (float memoryLimitBytes))
            (if time > 0.0 then
                 "about " + formatDuration time
             else
                 "not estimated")
            timeLimitHours
            (if limitsDisabled () then
                 " (IMLE_NO_LIMITS=1: not enforced)"
             else
                 "")
            (String.Join(", ", folders))

        0
    else
        let clock = Diagnostics.Stopwatch.StartNew()
        let code = plan.Run()
        printfn "%s" (summaryLine command clock.Elapsed.TotalSeconds Output.lastReport)
        code
