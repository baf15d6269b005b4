// The single entry point of the repository: `dotnet fsi build.fsx <target> [-- args]`.
// Targets: build, test, demo, gradcheck, bench, pack, pack-test, soak, format, format-check. Each restores tools and
// packages itself.
open System
open System.Diagnostics
open System.IO
open System.Text.RegularExpressions

let root = __SOURCE_DIRECTORY__
let configuration = "Release"

let run (file: string) (args: string) (capture: bool) : int * string =
    printfn "> %s %s" file args

    let psi =
        ProcessStartInfo(file, args, WorkingDirectory = root, UseShellExecute = false)

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

let examplesDll =
    Path.Combine(root, "examples", "Imle.Examples", "bin", configuration, "net10.0", "Imle.Examples.dll")

// ----- C# tests, example scripts, packages (pack, pack-test) --------------------------------------------------------

/// Runs the xunit C# consumer tests and returns (passed, failed) from `dotnet test`'s "Passed: N" / "Failed: N" lines.
let runCSharpTests () =
    let code, output =
        run
            "dotnet"
            (sprintf "test tests/Imle.CSharp.Tests -c %s --no-build --logger \"console;verbosity=normal\"" configuration)
            true

    let count label =
        let m = Regex.Match(output, sprintf @"(?m)^\s*%s:\s*(\d+)\s*$" label)
        if m.Success then int m.Groups.[1].Value else 0

    let passed, failed = count "Passed", count "Failed"

    if passed + failed = 0 then
        eprintfn "dotnet test printed no 'Passed: N' / 'Failed: N' summary (exit code %d)" code

    passed, (if code <> 0 && failed = 0 then 1 else failed)

/// Runs every example script under examples/scripts (each `#load`s references.fsx, which is not run on its own):
/// one passed per script that exits with 0, one failed otherwise.
let runScripts () =
    let scripts =
        Directory.GetFiles(Path.Combine(root, "examples", "scripts"), "*.fsx")
        |> Array.filter (fun f -> Path.GetFileName f <> "references.fsx")
        |> Array.sort

    let results =
        scripts
        |> Array.map (fun f -> fst (run "dotnet" (sprintf "fsi \"%s\"" f) false) = 0)

    Array.zip scripts results
    |> Array.iter (fun (f, ok) ->
        if not ok then
            eprintfn "script %s failed" (Path.GetFileName f))

    (results |> Array.filter id |> Array.length), (results |> Array.filter not |> Array.length)

let packageDir = Path.Combine(root, "artifacts", "packages")

let packProjects =
    [ "src/Imle.FSharp"
      "src/Imle.CSharp"
      "src/Imle.OrTools"
      "src/Imle.CSharp.OrTools"
      "src/Imle.Data"
      "src/Imle.Distributed"
      "src/Imle.CSharp.Distributed" ]

let version =
    let m =
        Regex.Match(File.ReadAllText(Path.Combine(root, "Directory.Build.props")), @"<Version>([^<]+)</Version>")

    if m.Success then
        m.Groups.[1].Value
    else
        failwith "Directory.Build.props has no <Version>."

/// Checks one produced package: README, licence expression, XML docs, a .snupkg beside it, and exactly the expected
/// dependencies (the managed TorchSharp, never a libtorch native package). Returns the problems found.
let checkPackage (id: string) (expected: string list) : string list =
    let nupkg = Path.Combine(packageDir, sprintf "%s.%s.nupkg" id version)

    if not (File.Exists nupkg) then
        [ sprintf "%s was not produced" nupkg ]
    else
        use zip = IO.Compression.ZipFile.OpenRead nupkg
        let entries = zip.Entries |> Seq.map (fun e -> e.FullName) |> Set.ofSeq

        let nuspec =
            use r = new StreamReader((zip.GetEntry(id + ".nuspec")).Open())
            r.ReadToEnd()

        let deps =
            Regex.Matches(nuspec, "<dependency id=\"([^\"]+)\"")
            |> Seq.map (fun m -> m.Groups.[1].Value)
            |> Set.ofSeq

        [ if not (entries.Contains "README.md") then
              yield id + ": no README.md"
          if not (nuspec.Contains "<license type=\"expression\">MIT</license>") then
              yield id + ": no MIT licence expression"
          if not (entries.Contains(sprintf "lib/net10.0/%s.xml" id)) then
              yield id + ": no XML docs"
          if not (File.Exists(Path.ChangeExtension(nupkg, ".snupkg"))) then
              yield id + ": no .snupkg"
          if deps <> Set.ofList expected then
              yield sprintf "%s: dependencies %A, expected %A" id (Set.toList deps) expected
          if
              deps
              |> Set.exists (fun d -> d.StartsWith("libtorch", StringComparison.OrdinalIgnoreCase))
          then
              yield id + ": depends on a libtorch native package" ]

/// `dotnet pack` of the libraries into artifacts/packages (from the Release build, which must exist).
/// packaging/Pack.targets adds the README and symbols and keeps only direct dependencies; it is applied through
/// CustomAfterMicrosoftCommonTargets for the restore and the pack, then a plain restore puts the obj folders back as a
/// normal build expects them. Returns false (after printing why) on any failure.
let packPackages () : bool =
    if Directory.Exists packageDir then
        Directory.Delete(packageDir, true)

    let props =
        sprintf "-p:CustomAfterMicrosoftCommonTargets=\"%s\"" (Path.Combine(root, "packaging", "Pack.targets"))

    let ok (file, args) =
        let code, _ = run file args false

        if code <> 0 then
            eprintfn "'%s %s' failed with exit code %d" file args code

        code = 0

    let steps =
        [ for project in packProjects do
              yield "dotnet", sprintf "restore %s %s -v q" project props

              yield
                  "dotnet",
                  sprintf
                      "pack %s -c %s --no-build --no-restore -o \"%s\" %s -v q -nologo"
                      project
                      configuration
                      packageDir
                      props
          for project in packProjects do
              yield "dotnet", sprintf "restore %s -v q" project ]

    if not (List.forall ok steps) then
        false
    else
        let problems =
            checkPackage "Imle.FSharp" [ "FSharp.Core"; "TorchSharp" ]
            @ checkPackage "Imle.CSharp" [ "FSharp.Core"; "Imle.FSharp"; "TorchSharp" ]
            @ checkPackage "Imle.OrTools" [ "FSharp.Core"; "Google.OrTools"; "Google.Protobuf"; "Imle.FSharp" ]
            @ checkPackage "Imle.CSharp.OrTools" [ "Google.OrTools"; "Imle.CSharp"; "Imle.OrTools" ]
            @ checkPackage "Imle.Data" [ "FSharp.Core"; "Imle.FSharp"; "TorchSharp" ]
            @ checkPackage "Imle.Distributed" [ "Akka"; "Akka.Cluster"; "Akka.Remote"; "FSharp.Core"; "Imle.FSharp" ]
            @ checkPackage "Imle.CSharp.Distributed" [ "Imle.CSharp"; "Imle.Distributed" ]

        problems |> List.iter (eprintfn "pack: %s")
        printfn "packages in %s:" packageDir

        Directory.GetFiles packageDir
        |> Array.sort
        |> Array.iter (fun f -> printfn "  %s" (Path.GetFileName f))

        problems.IsEmpty

/// A brand-new console project in a temporary folder consumes the packed Imle.CSharp (local folder source plus the
/// machine's NuGet source for TorchSharp and libtorch-cpu-linux-x64), trains a few steps and prints a checked line.
/// The repository's Directory.Build.targets (the native-library fix for Debian 12) is copied beside it, since a project
/// outside the repository does not see it. Returns true on success.
let packTest () : bool =
    let dir =
        Path.Combine(Path.GetTempPath(), "imle-pack-test-" + Guid.NewGuid().ToString("N").Substring(0, 8))

    Directory.CreateDirectory dir |> ignore

    try
        File.Copy(Path.Combine(root, "Directory.Build.targets"), Path.Combine(dir, "Directory.Build.targets"))

        File.WriteAllText(
            Path.Combine(dir, "nuget.config"),
            sprintf
                "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<configuration>\n  <packageSources>\n    <add key=\"imle-local\" value=\"%s\" />\n  </packageSources>\n</configuration>\n"
                packageDir
        )

        File.WriteAllText(
            Path.Combine(dir, "PackTest.csproj"),
            sprintf
                "<Project Sdk=\"Microsoft.NET.Sdk\">\n  <PropertyGroup>\n    <OutputType>Exe</OutputType>\n    <TargetFramework>net10.0</TargetFramework>\n    <ImplicitUsings>enable</ImplicitUsings>\n    <Nullable>enable</Nullable>\n  </PropertyGroup>\n  <ItemGroup>\n    <PackageReference Include=\"Imle.CSharp\" Version=\"%s\" />\n    <PackageReference Include=\"libtorch-cpu-linux-x64\" Version=\"2.10.0\" />\n  </ItemGroup>\n</Project>\n"
                version
        )

        File.WriteAllText(
            Path.Combine(dir, "Program.cs"),
            """
using Imle.CSharp;
using TorchSharp;
using static TorchSharp.torch;

torch.manual_seed(0);
var x = torch.randn(64, 6);
var y = Discrete.Solve(Problems.KSubset(8, 2), x.matmul(torch.randn(6, 8)));
var model = nn.Sequential(nn.Linear(6, 8), ImleLayers.KSubset(8, 2, lambda: 10.0, samples: 3, seed: 1));
var optimizer = optim.Adam(model.parameters(), lr: 0.05);
double first = 0, last = 0;
for (int step = 0; step < 30; step++)
{
    using var scope = torch.NewDisposeScope();
    optimizer.zero_grad();
    var loss = Losses.Hamming(model.forward(x), y);
    Training.Backward(loss);
    optimizer.step();
    if (step == 0) first = loss.ToDouble();
    last = loss.ToDouble();
}
Console.WriteLine($"pack-test loss {first:F3} -> {last:F3}");
Console.WriteLine(last < first ? "PACK-TEST OK" : "PACK-TEST LOSS DID NOT FALL");
            """
        )
        // Packages of this version from an earlier pack may sit in the global cache: drop ours so the new ones are used.
        let cache =
            let _, out = run "dotnet" "nuget locals global-packages --list" true
            let m = Regex.Match(out, @"global-packages:\s*(\S+)")

            if m.Success then
                m.Groups.[1].Value
            else
                Path.Combine(Environment.GetFolderPath Environment.SpecialFolder.UserProfile, ".nuget", "packages")

        for id in [ "imle.fsharp"; "imle.csharp"; "imle.ortools" ] do
            let cached = Path.Combine(cache, id, version)

            if Directory.Exists cached then
                Directory.Delete(cached, true)

        let psi =
            ProcessStartInfo(
                "dotnet",
                "run -c Release",
                WorkingDirectory = dir,
                UseShellExecute = false,
                RedirectStandardOutput = true
            )

        printfn "> dotnet run -c Release   (in %s)" dir
        use p = Process.Start psi
        let output = p.StandardOutput.ReadToEnd()
        p.WaitForExit()
        printfn "%s" output
        p.ExitCode = 0 && output.Contains "PACK-TEST OK"
    finally
        try
            Directory.Delete(dir, true)
        with _ ->
            ()

// ----- bench: machine set-up -----------------------------------------------------------------------------------------

/// Exit code and stdout of a short command, without echoing either (None when it cannot start).
let quietly (file: string) (args: string) : (int * string) option =
    try
        let psi =
            ProcessStartInfo(
                file,
                args,
                WorkingDirectory = root,
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true
            )

        use p = Process.Start psi
        let out = p.StandardOutput.ReadToEnd()
        p.StandardError.ReadToEnd() |> ignore
        p.WaitForExit()
        Some(p.ExitCode, out)
    with _ ->
        None

/// The bench's PyTorch reference (bench/reference.py) runs on Debian's python3-torch and python3-numpy, imported by
/// /usr/bin/python3 (not the python3 first on PATH). Installs them with apt-get (through sudo unless root) when they
/// are absent, and says whether they import. The bench never installs anything itself: without them it skips the
/// reference with a note.
let ensurePythonTorch () : bool =
    let imports () =
        quietly "/usr/bin/python3" "-c \"import torch, numpy\"" |> Option.map fst = Some 0

    if imports () then
        true
    elif not (OperatingSystem.IsLinux()) || not (File.Exists "/usr/bin/apt-get") then
        eprintfn "bench: /usr/bin/python3 cannot import torch and numpy, and there is no apt-get to install them."
        false
    else
        printfn "bench: installing Debian's python3-torch and python3-numpy for the PyTorch reference"
        let isRoot = quietly "id" "-u" |> Option.map (fun (_, out) -> out.Trim()) = Some "0"

        let apt (args: string) =
            if isRoot then
                run "apt-get" args false
            else
                run "sudo" ("apt-get " + args) false

        apt "update -q" |> ignore
        let code, _ = apt "install -y -q python3-torch python3-numpy"
        let ok = code = 0 && imports ()

        if not ok then
            eprintfn "bench: installing python3-torch failed (apt-get exit code %d)." code

        ok

// ----- format, format-check (Fantomas, settings in .editorconfig) ---------------------------------------------------

/// The F# sources Fantomas formats (.fantomasignore excludes build outputs).
let formatPaths = [ "src"; "tests"; "bench"; "examples"; "build.fsx" ]

/// Runs Fantomas in check mode over `formatPaths`: true when every file is already formatted. Changes nothing.
let formatCheck () : bool =
    exec "dotnet" "tool restore"

    let code, _ =
        run "dotnet" (sprintf "fantomas --check %s" (String.Join(" ", formatPaths))) false
    // Fantomas --check: 0 all formatted, 99 some file needs formatting, anything else an error.
    if code = 99 then
        eprintfn "format-check: some files are not formatted; run 'dotnet fsi build.fsx format'."
    elif code <> 0 then
        eprintfn "format-check: fantomas failed with exit code %d" code

    code = 0

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
        [ runCounted
              "dotnet"
              (sprintf
                  "tests/Imle.Properties/bin/%s/net10.0/Imle.Properties.dll --summary %s"
                  configuration
                  (exampleArgs rest))
          runCounted
              "dotnet"
              (sprintf "tests/Imle.OrTools.Tests/bin/%s/net10.0/Imle.OrTools.Tests.dll --summary" configuration)
          // MPI (mpirun -np 2 over shared memory) and the Akka.NET solver farm (worker processes over loopback).
          runCounted
              "dotnet"
              (sprintf
                  "tests/Imle.Distributed.Tests/bin/%s/net10.0/Imle.Distributed.Tests.dll --summary --sequenced"
                  configuration)
          runCSharpTests ()
          runScripts ()
          (if packPackages () && packTest () then
               1, 0
           else
               (eprintfn "pack or pack-test failed"
                0, 1))
          // The code is formatted with Fantomas (settings in .editorconfig): one check, counted as one test.
          (if formatCheck () then 1, 0 else 0, 1) ]

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
| "pack" ->
    build ()
    exit (if packPackages () then 0 else 1)
| "pack-test" ->
    build ()
    let ok = packPackages () && packTest ()
    printfn "pack-test %s (%.1f s)" (if ok then "passed" else "FAILED") sw.Elapsed.TotalSeconds
    exit (if ok then 0 else 1)
| "bench" ->
    // The benchmark suite against a PyTorch reference (installs Debian's python3-torch if absent, unless
    // --no-reference); writes bench/results.md and bench/results.json. Run with libtorch's default OpenMP settings
    // (what a user gets); bench/results.md notes what OMP_WAIT_POLICY=PASSIVE changes.
    build ()

    if
        not (
            List.contains "--no-reference" rest
            || List.contains "--profile" rest
            || List.contains "--help" rest
        )
    then
        if not (ensurePythonTorch ()) then
            eprintfn "bench: the PyTorch reference will be skipped."

    exec "dotnet" (sprintf "bench/Imle.Bench/bin/%s/net10.0/Imle.Bench.dll %s" configuration (exampleArgs rest))
| "format" ->
    // Formats every F# source in place with Fantomas (settings in .editorconfig).
    exec "dotnet" "tool restore"
    exec "dotnet" (sprintf "fantomas %s" (String.Join(" ", formatPaths)))
| "format-check" -> exit (if formatCheck () then 0 else 1)
| "soak" ->
    // 10,000 training steps of an I-MLE layer (fails if resident memory grows > 10 % after warm-up or tensors leak),
    // then the Scalar-lifetime stress test for 10 minutes (every estimator under garbage-collection pressure; CI runs it
    // for 20 s).
    build ()

    exec
        "dotnet"
        (sprintf "tests/Imle.Soak/bin/%s/net10.0/Imle.Soak.dll --steps 10000 %s" configuration (exampleArgs rest))

    exec "dotnet" (sprintf "tests/Imle.Soak/bin/%s/net10.0/Imle.Soak.dll stress --seconds 600" configuration)
| other ->
    eprintfn
        "Unknown target '%s'. Targets: restore, build, test, demo, gradcheck, bench, soak, pack, pack-test, format, format-check."
        other

    exit 2
