/// A solver worker of an Imle solver farm: joins the Akka.NET cluster through its seed nodes and solves the MAP jobs
/// that clients send (the built-in problem specs of `FarmProblems.builtIn`). Start one on each solver machine.
module Imle.SolverWorker.Program

open System
open System.Threading
open Imle.Distributed

let usage =
    "Usage: dotnet Imle.SolverWorker.dll [--host HOST] [--port PORT] [--seed ADDRESS]... [--parallelism N] [--system NAME]\n"
    + "                                  [--cert FILE [--key FILE] (--ca FILE | --pin THUMBPRINT...)] [--insecure]\n"
    + FarmCommandLine.usage
    + "\nTLS with mutual certificate authentication is required on any address but loopback (or --insecure)."

[<EntryPoint>]
let main argv =
    if argv |> Array.exists (fun a -> a = "--help" || a = "-h") then
        printfn "%s" usage
        0
    else
        try
            let options, parallelism =
                FarmCommandLine.parse FarmNodeOptions.Default Environment.ProcessorCount (List.ofArray argv)

            use worker = SolverWorker.Start(options, parallelism)

            printfn
                "worker up at %s (parallelism %d, %s); Ctrl+C to leave the farm"
                worker.Address
                parallelism
                (if options.Tls.IsSome then
                     "TLS, mutual authentication"
                 else
                     "plain TCP")

            use stop = new ManualResetEventSlim()

            Console.CancelKeyPress.Add(fun e ->
                e.Cancel <- true
                stop.Set())

            WaitHandle.WaitAny([| stop.WaitHandle; (worker.WhenTerminated :> IAsyncResult).AsyncWaitHandle |])
            |> ignore

            0
        with :? ArgumentException as e ->
            eprintfn "%s\n\n%s" e.Message usage
            2
