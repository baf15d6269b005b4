/// Resident-memory measurement shared by the CI memory test and the soak program (linked into both projects).
module Imle.Tests.Memory

open System

/// Bytes → MiB.
let mib (bytes: int64) = float bytes / 1048576.0

/// The process's working set after a full managed collection (so finalizable TorchSharp handles are released first).
let workingSet () =
    GC.Collect()
    GC.WaitForPendingFinalizers()
    GC.Collect()
    use p = Diagnostics.Process.GetCurrentProcess()
    p.Refresh()
    p.WorkingSet64
