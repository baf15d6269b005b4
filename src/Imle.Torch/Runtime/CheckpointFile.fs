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

/// The checkpoint file format (version 1) written and read by `Checkpoint`: the magic bytes, version and section
/// lengths, the SHA-256 of the sections, the JSON header describing the model, the optimizer and the `TrainingState`.
/// Nothing here touches a model.
[<RequireQualifiedAccess>]
module internal CheckpointFile =

    let private magic = Encoding.ASCII.GetBytes "IMLECKPT"
    let private version = 1
    /// magic (8) + version (4) + three section lengths (3 × 8) + SHA-256 (32).
    let private headerSize = 8 + 4 + 24 + 32

    let floatText (v: float) =
        v.ToString("R", CultureInfo.InvariantCulture)

    let corrupt (path: string) (what: string) : 'a =
        raise (InvalidDataException(sprintf "Checkpoint '%s' is not a valid Imle checkpoint: %s" path what))

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

    let header
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

    // ----- file layout ------------------------------------------------------------------------------------------------

    type Sections =
        { Header: byte[]
          Model: byte[]
          Optimizer: byte[] }

    let writeFile (path: string) (sections: Sections) =
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

    let readFile (path: string) : Sections =
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

    let parseHeader (path: string) (bytes: byte[]) =
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
