/// Child processes of the tests: each runs under `timeout -s KILL`, and is killed by its PID (and its children's PIDs)
/// when a test ends or wants it dead.
module Imle.Distributed.Tests.Children

open System
open System.Diagnostics
open System.IO
open System.Text

/// A child started under `timeout`, with its output collected.
type Child =
    { Process: Process
      Output: StringBuilder
      Name: string }

/// This test program's own dll (the child modes run it again).
let selfDll = typeof<Child>.Assembly.Location

/// The PIDs of a process's children (Linux /proc).
let rec private descendants (pid: int) : int list =
    let path = sprintf "/proc/%d/task/%d/children" pid pid

    let direct =
        try
            File.ReadAllText(path).Split(' ', StringSplitOptions.RemoveEmptyEntries)
            |> Array.map int
            |> Array.toList
        with _ ->
            []

    direct @ (direct |> List.collect descendants)

/// Starts `file args` under `timeout -s KILL seconds`, with extra environment variables.
let start (name: string) (seconds: int) (file: string) (args: string) (env: (string * string) list) : Child =
    let psi =
        ProcessStartInfo("timeout", sprintf "-s KILL %d %s %s" seconds file args, UseShellExecute = false)

    psi.RedirectStandardOutput <- true
    psi.RedirectStandardError <- true

    for k, v in env do
        psi.Environment.[k] <- v

    let output = StringBuilder()
    let p = new Process(StartInfo = psi)

    let append (e: DataReceivedEventArgs) =
        if not (isNull e.Data) then
            lock output (fun () -> output.AppendLine e.Data |> ignore)

    p.OutputDataReceived.Add append
    p.ErrorDataReceived.Add append

    if not (p.Start()) then
        failwithf "could not start %s" name

    p.BeginOutputReadLine()
    p.BeginErrorReadLine()

    { Process = p
      Output = output
      Name = name }

/// SIGKILL to the child's descendants (the real command under `timeout`), then to the child itself.
let kill (c: Child) =
    if not c.Process.HasExited then
        for pid in descendants c.Process.Id |> List.rev do
            try
                Process.GetProcessById(pid).Kill()
            with _ ->
                ()

        try
            c.Process.Kill()
        with _ ->
            ()

/// Only the command under `timeout` (e.g. a worker), killed hard — a crash as far as the others can tell.
let killCommand (c: Child) =
    for pid in descendants c.Process.Id |> List.rev do
        try
            Process.GetProcessById(pid).Kill()
        with _ ->
            ()

/// The output so far.
let output (c: Child) =
    lock c.Output (fun () -> c.Output.ToString())

/// Waits for the child to exit (at most `seconds`); returns its exit code, or kills it and fails.
let wait (seconds: int) (c: Child) : int =
    if not (c.Process.WaitForExit(seconds * 1000)) then
        kill c
        failwithf "%s did not finish within %d s; output:\n%s" c.Name seconds (output c)

    c.Process.WaitForExit()
    c.Process.ExitCode

/// The environment an Open MPI launcher needs here (root in a container, shared memory only, no colour codes).
let mpiEnv =
    [ "OMPI_ALLOW_RUN_AS_ROOT", "1"
      "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"
      "OMPI_MCA_btl_vader_single_copy_mechanism", "none"
      "TERM", "dumb" ]

/// `mpirun` on the PATH, or a failure that says how to install it (the MPI tests never skip silently).
let mpirun () =
    let found =
        (Environment.GetEnvironmentVariable "PATH").Split(':')
        |> Array.map (fun d -> Path.Combine(d, "mpirun"))
        |> Array.tryFind File.Exists

    match found with
    | Some p -> p
    | None ->
        failwith
            "mpirun was not found on the PATH: the MPI tests need Open MPI (apt-get install openmpi-bin; .ci/run installs it)."

/// The arguments of `mpirun -np n` over loopback shared memory, running this test program with `args`.
let mpirunArgs (ranks: int) (args: string) =
    sprintf
        "-np %d --oversubscribe --bind-to none --mca btl self,vader -x TERM=dumb -x OMPI_MCA_btl_vader_single_copy_mechanism dotnet %s %s"
        ranks
        selfDll
        args
