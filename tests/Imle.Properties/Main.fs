/// The test program: every test list marked `[<Tests>]` in this assembly, found by Expecto's discovery, under the root
/// "Imle"; closes with the line `N passed, N failed`.
module Imle.Tests.Main

[<EntryPoint>]
let main argv =
    CountingRunner.runInAssembly argv "Imle" (System.Reflection.Assembly.GetExecutingAssembly())
