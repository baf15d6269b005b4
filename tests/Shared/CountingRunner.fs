/// Runs an Expecto test tree and ends with the line `N passed, N failed` that CI (and build.fsx) reads; shared by the
/// Expecto test programs (linked into each project).
module Imle.Tests.CountingRunner

open System
open Expecto
open Expecto.Impl

/// Runs the tests with the command-line arguments; returns the exit code (1 if any test failed or errored).
let run (argv: string[]) (tests: Test) : int =
    let mutable passed = 0
    let mutable failed = 0

    let printer =
        let basePrinter = TestPrinters.defaultPrinter

        { basePrinter with
            summary =
                fun config summary ->
                    passed <- summary.passed.Length
                    failed <- summary.failed.Length + summary.errored.Length
                    basePrinter.summary config summary }

    let code = runTestsWithCLIArgs [ CLIArguments.Printer printer ] argv tests
    Console.Out.Flush()
    // Expecto's own summary is not in the CI form, and it leaves a colour-reset escape without a newline on stdout:
    // start a fresh line so the summary line stands alone.
    let stdout = new IO.StreamWriter(Console.OpenStandardOutput())
    stdout.WriteLine()
    stdout.WriteLine(sprintf "%d passed, %d failed" passed failed)
    stdout.Flush()
    if failed > 0 then 1 else code

/// Runs every test value marked `[<Tests>]` in the assembly (Expecto's discovery, as `runTestsInAssemblyWithCLIArgs`
/// finds them) under one root list named `root`, so test names read `root.<list>.<test>`; then as `run`.
let runInAssembly (argv: string[]) (root: string) (assembly: Reflection.Assembly) : int =
    match testFromAssembly assembly with
    | Some tests -> run argv (testList root [ tests ])
    | None -> failwithf "%s has no test value marked [<Tests>]." (assembly.GetName().Name)
