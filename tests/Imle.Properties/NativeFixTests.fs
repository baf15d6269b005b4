/// The two halves of the Debian 12 native fix agree on the real library: the runtime patch (Imle.Torch.Native, used by
/// scripts) applied to the libLibTorchSharp.so in the NuGet cache gives exactly the bytes the MSBuild step
/// (packaging/buildTransitive/Imle.FSharp.targets) wrote into this test binary's output folder.
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

/// The copy the build patched, beside this test binary.
let private outputCopy () =
    let path =
        Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so")

    if File.Exists path then Some path else None

[<Tests>]
let tests =
    testList
        "native fix"
        [ test "the runtime patch gives the build step's bytes on the real libLibTorchSharp.so" {
              if not (RuntimeInformation.IsOSPlatform OSPlatform.Linux) then
                  skiptest "Linux only"

              match cachedOriginal (), outputCopy () with
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
              | _, None -> skiptest "no libLibTorchSharp.so in the output folder"
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

          test "ensure finds the build's copy loadable as shipped in a built application" {
              if not (RuntimeInformation.IsOSPlatform OSPlatform.Linux) then
                  skiptest "Linux only"

              Native.ensure ()
              Native.ensure ()

              Expect.equal
                  (Native.lastOutcome ())
                  (Some "loaded as shipped")
                  "the output copy was patched at build time"
          } ]
