// Shared by the tutorials (not a page: fsdocs skips folders that start with a dot). It references the BUILT assemblies
// of examples/Imle.Examples (`dotnet fsi build.fsx docs` builds them first) and loads the native libraries of that
// build output by path, where the build has fixed TorchSharp's for Debian 12's libstdc++. fsdocs evaluates the
// tutorials inside its own process, which has no deps.json naming runtimes/<rid>/native, so the natives are loaded
// here once, before TorchSharp or ScottPlot first need them. Do not use `#r "nuget: TorchSharp"` here: that would load
// the unpatched native library from the NuGet cache.
#r "../../../examples/Imle.Examples/bin/Release/net10.0/TorchSharp.dll"
#r "../../../examples/Imle.Examples/bin/Release/net10.0/Imle.FSharp.dll"
#r "../../../examples/Imle.Examples/bin/Release/net10.0/Imle.Torch.dll"
#r "../../../examples/Imle.Examples/bin/Release/net10.0/Imle.Data.dll"
#r "../../../examples/Imle.Examples/bin/Release/net10.0/Imle.Examples.Common.dll"
#r "../../../examples/Imle.Examples/bin/Release/net10.0/ScottPlot.dll"
#r "../../../examples/Imle.Examples/bin/Release/net10.0/SkiaSharp.dll"
#r "../../../examples/Imle.Examples/bin/Release/net10.0/Spectre.Console.dll"
#r "../../../examples/Imle.Examples/bin/Release/net10.0/Imle.Examples.dll"

open System
open System.IO
open System.Runtime.InteropServices

/// Helpers of the documentation pages only: where things are, and plots embedded in the page.
module Docs =
    /// The repository's root folder.
    let root = Path.GetFullPath(Path.Combine(__SOURCE_DIRECTORY__, "..", "..", ".."))

    /// The build output the tutorials run against.
    let bin =
        Path.Combine(root, "examples", "Imle.Examples", "bin", "Release", "net10.0")

    do
        let native (name: string) =
            if RuntimeInformation.IsOSPlatform OSPlatform.Linux then
                Path.Combine(bin, "runtimes", "linux-x64", "native", "lib" + name + ".so")
            elif RuntimeInformation.IsOSPlatform OSPlatform.OSX then
                Path.Combine(bin, "runtimes", RuntimeInformation.RuntimeIdentifier, "native", "lib" + name + ".dylib")
            else
                Path.Combine(bin, "runtimes", RuntimeInformation.RuntimeIdentifier, "native", name + ".dll")

        let load (name: string) =
            let path = native name

            if File.Exists path then
                NativeLibrary.Load path
            else
                failwithf "docs: %s not found; build examples/Imle.Examples in Release first (dotnet fsi build.fsx docs)." path

        load "LibTorchSharp" |> ignore
        // SkiaSharp's [<DllImport>]s probe only full paths, where a library loaded by path is not found again: answer
        // them with the handles. A resolver can be set once per assembly and process (fsdocs evaluates every page in
        // one process), so only the first page sets it.
        let skia, harfBuzz = load "SkiaSharp", load "HarfBuzzSharp"

        if isNull (AppDomain.CurrentDomain.GetData "imle-docs-resolver") then
            AppDomain.CurrentDomain.SetData("imle-docs-resolver", box true)

            NativeLibrary.SetDllImportResolver(
                typeof<SkiaSharp.SKImage>.Assembly,
                DllImportResolver(fun name _ _ ->
                    if name.Contains "HarfBuzzSharp" then harfBuzz
                    elif name.Contains "SkiaSharp" then skia
                    else IntPtr.Zero)
            )

    /// An <img> tag holding a PNG written by `write path` (one of Imle.Examples.Output's plots), inlined as base64 so
    /// that the page carries its own pictures.
    let png (write: string -> unit) : string =
        let path = Path.Combine(Path.GetTempPath(), sprintf "imle-docs-%s.png" (Guid.NewGuid().ToString "N"))

        try
            write path
            sprintf "<img style=\"max-width:100%%\" src=\"data:image/png;base64,%s\" />" (Convert.ToBase64String(File.ReadAllBytes path))
        finally
            File.Delete path

    /// A line plot (x, y per series) as an <img> tag.
    let linePlot (title: string) (xLabel: string) (yLabel: string) (series: (string * float[] * float[]) list) =
        png (fun path ->
            Imle.Examples.Output.linePlot
                path
                title
                xLabel
                yLabel
                [ for label, x, y in series ->
                      { Imle.Examples.Output.Series.Label = label
                        X = x
                        Y = y
                        Band = None } ])

    /// A bar chart as an <img> tag.
    let barPlot (title: string) (yLabel: string) (labels: string[]) (values: float[]) =
        png (fun path -> Imle.Examples.Output.barPlot path title yLabel labels values)

    /// A heatmap as an <img> tag.
    let heatmap (title: string) (values: float[,]) =
        png (fun path -> Imle.Examples.Output.heatmap path title "column" "row" values)

    // ----- Checks. fsdocs evaluates the snippets in its own process and drops a snippet's runtime exception
    // silently (its output is just empty). So each page reports to a folder named by IMLE_DOCS_CHECKS (set by
    // `build.fsx docs`): `page` at its top, `finish` in its last snippet (which uses the results of the earlier
    // snippets, so it cannot run when one of them failed), and every first-chance exception on the way, so that the
    // build can say which page failed and with what. Without IMLE_DOCS_CHECKS (a plain `dotnet fsi page.fsx`) the
    // page just runs and stops at the first exception.
    let private checks = Environment.GetEnvironmentVariable "IMLE_DOCS_CHECKS"

    let private report (file: string) (line: string) =
        if not (String.IsNullOrEmpty checks) then
            lock typeof<Guid> (fun () ->
                Directory.CreateDirectory checks |> ignore
                File.AppendAllText(Path.Combine(checks, file), line + Environment.NewLine))

    /// The page being evaluated (fsdocs evaluates one page at a time).
    let mutable private current = ""

    do
        // One handler per process: every page #loads this file again.
        if isNull (AppDomain.CurrentDomain.GetData "imle-docs-exceptions") then
            AppDomain.CurrentDomain.SetData("imle-docs-exceptions", box true)

            AppDomain.CurrentDomain.FirstChanceException.Add(fun e ->
                let page = AppDomain.CurrentDomain.GetData "imle-docs-page"

                // The compiler's own exceptions (a snippet naming a value that an earlier, failed snippet did not
                // define) are marked, so that the build can show the exceptions that matter first.
                let source =
                    match e.Exception.TargetSite with
                    | null -> "?"
                    | site when isNull site.DeclaringType -> "?"
                    | site -> site.DeclaringType.Assembly.GetName().Name

                if not (isNull page) then
                    report
                        (string page + ".exceptions")
                        (sprintf "[%s] %s: %s" source (e.Exception.GetType().Name) e.Exception.Message))

    /// Marks the start of a page's evaluation.
    let page (name: string) =
        current <- name
        AppDomain.CurrentDomain.SetData("imle-docs-page", box name)
        report (name + ".started") name

    /// Marks the successful end of a page's evaluation; `results` are values computed by the page's snippets (naming
    /// them makes this snippet fail to compile when a snippet that defines them failed).
    let finish (results: obj list) =
        report (current + ".finished") (sprintf "%d results" results.Length)
        AppDomain.CurrentDomain.SetData("imle-docs-page", null)

    /// Stops the page (and fails the build) when a claim the text makes does not hold for the numbers just computed.
    let expect (ok: bool) (claim: string) =
        if not ok then
            report (current + ".failed") (sprintf "claim does not hold: %s" claim)
            failwithf "docs: the page claims '%s', which the numbers computed now do not support." claim
