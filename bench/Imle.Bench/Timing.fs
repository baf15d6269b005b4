/// Timing of the benchmark: warm-up, repetitions, medians, each run inside its own dispose scope.
module Imle.Bench.Timing

open System
open System.Diagnostics
open TorchSharp

/// Median, min and max milliseconds over the repetitions.
type Stat =
    { Median: float
      Min: float
      Max: float
      Reps: int }

let stat (xs: float[]) =
    let s = Array.sort xs
    let n = s.Length

    let median =
        if n % 2 = 1 then
            s.[n / 2]
        else
            0.5 * (s.[n / 2 - 1] + s.[n / 2])

    { Median = median
      Min = s.[0]
      Max = s.[n - 1]
      Reps = n }

/// Runs `f` inside its own dispose scope (so the tensors it makes are freed, as a training loop would do).
let scoped (f: unit -> unit) =
    use _scope = torch.NewDisposeScope()
    f ()

/// Warm-up runs, then `reps` timed runs; each run includes freeing its tensors. The warm-up lasts at least `warmup`
/// runs and 1.5 s (at most 2,000 runs), so that .NET's tiered JIT has promoted the hot loops (a training run calls
/// them thousands of times; a short warm-up would time tier-0 code).
let time (warmup: int) (reps: int) (f: unit -> unit) : Stat =
    let clock = Stopwatch.StartNew()
    let mutable n = 0

    while n < warmup || (clock.Elapsed.TotalSeconds < 1.5 && n < 2000) do
        scoped f
        n <- n + 1

    GC.Collect()
    GC.WaitForPendingFinalizers()

    let xs =
        Array.init reps (fun _ ->
            let sw = Stopwatch.StartNew()
            scoped f
            sw.Elapsed.TotalMilliseconds)

    stat xs

/// Times `a` and `b` alternately (A B A B …, after both warm-ups), so that drift of a shared machine hits both alike.
let timePair (warmup: int) (reps: int) (a: unit -> unit) (b: unit -> unit) : Stat * Stat =
    time warmup 1 a |> ignore
    time warmup 1 b |> ignore

    let one (f: unit -> unit) =
        let sw = Stopwatch.StartNew()
        scoped f
        sw.Elapsed.TotalMilliseconds

    let pairs = Array.init reps (fun _ -> let x = one a in x, one b)
    stat (Array.map fst pairs), stat (Array.map snd pairs)
