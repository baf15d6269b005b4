module Imle.Tests.Main

open System
open Expecto
open Expecto.Impl

let allTests =
    testList "Imle" [
        NativeTests.tests
        NoiseTests.tests
        SolverTests.tests
        ExactTests.tests
        EstimatorTests.tests
        TorchNoiseSolveTests.tests
        TorchEstimatorTests.tests
        ReliabilityTests.tests
        IdxTests.tests
    ]

[<EntryPoint>]
let main argv =
    let mutable passed = 0
    let mutable failed = 0
    let printer =
        let baseP = TestPrinters.defaultPrinter
        { baseP with
            summary =
                fun config summary ->
                    passed <- summary.passed.Length
                    failed <- summary.failed.Length + summary.errored.Length
                    baseP.summary config summary }
    let code = runTestsWithCLIArgs [ CLIArguments.Printer printer ] argv allTests
    Console.Out.Flush()
    // CI reads this exact line; Expecto's own summary is not in this form.
    let stdout = new IO.StreamWriter(Console.OpenStandardOutput())
    // Expecto leaves a colour-reset escape without a newline: start a fresh line so the summary stands alone.
    stdout.WriteLine()
    stdout.WriteLine(sprintf "%d passed, %d failed" passed failed)
    stdout.Flush()
    if failed > 0 then 1 else code
