namespace Imle.Torch

open System
open System.IO
open System.Text
open TorchSharp
open Imle

/// Save and load trained models with their experiment state, in one file per checkpoint.
///
/// Format (version 1): the magic bytes `IMLECKPT`, a version number, the lengths of three sections and a SHA-256 of
/// their concatenation, then the sections: a UTF-8 JSON header (the model's parameter names, shapes and dtypes, the
/// optimizer's type and parameter shapes, the `TrainingState`), the model's parameters in TorchSharp's own
/// `Module.save` format, and (optionally) the optimizer's state in TorchSharp's `save_state_dict` format (for Adam:
/// step counts and both moment estimates, so resuming continues the same trajectory). Files are written to a
/// temporary name and renamed, so a crash never leaves a half-written checkpoint under the final name.
///
/// Loading checks everything before it touches the model: a missing file raises FileNotFoundException; a truncated,
/// corrupt (checksum mismatch) or foreign file raises InvalidDataException; a checkpoint written for another
/// architecture (different parameter names, shapes or dtypes, another optimizer type or parameter list) raises
/// ArgumentException listing what differs. Each message names the path. A load that fails these checks leaves the
/// model and the optimizer unchanged.
[<RequireQualifiedAccess>]
module Checkpoint =
    // ----- generators and adaptive λ ---------------------------------------------------------------------------------

    /// The exact state of a generator (`Generator.get_state()`), as bytes.
    let captureGenerator (generator: torch.Generator) : byte[] =
        if isNull generator then
            nullArg "generator"

        use state = generator.get_state ()
        use cpu = state.cpu().contiguous()
        cpu.bytes.ToArray()

    /// Restores a generator to a state captured by `captureGenerator` (`Generator.set_state`). Raises
    /// ArgumentException if the bytes are not a state of this kind of generator.
    let restoreGenerator (state: byte[]) (generator: torch.Generator) : unit =
        if isNull generator then
            nullArg "generator"

        if isNull state then
            nullArg "state"

        use current = generator.get_state ()

        if current.numel () <> int64 state.Length then
            invalidArg
                "state"
                (sprintf
                    "state has %d bytes but this generator's state has %d: it was captured from another kind of generator."
                    state.Length
                    (current.numel ()))

        use t = torch.tensor (state, dtype = torch.uint8)
        generator.set_state (t)

    /// The state of a layer's adaptive-λ rule (`DiscreteLayer.Adaptive`).
    let captureAdaptive (cell: AdaptiveLambdaCell) : AdaptiveLambdaState =
        if isNull (box cell) then
            nullArg "cell"

        let state = cell.State

        { Beta = state.Beta
          AverageNonZero = state.AverageNonZero
          TargetNorm = cell.Settings.TargetNonZero
          BetaStep = cell.Settings.BetaStep
          Decay = cell.Settings.Decay }

    /// Restores β and the moving average of a layer's adaptive-λ rule, exactly. Raises ArgumentException if the rule's
    /// fixed settings (target, step, decay) differ from the saved ones.
    let restoreAdaptive (state: AdaptiveLambdaState) (cell: AdaptiveLambdaCell) : unit =
        if isNull (box cell) then
            nullArg "cell"

        let differs (what: string) (saved: float) (actual: float) =
            if BitConverter.DoubleToInt64Bits saved <> BitConverter.DoubleToInt64Bits actual then
                invalidArg
                    "cell"
                    (sprintf
                        "the adaptive-λ rule has %s = %s but the saved one had %s."
                        what
                        (CheckpointFile.floatText actual)
                        (CheckpointFile.floatText saved))

        differs "TargetNonZero" state.TargetNorm cell.Settings.TargetNonZero
        differs "BetaStep" state.BetaStep cell.Settings.BetaStep
        differs "Decay" state.Decay cell.Settings.Decay
        Validate.atLeast "Beta" 0.0 state.Beta
        Validate.finite "AverageNonZero" state.AverageNonZero

        cell.State <-
            { Beta = state.Beta
              AverageNonZero = state.AverageNonZero }

    // ----- model and optimizer descriptions ---------------------------------------------------------------------------

    let private describeModel (model: torch.nn.Module) =
        model.state_dict ()
        |> Seq.map (fun (KeyValue(name, t)) -> name, t.shape, string t.dtype)
        |> Seq.toArray

    let private helperOf (optimizer: torch.optim.Optimizer) =
        match box optimizer with
        | null -> nullArg "optimizer"
        | :? Modules.OptimizerHelper as h -> h
        | _ ->
            invalidArg
                "optimizer"
                (sprintf
                    "optimizer %s does not support saving its state (TorchSharp's save_state_dict is on OptimizerHelper)."
                    (optimizer.GetType().Name))

    let private describeOptimizer (optimizer: torch.optim.Optimizer) =
        optimizer.GetType().FullName, optimizer.parameters () |> Seq.map (fun p -> p.shape) |> Seq.toArray

    // ----- architecture checks ------------------------------------------------------------------------------------------

    let private checkModel (path: string) (saved: (string * int64[] * string)[]) (model: torch.nn.Module) =
        let actual = describeModel model
        let savedMap = saved |> Array.map (fun (n, s, d) -> n, (s, d)) |> dict
        let actualMap = actual |> Array.map (fun (n, s, d) -> n, (s, d)) |> dict
        let problems = ResizeArray<string>()

        for (n, _, _) in saved do
            if not (actualMap.ContainsKey n) then
                problems.Add(sprintf "'%s' is in the checkpoint but not in the model" n)

        for (n, s, d) in actual do
            match savedMap.TryGetValue n with
            | false, _ -> problems.Add(sprintf "'%s' is in the model but not in the checkpoint" n)
            | true, (s', d') ->
                if s <> s' then
                    problems.Add(
                        sprintf
                            "'%s' has shape %s in the model but %s in the checkpoint"
                            n
                            (Validate.shapeText s)
                            (Validate.shapeText s')
                    )
                elif d <> d' then
                    problems.Add(sprintf "'%s' has dtype %s in the model but %s in the checkpoint" n d d')

        if problems.Count > 0 then
            let shown = problems |> Seq.truncate 8 |> String.concat "; "

            let more =
                if problems.Count > 8 then
                    sprintf " (and %d more)" (problems.Count - 8)
                else
                    ""

            invalidArg
                "model"
                (sprintf "Checkpoint '%s' was written for a different architecture: %s%s." path shown more)

    let private checkOptimizer (path: string) (saved: (string * int64[][]) option) (optimizer: torch.optim.Optimizer) =
        match saved with
        | None ->
            invalidArg
                "optimizer"
                (sprintf
                    "Checkpoint '%s' holds no optimizer state (it was saved without one); load it without an optimizer."
                    path)
        | Some(kind, shapes) ->
            let kind', shapes' = describeOptimizer optimizer

            if kind <> kind' then
                invalidArg
                    "optimizer"
                    (sprintf "Checkpoint '%s' holds the state of a %s optimizer, not of a %s." path kind kind')

            if shapes.Length <> shapes'.Length then
                invalidArg
                    "optimizer"
                    (sprintf
                        "Checkpoint '%s' holds optimizer state for %d parameters; this optimizer has %d."
                        path
                        shapes.Length
                        shapes'.Length)

            Array.iteri2
                (fun i (s: int64[]) (s': int64[]) ->
                    if s <> s' then
                        invalidArg
                            "optimizer"
                            (sprintf
                                "Checkpoint '%s': optimizer parameter %d has shape %s in the checkpoint but %s here."
                                path
                                i
                                (Validate.shapeText s)
                                (Validate.shapeText s')))
                shapes
                shapes'

    // ----- public API ---------------------------------------------------------------------------------------------------

    let private saveCore
        (path: string)
        (model: torch.nn.Module)
        (optimizer: torch.optim.Optimizer option)
        (state: TrainingState)
        =
        if String.IsNullOrWhiteSpace path then
            invalidArg "path" "path must be a non-empty file name."

        if isNull model then
            nullArg "model"

        if obj.ReferenceEquals(state, null) then
            nullArg "state"

        let modelBytes =
            use buffer = new MemoryStream()
            model.save (buffer) |> ignore
            buffer.ToArray()

        let optimizerBytes, optimizerInfo =
            match optimizer with
            | None -> [||], None
            | Some o ->
                let helper = helperOf o
                use buffer = new MemoryStream()

                (use w = new BinaryWriter(buffer, Encoding.UTF8, true)
                 helper.save_state_dict (w)
                 w.Flush())

                buffer.ToArray(), Some(describeOptimizer o)

        let headerBytes = CheckpointFile.header (describeModel model) optimizerInfo state

        CheckpointFile.writeFile
            path
            { Header = headerBytes
              Model = modelBytes
              Optimizer = optimizerBytes }

    /// Saves the model's parameters and buffers (TorchSharp's `Module.save` format), the optimizer's state when one is
    /// given (TorchSharp's `save_state_dict`: for Adam the step counts and both moment estimates, for SGD the momentum
    /// buffers) and the experiment state to one file at `path` (replaced atomically if it exists). With `Some
    /// optimizer` training resumes exactly where it stopped; with `None` a resumed run restarts the optimizer (for Adam:
    /// zero moments, step count 0).
    let save
        (path: string)
        (model: torch.nn.Module)
        (optimizer: torch.optim.Optimizer option)
        (state: TrainingState)
        : unit =
        optimizer |> Option.iter (helperOf >> ignore)
        saveCore path model optimizer state

    /// Reads a checkpoint's description (parameter names, shapes and dtypes; optimizer type; experiment state) without
    /// loading it into a model. Raises FileNotFoundException or InvalidDataException as `load` does.
    let read (path: string) : CheckpointInfo =
        let sections = CheckpointFile.readFile path
        let entries, optimizer, state = CheckpointFile.parseHeader path sections.Header

        { Path = path
          Parameters = entries
          OptimizerType = Option.map fst optimizer
          State = state }

    let private loadCore
        (path: string)
        (model: torch.nn.Module)
        (optimizer: torch.optim.Optimizer option)
        : TrainingState =
        if isNull model then
            nullArg "model"

        let sections = CheckpointFile.readFile path
        let entries, savedOptimizer, state = CheckpointFile.parseHeader path sections.Header
        checkModel path entries model

        let helper =
            optimizer
            |> Option.map (fun o ->
                let h = helperOf o
                checkOptimizer path savedOptimizer o
                h)
        // Everything is checked; the checksum guarantees the sections are the ones that were written.
        try
            use stream = new MemoryStream(sections.Model)
            model.load (stream, true) |> ignore
        with e ->
            CheckpointFile.corrupt
                path
                (sprintf "its parameters section cannot be loaded into the model (%s)." e.Message)

        match helper with
        | Some h ->
            try
                use stream = new MemoryStream(sections.Optimizer)
                use r = new BinaryReader(stream)
                h.load_state_dict (r)
            with e ->
                CheckpointFile.corrupt path (sprintf "its optimizer section cannot be loaded (%s)." e.Message)
        | None -> ()

        state

    /// Loads the parameters saved at `path` into `model` and, with `Some optimizer`, the optimizer's state, and returns
    /// the experiment state. The model must have the same architecture (parameter names, shapes, dtypes) as the one
    /// saved, and an optimizer the same type over parameters of the same shapes, with its state in the file; otherwise
    /// ArgumentException lists what differs. A missing file raises FileNotFoundException; a truncated, corrupt or
    /// foreign file InvalidDataException. A load that fails a check changes nothing. With `None`, an optimizer state in
    /// the file is ignored.
    let load (path: string) (model: torch.nn.Module) (optimizer: torch.optim.Optimizer option) : TrainingState =
        optimizer |> Option.iter (helperOf >> ignore)
        loadCore path model optimizer
