// The single entry point of the repository: `dotnet fsi build.fsx <target> [-- args]`.
// Targets: build, test, docs, site-check, demo, gradcheck, bench, pack, pack-test, scripts, soak, format, format-check. Each restores
// tools and packages itself.
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

/// Stops the build with a one-line error and exit code 1 (build.fsx's dispatch turns any exception into the same).
exception BuildFailed of string

let exec file args =
    let code, _ = run file args false

    if code <> 0 then
        raise (BuildFailed(sprintf "'%s %s' failed with exit code %d" file args code))

/// Whether a program answers on PATH (`command -v`).
let onPath (program: string) =
    let psi =
        ProcessStartInfo("sh", sprintf "-c \"command -v %s\"" program, UseShellExecute = false)

    psi.RedirectStandardOutput <- true
    use p = Process.Start psi
    p.StandardOutput.ReadToEnd() |> ignore
    p.WaitForExit()
    p.ExitCode = 0

/// Installs Debian packages with apt-get (through sudo unless root); true when apt-get succeeded.
let aptInstall (packages: string) : bool =
    if not (OperatingSystem.IsLinux()) || not (File.Exists "/usr/bin/apt-get") then
        eprintfn "no apt-get on this machine to install %s" packages
        false
    else
        printfn "installing %s with apt-get" packages

        let apt (args: string) =
            if Environment.UserName = "root" then
                run "apt-get" args false
            else
                run "sudo" ("apt-get " + args) false

        apt "update -q" |> ignore
        fst (apt ("install -y -q " + packages)) = 0

/// The TorchSharp guard library (native/guard, see docs/notes/native-fix.md) built with the system g++ into
/// artifacts/native/linux-x64, where Directory.Build.targets points the build step and the Imle.Torch package at it.
/// Installs g++ with apt-get where it is missing. Only on x86-64 Linux (the package ships the linux-x64 binary).
let buildGuard () =
    let output =
        Path.Combine(root, "artifacts", "native", "linux-x64", "libImleTorchSharpGuard.so")

    let sources =
        [ "guard.hpp"; "guard.cpp"; "forwarders.generated.cpp" ]
        |> List.map (fun f -> Path.Combine(root, "native", "guard", f))

    if
        not (OperatingSystem.IsLinux())
        || Runtime.InteropServices.RuntimeInformation.OSArchitecture
           <> Runtime.InteropServices.Architecture.X64
    then
        printfn "guard: not x86-64 Linux; the TorchSharp guard library is not built here"
    elif
        File.Exists output
        && sources
           |> List.forall (fun f -> File.GetLastWriteTimeUtc f < File.GetLastWriteTimeUtc output)
    then
        ()
    else
        if not (onPath "g++") && not (aptInstall "g++") then
            raise (BuildFailed "guard: g++ is missing and could not be installed (apt-get install g++)")

        Directory.CreateDirectory(Path.GetDirectoryName output) |> ignore

        exec
            "g++"
            (sprintf
                "-O2 -fPIC -shared -std=c++17 -fvisibility=hidden -Wall -Wextra -Werror -Wl,-soname,libLibTorchSharp.so -Wl,-z,defs -o \"%s\" native/guard/guard.cpp native/guard/forwarders.generated.cpp -ldl"
                output)

let restore () =
    exec "dotnet" "tool restore"
    exec "dotnet" "paket restore"
    buildGuard ()

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

let packageDir = Path.Combine(root, "artifacts", "packages")

let packProjects =
    [ "src/Imle.FSharp"
      "src/Imle.Torch"
      "src/Imle.CSharp"
      "src/Imle.OrTools"
      "src/Imle.CSharp.OrTools"
      "src/Imle.Data"
      "src/Imle.Distributed"
      "src/Imle.CSharp.Distributed" ]

/// The prerelease part of the package version: `alpha.<number of commits>`, so that every commit packs a new version
/// and restores pick the repack up instead of a cached older build of the same version (`alpha.0` without git).
let versionSuffix =
    try
        let psi =
            ProcessStartInfo("git", "rev-list --count HEAD", WorkingDirectory = root, RedirectStandardOutput = true)

        use p = Process.Start psi
        let count = p.StandardOutput.ReadToEnd().Trim()
        p.WaitForExit()

        if p.ExitCode = 0 && Regex.IsMatch(count, @"^\d+$") then
            "alpha." + count
        else
            "alpha.0"
    with _ ->
        "alpha.0"

/// The package version: Directory.Build.props' <VersionPrefix> (the one place of the version) and `versionSuffix`,
/// e.g. 0.2.0-alpha.412.
let version =
    let m =
        Regex.Match(
            File.ReadAllText(Path.Combine(root, "Directory.Build.props")),
            @"<VersionPrefix>([^<]+)</VersionPrefix>"
        )

    if m.Success then
        m.Groups.[1].Value + "-" + versionSuffix
    else
        failwith "Directory.Build.props has no <VersionPrefix>."

/// Checks one produced package: README, licence expression, XML docs, a .snupkg beside it, release notes, repository
/// metadata, the native-fix targets (Imle.Torch), and exactly the expected dependencies (the managed TorchSharp, never a libtorch native package). Returns the problems found.
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
          if not (Regex.IsMatch(nuspec, @"<releaseNotes>\s*\S")) then
              yield id + ": no release notes (CHANGELOG.md needs a section for " + version + ")"
          if not (nuspec.Contains "<repository type=\"git\"") then
              yield id + ": no repository metadata"
          if id = "Imle.Torch" && not (entries.Contains "buildTransitive/Imle.Torch.targets") then
              yield id + ": no buildTransitive/Imle.Torch.targets (the native fix for consumers)"
          if
              id = "Imle.Torch"
              && not (entries.Contains "runtimes/linux-x64/native/libImleTorchSharpGuard.so")
          then
              yield
                  id
                  + ": no runtimes/linux-x64/native/libImleTorchSharpGuard.so (the TorchSharp guard)"
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
        sprintf
            "-p:CustomAfterMicrosoftCommonTargets=\"%s\" -p:VersionSuffix=%s"
            (Path.Combine(root, "packaging", "Pack.targets"))
            versionSuffix

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
            checkPackage "Imle.FSharp" [ "FSharp.Core" ]
            @ checkPackage "Imle.Torch" [ "FSharp.Core"; "Imle.FSharp"; "TorchSharp" ]
            @ checkPackage "Imle.CSharp" [ "FSharp.Core"; "Imle.FSharp"; "Imle.Torch"; "TorchSharp" ]
            @ checkPackage "Imle.OrTools" [ "FSharp.Core"; "Google.OrTools"; "Google.Protobuf"; "Imle.FSharp" ]
            @ checkPackage "Imle.CSharp.OrTools" [ "Google.OrTools"; "Imle.CSharp"; "Imle.OrTools" ]
            @ checkPackage "Imle.Data" [ "FSharp.Core"; "Imle.FSharp"; "Imle.Torch"; "TorchSharp" ]
            @ checkPackage
                "Imle.Distributed"
                [ "Akka"
                  "Akka.Cluster"
                  "Akka.Remote"
                  "FSharp.Core"
                  "Imle.FSharp"
                  "Imle.Torch" ]
            @ checkPackage "Imle.CSharp.Distributed" [ "Imle.CSharp"; "Imle.Distributed" ]

        problems |> List.iter (eprintfn "pack: %s")
        printfn "packages in %s:" packageDir

        Directory.GetFiles packageDir
        |> Array.sort
        |> Array.iter (fun f -> printfn "  %s" (Path.GetFileName f))

        problems.IsEmpty

// ----- docs: the documentation site (fsdocs) -----------------------------------------------------------------------

/// The libraries whose XML docs make the API reference.
let docsProjects =
    [ "src/Imle.FSharp/Imle.FSharp.fsproj"
      "src/Imle.Torch/Imle.Torch.fsproj"
      "src/Imle.CSharp/Imle.CSharp.csproj"
      "src/Imle.Data/Imle.Data.fsproj"
      "src/Imle.OrTools/Imle.OrTools.fsproj"
      "src/Imle.CSharp.OrTools/Imle.CSharp.OrTools.csproj" ]

/// What the tutorials run against (docs/site/.shared/load.fsx references the examples app's build output; the C#
/// page runs the C# example) plus the documented libraries, built in Release.
let buildForDocs () =
    restore ()

    for project in [ "examples/Imle.Examples"; "examples/Imle.CSharp.Example" ] @ docsProjects do
        exec "dotnet" (sprintf "build %s -c %s -v minimal -nologo" project configuration)

/// The tutorials of the site: the pages made from docs/site/*.fsx.
let tutorialPages () =
    Directory.GetFiles(Path.Combine(root, "docs", "site"), "*.fsx")
    |> Array.map Path.GetFileNameWithoutExtension
    |> Array.sort

/// What fsdocs is given as the site's root URL ({{root}} in docs/site/_template.html and in the API pages' links), then
/// replaced by `relativeSiteLinks`.
let siteRootMarker = "https://imle-site-root.invalid/"

/// Makes the site work wherever it is opened (from disk, or from any static server at any path): every link to the
/// site root becomes relative to the page (`""` at the top, `"../"` one folder down); `data-root`, which fsdocs' search
/// script reads, becomes "." or ".."; the search index's addresses become relative to the site root (the template's
/// script resolves them against `data-root`). Also removes the NuGet.config that fsdocs copies into every site.
///
/// fsdocs links every type in a signature to the type's page, but makes no page for a type whose comments it cannot
/// read (a C# delegate such as Imle.CSharp.SpanMapSolver: "not a delegate type"): such links become plain text, and
/// the build says which.
let relativeSiteLinks (output: string) =
    let missingApiPage =
        Regex(sprintf "<a href=\"%sreference/([^\"#]+\\.html)(#[^\"]*)?\"[^>]*>(.*?)</a>" (Regex.Escape siteRootMarker))

    let unlinked = Collections.Generic.HashSet<string>()

    for file in Directory.GetFiles(output, "*.html", SearchOption.AllDirectories) do
        let depth = Path.GetRelativePath(output, file).Split('/', '\\').Length - 1
        let up = String.replicate depth "../"
        let text = File.ReadAllText file

        let withApiLinks =
            missingApiPage.Replace(
                text,
                fun (m: Match) ->
                    if File.Exists(Path.Combine(output, "reference", m.Groups.[1].Value)) then
                        m.Value
                    else
                        unlinked.Add m.Groups.[1].Value |> ignore
                        m.Groups.[3].Value
            )

        let fixedText =
            withApiLinks
                .Replace(
                    sprintf "data-root=\"%s\"" siteRootMarker,
                    sprintf "data-root=\"%s\"" (if depth = 0 then "." else up.TrimEnd '/')
                )
                .Replace(siteRootMarker, up)

        if fixedText <> text then
            File.WriteAllText(file, fixedText)

    for page in unlinked do
        printfn "docs: fsdocs made no API page reference/%s; links to it are plain text" page

    let index = Path.Combine(output, "index.json")

    if File.Exists index then
        File.WriteAllText(index, File.ReadAllText(index).Replace(siteRootMarker, ""))

    let stray = Path.Combine(output, "NuGet.config")

    if File.Exists stray then
        File.Delete stray

/// The install lines at the top of every tutorial are an HTML block in the page's text (fsdocs would read `#r` lines in
/// the script's text as directives); fsdocs turns that block into a code cell of the page's notebook, still as HTML.
/// This makes that cell the plain F# lines, so that each notebook starts with a code cell that installs the packages.
let notebookInstallCells (output: string) =
    for file in Directory.GetFiles(output, "*.ipynb") do
        let notebook = Text.Json.Nodes.JsonNode.Parse(File.ReadAllText file)
        let mutable changed = false

        for cell in notebook.["cells"].AsArray() do
            let source =
                String.Join("", cell.["source"].AsArray() |> Seq.map (fun line -> line.GetValue<string>()))

            if cell.["cell_type"].GetValue<string>() = "code" && source.StartsWith "<pre><code" then
                let code =
                    Net.WebUtility.HtmlDecode(Regex.Replace(source, "</?(pre|code)[^>]*>", "")).TrimEnd()

                let lines = code.Split '\n'

                cell.["source"] <-
                    Text.Json.Nodes.JsonArray(
                        lines
                        |> Array.mapi (fun i line ->
                            Text.Json.Nodes.JsonValue.Create(if i < lines.Length - 1 then line + "\n" else line)
                            :> Text.Json.Nodes.JsonNode)
                    )

                changed <- true

        if changed then
            File.WriteAllText(file, notebook.ToJsonString(Text.Json.JsonSerializerOptions(WriteIndented = true)))

/// Builds the site into output/ with fsdocs: the API reference of `docsProjects` and the literate tutorials of
/// docs/site/*.fsx, evaluated. fsdocs fails (--strict) on a tutorial that does not type-check, but drops a snippet's
/// runtime exception silently; so every page reports to the folder IMLE_DOCS_CHECKS names (see
/// docs/site/.shared/load.fsx): a page passes when its last snippet ran and no claim of its text failed. Returns
/// (passed, failed): one per page, plus one for the fsdocs build itself; prints what went wrong.
let buildDocs () : int * int =
    let checks =
        Path.Combine(Path.GetTempPath(), "imle-docs-checks-" + Guid.NewGuid().ToString("N").Substring(0, 8))

    Environment.SetEnvironmentVariable("IMLE_DOCS_CHECKS", checks)

    let code, _ =
        run
            "dotnet"
            (sprintf
                "fsdocs build --clean --strict --eval --input docs/site --output output --projects %s --properties Configuration=%s --parameters root %s"
                (String.Join(" ", docsProjects))
                configuration
                siteRootMarker)
            false

    Environment.SetEnvironmentVariable("IMLE_DOCS_CHECKS", null)

    if code = 0 then
        relativeSiteLinks (Path.Combine(root, "output"))
        notebookInstallCells (Path.Combine(root, "output"))

    if code <> 0 then
        eprintfn "docs: fsdocs build failed with exit code %d" code

    let pages = tutorialPages ()

    let read (page: string) (suffix: string) =
        let path = Path.Combine(checks, page + suffix)
        if File.Exists path then File.ReadAllLines path else [||]

    let results =
        [ for page in pages do
              let started = (read page ".started").Length > 0
              let finished = (read page ".finished").Length > 0
              let claims = read page ".failed"

              if finished && claims.Length = 0 then
                  printfn "docs: %s.fsx evaluated" page
                  yield true
              elif not started then
                  eprintfn
                      "docs: %s.fsx was not evaluated (fsdocs stopped before it, or it does not call Docs.page)"
                      page

                  yield false
              else
                  eprintfn
                      "docs: %s.fsx FAILED to evaluate%s"
                      page
                      (if finished then "" else " (its last snippet did not run)")

                  claims |> Array.iter (eprintfn "  %s")
                  // Exceptions thrown while it ran, [assembly] first; the F# compiler's own (a later snippet naming
                  // a value that the failed one did not define) only when there is nothing else.
                  let exceptions = read page ".exceptions" |> Array.distinct

                  let shown =
                      match
                          exceptions
                          |> Array.filter (fun l -> not (l.StartsWith "[FSharp.Compiler.Service]"))
                      with
                      | [||] -> exceptions
                      | others -> others

                  if shown.Length > 0 then
                      eprintfn "  exceptions thrown while it ran (one of them, not caught, stopped it):"
                      shown |> Array.truncate 8 |> Array.iter (eprintfn "    %s")

                  yield false ]

    if Directory.Exists checks then
        Directory.Delete(checks, true)

    let passed = results |> List.filter id |> List.length
    let failed = results.Length - passed

    if code = 0 && failed = 0 then
        printfn "docs: site in %s (open index.html)" (Path.Combine(root, "output"))

    (passed + (if code = 0 then 1 else 0)), (failed + (if code = 0 then 0 else 1))

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

/// The NuGet global packages folder (where restores, `dotnet fsi`'s `#r "nuget:"` included, take packages from).
let globalPackages () =
    match quietly "dotnet" "nuget locals global-packages --list" with
    | Some(0, out) ->
        let m = Regex.Match(out, @"global-packages:\s*(\S+)")

        if m.Success then
            m.Groups.[1].Value
        else
            Path.Combine(Environment.GetFolderPath Environment.SpecialFolder.UserProfile, ".nuget", "packages")
    | _ -> Path.Combine(Environment.GetFolderPath Environment.SpecialFolder.UserProfile, ".nuget", "packages")

/// Packages of this version from an earlier pack may sit in the global cache under the same version: drop ours, so that
/// the next restore (a project's or a script's) takes the packages just packed.
let dropCachedPackages () =
    let cache = globalPackages ()

    for id in packProjects |> List.map (fun p -> Path.GetFileName(p).ToLowerInvariant()) do
        let cached = Path.Combine(cache, id, version)

        if Directory.Exists cached then
            Directory.Delete(cached, true)

/// The first fenced code block of `language` in the package README (packaging/README.md): the pack test runs the
/// README's two-minute start exactly as printed.
let readmeBlock (language: string) =
    let readme = File.ReadAllText(Path.Combine(root, "packaging", "README.md"))
    let m = Regex.Match(readme, sprintf @"(?s)```%s\n(.*?)```" language)

    if m.Success then
        m.Groups.[1].Value
    else
        failwithf "packaging/README.md has no ```%s block." language

/// Runs a command in `dir` with these extra environment variables, its stdout captured and echoed; returns (exit code,
/// stdout).
let runInWith (environment: (string * string) list) (dir: string) (file: string) (args: string) =
    printfn "> %s %s   (in %s)" file args dir

    let psi =
        ProcessStartInfo(file, args, WorkingDirectory = dir, UseShellExecute = false, RedirectStandardOutput = true)

    for name, value in environment do
        psi.Environment.[name] <- value

    use p = Process.Start psi
    let output = p.StandardOutput.ReadToEnd()
    p.WaitForExit()
    printfn "%s" output
    p.ExitCode, output

/// Runs a command in `dir` with its stdout captured and echoed; returns (exit code, stdout).
let runIn (dir: string) (file: string) (args: string) = runInWith [] dir file args

/// A folder whose `libc10.so` is not libtorch's (a copy of the system zlib), for LD_LIBRARY_PATH: a script must still
/// load libtorch from its package, as it must when a system libtorch (Debian's python3-torch) is on the search path.
/// None when there is no zlib to copy.
let decoyLibtorchFolder (parent: string) : string option =
    [ "/lib/x86_64-linux-gnu/libz.so.1"
      "/usr/lib/x86_64-linux-gnu/libz.so.1"
      "/lib64/libz.so.1" ]
    |> List.tryFind File.Exists
    |> Option.map (fun zlib ->
        let folder = Path.Combine(parent, "decoy-libs")
        Directory.CreateDirectory folder |> ignore
        File.Copy(zlib, Path.Combine(folder, "libc10.so"), true)
        folder)

/// The guard probe as a new user writes it, before any Imle call: the three TorchSharp calls whose libtorch errors ended
/// the process (exit 134) before Imle's guard library (matmul with bad shapes, cummax(5) on a 2-D tensor, autograd.grad
/// with an unused input), each in try/catch, then one Imle call. C# (a console app) and F# (a script), both ending with
/// "guard probe: N of 3 caught, then Imle solved S".
let guardProbeCSharp =
    """using TorchSharp;

var attempts = new (string Name, Action Run)[]
{
    ("matmul with bad shapes", () => torch.randn(3, 4).matmul(torch.randn(5, 6))),
    ("cummax(5) on a 2-D tensor", () => torch.randn(3, 4).cummax(5)),
    ("autograd.grad with an unused input", () =>
    {
        var x = torch.randn(3, requires_grad: true);
        var unused = torch.randn(3, requires_grad: true);
        torch.autograd.grad(new[] { x.mul(x).sum() }, new[] { unused });
    }),
};
var caught = 0;
foreach (var (name, run) in attempts)
{
    try { run(); Console.WriteLine($"{name}: no exception"); }
    catch (Exception e) { caught++; Console.WriteLine($"{name}: caught {e.GetType().Name}: {e.Message.Split('\n')[0]}"); }
}
var solved = Imle.CSharp.Discrete.Solve(Imle.CSharp.Problems.KSubset(4, 2), torch.tensor(new[] { 0.1, 0.9, 0.5, 0.2 }, new long[] { 1, 4 }));
Console.WriteLine($"guard probe: {caught} of {attempts.Length} caught, then Imle solved {solved.sum().ToDouble()}");
"""

let guardProbeFSharp =
    """open TorchSharp

let attempts: (string * (unit -> unit)) list =
    [ "matmul with bad shapes", (fun () -> torch.randn(3L, 4L).matmul(torch.randn (5L, 6L)) |> ignore)
      "cummax(5) on a 2-D tensor", (fun () -> torch.randn(3L, 4L).cummax 5L |> ignore)
      "autograd.grad with an unused input",
      (fun () ->
          let x = torch.randn (3L, requires_grad = true)
          let unused = torch.randn (3L, requires_grad = true)
          torch.autograd.grad ([| x.mul(x).sum () |], [| unused |]) |> ignore) ]

let caught =
    attempts
    |> List.filter (fun (name, run) ->
        try
            run ()
            printfn "%s: no exception" name
            false
        with e ->
            printfn "%s: caught %s: %s" name (e.GetType().Name) (e.Message.Split('\n').[0])
            true)
    |> List.length

let solved =
    Imle.Torch.TensorSolve.solve (Imle.Problem.kSubset 4 2) (torch.tensor([| 0.1; 0.9; 0.5; 0.2 |]).reshape (1L, 4L))

printfn "guard probe: %d of %d caught, then Imle solved %g" caught attempts.Length (solved.sum().ToDouble())
"""

/// True when a guard probe's output says all three errors were caught and the Imle call then gave 2 (a 2-subset).
let guardProbePassed (output: string) =
    output.Contains "guard probe: 3 of 3 caught, then Imle solved 2"

/// True when the output has at least two lines "step N  loss X" and the last loss is below the first.
let lossFell (output: string) =
    let losses =
        Regex.Matches(output, @"(?m)^step \d+\s+loss ([0-9.]+)\s*$")
        |> Seq.map (fun m -> float m.Groups.[1].Value)
        |> Array.ofSeq

    losses.Length >= 2 && losses.[losses.Length - 1] < losses.[0]

/// A new user's two-minute start, against the packages just packed (artifacts/packages as a local source plus the
/// machine's NuGet source for TorchSharp and libtorch-cpu-linux-x64), in a temporary folder outside the repository
/// (so nothing of this repository's build applies):
/// - C#: `dotnet new console`, `dotnet add package Imle.CSharp` and `libtorch-cpu-linux-x64` 2.10.0, the package
///   README's C# example as Program.cs, `dotnet run` (the native fix comes from the package's buildTransitive targets);
/// - F#: the package README's script, with `#i "nuget: <artifacts/packages>"` and the version pinned, run by `dotnet fsi`
///   (the native fix comes from Imle.Torch.Native.ensure), with a decoy libc10.so first on LD_LIBRARY_PATH (a system
///   libtorch must not be picked up instead of the package's).
/// Each must train (the printed loss falls). Then the guard probe (`guardProbeCSharp`, `guardProbeFSharp`) as a second
/// console app and a script: three libtorch errors caught, then an Imle call. Returns true when all four pass.
let packTest () : bool =
    let dir =
        Path.Combine(Path.GetTempPath(), "imle-pack-test-" + Guid.NewGuid().ToString("N").Substring(0, 8))

    let app = Path.Combine(dir, "ImleStart")
    Directory.CreateDirectory app |> ignore

    try
        File.WriteAllText(
            Path.Combine(dir, "nuget.config"),
            sprintf
                "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<configuration>\n  <packageSources>\n    <add key=\"imle-local\" value=\"%s\" />\n  </packageSources>\n</configuration>\n"
                packageDir
        )

        dropCachedPackages ()

        let csharp =
            let steps =
                [ "new console --force"
                  sprintf "add package Imle.CSharp --version %s" version
                  "add package libtorch-cpu-linux-x64 --version 2.10.0" ]

            let prepared = steps |> List.forall (fun args -> fst (runIn app "dotnet" args) = 0)

            if prepared then
                File.WriteAllText(Path.Combine(app, "Program.cs"), readmeBlock "csharp")
                let code, output = runIn app "dotnet" "run -c Release"
                code = 0 && lossFell output
            else
                false

        let header =
            sprintf
                "#i \"nuget: %s\"\n#r \"nuget: Imle.Torch, %s\"\n#r \"nuget: libtorch-cpu-linux-x64, 2.10.0\"\nImle.Torch.Native.ensure ()\n\n"
                packageDir
                version

        let environment =
            match decoyLibtorchFolder dir with
            | Some folder -> [ "LD_LIBRARY_PATH", folder ]
            | None -> []

        let fsharp =
            let script =
                (sprintf "#i \"nuget: %s\"\n" packageDir)
                + Regex.Replace(
                    readmeBlock "fsharp",
                    "#r \"nuget: (Imle\\.[A-Za-z.]+)(, [^\"]*)?\"",
                    sprintf "#r \"nuget: $1, %s\"" version
                )

            File.WriteAllText(Path.Combine(dir, "start.fsx"), script)
            let code, output = runInWith environment dir "dotnet" "fsi start.fsx"
            code = 0 && lossFell output

        // The guard probe: a second new console app, and a script.
        let probe = Path.Combine(dir, "GuardProbe")
        Directory.CreateDirectory probe |> ignore

        let csharpProbe =
            let steps =
                [ "new console --force"
                  sprintf "add package Imle.CSharp --version %s" version
                  "add package libtorch-cpu-linux-x64 --version 2.10.0" ]

            if steps |> List.forall (fun args -> fst (runIn probe "dotnet" args) = 0) then
                File.WriteAllText(Path.Combine(probe, "Program.cs"), guardProbeCSharp)
                let code, output = runIn probe "dotnet" "run -c Release"
                code = 0 && guardProbePassed output
            else
                false

        let fsharpProbe =
            File.WriteAllText(Path.Combine(dir, "guard.fsx"), header + guardProbeFSharp)
            let code, output = runInWith environment dir "dotnet" "fsi guard.fsx"
            code = 0 && guardProbePassed output

        let say ok good = if ok then good else "FAILED"

        printfn
            "pack-test: C# console app %s; F# script %s; guard probe (three libtorch errors caught) C# %s, F# %s"
            (say csharp "trains")
            (say fsharp "trains")
            (say csharpProbe "passed")
            (say fsharpProbe "passed")

        csharp && fsharp && csharpProbe && fsharpProbe
    finally
        try
            Directory.Delete(dir, true)
        with _ ->
            ()

/// Runs every example script under examples/scripts with `dotnet fsi`, after `packPackages`: the scripts reference the
/// packages as users do (`#r "nuget: Imle.Torch"`), and examples/scripts/nuget.config adds artifacts/packages as a
/// source. One passed per script that exits with 0, one failed otherwise.
let runScripts () =
    dropCachedPackages ()

    let scripts =
        Directory.GetFiles(Path.Combine(root, "examples", "scripts"), "*.fsx")
        |> Array.sort

    let results =
        scripts
        |> Array.map (fun f -> fst (run "dotnet" (sprintf "fsi \"%s\"" f) false) = 0)

    Array.zip scripts results
    |> Array.iter (fun (f, ok) ->
        if not ok then
            eprintfn "script %s failed" (Path.GetFileName f))

    (results |> Array.filter id |> Array.length), (results |> Array.filter not |> Array.length)

// ----- site-check: the documentation site in headless Chromium ----------------------------------------------------

/// Debian's Chromium at /usr/bin/chromium, installed with apt-get when it is missing. Returns its path, or None (after
/// saying why) when it is absent and cannot be installed.
let ensureChromium () : string option =
    let chromium = "/usr/bin/chromium"

    if File.Exists chromium then
        Some chromium
    elif not (OperatingSystem.IsLinux()) || not (File.Exists "/usr/bin/apt-get") then
        eprintfn "site-check: %s is missing and there is no apt-get to install Debian's chromium." chromium
        None
    else
        printfn "site-check: installing Debian's chromium"

        if aptInstall "chromium" && File.Exists chromium then
            Some chromium
        else
            eprintfn "site-check: installing chromium failed."
            None

/// Checks the built site (output/) in headless Chromium with tests/site/check-site.mjs (playwright-core from npm, with
/// tests/site/package-lock.json): every local link of every page resolves, and the index and each tutorial load from
/// a local static server styled, with their executed output (see the script). Then checks the check: served with one
/// link broken on purpose, it must fail and name that link. Returns (passed, failed): one each.
let siteCheck () : int * int =
    let siteDir = Path.Combine(root, "output")
    let script = Path.Combine(root, "tests", "site", "check-site.mjs")
    let modules = Path.Combine(root, "tests", "site", "node_modules", "playwright-core")

    let prepared =
        if not (File.Exists(Path.Combine(siteDir, "index.html"))) then
            eprintfn "site-check: %s has no index.html (run the docs target first)." siteDir
            false
        else
            match ensureChromium () with
            | None -> false
            | Some _ ->
                Directory.Exists modules
                || fst (run "npm" "ci --prefix tests/site --no-audit --no-fund" false) = 0

    if not prepared then
        0, 2
    else
        let args =
            sprintf "\"%s\" \"%s\" %s" script siteDir (String.Join(" ", tutorialPages ()))

        let code, _ = run "node" args true
        let brokenCode, brokenOutput = run "node" (args + " --break-link") true

        let catches =
            brokenCode = 1
            && brokenOutput.Contains "link no-such-page-broken-on-purpose.html -> 404"

        if not catches then
            eprintfn
                "site-check: with a link broken on purpose the check did not fail naming it (exit code %d)."
                brokenCode

        printfn
            "site-check: the site %s; a broken link %s"
            (if code = 0 then "passed" else "FAILED")
            (if catches then "is caught" else "is NOT caught")

        (if code = 0 then 1 else 0) + (if catches then 1 else 0),
        (if code = 0 then 0 else 1) + (if catches then 0 else 1)

// ----- bench: machine set-up -----------------------------------------------------------------------------------------

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
        let ok = aptInstall "python3-torch python3-numpy" && imports ()

        if not ok then
            eprintfn "bench: installing python3-torch failed."

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

/// Set by a target whose own closing line must come last (`test`: CI reads "N passed, N failed" there).
let mutable timed = false

// Every target ends with one line saying how long it took, also when a step stops it early through `exit`.
AppDomain.CurrentDomain.ProcessExit.Add(fun _ ->
    if not timed then
        printfn
            "%s %s in %.1f s"
            target
            (if Environment.ExitCode = 0 then
                 "finished"
             else
                 sprintf "FAILED (exit code %d)" Environment.ExitCode)
            sw.Elapsed.TotalSeconds)

/// Builds the examples app and the libraries it references, nothing else (no tests, bench or solver worker).
let buildExamples () =
    restore ()
    exec "dotnet" (sprintf "build examples/Imle.Examples -c %s -v minimal -nologo" configuration)

// Every target ends with one line and a non-zero exit code when it fails, never a stack trace.
try
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
              // The documentation site: one check per tutorial page (it must evaluate) and one for the fsdocs build; then the
              // built site in headless Chromium (links, styles, executed output) and that check's own check (a link broken
              // on purpose must fail it).
              buildDocs ()
              siteCheck ()
              // The packages, then what uses them as a user would: the example scripts (#r "nuget:") and the pack test.
              (if packPackages () then
                   let scripts = runScripts ()

                   if packTest () then
                       fst scripts + 1, snd scripts
                   else
                       eprintfn "pack-test failed"
                       fst scripts, snd scripts + 1
               else
                   eprintfn "pack failed"
                   0, 1)
              // The code is formatted with Fantomas (settings in .editorconfig): one check, counted as one test.
              (if formatCheck () then 1, 0 else 0, 1) ]

        let passed = results |> List.sumBy fst
        let failed = results |> List.sumBy snd
        printfn "test %s in %.1f s" (if failed = 0 then "finished" else "FAILED") sw.Elapsed.TotalSeconds
        timed <- true
        // CI reads this closing line.
        printfn "%d passed, %d failed" passed failed
        exit (if failed = 0 then 0 else 1)
    | "demo" ->
        // The estimate first: the build's (measured on 2 cores after a restore), then the app prints the demo's own.
        printfn
            "demo: about 1 minute to build the examples app (seconds when it is built), then the demo's own estimate"

        buildExamples ()
        exec "dotnet" (sprintf "%s demo %s" examplesDll (exampleArgs rest))
    | "gradcheck" ->
        buildExamples ()
        exec "dotnet" (sprintf "%s gradcheck %s" examplesDll (exampleArgs rest))
    | "docs" ->
        // The documentation site (API reference and evaluated tutorials) in output/.
        buildForDocs ()
        let _, failed = buildDocs ()
        exit (if failed = 0 then 0 else 1)
    | "site-check" ->
        // The built site (output/, from the docs target) in headless Chromium; see siteCheck.
        let _, failed = siteCheck ()
        exit (if failed = 0 then 0 else 1)
    | "pack" ->
        build ()
        exit (if packPackages () then 0 else 1)
    | "scripts" ->
        // The example scripts against freshly packed packages, as a user runs them (#r "nuget:").
        build ()

        if not (packPackages ()) then
            exit 1

        let passed, failed = runScripts ()
        printfn "scripts %s in %.1f s" (if failed = 0 then "finished" else "FAILED") sw.Elapsed.TotalSeconds
        timed <- true
        printfn "%d passed, %d failed" passed failed
        exit (if failed = 0 then 0 else 1)
    | "pack-test" ->
        build ()
        let ok = packPackages () && packTest ()
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

        // Case 7 runs `mpirun -np 2`: Open MPI is installed where it is missing (as .ci/run does); without it the bench
        // skips that case with one line.
        if not (List.contains "--help" rest) && not (onPath "mpirun") then
            if not (aptInstall "openmpi-bin") then
                eprintfn "bench: Open MPI could not be installed; case 7 will be skipped."

        // The C++ yardstick of the grid case (bench/dijkstra.cpp) when g++ is present; Imle.Bench skips it with a note
        // otherwise.
        let cpp = Path.Combine(root, "bench", "Imle.Bench", "bin", "dijkstra")

        if File.Exists cpp then
            File.Delete cpp

        match quietly "g++" (sprintf "-O3 -o %s bench/dijkstra.cpp" cpp) with
        | Some(0, _) -> printfn "bench: built the C++ reference Dijkstra (g++ -O3)"
        | _ -> eprintfn "bench: g++ is absent or failed; the C++ reference of the grid case will be skipped."

        exec "dotnet" (sprintf "bench/Imle.Bench/bin/%s/net10.0/Imle.Bench.dll %s" configuration (exampleArgs rest))
    | "format" ->
        // Formats every F# source in place with Fantomas (settings in .editorconfig).
        exec "dotnet" "tool restore"
        exec "dotnet" (sprintf "fantomas %s" (String.Join(" ", formatPaths)))
    | "format-check" -> exit (if formatCheck () then 0 else 1)
    | "soak" ->
        // 10,000 training steps of an I-MLE layer (fails if resident memory grows > 10 % after warm-up or tensors leak),
        // then the Scalar-lifetime stress tests for 10 minutes each (every estimator, then TorchSharp's own tensor * number,
        // under garbage-collection pressure; CI runs them for 20 s).
        build ()

        exec
            "dotnet"
            (sprintf "tests/Imle.Soak/bin/%s/net10.0/Imle.Soak.dll --steps 10000 %s" configuration (exampleArgs rest))

        exec "dotnet" (sprintf "tests/Imle.Soak/bin/%s/net10.0/Imle.Soak.dll stress --seconds 600" configuration)
        // TorchSharp's own `tensor * number` under the same load for 10 minutes (the guard's Scalar quarantine).
        exec
            "dotnet"
            (sprintf "tests/Imle.Soak/bin/%s/net10.0/Imle.Soak.dll stress --seconds 600 --control" configuration)
    | other ->
        eprintfn
            "Unknown target '%s'. Targets: restore, build, test, demo, gradcheck, bench, soak, pack, pack-test, scripts, docs, site-check, format, format-check."
            other

        exit 2
with
| BuildFailed message ->
    eprintfn "%s FAILED: %s" target message
    exit 1
| e ->
    eprintfn "%s FAILED: %s: %s" target (e.GetType().Name) (e.Message.Split('\n').[0])
    exit 1
