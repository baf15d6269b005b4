namespace Imle.Torch

open System
open System.Collections.Generic
open System.Globalization
open System.IO
open System.Security.Cryptography
open System.Text
open System.Text.Json
open TorchSharp
open Imle

/// The state of an adaptive-λ rule (AIMLE) as saved in a checkpoint.
type AdaptiveLambdaState =
    {
        /// The current β.
        Beta: float
        /// The moving average of non-zero gradient entries per sample.
        AverageNonZero: float
        /// The target number of non-zero gradient entries per sample.
        TargetNorm: float
        /// The β step.
        BetaStep: float
        /// The moving-average decay.
        Decay: float
    }

/// Experiment state saved next to a model's parameters: where training stands and everything needed to continue it
/// bit for bit (the generators' states, the adaptive-λ rules' β and moving averages).
type TrainingState =
    {
        /// The number of optimisation steps taken.
        Step: int64
        /// The current epoch.
        Epoch: int
        /// The experiment's seed (informational; the generators' exact states are in `Generators`).
        Seed: int64
        /// Named `torch.Generator` states (`Generator.get_state()` bytes), e.g. each layer's noise generator and the
        /// data generator. Restore them with `Checkpoint.restoreGenerator`.
        Generators: Map<string, byte[]>
        /// Named adaptive-λ states. Restore them with `Checkpoint.restoreAdaptive`.
        AdaptiveLambdas: Map<string, AdaptiveLambdaState>
        /// Free-form settings (optimizer name and learning rate, λ, k, ...), as strings.
        Settings: Map<string, string>
        /// Named metrics (loss, accuracy, ...). Any double, NaN and ±∞ included, round-trips exactly.
        Metrics: Map<string, float>
    }

    /// Step 0, epoch 0, seed 0, nothing else.
    static member Empty =
        { Step = 0L
          Epoch = 0
          Seed = 0L
          Generators = Map.empty
          AdaptiveLambdas = Map.empty
          Settings = Map.empty
          Metrics = Map.empty }

/// What a checkpoint file holds, read without loading it into a model.
type CheckpointInfo =
    {
        /// The file's path.
        Path: string
        /// The model's state-dict entries (parameters and buffers) in order: name, shape and dtype.
        Parameters: (string * int64[] * string)[]
        /// The optimizer's type name, when the checkpoint holds an optimizer state.
        OptimizerType: string option
        /// The experiment state.
        State: TrainingState
    }

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

    let private magic = Encoding.ASCII.GetBytes "IMLECKPT"
    let private version = 1
    /// magic (8) + version (4) + three section lengths (3 × 8) + SHA-256 (32).
    let private headerSize = 8 + 4 + 24 + 32

    let private shapeText (shape: int64[]) = "[" + String.Join(", ", shape) + "]"

    let private floatText (v: float) =
        v.ToString("R", CultureInfo.InvariantCulture)

    let private corrupt (path: string) (what: string) : 'a =
        raise (InvalidDataException(sprintf "Checkpoint '%s' is not a valid Imle checkpoint: %s" path what))

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
                        (floatText actual)
                        (floatText saved))

        differs "TargetNonZero" state.TargetNorm cell.Settings.TargetNonZero
        differs "BetaStep" state.BetaStep cell.Settings.BetaStep
        differs "Decay" state.Decay cell.Settings.Decay
        Validate.atLeast "Beta" 0.0 state.Beta
        Validate.finite "AverageNonZero" state.AverageNonZero

        cell.State <-
            { Beta = state.Beta
              AverageNonZero = state.AverageNonZero }

    // ----- JSON header ------------------------------------------------------------------------------------------------

    let private writeShape (w: Utf8JsonWriter) (shape: int64[]) =
        w.WriteStartArray()

        for d in shape do
            w.WriteNumberValue d

        w.WriteEndArray()

    let private writeState (w: Utf8JsonWriter) (state: TrainingState) =
        w.WriteStartObject("state")
        w.WriteNumber("step", state.Step)
        w.WriteNumber("epoch", state.Epoch)
        w.WriteNumber("seed", state.Seed)
        w.WriteStartObject("generators")

        for KeyValue(k, v) in state.Generators do
            if isNull v then
                invalidArg "state" (sprintf "state.Generators['%s'] is null." k)

            w.WriteString(k, Convert.ToBase64String v)

        w.WriteEndObject()
        w.WriteStartObject("adaptiveLambdas")

        for KeyValue(k, a) in state.AdaptiveLambdas do
            w.WriteStartObject(k)
            w.WriteString("beta", floatText a.Beta)
            w.WriteString("averageNonZero", floatText a.AverageNonZero)
            w.WriteString("targetNorm", floatText a.TargetNorm)
            w.WriteString("betaStep", floatText a.BetaStep)
            w.WriteString("decay", floatText a.Decay)
            w.WriteEndObject()

        w.WriteEndObject()
        w.WriteStartObject("settings")

        for KeyValue(k, v) in state.Settings do
            w.WriteString(k, v)

        w.WriteEndObject()
        w.WriteStartObject("metrics")
        // Doubles as round-trip strings: JSON numbers cannot hold NaN or ±∞.
        for KeyValue(k, v) in state.Metrics do
            w.WriteString(k, floatText v)

        w.WriteEndObject()
        w.WriteEndObject()

    let private header
        (entries: (string * int64[] * string)[])
        (optimizer: (string * int64[][]) option)
        (state: TrainingState)
        =
        use buffer = new MemoryStream()

        (use w = new Utf8JsonWriter(buffer, JsonWriterOptions(Indented = true))
         w.WriteStartObject()
         w.WriteString("format", "imle-checkpoint")
         w.WriteNumber("version", version)
         w.WriteStartArray("parameters")

         for (name, shape, dtype) in entries do
             w.WriteStartObject()
             w.WriteString("name", name)
             w.WritePropertyName("shape")
             writeShape w shape
             w.WriteString("dtype", dtype)
             w.WriteEndObject()

         w.WriteEndArray()

         match optimizer with
         | None -> w.WriteNull("optimizer")
         | Some(kind, shapes) ->
             w.WriteStartObject("optimizer")
             w.WriteString("type", kind)
             w.WriteStartArray("parameters")

             for s in shapes do
                 writeShape w s

             w.WriteEndArray()
             w.WriteEndObject()

         writeState w state
         w.WriteEndObject())

        buffer.ToArray()

    let private readShape (e: JsonElement) =
        [| for d in e.EnumerateArray() -> d.GetInt64() |]

    let private readFloat (e: JsonElement) (name: string) =
        Double.Parse(e.GetProperty(name).GetString(), NumberStyles.Float, CultureInfo.InvariantCulture)

    let private readState (e: JsonElement) : TrainingState =
        let objectMap (name: string) (f: JsonElement -> 'T) =
            e.GetProperty(name).EnumerateObject()
            |> Seq.map (fun p -> p.Name, f p.Value)
            |> Map.ofSeq

        { Step = e.GetProperty("step").GetInt64()
          Epoch = e.GetProperty("epoch").GetInt32()
          Seed = e.GetProperty("seed").GetInt64()
          Generators = objectMap "generators" (fun v -> Convert.FromBase64String(v.GetString()))
          AdaptiveLambdas =
            objectMap "adaptiveLambdas" (fun v ->
                { Beta = readFloat v "beta"
                  AverageNonZero = readFloat v "averageNonZero"
                  TargetNorm = readFloat v "targetNorm"
                  BetaStep = readFloat v "betaStep"
                  Decay = readFloat v "decay" })
          Settings = objectMap "settings" (fun v -> v.GetString())
          Metrics =
            objectMap "metrics" (fun v -> Double.Parse(v.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture)) }

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

    // ----- file layout ------------------------------------------------------------------------------------------------

    type private Sections =
        { Header: byte[]
          Model: byte[]
          Optimizer: byte[] }

    let private writeFile (path: string) (sections: Sections) =
        let full = Path.GetFullPath path
        let directory = Path.GetDirectoryName full

        if not (String.IsNullOrEmpty directory) && not (Directory.Exists directory) then
            raise (
                DirectoryNotFoundException(
                    sprintf "Cannot save checkpoint '%s': directory '%s' does not exist." path directory
                )
            )

        let hash =
            use sha = SHA256.Create()

            sha.TransformBlock(sections.Header, 0, sections.Header.Length, null, 0)
            |> ignore

            sha.TransformBlock(sections.Model, 0, sections.Model.Length, null, 0) |> ignore

            sha.TransformFinalBlock(sections.Optimizer, 0, sections.Optimizer.Length)
            |> ignore

            sha.Hash

        let temporary = full + "." + Guid.NewGuid().ToString("N") + ".tmp"

        try
            (use stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write)
             use w = new BinaryWriter(stream)
             w.Write magic
             w.Write version
             w.Write(int64 sections.Header.Length)
             w.Write(int64 sections.Model.Length)
             w.Write(int64 sections.Optimizer.Length)
             w.Write hash
             w.Write sections.Header
             w.Write sections.Model
             w.Write sections.Optimizer
             w.Flush()
             stream.Flush(true))

            File.Move(temporary, full, true)
        finally
            if File.Exists temporary then
                File.Delete temporary

    let private readFile (path: string) : Sections =
        if String.IsNullOrWhiteSpace path then
            invalidArg "path" "path must be a non-empty file name."

        if not (File.Exists path) then
            raise (FileNotFoundException(sprintf "Checkpoint '%s' does not exist." path, path))

        let bytes = File.ReadAllBytes path

        if bytes.Length < headerSize then
            corrupt
                path
                (sprintf
                    "the file has %d bytes, fewer than the %d-byte header (truncated or not a checkpoint)."
                    bytes.Length
                    headerSize)

        if not (ReadOnlySpan(bytes, 0, 8).SequenceEqual(ReadOnlySpan magic)) then
            corrupt
                path
                "it does not start with the IMLECKPT magic bytes (not an Imle checkpoint: a bare Module.save file or another format?)."

        let fileVersion = BitConverter.ToInt32(bytes, 8)

        if fileVersion <> version then
            corrupt
                path
                (sprintf "format version %d is not supported (this library reads version %d)." fileVersion version)

        let lengths = [| for i in 0..2 -> BitConverter.ToInt64(bytes, 12 + 8 * i) |]
        let total = Array.sum lengths

        if
            lengths |> Array.exists (fun l -> l < 0L)
            || total <> int64 (bytes.Length - headerSize)
        then
            corrupt
                path
                (sprintf
                    "its sections claim %d bytes but %d follow the header (truncated or overwritten)."
                    total
                    (bytes.Length - headerSize))

        let expected = Array.sub bytes 36 32

        let actual =
            SHA256.HashData(ReadOnlySpan(bytes, headerSize, bytes.Length - headerSize))

        if not (ReadOnlySpan(expected).SequenceEqual(ReadOnlySpan actual)) then
            corrupt path "its SHA-256 checksum does not match its contents (the file is corrupt)."

        let h = int lengths.[0]
        let m = int lengths.[1]

        { Header = Array.sub bytes headerSize h
          Model = Array.sub bytes (headerSize + h) m
          Optimizer = Array.sub bytes (headerSize + h + m) (int lengths.[2]) }

    let private parseHeader (path: string) (bytes: byte[]) =
        try
            use doc = JsonDocument.Parse(ReadOnlyMemory bytes)
            let root = doc.RootElement

            if root.GetProperty("format").GetString() <> "imle-checkpoint" then
                corrupt path "its header is not an imle-checkpoint header."

            let entries =
                [| for p in root.GetProperty("parameters").EnumerateArray() ->
                       p.GetProperty("name").GetString(),
                       readShape (p.GetProperty "shape"),
                       p.GetProperty("dtype").GetString() |]

            let optimizer =
                match root.GetProperty("optimizer") with
                | o when o.ValueKind = JsonValueKind.Null -> None
                | o ->
                    Some(
                        o.GetProperty("type").GetString(),
                        [| for s in o.GetProperty("parameters").EnumerateArray() -> readShape s |]
                    )

            entries, optimizer, readState (root.GetProperty "state")
        with
        | :? InvalidDataException -> reraise ()
        | e -> corrupt path (sprintf "its JSON header cannot be read (%s)." e.Message)

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
                        sprintf "'%s' has shape %s in the model but %s in the checkpoint" n (shapeText s) (shapeText s')
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
                    "Checkpoint '%s' holds no optimizer state (it was saved with Checkpoint.save); load it with Checkpoint.load."
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
                                (shapeText s)
                                (shapeText s')))
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

        let headerBytes = header (describeModel model) optimizerInfo state

        writeFile
            path
            { Header = headerBytes
              Model = modelBytes
              Optimizer = optimizerBytes }

    /// Saves the model's parameters and buffers (TorchSharp's `Module.save` format) and the experiment state to one
    /// file at `path` (replaced atomically if it exists). Does not save an optimizer state: resuming from such a
    /// checkpoint restarts the optimizer (for Adam: zero moments, step count 0); use `saveWithOptimizer` to continue.
    let save (path: string) (model: torch.nn.Module) (state: TrainingState) : unit = saveCore path model None state

    /// `save`, plus the optimizer's state (TorchSharp's `save_state_dict`: for Adam the step counts and both moment
    /// estimates, for SGD the momentum buffers), so that training resumes exactly where it stopped.
    let saveWithOptimizer
        (path: string)
        (model: torch.nn.Module)
        (optimizer: torch.optim.Optimizer)
        (state: TrainingState)
        : unit =
        helperOf optimizer |> ignore
        saveCore path model (Some optimizer) state

    /// Reads a checkpoint's description (parameter names, shapes and dtypes; optimizer type; experiment state) without
    /// loading it into a model. Raises FileNotFoundException or InvalidDataException as `load` does.
    let read (path: string) : CheckpointInfo =
        let sections = readFile path
        let entries, optimizer, state = parseHeader path sections.Header

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

        let sections = readFile path
        let entries, savedOptimizer, state = parseHeader path sections.Header
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
            corrupt path (sprintf "its parameters section cannot be loaded into the model (%s)." e.Message)

        match helper with
        | Some h ->
            try
                use stream = new MemoryStream(sections.Optimizer)
                use r = new BinaryReader(stream)
                h.load_state_dict (r)
            with e ->
                corrupt path (sprintf "its optimizer section cannot be loaded (%s)." e.Message)
        | None -> ()

        state

    /// Loads the parameters saved at `path` into `model` and returns the experiment state. The model must have the
    /// same architecture (parameter names, shapes, dtypes) as the one saved; otherwise ArgumentException lists what
    /// differs. A missing file raises FileNotFoundException; a truncated, corrupt or foreign file InvalidDataException.
    /// A load that fails a check changes nothing. An optimizer state in the file, if any, is ignored.
    let load (path: string) (model: torch.nn.Module) : TrainingState = loadCore path model None

    /// `load`, plus the optimizer's state, which the file must hold (written by `saveWithOptimizer` for an optimizer
    /// of the same type over parameters of the same shapes); ArgumentException otherwise.
    let loadWithOptimizer (path: string) (model: torch.nn.Module) (optimizer: torch.optim.Optimizer) : TrainingState =
        helperOf optimizer |> ignore
        loadCore path model (Some optimizer)
