/// The test program: every test list marked `[<Tests>]` in this assembly, found by Expecto's discovery, under the root
/// "Imle"; closes with the line `N passed, N failed`. With `--allocator-probe` it runs the allocator test's probe on its
/// main thread instead (see AllocatorTests).
module Imle.Tests.Main

[<EntryPoint>]
let main argv =
    if Array.contains AllocatorTests.ProbeFlag argv then
        AllocatorTests.probe ()
    else
        CountingRunner.runInAssembly argv "Imle" (System.Reflection.Assembly.GetExecutingAssembly())
