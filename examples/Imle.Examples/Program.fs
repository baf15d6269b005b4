/// The experiments console app: `dotnet run --project examples/Imle.Examples -c Release -- <command> [options]`.
module Imle.Examples.Program

open System
open Argu
open Imle.Examples.Output
open Imle.Examples.Experiments

/// Arguments of the demo.
type DemoArgs =
    | Seed of int
    | Out of string
    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | Seed _ -> "random seed (default 0)"
            | Out _ -> "output folder (default out/demo)"

/// The commands.
type Command =
    | [<CliPrefix(CliPrefix.None)>] Demo of ParseResults<DemoArgs>
    | [<CliPrefix(CliPrefix.None)>] Gradcheck of ParseResults<GradCheckCommand.Args>
    | [<CliPrefix(CliPrefix.None)>] Synthetic of ParseResults<Synthetic.Args>
    | [<CliPrefix(CliPrefix.None)>] Warcraft of ParseResults<Warcraft.Args>
    | [<CliPrefix(CliPrefix.None)>] Vae of ParseResults<Vae.Args>
    | [<CliPrefix(CliPrefix.None)>] L2x of ParseResults<L2x.Args>
    | [<CliPrefix(CliPrefix.None)>] Alignment of ParseResults<AlignmentExperiment.Args>
    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | Demo _ -> "the main job: a reduced synthetic experiment and a 12x12 Warcraft-style run"
            | Gradcheck _ -> "every estimator against the exact gradient on small problems"
            | Synthetic _ -> "paper Fig. 3: 5-subsets of 10, optimality-gap curves over 100 runs"
            | Warcraft _ -> "paper Table 2 on procedurally generated Warcraft-style maps"
            | Vae _ -> "paper Fig. 4: discrete 10-of-20 subset VAE on Fashion-MNIST"
            | L2x _ -> "learning to explain: select k patches of a Fashion-MNIST image"
            | Alignment _ -> "optimal-value loss with generalized gradients on global sequence alignment"

let private context (name: string) (seed: int option) (out: string option) (quick: bool) =
    { Seed = defaultArg seed 0; OutDir = defaultArg out (IO.Path.Combine("out", name)); Quick = quick }

[<EntryPoint>]
let main argv =
    let parser = ArgumentParser.Create<Command>(programName = "Imle.Examples")
    try
        let results = parser.ParseCommandLine(argv, raiseOnUsage = true)
        match results.GetSubCommand() with
        | Demo a -> Demo.run (context "demo" (a.TryGetResult DemoArgs.Seed) (a.TryGetResult DemoArgs.Out) true)
        | Gradcheck a -> GradCheckCommand.run (context "gradcheck" (a.TryGetResult GradCheckCommand.Seed) (a.TryGetResult GradCheckCommand.Out) false) a
        | Synthetic a -> Synthetic.run (context "synthetic" (a.TryGetResult Synthetic.Seed) (a.TryGetResult Synthetic.Out) false) a
        | Warcraft a -> Warcraft.run (context "warcraft" (a.TryGetResult Warcraft.Seed) (a.TryGetResult Warcraft.Out) false) a
        | Vae a -> Vae.run (context "vae" (a.TryGetResult Vae.Seed) (a.TryGetResult Vae.Out) false) a
        | L2x a -> L2x.run (context "l2x" (a.TryGetResult L2x.Seed) (a.TryGetResult L2x.Out) false) a
        | Alignment a -> AlignmentExperiment.run (context "alignment" (a.TryGetResult AlignmentExperiment.Seed) (a.TryGetResult AlignmentExperiment.Out) false) a
    with
    | :? ArguParseException as e ->
        eprintfn "%s" e.Message
        (if e.ErrorCode = ErrorCode.HelpText then 0 else 2)
    | :? ArgumentException as e ->
        eprintfn "Invalid argument: %s" e.Message
        2
