namespace Imle.Distributed

open System
open System.Buffers.Binary
open System.IO
open System.Runtime.Serialization
open System.Text
open Akka.Actor
open Akka.Serialization

/// Reads a frame front to back; every length is checked against the bytes left (and a limit) before anything is
/// allocated, and a frame that is short, long or inconsistent raises SerializationException.
type internal FrameReader(bytes: byte[], what: string) =
    let mutable pos = 0

    let fail (message: string) =
        raise (
            SerializationException(
                sprintf "FarmSerializer: malformed %s frame (%d bytes): %s" what bytes.Length message
            )
        )

    member private _.Need(count: int64, field: string) =
        let left = int64 bytes.Length - int64 pos

        if count < 0L || count > left then
            fail (sprintf "%s: %d bytes needed at offset %d, but %d are left." field count pos left)

    /// A little-endian int32.
    member this.Int32(field: string) =
        this.Need(4L, field)
        let v = BinaryPrimitives.ReadInt32LittleEndian(ReadOnlySpan(bytes, pos, 4))
        pos <- pos + 4
        v

    /// A little-endian int64.
    member this.Int64(field: string) =
        this.Need(8L, field)
        let v = BinaryPrimitives.ReadInt64LittleEndian(ReadOnlySpan(bytes, pos, 8))
        pos <- pos + 8
        v

    /// A count in [0, limit] whose `width`-byte entries are all in the frame.
    member this.Count(field: string, width: int, limit: int) =
        let n = this.Int32 field

        if n < 0 || n > limit then
            fail (sprintf "%s: %d entries claimed; allowed 0 to %d." field n limit)

        this.Need(int64 n * int64 width, field)
        n

    /// A UTF-8 string of at most `limit` bytes.
    member this.String(field: string, limit: int) =
        let n = this.Count(field, 1, limit)
        let s = Encoding.UTF8.GetString(bytes, pos, n)
        pos <- pos + n
        s

    /// `n` little-endian doubles (the count already checked by `Count`).
    member _.Doubles(n: int) =
        let a = Array.zeroCreate<float> n

        for i in 0 .. n - 1 do
            a.[i] <- BinaryPrimitives.ReadDoubleLittleEndian(ReadOnlySpan(bytes, pos + 8 * i, 8))

        pos <- pos + 8 * n
        a

    /// `n` little-endian int32s (the count already checked by `Count`).
    member _.Int32s(n: int) =
        let a = Array.zeroCreate<int> n

        for i in 0 .. n - 1 do
            a.[i] <- BinaryPrimitives.ReadInt32LittleEndian(ReadOnlySpan(bytes, pos + 4 * i, 4))

        pos <- pos + 4 * n
        a

    /// Fails unless the whole frame was read.
    member _.End() =
        if pos <> bytes.Length then
            fail (sprintf "%d bytes left over after the message." (bytes.Length - pos))

/// Akka.NET serializer of the farm's two messages: plain little-endian binary arrays (no type names, no
/// BinaryFormatter). Reading checks every length against the bytes that arrived and against `FarmLimits` before it
/// allocates; a malformed frame raises SerializationException, which Akka.NET logs, and the message is dropped (the
/// association and the node stay up).
type FarmSerializer(system: ExtendedActorSystem) =
    inherit SerializerWithStringManifest(system)

    let unsupported (o: obj) =
        invalidArg
            "o"
            (sprintf
                "FarmSerializer serializes SolveJob and SolveResult only; got %s."
                (if isNull o then "null" else o.GetType().FullName))

    static let writeString (w: BinaryWriter) (field: string) (limit: int) (s: string) =
        let b = Encoding.UTF8.GetBytes(if isNull s then "" else s)

        if b.Length > limit then
            raise (
                SerializationException(
                    sprintf "FarmSerializer: %s has %d UTF-8 bytes; at most %d are allowed." field b.Length limit
                )
            )

        w.Write b.Length
        w.Write b

    /// The serializer's id (unique in the actor system).
    override _.Identifier = 4711

    /// "J" for a job, "R" for a result.
    override _.Manifest(o: obj) =
        match o with
        | :? SolveJob -> "J"
        | :? SolveResult -> "R"
        | _ -> unsupported o

    /// The message as bytes.
    override _.ToBinary(o: obj) =
        use ms = new MemoryStream()
        use w = new BinaryWriter(ms)

        match o with
        | :? SolveJob as j ->
            if j.Weights.Length > FarmLimits.MaxWeights then
                raise (
                    SerializationException(
                        sprintf
                            "FarmSerializer: a job has %d weights; at most %d fit in a frame."
                            j.Weights.Length
                            FarmLimits.MaxWeights
                    )
                )

            writeString w "the client id" FarmLimits.MaxNameBytes j.Client
            w.Write j.JobId
            w.Write j.Attempt
            writeString w "the problem spec" FarmLimits.MaxNameBytes j.Problem
            w.Write j.Weights.Length

            for x in j.Weights do
                w.Write x
        | :? SolveResult as r ->
            let error =
                let b = Encoding.UTF8.GetBytes(if isNull r.Error then "" else r.Error)

                if b.Length <= FarmLimits.MaxErrorBytes then
                    r.Error
                else
                    Encoding.UTF8.GetString(b, 0, FarmLimits.MaxErrorBytes - 4).TrimEnd('\uFFFD')
                    + " …"

            writeString w "the client id" FarmLimits.MaxNameBytes r.Client
            w.Write r.JobId
            writeString w "the worker address" FarmLimits.MaxNameBytes r.Worker
            writeString w "the error" FarmLimits.MaxErrorBytes error
            w.Write r.Ones.Length

            for i in r.Ones do
                w.Write i
        | _ -> unsupported o

        w.Flush()
        ms.ToArray()

    /// The message from bytes; SerializationException naming the fault for a malformed frame.
    override _.FromBinary(bytes: byte[], manifest: string) : obj =
        if isNull bytes then
            raise (SerializationException "FarmSerializer: no bytes.")

        match manifest with
        | "J" ->
            let r = FrameReader(bytes, "job")
            let client = r.String("the client id", FarmLimits.MaxNameBytes)
            let id = r.Int64 "the job id"
            let attempt = r.Int32 "the attempt"
            let problem = r.String("the problem spec", FarmLimits.MaxNameBytes)
            let n = r.Count("the weights", 8, FarmLimits.MaxWeights)
            let weights = r.Doubles n
            r.End()
            SolveJob(client, id, attempt, problem, weights)
        | "R" ->
            let r = FrameReader(bytes, "result")
            let client = r.String("the client id", FarmLimits.MaxNameBytes)
            let id = r.Int64 "the job id"
            let worker = r.String("the worker address", FarmLimits.MaxNameBytes)
            let error = r.String("the error", FarmLimits.MaxErrorBytes)
            let n = r.Count("the state's ones", 4, FarmLimits.MaxWeights)
            let ones = r.Int32s n
            r.End()
            SolveResult(client, id, worker, ones, error)
        | m -> raise (SerializationException(sprintf "FarmSerializer: unknown manifest '%s' (expected J or R)." m))
