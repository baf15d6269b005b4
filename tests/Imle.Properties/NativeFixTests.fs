/// The native layer (docs/notes/native-fix.md): the two halves of the GLIBCXX fix agree on the real library (the runtime
/// patch of Imle.Torch.Native, used by scripts, applied to the libLibTorchSharp.so in the NuGet cache gives exactly the
/// bytes the MSBuild step in packaging/buildTransitive/Imle.FSharp.targets wrote beside the guard in this test binary's
/// output folder), the build installed the guard, and libtorch errors that used to end the process become exceptions.
module Imle.Tests.NativeFixTests

open System
open System.IO
open System.Runtime.InteropServices
open Expecto
open Imle.Torch

/// TorchSharp's native library in the NuGet cache (the package of the TorchSharp version this binary runs with).
let private cachedOriginal () =
    let root =
        match Environment.GetEnvironmentVariable "NUGET_PACKAGES" with
        | null
        | "" -> Path.Combine(Environment.GetFolderPath Environment.SpecialFolder.UserProfile, ".nuget", "packages")
        | dir -> dir

    let v = typeof<TorchSharp.torch>.Assembly.GetName().Version
    let version = sprintf "%d.%d.%d" v.Major v.Minor v.Build

    let path =
        Path.Combine(root, "torchsharp", version, "runtimes", "linux-x64", "native", "libLibTorchSharp.so")

    if File.Exists path then Some path else None

/// TorchSharp's native library as the build left it beside this test binary: `name` is libLibTorchSharp.so (the guard)
/// or libLibTorchSharp.real.so (the original, patched).
let private outputCopy (name: string) =
    let path =
        Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", name)

    if File.Exists path then Some path else None

[<Tests>]
let tests =
    testList
        "native fix"
        [ test "the runtime patch gives the build step's bytes on the real libLibTorchSharp.so" {
              if not (RuntimeInformation.IsOSPlatform OSPlatform.Linux) then
                  skiptest "Linux only"

              match cachedOriginal (), outputCopy Native.OriginalFileName with
              | Some original, Some built ->
                  let image = File.ReadAllBytes original
                  let builtImage = File.ReadAllBytes built

                  Expect.isTrue
                      (Native.requiresVersion Native.GlibcxxVersion image)
                      "the cached original requires GLIBCXX_3.4.32 non-weakly"

                  Expect.isFalse
                      (Native.requiresVersion Native.GlibcxxVersion builtImage)
                      "the build's output copy no longer requires it"

                  Expect.isTrue (Native.weakenVersion Native.GlibcxxVersion image) "the runtime patch changed a byte"
                  Expect.equal image.Length builtImage.Length "same length"

                  let differing =
                      Seq.zip image builtImage |> Seq.filter (fun (a, b) -> a <> b) |> Seq.length

                  Expect.equal differing 0 "the runtime patch and the build step give identical bytes"

                  Expect.isFalse (Native.weakenVersion Native.GlibcxxVersion image) "a second patch changes nothing"
              | None, _ -> skiptest "TorchSharp's package is not in the NuGet cache"
              | _, None ->
                  failtest "no libLibTorchSharp.real.so in the output folder (the build did not install the guard)"
          }

          test "the patch leaves other files and other versions alone" {
              let notElf = Array.init 200 byte
              Expect.isFalse (Native.weakenVersion Native.GlibcxxVersion notElf) "not an ELF file: unchanged"
              Expect.sequenceEqual notElf (Array.init 200 byte) "bytes unchanged"

              match cachedOriginal () with
              | Some original ->
                  let image = File.ReadAllBytes original
                  let copy = Array.copy image
                  Expect.isFalse (Native.weakenVersion "GLIBCXX_99.0" image) "an absent version: nothing to do"
                  Expect.isTrue (image = copy) "bytes unchanged"
              | None -> ()
          }

          test "bad arguments are refused with the parameter named" {
              Expect.throwsT<ArgumentException> (fun () -> Native.weakenVersion "" [||] |> ignore) "empty version"

              Expect.throwsT<ArgumentNullException>
                  (fun () -> Native.requiresVersion Native.GlibcxxVersion null |> ignore)
                  "null image"
          }

          test "the build installed the guard under TorchSharp's name, and every function of the original is exported" {
              if not (RuntimeInformation.IsOSPlatform OSPlatform.Linux) then
                  skiptest "Linux only"

              match outputCopy "libLibTorchSharp.so", outputCopy Native.OriginalFileName with
              | Some guard, Some original ->
                  Expect.isTrue (Native.isGuard (File.ReadAllBytes guard)) "libLibTorchSharp.so is the guard"
                  Expect.isFalse (Native.isGuard (File.ReadAllBytes original)) "the original sits beside it"
                  let guardHandle = NativeLibrary.Load guard
                  let originalHandle = NativeLibrary.Load original
                  // Every function the generator found exported by TorchSharp's library (native/guard/generate.py).
                  let names =
                      Text.RegularExpressions.Regex.Matches(
                          File.ReadAllText(
                              Path.Combine(ScalarLifetimeTests.root, "native", "guard", "forwarders.generated.cpp")
                          ),
                          "(?m)^    \"(\\w+)\",$"
                      )
                      |> Seq.map (fun m -> m.Groups.[1].Value)
                      |> List.ofSeq

                  Expect.isGreaterThan names.Length 1000 "the generated list names the exported functions"

                  let missing (handle: nativeint) =
                      names
                      |> List.filter (fun name -> not (fst (NativeLibrary.TryGetExport(handle, name))))

                  Expect.isEmpty (missing originalHandle) "every listed function is in the original"
                  Expect.isEmpty (missing guardHandle) "every listed function is in the guard"

                  for name in
                      [ "THSTensor_matmul"
                        "THSTensor_cummax"
                        "THSAutograd_grad"
                        "THSTorch_dispose_scalar" ] do
                      Expect.contains names name (name + " is listed")
              | _ ->
                  failtest
                      "the build did not leave libLibTorchSharp.so and libLibTorchSharp.real.so in the output folder"
          }

          test "ensure loads the guard the build installed in a built application" {
              if not (RuntimeInformation.IsOSPlatform OSPlatform.Linux) then
                  skiptest "Linux only"

              Native.ensure ()
              Native.ensure ()

              match Native.lastOutcome () with
              | Some outcome -> Expect.stringStarts outcome "loaded the guard " "the guard installed at build time"
              | None -> failtest "ensure recorded no outcome"
          }

          test
              "matmul with bad shapes, cummax(5) on 2-D, autograd.grad with an unused input: three exceptions (child process)" {
              // TorchSharp 0.107.0's native functions for these catch nothing: before the guard each ended the process
              // with std::terminate (exit 134). Plain TorchSharp calls, before any Imle call, in a fresh process.
              let code, output = ScalarLifetimeTests.runSoak "guard"
              Expect.equal code 0 (sprintf "guard probe exit code (134 = std::terminate); output:\n%s" output)

              Expect.stringContains
                  output
                  "guard probe: 3 of 3 caught, then computed 8"
                  "three exceptions, then a result"
          } ]
