/// Cases timed side by side with the PyTorch reference: bench/reference.py runs as a server (`--serve`, one
/// repetition of a named case per request) and its repetitions alternate with ours (A B A B …), so that drift of a
/// shared machine hits both sides alike. Case 9: Sum-of-Gamma noise and the k-subset I-MLE layer with Philox noise;
/// case 10: the Warcraft training step (the paper's ResNet18-first-block network, batch 70, K = 12) with I-MLE
/// (S = 1, 10) and blackbox differentiation around the grid Dijkstra, with its split into parts.
module Imle.Bench.SideBySide

open System
open System.Diagnostics
open System.IO
open System.Text.Json.Nodes
open TorchSharp
open Imle
open Imle.Torch
open Imle.Bench.Timing
open Imle.Bench.Cases

let private f32 = torch.ScalarType.Float32

/// One repetition's result from the reference server: total ms and its parts (ms by name).
type RefRep =
    { Ms: float; Parts: Map<string, float> }

/// bench/reference.py --serve as a child process: one line per request, one JSON line per answer. With
/// `keepFreedMemory` the process starts with glibc set as `Allocator.keepFreedMemory` sets ours (GLIBC_TUNABLES).
type ReferenceServer(root: string, keepFreedMemory: bool) =
    let psi =
        ProcessStartInfo(
            Reference.python,
            sprintf "\"%s\" --serve" (Path.Combine(root, "bench", "reference.py")),
            WorkingDirectory = root,
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true
        )

    do
        if keepFreedMemory then
            psi.Environment.["GLIBC_TUNABLES"] <- Allocator.glibcTunables

    let p = Process.Start psi
    let hello = JsonNode.Parse(p.StandardOutput.ReadLine())

    /// Python, torch and thread count of the server.
    member _.Versions = hello

    /// Runs one repetition of the named case in the server.
    member _.Run(name: string) : RefRep =
        p.StandardInput.WriteLine name
        p.StandardInput.Flush()
        let line = p.StandardOutput.ReadLine()

        if isNull line then
            failwithf "reference.py --serve ended while running '%s'" name

        let j = JsonNode.Parse line

        let parts =
            j.["parts"].AsObject()
            |> Seq.map (fun kv -> kv.Key, kv.Value.GetValue<float>())
            |> Map.ofSeq

        { Ms = j.["ms"].GetValue<float>()
          Parts = parts }

    interface IDisposable with
        member _.Dispose() =
            try
                p.StandardInput.Close()

                if not (p.WaitForExit 10000) then
                    p.Kill()
            with _ ->
                ()

            p.Dispose()

/// The versions the last server started reported (Python, torch, threads), for the machine section.
let mutable serverVersions: JsonNode option = None

/// The server when /usr/bin/python3 imports torch (None otherwise, with a note); `keepFreedMemory` as for
/// `ReferenceServer`.
let startServer (root: string) (keepFreedMemory: bool) : ReferenceServer option =
    if Reference.available root then
        let server = new ReferenceServer(root, keepFreedMemory)
        serverVersions <- Some server.Versions
        Some server
    else
        printfn "NOTE: side-by-side cases run without the reference: %s cannot import torch." Reference.python
        None

let private ms (f: unit -> unit) =
    let sw = Stopwatch.StartNew()
    scoped f
    sw.Elapsed.TotalMilliseconds

/// `reps` rounds of (each of ours, then the reference's case), after one warm-up round; returns our stats and the
/// reference's repetitions.
let private interleave (reps: int) (ours: (unit -> unit) list) (server: ReferenceServer option) (name: string) =
    let warm = Stopwatch.StartNew()
    let mutable n = 0

    while n < 1 || (warm.Elapsed.TotalSeconds < 1.5 && n < 20) do
        for f in ours do
            scoped f

        n <- n + 1

    server |> Option.iter (fun s -> s.Run name |> ignore)

    let rounds =
        Array.init reps (fun _ ->
            let mine = ours |> List.map ms
            let theirs = server |> Option.map (fun s -> s.Run name)
            mine, theirs)

    let oursStats =
        ours |> List.mapi (fun i _ -> stat (rounds |> Array.map (fun (m, _) -> m.[i])))

    let refReps = rounds |> Array.choose snd
    oursStats, refReps

/// The median (min–max) of the reference's repetitions, None when there are none.
let refStat (reps: RefRep[]) =
    if reps.Length = 0 then
        None
    else
        Some(stat (reps |> Array.map (fun r -> r.Ms)))

/// The median of one named part over the reference's repetitions (NaN when there are none).
let refPart (reps: RefRep[]) (part: string) =
    if reps.Length = 0 then
        nan
    else
        (stat (
            reps
            |> Array.map (fun r -> r.Parts |> Map.tryFind part |> Option.defaultValue 0.0)
        ))
            .Median

/// Case 9a: SoG noise [1024, 1000] (κ = 32, s = 10) with Philox, libtorch's stream and the reference interleaved.
let caseNoise (quick: bool) (server: ReferenceServer option) =
    let b, m = 1024L, 1000L
    let g = new torch.Generator(1UL, torch.CPU)
    let reps = if quick then 5 else 11

    let stats, refs =
        interleave
            reps
            [ (fun () -> TensorNoise.sampleWith Philox (sog 32.0) g [| b; m |] f32 torch.CPU |> ignore)
              (fun () -> TensorNoise.sampleWith Libtorch (sog 32.0) g [| b; m |] f32 torch.CPU |> ignore) ]
            server
            "sog-noise"

    let philox, libtorch = stats.[0], stats.[1]
    let r = refStat refs
    let speedUp = ratio r (Some philox)

    { Case = "9. SoG noise [1024, 1000], κ = 32, s = 10 (float32), Philox generator, interleaved with the reference"
      Ours = Some philox
      Reference = r
      Floor = Some libtorch
      Target = "≥ 6× faster than the reference"
      Met = speedUp |> Option.map (fun x -> x >= 6.0)
      Notes =
        sprintf
            "ours = TensorNoise.sampleWith Philox (Philox 4×32-10 in AVX2 lanes, Marsaglia–Tsang per lane, %d intra-op threads); floor column = the same noise from libtorch's generator (TensorNoise's default stream), interleaved: Philox / libtorch = %.2f. Reference: torch.distributions.Gamma per term (torch-imle), one repetition per request to reference.py --serve, alternating with ours."
            (torch.get_num_threads ())
            (philox.Median / libtorch.Median)
      Extra = [ "libtorchStreamMs", JsonValue.Create libtorch.Median :> JsonNode ] }

/// Case 9b: the k-subset I-MLE layer fwd+bwd [1024, 1000], k = 32, S samples, with Philox noise, interleaved.
let caseLayer (quick: bool) (server: ReferenceServer option) (samples: int) =
    let b, m, k = 1024L, 1000L, 32
    let problem = Problem.kSubset (int m) k

    let estimator =
        Imle
            { ImleOptions.Create(float k, 10.0) with
                Samples = samples }

    let g = new torch.Generator(2UL, torch.CPU)
    let w = torch.randn([| b; m |], dtype = f32, generator = g).requires_grad_(true)
    let r = torch.randn ([| b; m |], dtype = f32, generator = g)
    let reps = if quick then 3 else (if samples = 1 then 11 else 5)

    let step (source: NoiseGenerator) () =
        TensorNoise.withGenerator source (fun () ->
            let y = Discrete.apply DiscreteOptions.Default problem estimator g w
            Training.backward ((y * r).sum()))

    let stats, refs =
        interleave reps [ step Philox; step Libtorch ] server (sprintf "imle-ksubset-S%d" samples)

    let rf = refStat refs
    let speedUp = ratio rf (Some stats.[0])

    { Case =
        sprintf "9. k-subset I-MLE layer fwd+bwd [1024, 1000], k = 32, SoG, S = %d, Philox noise, interleaved" samples
      Ours = Some stats.[0]
      Reference = rf
      Floor = Some stats.[1]
      Target = "≥ 4× faster than the reference"
      Met = speedUp |> Option.map (fun x -> x >= 4.0)
      Notes =
        sprintf
            "ours = Discrete.apply DiscreteOptions.Default inside TensorNoise.withGenerator Philox; floor column = the same step with libtorch's stream (the default), interleaved. λ = 10, loss = Σ y·r. Reference: torch-imle's way (theta repeated S times, Gamma per term), alternating with ours."
      Extra = [] }
