// Shared by the example scripts: references the BUILT assemblies (run `dotnet fsi build.fsx build` first) and loads the
// TorchSharp native library from the build output, where the build has fixed it for Debian 12's libstdc++. Do not use
// `#r "nuget: TorchSharp"` here: that loads the unpatched native library from the NuGet cache.
#r "../../tests/Imle.Properties/bin/Release/net10.0/TorchSharp.dll"
#r "../../tests/Imle.Properties/bin/Release/net10.0/Imle.FSharp.dll"

open System.IO
open System.Runtime.InteropServices

do
    // fsi has no deps.json to point TorchSharp at runtimes/<rid>/native: load the native library by path once.
    let bin =
        Path.Combine(__SOURCE_DIRECTORY__, "..", "..", "tests", "Imle.Properties", "bin", "Release", "net10.0")

    let rid =
        if RuntimeInformation.IsOSPlatform OSPlatform.Linux then
            "linux-x64"
        else
            RuntimeInformation.RuntimeIdentifier

    let name =
        if RuntimeInformation.IsOSPlatform OSPlatform.Linux then
            "libLibTorchSharp.so"
        else
            "LibTorchSharp"

    let native = Path.Combine(bin, "runtimes", rid, "native", name)

    if File.Exists native then
        NativeLibrary.Load native |> ignore
    else
        eprintfn "references.fsx: %s not found; build the solution first (dotnet fsi build.fsx build)." native
