/// Case 6, the busy machine: the noise, layer and grid cases timed while one core is kept busy by a separate process
/// that this program starts (a shell busy loop, `sh -c 'while :; do :; done'`) and ends by its process id, against the
/// same cases on the idle machine, in alternating blocks. Each row reports the slowdown (busy / idle median).
module Imle.Bench.BusyCases

open System
open System.Diagnostics
open System.Text.Json.Nodes
open TorchSharp
open Imle
open Imle.Torch
open Imle.Bench.Timing
open Imle.Bench.Cases

let private f32 = torch.ScalarType.Float32

/// Starts the busy loop, or None where /bin/sh is absent.
let private startSpinner () : Process option =
    if IO.File.Exists "/bin/sh" then
        let psi =
            ProcessStartInfo("/bin/sh", "-c \"while :; do :; done\"", UseShellExecute = false)

        Some(Process.Start psi)
    else
        None

let private stopSpinner (p: Process) =
    try
        p.Kill()
        p.WaitForExit()
    with _ ->
        ()

    p.Dispose()

let private once (f: unit -> unit) =
    let sw = Stopwatch.StartNew()
    scoped f
    sw.Elapsed.TotalMilliseconds

/// Idle and busy statistics of `f`: `rounds` pairs of blocks (idle block of `perBlock` runs, then a busy one).
let private idleBusy (rounds: int) (perBlock: int) (f: unit -> unit) : (Stat * Stat) option =
    time 2 1 f |> ignore
    let idle = Collections.Generic.List<float>()
    let busy = Collections.Generic.List<float>()
    let mutable ok = true

    for _ in 1..rounds do
        if ok then
            for _ in 1..perBlock do
                idle.Add(once f)

            match startSpinner () with
            | None -> ok <- false
            | Some spinner ->
                try
                    Threading.Thread.Sleep 200

                    for _ in 1..perBlock do
                        busy.Add(once f)
                finally
                    stopSpinner spinner

    if ok then
        Some(stat (idle.ToArray()), stat (busy.ToArray()))
    else
        None

/// The rows of case 6: SoG noise, the I-MLE layer step (S = 1) and the grid path at K = 30, busy vs idle.
let rows (quick: bool) : Row list =
    let rounds = if quick then 2 else 3
    let g = new torch.Generator(6UL, torch.CPU)
    // The same work as cases 1, 2 (S = 1) and 3 (K = 30).
    let noise () =
        TensorNoise.sample (sog 32.0) g [| 1024L; 1000L |] f32 torch.CPU |> ignore

    let problem = Problem.kSubset 1000 32
    let estimator = Imle(ImleOptions.Create(32.0, 10.0))

    let w =
        torch.randn([| 1024L; 1000L |], dtype = f32, generator = g).requires_grad_(true)

    let r = torch.randn ([| 1024L; 1000L |], dtype = f32, generator = g)

    let layer () =
        let y = Discrete.apply DiscreteOptions.Default problem estimator g w
        let loss = (y * r).sum()
        Training.backward loss

    let grid = Problem.gridShortestPath 30 30 Imle.Solvers.Eight
    let costs = warcraftCosts 30 70 30
    let solve () = TensorSolve.solve grid costs |> ignore

    [ "SoG noise [1024, 1000], κ = 32, s = 10", 3, noise
      "k-subset I-MLE layer fwd+bwd [1024, 1000], S = 1", 3, layer
      "grid shortest path, batch 70, K = 30 (2 threads)", 15, solve ]
    |> List.map (fun (name, perBlock, f) ->
        let case =
            sprintf "6. busy machine (one core kept busy by another process): %s" name

        match idleBusy rounds perBlock f with
        | None ->
            { Case = case
              Ours = None
              Reference = None
              Floor = None
              Target = "≤ 2.5× the idle time"
              Met = None
              Notes = "skipped: /bin/sh is absent, so no busy process could be started"
              Extra = [] }
        | Some(idle, busy) ->
            let slowdown = busy.Median / idle.Median

            { Case = case
              Ours = Some busy
              Reference = None
              Floor = Some idle
              Target = "≤ 2.5× the idle time"
              Met = Some(slowdown <= 2.5)
              Notes =
                sprintf
                    "ours column = with one core busy, floor column = idle, in %d alternating blocks of %d runs (the busy process is started for each busy block and ended by its id); slowdown %.2f×."
                    rounds
                    perBlock
                    slowdown
              Extra = [ "slowdown", JsonValue.Create slowdown :> JsonNode ] })
