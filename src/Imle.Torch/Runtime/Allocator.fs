namespace Imle.Torch

open System
open System.Runtime.InteropServices

/// The C library's allocator under libtorch's CPU tensors.
///
/// libtorch takes every CPU tensor's storage from `malloc`. glibc serves a block above its mmap threshold (128 KiB,
/// raised as blocks are freed up to at most 32 MiB) with a fresh `mmap` and gives it back with `munmap` when it is
/// freed, so the next allocation of that size starts from untouched pages: the kernel takes a page fault for each
/// 4 KiB page and zeroes it. A CNN's training step allocates and frees its activations and their gradients every step
/// (the Warcraft network's first convolution alone produces 41 MB at batch 70), and on a virtual machine, where page
/// faults are expensive, those faults can take most of the step. PyTorch runs into the same cost (the bench shows both
/// sides with and without the setting).
///
/// `keepFreedMemory` tells glibc to serve every block from its heap and to keep freed memory for the next allocation
/// instead of returning it to the kernel (`mallopt(M_MMAP_MAX, 0)` and `mallopt(M_TRIM_THRESHOLD, 2^31 − 1)`; the
/// same settings as starting the process with the environment variable `GLIBC_TUNABLES` set to `glibcTunables`). The
/// price: the process's resident memory stays at its peak instead of shrinking after a large step. It changes no
/// result, only where memory comes from. It acts on the whole process and on allocations made after the call. It
/// works fully in glibc's main arena, the one the program's first thread allocates from: run the training loop there
/// (a console program's `main`). Other threads allocate from per-thread arenas, which glibc still shrinks by whole
/// sub-heaps; there the setting helps only in part.
[<RequireQualifiedAccess>]
module Allocator =

    /// The same setting for a process started from outside (any program on glibc, e.g. a Python reference):
    /// the value of the environment variable `GLIBC_TUNABLES`.
    [<Literal>]
    let glibcTunables = "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=2147483647"

    [<Literal>]
    let private MallocTrimThreshold = -1

    [<Literal>]
    let private MallocMmapMax = -4

    [<DllImport("libc.so.6", EntryPoint = "mallopt")>]
    extern int private mallopt(int param, int value)

    let private gate = obj ()
    let mutable private applied = false

    /// Makes glibc keep freed memory for reuse instead of returning large blocks to the kernel (see the module's
    /// documentation for why a training loop wants this and what it costs). Returns true when glibc accepted both
    /// settings, now or at an earlier call; false, changing nothing, where the C library is not glibc (macOS, Windows,
    /// musl-based Linux). Call it once at the start of a program, before the first training step; it is safe to call
    /// again and from any thread.
    let keepFreedMemory () : bool =
        lock gate (fun () ->
            if not applied && RuntimeInformation.IsOSPlatform OSPlatform.Linux then
                try
                    applied <-
                        mallopt (MallocMmapMax, 0) = 1
                        && mallopt (MallocTrimThreshold, Int32.MaxValue) = 1
                with
                | :? DllNotFoundException
                | :? EntryPointNotFoundException -> applied <- false

            applied)

    /// Whether `keepFreedMemory` has taken effect in this process.
    let isKeepingFreedMemory () : bool = lock gate (fun () -> applied)
