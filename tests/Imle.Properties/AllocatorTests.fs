/// `Allocator.keepFreedMemory`: on glibc it is accepted, and afterwards a training step's large blocks are reused
/// without page faults, where glibc otherwise maps them fresh each step (one fault per 4 KiB page). glibc's main arena
/// serves the process's first thread, where a training program's loop runs; the tests run on pool threads (per-thread
/// arenas, which glibc trims by whole sub-heaps), so the probe runs in a child process of this test program, on its
/// main thread (`--allocator-probe`, see `probe`).
module Imle.Tests.AllocatorTests

open System
open System.Diagnostics
open System.IO
open System.Runtime.InteropServices
open Expecto
open TorchSharp
open Imle.Torch

/// The command-line flag that makes the test program run `probe` instead of the tests.
[<Literal>]
let ProbeFlag = "--allocator-probe"

/// Whether the process's C library is glibc (it exports gnu_get_libc_version).
let private isGlibc () =
    let mutable handle = IntPtr.Zero
    let mutable export = IntPtr.Zero

    RuntimeInformation.IsOSPlatform OSPlatform.Linux
    && NativeLibrary.TryLoad("libc.so.6", &handle)
    && NativeLibrary.TryGetExport(handle, "gnu_get_libc_version", &export)

/// The process's minor page faults so far (/proc/self/stat, field 10).
let private minorFaults () =
    let stat = File.ReadAllText "/proc/self/stat"
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.Substring(stat.LastIndexOf ')' + 2).Split ' '
    int64 rest.[7]

/// One step shaped like a CNN's training step: a 7×7 convolution of 70 images of 96×96 to 64 channels at stride 2
/// (41 MB of output), ReLU, backward, everything freed at the end (one dispose scope). Returns its page faults.
let private faultsOfAStep (images: torch.Tensor) (weight: torch.Tensor) =
    let before = minorFaults ()

    do
        use _scope = torch.NewDisposeScope()

        let y =
            torch.nn.functional.conv2d (images, weight, strides = [| 2L; 2L |], padding = [| 3L; 3L |])

        y.relu().sum().backward()
        weight.grad.zero_ () |> ignore

    minorFaults () - before

/// The child's work, on its main thread: six steps, the call, six steps; prints "faults-before faults-after accepted"
/// (each the median of the last three steps on its side of the call) and returns 0.
let probe () : int =
    torch.set_num_threads 1
    use images = torch.rand ([| 70L; 3L; 96L; 96L |])
    use weight = torch.randn([| 64L; 3L; 7L; 7L |]).requires_grad_ true

    let steadyFaults () =
        let faults = Array.init 6 (fun _ -> faultsOfAStep images weight)
        (Array.sort faults.[3..]).[1]

    let before = steadyFaults ()
    let accepted = Allocator.keepFreedMemory ()
    let after = steadyFaults ()
    printfn "%d %d %b" before after accepted
    0

[<Tests>]
let tests =
    testList
        "allocator"
        [ test "keepFreedMemory: on the main thread, a CNN step's freed blocks are reused without page faults" {
              if not (isGlibc ()) then
                  skiptest "the C library is not glibc"

              let psi =
                  ProcessStartInfo(
                      "dotnet",
                      sprintf "\"%s\" %s" (Reflection.Assembly.GetExecutingAssembly().Location) ProbeFlag,
                      UseShellExecute = false,
                      RedirectStandardOutput = true
                  )

              use child = Process.Start psi
              let out = child.StandardOutput.ReadToEnd().Trim()
              child.WaitForExit()
              Expect.equal child.ExitCode 0 (sprintf "the probe ends cleanly (printed '%s')" out)

              match out.Split ' ' with
              | [| before; after; accepted |] ->
                  Expect.equal accepted "true" "glibc accepts the settings"
                  // Mapped fresh, the step's large blocks fault on every 4 KiB page (about 50,000 faults); reused, none
                  // does. The bounds: at least 10,000 before, and at least 95 % fewer after.
                  Expect.isGreaterThan (int64 before) 10000L "before the call the step's blocks are mapped fresh"

                  Expect.isLessThan
                      (int64 after * 20L)
                      (int64 before)
                      (sprintf "page faults of a step: %s before the call, %s after it" before after)
              | _ -> failtestf "the probe printed '%s'" out
          }
          test "keepFreedMemory: accepted on glibc, reported, harmless when repeated" {
              let glibc = isGlibc ()
              Expect.equal (Allocator.keepFreedMemory ()) glibc "accepted exactly on glibc"
              Expect.equal (Allocator.isKeepingFreedMemory ()) glibc "reported in effect"
              Expect.equal (Allocator.keepFreedMemory ()) glibc "a second call is harmless"
          } ]
