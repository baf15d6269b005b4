/// A solver worker of an Imle solver farm: joins the Akka.NET cluster through its seed nodes and solves the MAP jobs
/// that clients send (the built-in problem specs of `FarmProblems.resolve`). Start one on each solver machine.
module Imle.SolverWorker.Program

open System
open System.Threading
open Imle.Distributed

let usage =
    """Usage: dotnet Imle.SolverWorker.dll [--host HOST] [--port PORT] [--seed akka.tcp://imle-farm@HOST:PORT]...
                                  [--parallelism N] [--system NAME]
  --host         the address other nodes reach this one by (default 127.0.0.1; use the machine's IP on a cluster)
  --port         the TCP port to listen on (default 0: any free port; seed nodes need a fixed one)
  --seed         a seed node (repeatable); none: this worker starts a new cluster and is its seed
  --parallelism  jobs solved at once (default: the number of cores)
  --system       the actor system's name, the same on every node (default imle-farm)"""

let rec parse (o: FarmNodeOptions, parallelism: int) (args: string list) =
    let int' (name: string) (v: string) =
        match Int32.TryParse v with
        | true, n -> n
        | _ -> failwithf "%s must be an integer; got '%s'." name v

    match args with
    | [] -> o, parallelism
    | "--host" :: v :: rest -> parse ({ o with Host = v }, parallelism) rest
    | "--port" :: v :: rest -> parse ({ o with Port = int' "--port" v }, parallelism) rest
    | "--seed" :: v :: rest -> parse ({ o with Seeds = o.Seeds @ [ v ] }, parallelism) rest
    | "--parallelism" :: v :: rest -> parse (o, int' "--parallelism" v) rest
    | "--system" :: v :: rest -> parse ({ o with SystemName = v }, parallelism) rest
    | a :: _ -> failwithf "Unknown or incomplete argument '%s'." a

[<EntryPoint>]
let main argv =
    if argv |> Array.exists (fun a -> a = "--help" || a = "-h") then
        printfn "%s" usage
        0
    else
        try
            let options, parallelism =
                parse (FarmNodeOptions.Default, Environment.ProcessorCount) (List.ofArray argv)

            use worker = SolverWorker.Start(options, parallelism)
            printfn "worker up at %s (parallelism %d); Ctrl+C to leave the farm" worker.Address parallelism
            use stop = new ManualResetEventSlim()

            Console.CancelKeyPress.Add(fun e ->
                e.Cancel <- true
                stop.Set())

            WaitHandle.WaitAny([| stop.WaitHandle; (worker.WhenTerminated :> IAsyncResult).AsyncWaitHandle |])
            |> ignore

            0
        with
        | :? ArgumentException as e ->
            eprintfn "%s\n\n%s" e.Message usage
            2
        | Failure msg ->
            eprintfn "%s\n\n%s" msg usage
            2
