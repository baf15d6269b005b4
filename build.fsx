// The single entry point of the repository: `dotnet fsi build.fsx <target> [-- args]`.
// Targets: build, test, demo, gradcheck, bench, pack, soak. Each restores tools and packages itself.
open System
open System.Diagnostics
open System.IO
open System.Text.RegularExpressions

let root = __SOURCE_DIRECTORY__
let configuration = "Release"

let run (file: string) (args: string) (capture: bool) : int * string =
    printfn "> %s %s" file args
    let psi = ProcessStartInfo(file, args, WorkingDirectory = root, UseShellExecute = false)
    psi.RedirectStandardOutput <- capture
    use p = Process.Start psi
    let output = Text.StringBuilder()
    if capture then
        let mutable line = p.StandardOutput.ReadLine()
        while not (isNull line) do
            Console.WriteLine line
            output.AppendLine line |> ignore
            line <- p.StandardOutput.ReadLine()
    p.WaitForExit()
    p.ExitCode, output.ToString()

let exec file args =
    let code, _ = run file args false
    if code <> 0 then
        eprintfn "'%s %s' failed with exit code %d" file args code
        exit code

let restore () =
    exec "dotnet" "tool restore"
    exec "dotnet" "paket restore"

let build () =
    restore ()
    exec "dotnet" (sprintf "build Imle.sln -c %s -v minimal -nologo" configuration)

/// Runs a test program and returns (passed, failed) read from its closing line "N passed, N failed".
let runCounted (file: string) (args: string) =
    let code, output = run file args true
    let m = Regex.Matches(output, @"(?m)^(\d+) passed, (\d+) failed\s*$")
    if m.Count = 0 then
        eprintfn "'%s %s' printed no 'N passed, N failed' line (exit code %d)" file args code
        0, 1
    else
        let last = m.[m.Count - 1]
        let passed, failed = int last.Groups.[1].Value, int last.Groups.[2].Value
        passed, (if code <> 0 && failed = 0 then 1 else failed)

let exampleArgs (extra: string list) = String.Join(" ", extra)

let examplesDll = Path.Combine(root, "examples", "Imle.Examples", "bin", configuration, "net10.0", "Imle.Examples.dll")

let target, rest =
    match fsi.CommandLineArgs |> Array.toList |> List.tail with
    | [] -> "build", []
    | t :: rest -> t, (rest |> List.filter (fun a -> a <> "--"))

let sw = Stopwatch.StartNew()
match target with
| "restore" -> restore ()
| "build" -> build ()
| "test" ->
    build ()
    let results =
        [ runCounted "dotnet" (sprintf "tests/Imle.Properties/bin/%s/net10.0/Imle.Properties.dll --summary %s" configuration (exampleArgs rest))
          runCounted "dotnet" (sprintf "tests/Imle.OrTools.Tests/bin/%s/net10.0/Imle.OrTools.Tests.dll --summary" configuration) ]
    let passed = results |> List.sumBy fst
    let failed = results |> List.sumBy snd
    printfn "test wall time: %.1f s" sw.Elapsed.TotalSeconds
    // CI reads this closing line.
    printfn "%d passed, %d failed" passed failed
    exit (if failed = 0 then 0 else 1)
| "demo" ->
    build ()
    exec "dotnet" (sprintf "%s demo %s" examplesDll (exampleArgs rest))
| "gradcheck" ->
    build ()
    exec "dotnet" (sprintf "%s gradcheck %s" examplesDll (exampleArgs rest))
| other ->
    eprintfn "Unknown target '%s'. Targets: restore, build, test, demo, gradcheck." other
    exit 2
