/// The Imle benchmark suite: times Imle's tensor paths against a PyTorch reference written the way torch-imle and
/// blackbox-backprop do it (bench/reference.py, run by this program in the same session; see Reference.fs) and against
/// a floor (the libtorch work that cannot be avoided), then writes bench/results.json and bench/results.md.
/// Timing.fs times, Cases.fs holds the cases, Report.fs writes the results, Profile.fs is `--profile`.
///
/// Usage: dotnet bench/Imle.Bench/bin/Release/net10.0/Imle.Bench.dll [--quick] [--steps N] [--no-reference] [--out DIR]
///   --quick         fewer repetitions on both sides (CI size); with --steps 1000 the whole run takes about a minute
///   --steps N       steps of the memory case (default 10000, sampled every 500)
///   --no-reference  skip the PyTorch reference (reference columns are null); it is skipped with a note anyway when
///                   /usr/bin/python3 cannot import torch (`dotnet fsi build.fsx bench` installs Debian's python3-torch)
///   --out DIR       where results.json / results.md go (default: the bench folder of the repository)
///   --cases 1,2,5   run only these cases (default: all eleven; 6 = the busy machine; 7, 8 and 11 are
///                   Imle.Distributed's, see DistributedCases.fs; 9 and 10 run beside reference.py --serve, see
///                   SideBySide.fs and WarcraftStep.fs)
///   --profile       time the parts of the steps instead (one line each)
module Imle.Bench.Program

open System
open System.IO
open System.Runtime.InteropServices
open TorchSharp
open Imle.Torch
open Imle.Bench.Timing
open Imle.Bench.Cases

let private usage =
    "Imle.Bench [--quick] [--steps N (memory case, default 10000)] [--cases 1,2,3,4,5] [--no-reference] [--profile] [--out DIR (default bench/)]"

let private runBench (argv: string[]) : int =
    // The child processes of cases 7 and 8 (an MPI rank, a solver worker) run this program too.
    // Imle's side runs as the README tells users to run a training loop (the reference runs both ways in case 10).
    Allocator.keepFreedMemory () |> ignore
    DistributedCases.childMode argv |> Option.iter exit
    let args = Array.toList argv
    let has flag = List.contains flag args

    let valueOf flag =
        args |> List.pairwise |> List.tryFind (fun (a, _) -> a = flag) |> Option.map snd

    let known =
        set
            [ "--quick"
              "--steps"
              "--out"
              "--profile"
              "--no-reference"
              "--cases"
              "--help" ]

    match args |> List.filter (fun a -> a.StartsWith "--" && not (known.Contains a)) with
    | unknown :: _ ->
        eprintfn
            "Unknown option '%s'. Options: --quick, --steps N, --cases 1,3,5, --no-reference, --profile, --out DIR, --help."
            unknown

        exit 2
    | [] -> ()

    if has "--help" then
        printfn "%s" usage
        exit 0

    let quick = has "--quick"

    let steps =
        match valueOf "--steps" with
        | None -> 10000
        | Some v ->
            match Int32.TryParse v with
            | true, n when n >= 1 -> n
            | _ ->
                eprintfn "--steps must be a positive integer; got '%s'." v
                exit 2

    let root = Machine.repoRoot ()
    let outDir = valueOf "--out" |> Option.defaultValue (Path.Combine(root, "bench"))
    Directory.CreateDirectory outDir |> ignore
    torch.set_num_threads 2
    let loadBefore = Machine.loadAverage ()

    if has "--profile" then
        Profile.run ()
        exit 0

    // --cases 1,3,5 runs only those cases (default: all).
    let selected =
        valueOf "--cases"
        |> Option.map (fun s -> s.Split(',') |> Array.map (fun x -> int (x.Trim())) |> Set.ofArray)
        |> Option.defaultValue (Set.ofList [ 1..11 ])

    // The reference first, alone, so that the two sides never run at the same time.

    let reference =
        if has "--no-reference" || Set.isEmpty (Set.intersect selected (set [ 1; 2; 3 ])) then
            None
        else
            Reference.run root quick

    let refStat = Reference.stat reference

    let report (r: Row) =
        printfn
            "%-80s ours %s | ref %s | floor %s | met %A"
            r.Case
            (Report.cell r.Ours)
            (Report.cell r.Reference)
            (Report.cell r.Floor)
            r.Met

        r

    printfn "running the Imle cases ..."

    let run (case: int) (f: unit -> Row) =
        if selected.Contains case then [ report (f ()) ] else []

    let rows =
        List.concat
            [ run 1 (fun () -> caseNoise quick refStat)
              run 2 (fun () -> caseImle quick refStat 1)
              run 2 (fun () -> caseImle quick refStat 10)
              run 3 (fun () -> caseGrid quick refStat 12)
              run 3 (fun () -> caseGrid quick refStat 30)
              run 3 (fun () -> caseGridTensor quick 12)
              run 3 (fun () -> caseGridTensor quick 30)
              run 4 (fun () -> caseWarcraft quick 1)
              run 4 (fun () -> caseWarcraft quick 10)
              run 5 (fun () -> caseMemory steps)
              (if selected.Contains 6 then
                   BusyCases.rows quick |> List.map report
               else
                   [])

              (if selected.Contains 7 && not (DistributedCases.mpirunAvailable ()) then
                   printfn
                       "bench: case 7 skipped: mpirun is not on PATH (install Open MPI: apt-get install openmpi-bin)"

                   []
               else
                   run 7 (fun () -> DistributedCases.caseAllreduce quick))
              run 8 (fun () -> DistributedCases.caseFarm quick)
              (if selected.Contains 11 && not (DistributedCases.mpirunAvailable ()) then
                   printfn
                       "bench: case 11 skipped: mpirun is not on PATH (install Open MPI: apt-get install openmpi-bin)"

                   []
               else
                   run 11 (fun () -> DistributedCases.caseWarcraftRanks quick))
              (if (selected.Contains 9 || selected.Contains 10) then
                   let startServer keep =
                       if has "--no-reference" then
                           None
                       else
                           SideBySide.startServer root keep

                   let server = startServer false
                   // Case 10 also runs the reference with glibc keeping freed memory, as ours does.
                   let serverKeeping = if selected.Contains 10 then startServer true else None

                   try
                       List.concat
                           [ run 9 (fun () -> SideBySide.caseNoise quick server)
                             run 9 (fun () -> SideBySide.caseLayer quick server 1)
                             run 9 (fun () -> SideBySide.caseLayer quick server 10)
                             run 10 (fun () -> WarcraftStep.case quick server serverKeeping false 1)
                             run 10 (fun () -> WarcraftStep.case quick server serverKeeping false 10)
                             run 10 (fun () -> WarcraftStep.case quick server serverKeeping true 1) ]
                   finally
                       for s in [ server; serverKeeping ] do
                           s |> Option.iter (fun s -> (s :> IDisposable).Dispose())
               else
                   []) ]

    let loadAfter = Machine.loadAverage ()

    let machine =
        [ "CPU", Machine.cpuModel ()
          "cores", string Environment.ProcessorCount
          "threads",
          "torch.set_num_threads 2 on both sides; Imle's CPU solver rows on "
          + string (TensorSolve.defaultParallelism)
          + " threads"
          "native memory",
          sprintf
              "Imle: glibc keeps freed memory (Allocator.keepFreedMemory: %b); reference.py as it is, and in case 10 also with GLIBC_TUNABLES=%s"
              (Allocator.isKeepingFreedMemory ())
              Allocator.glibcTunables
          ".NET", RuntimeInformation.FrameworkDescription
          "TorchSharp", string (typeof<torch.Tensor>.Assembly.GetName().Version)
          "libtorch", Machine.libtorchVersion root
          "Python", Reference.text (Option.orElse SideBySide.serverVersions reference) "python"
          "Python torch",
          Reference.text (Option.orElse SideBySide.serverVersions reference) "torch"
          + " (Debian python3-torch, reference BLAS; only non-BLAS operations are compared)"
          "numpy", Reference.text reference "numpy"
          "OMP_WAIT_POLICY",
          (match Environment.GetEnvironmentVariable "OMP_WAIT_POLICY" with
           | null -> "unset (libgomp default: idle threads spin)"
           | v -> v)
          "load average (1, 5, 15 min) before / after", loadBefore + " / " + loadAfter
          "date (UTC)", DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm") ]

    let commandLine =
        "dotnet bench/Imle.Bench/bin/Release/net10.0/Imle.Bench.dll"
        + (if argv.Length > 0 then " " + String.Join(" ", argv) else "")

    Report.write outDir machine rows commandLine
    printfn "load average before / after: %s / %s" loadBefore loadAfter
    0

/// A failing case ends the bench with one line and exit code 1 (never an unhandled exception: exit 134).
[<EntryPoint>]
let main argv =
    try
        runBench argv
    with e ->
        eprintfn "bench FAILED: %s: %s" (e.GetType().Name) (e.Message.Split('\n').[0])
        1
