/// The test program: every test list marked `[<Tests>]` in this assembly (Expecto's discovery) under the root
/// "ortools"; closes with the line `N passed, N failed`.
module Imle.OrTools.Tests.Main

[<EntryPoint>]
let main argv =
    Imle.Tests.CountingRunner.runInAssembly argv "ortools" (System.Reflection.Assembly.GetExecutingAssembly())
