/// Placeholder until the experiment lands; the command reports that it is not available yet.
module Imle.Examples.Experiments.AlignmentExperiment

open Argu

/// Command-line arguments.
type Args =
    | Seed of int
    | Out of string
    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | Seed _ -> "random seed"
            | Out _ -> "output folder"

/// Runs the experiment.
let run (_ctx: Imle.Examples.Output.RunContext) (_args: ParseResults<Args>) : int =
    eprintfn "The 'AlignmentExperiment' experiment is not implemented yet."
    2
