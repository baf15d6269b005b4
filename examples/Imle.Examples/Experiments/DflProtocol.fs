/// `dfl --protocol NAME`: a whole protocol over several seeds into one report, `notebook03` (PyEPO's notebook 03,
/// `DflNotebook03`) or `problems` (DecisionFocusedLearningBenchmarks.jl's problems, `DflProblems`).
module Imle.Examples.Experiments.DflProtocol

open Imle.Examples
open Imle.Examples.Output
open Imle.Examples.Experiments.DflTraining

/// What the command line gave a protocol.
type ProtocolArgs =
    {
        /// The protocol's name as typed.
        Protocol: string
        /// --seeds as typed (None: the protocol's default).
        Seeds: string option
        Epochs: int option
        TrainSize: int option
        TestSize: int option
        Methods: string list option
        /// The options given that a protocol fixes (their names without dashes).
        Fixed: string list
    }

/// Bytes per instance held in memory (as `dfl`'s estimate).
let private bytesPerInstance = float (5 + 40 + 40) * 12.0 + 200.0

/// Checks that no option the protocol fixes is given, reads the seeds and the overrides (--epochs, --train-size,
/// --test-size, --methods) and returns the plan that runs the protocol.
let plan (ctx: RunContext) (args: ProtocolArgs) : Cli.Plan =
    let name = args.Protocol.Trim().ToLowerInvariant()

    let ids, defaultSeeds, perInstanceEpoch =
        match name with
        | "notebook03" -> DflNotebook03.methodIds, "0,1,2,3,4", DflNotebook03.secondsPerInstanceEpoch
        | "problems" -> DflProblems.methodIds, "0..9", 1e-3
        | _ -> invalidArg "protocol" (sprintf "--protocol must be notebook03 or problems; got '%s'." args.Protocol)

    match args.Fixed with
    | option :: _ ->
        invalidArg
            option
            (sprintf
                "--%s is fixed by --protocol %s; leave it out (the report lists the protocol's settings)."
                option
                name)
    | [] -> ()

    let options: ProtocolOptions =
        { Seeds = parseSeeds (defaultArg args.Seeds defaultSeeds)
          Epochs = args.Epochs |> Option.map (positiveInt "epochs")
          TrainSize = args.TrainSize |> Option.map (positiveInt "train-size")
          TestSize = args.TestSize |> Option.map (positiveInt "test-size")
          Methods = args.Methods |> Option.map (knownIds "methods" ids)
          OutDir = ctx.OutDir }

    let instanceEpochs =
        if name = "notebook03" then
            DflNotebook03.instanceEpochs options
        else
            DflProblems.instanceEpochs options

    let trainSize = defaultArg options.TrainSize 1000
    let testSize = defaultArg options.TestSize 1000

    let sizes =
        Cli.describe [ sprintf "--train-size %d" trainSize; sprintf "--test-size %d" testSize ]

    { Folders = [ "--out", ctx.OutDir ]
      Needs =
        [ Cli.Memory(
              sizes,
              "the instances (features, costs, optimal solutions)",
              3.0 * float (trainSize + testSize) * bytesPerInstance
          )
          Cli.SingleArray(sizes, "one float32 cost matrix", float (max trainSize testSize) * 40.0 * 4.0)
          Cli.Time(
              Cli.describe
                  [ sprintf "--protocol %s" name
                    sprintf "%d seed%s" options.Seeds.Length (if options.Seeds.Length = 1 then "" else "s") ],
              Cli.cpuSeconds (perInstanceEpoch * instanceEpochs)
          ) ]
      Run =
        fun () ->
            if name = "notebook03" then
                DflNotebook03.run ctx options |> ignore
            else
                DflProblems.run ctx options |> ignore

            0 }
