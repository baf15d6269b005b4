/// Console output made for people (examples/Imle.Examples/Common/ConsoleText.fs): tables fit an 80-column terminal
/// (long cells cut with "…", one line per row, never wrapped), and progress on redirected output is a line at most
/// every few seconds with %, elapsed time and ETA, never the same percentage twice. Plus the examples app itself, run
/// with its output redirected: every line fits 80 columns, --quiet prints no table, and the closing line says how long
/// the command took and where its report is.
module Imle.Tests.ConsoleTextTests

open System
open System.Diagnostics
open System.IO
open Expecto
open FsCheck
open FsCheck.FSharp
open Imle.Examples.ConsoleText

/// The Warcraft table as it was printed before (long method descriptions and reference text).
let private warcraftLike =
    [| "method"
       "K"
       "ours: optimal path %"
       "ours: cell %"
       "paper or authors' logs %"
       "epochs"
       "train maps"
       "seconds per run" |],
    [| [| "I-MLE μ-μ, Fact 2 with S = 10 (ours): the gradient target with the perturbed MAP target"
          "12"
          "52.0 ± 1.3 (3 seeds)"
          "96.2"
          "97.2 ± 0.5 (paper Table 2, μ-μ column, λ = 20 as in the authors' configuration files)"
          "8"
          "1000"
          "173" |]
       [| "BB (as run)"
          "12"
          "49.0 (1 seed)"
          "95.8"
          "95.2 ± 0.3"
          "8"
          "1000"
          "136" |] |]

let private pathologicalCell =
    Gen.elements [ 'a'; 'Z'; ' '; '±'; '.'; '1'; 'μ' ]
    |> Gen.arrayOf
    |> Gen.map String

let private tableGen =
    gen {
        let! columns = Gen.choose (1, 8)
        let! rows = Gen.choose (0, 6)
        let! headers = Gen.arrayOfLength columns pathologicalCell
        let! cells = Gen.arrayOfLength rows (Gen.arrayOfLength columns pathologicalCell)
        return headers, cells
    }

/// Simulated progress: `steps` ticks spread evenly over `seconds`; returns the (time, line) of every line printed,
/// the closing line included.
let private simulate (steps: int) (seconds: float) =
    let log = ProgressLog("task", steps, TimeSpan.FromSeconds 5.0)

    [ for i in 1..steps do
          let t = TimeSpan.FromSeconds(seconds * float i / float steps)

          match log.Tick(t, i) with
          | Some line -> yield t, line
          | None -> ()
      match log.Finish(TimeSpan.FromSeconds seconds, steps) with
      | Some line -> yield TimeSpan.FromSeconds seconds, line
      | None -> () ]

let private percentOf (line: string) =
    let m = Text.RegularExpressions.Regex.Match(line, @": +(\d+)% \(")
    int m.Groups.[1].Value

/// The built examples app beside this test binary's configuration (as CliTests finds it).
let private examplesDll () =
    let rec up (d: DirectoryInfo) =
        if isNull d then
            None
        elif File.Exists(Path.Combine(d.FullName, "Imle.sln")) then
            Some d.FullName
        else
            up d.Parent

    match up (DirectoryInfo AppContext.BaseDirectory) with
    | None -> None
    | Some root ->
        let configuration =
            DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/', '\\')).Parent.Name

        [ configuration; "Release" ]
        |> List.map (fun c -> Path.Combine(root, "examples", "Imle.Examples", "bin", c, "net10.0", "Imle.Examples.dll"))
        |> List.tryFind File.Exists

/// Runs the examples app with redirected output (60 s limit); returns (exit code, stdout).
let private runApp (dll: string) (dir: string) (args: string list) =
    let psi = ProcessStartInfo("dotnet")
    psi.ArgumentList.Add dll

    for a in args do
        psi.ArgumentList.Add a

    psi.WorkingDirectory <- dir
    psi.UseShellExecute <- false
    psi.RedirectStandardOutput <- true
    psi.RedirectStandardError <- true
    use p = Process.Start psi
    let out = p.StandardOutput.ReadToEndAsync()
    let err = p.StandardError.ReadToEndAsync()

    if not (p.WaitForExit 60_000) then
        p.Kill true

    p.WaitForExit()
    p.ExitCode, out.Result + err.Result

[<Tests>]
let tests =
    testList
        "console text"
        [ test "the Warcraft table fits 80 columns, one line per row, long cells cut with …" {
              let headers, rows = warcraftLike

              let lines =
                  renderTable 80 "Warcraft shortest path: optimal-path accuracy" headers rows

              Expect.equal lines.Length (rows.Length + 3) "title, header, rule and one line per row"

              for line in lines do
                  Expect.isLessThanOrEqual line.Length 80 (sprintf "fits 80 columns: %s" line)

              Expect.stringContains lines.[3] "…" "the long description is cut, not wrapped"
          }

          test "a table that fits is printed whole" {
              let lines =
                  renderTable 80 "t" [| "method"; "gap" |] [| [| "I-MLE"; "0.193" |]; [| "STE"; "1.250" |] |]

              Expect.isFalse (lines |> List.exists (fun l -> l.Contains "…")) "nothing cut"
              Expect.equal lines.[3] "I-MLE   0.193" "numbers right-aligned under their header"
          }

          testProperty
              "any table with at most 8 columns fits 80 columns"
              (Prop.forAll (Arb.fromGen tableGen) (fun (headers, rows) ->
                  renderTable
                      80
                      "a title that is rather long and might not fit in eighty columns at all, really"
                      headers
                      rows
                  |> List.forall (fun l -> l.Length <= 80)))

          test "ellipsize and clock" {
              Expect.equal (ellipsize 5 "abcdefgh") "abcd…" "cut with …"
              Expect.equal (ellipsize 8 "abcdefgh") "abcdefgh" "fits"
              Expect.equal (ellipsizeMiddle 11 "I-MLE[SoG,S=1,symmetric]") "I-MLE[…ric]" "cut in the middle"
              Expect.equal (ellipsizeMiddle 11 "I-MLE[SoG]") "I-MLE[SoG]" "fits"
              Expect.equal (clock (TimeSpan.FromSeconds 83.0)) "1:23" "m:ss"
              Expect.equal (clock (TimeSpan.FromSeconds 3725.0)) "1:02:05" "h:mm:ss"
          }

          test "a long task prints a line at most every 5 s, each percentage once, with elapsed and ETA" {
              let lines = simulate 10_000 60.0
              let times = lines |> List.map fst
              let percents = lines |> List.map (snd >> percentOf)

              // The closing line comes when the work ends; the lines before it are at least 5 s apart.
              for a, b in List.pairwise (List.take (times.Length - 1) times) do
                  Expect.isGreaterThanOrEqual (b - a).TotalSeconds 5.0 "at least 5 s apart"

              Expect.isLessThanOrEqual lines.Length 13 "60 s at one line per 5 s"
              Expect.equal percents (List.distinct percents) "no percentage repeated"
              Expect.equal percents (List.sort percents) "percentages rise"
              Expect.equal (List.last percents) 100 "the last line says 100 %"
              let _, first = lines.Head
              Expect.stringContains first "elapsed 0:05" "elapsed time"
              Expect.stringContains first "ETA 0:5" "ETA from the rate so far (about 55 s)"
          }

          test "a slow task with few steps never repeats a percentage" {
              let lines = simulate 3 300.0
              let percents = lines |> List.map (snd >> percentOf)
              Expect.equal percents [ 33; 66; 100 ] "one line per step, then no closing repeat"
          }

          test "a fast task prints only its closing line" {
              let lines = simulate 1000 1.0
              Expect.equal lines.Length 1 "one line"
              Expect.stringContains (snd lines.Head) "100% (1000/1000)" "the closing line"
          }

          test
              "the app's redirected output fits 80 columns; --quiet drops the table; the last line gives time and report" {
              match examplesDll () with
              | None -> skiptest "the examples app is not built"
              | Some dll ->
                  let dir =
                      Path.Combine(Path.GetTempPath(), "imle-console-" + Guid.NewGuid().ToString("N").Substring(0, 8))

                  Directory.CreateDirectory dir |> ignore

                  try
                      let code, out = runApp dll dir [ "gradcheck"; "--samples"; "2"; "--out"; "g" ]
                      Expect.equal code 0 out
                      let lines = out.Split('\n') |> Array.map (fun l -> l.TrimEnd '\r')

                      // Every line but the one that names the (temporary, long) output folder.
                      for line in lines |> Array.filter (fun l -> not (l.Contains dir)) do
                          Expect.isLessThanOrEqual line.Length 80 (sprintf "fits 80 columns: %s" line)

                      let last = lines |> Array.filter (fun l -> l.Trim() <> "") |> Array.last
                      Expect.stringContains last "gradcheck took" "how long it took"
                      Expect.stringContains last (Path.Combine(dir, "g", "report.md")) "where the report is"

                      let quietCode, quietOut =
                          runApp dll dir [ "gradcheck"; "--samples"; "2"; "--out"; "q"; "--quiet" ]

                      Expect.equal quietCode 0 quietOut

                      let quietLines = quietOut.Split('\n') |> Array.filter (fun l -> l.Trim() <> "")

                      Expect.equal quietLines.Length 1 (sprintf "--quiet prints only the closing line: %s" quietOut)
                      Expect.stringContains quietLines.[0] "gradcheck took" "the closing line"
                  finally
                      try
                          Directory.Delete(dir, true)
                      with _ ->
                          ()
          } ]
