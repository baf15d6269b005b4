namespace Imle.Distributed

/// The bounds every farm message respects. The serializer checks them against the bytes that arrived before it
/// allocates anything, the transport's `maximum-frame-size` is `MaxFrameBytes`, and a client refuses problems whose
/// weights would not fit in one frame.
[<RequireQualifiedAccess>]
module FarmLimits =
    /// The largest frame (one serialized message plus Akka.NET's envelope) a node accepts or sends: 4 MiB.
    [<Literal>]
    let MaxFrameBytes = 4194304

    /// Room left in a frame for Akka.NET's envelope (recipient path, sender path, ids) and the message's header.
    [<Literal>]
    let EnvelopeBytes = 65536

    /// The most weights one job may carry (and the largest problem size a farm accepts): what fits in a frame after
    /// the envelope, at 8 bytes per weight (516,096).
    [<Literal>]
    let MaxWeights = 516096

    /// The longest client id, worker address or problem spec, in UTF-8 bytes.
    [<Literal>]
    let MaxNameBytes = 1024

    /// The longest error message a worker sends back, in UTF-8 bytes (longer ones are cut).
    [<Literal>]
    let MaxErrorBytes = 4096

/// One MAP job sent to a worker: the problem's catalog name, the weights of one instance (in the problem's sense), and
/// the job's identity (the client's id and a number unique per client) so that results can be de-duplicated.
[<Sealed>]
type SolveJob(client: string, jobId: int64, attempt: int, problem: string, weights: float[]) =
    /// The sending client's id.
    member _.Client = client
    /// The job's number, unique per client.
    member _.JobId = jobId
    /// 1 for the first delivery, 2.. for retries.
    member _.Attempt = attempt
    /// The problem's catalog name (see `FarmProblems.resolve`).
    member _.Problem = problem
    /// The weights.
    member _.Weights = weights

/// A worker's answer to a `SolveJob`: the indices of the state's ones (states are binary), or an error message.
[<Sealed>]
type SolveResult(client: string, jobId: int64, worker: string, ones: int[], error: string) =
    /// The client's id, as in the job.
    member _.Client = client
    /// The job's number.
    member _.JobId = jobId
    /// The worker's address.
    member _.Worker = worker
    /// The indices of the ones of the MAP state.
    member _.Ones = ones
    /// Empty on success; otherwise the worker's error message (the job is not retried: solvers are deterministic).
    member _.Error = error
