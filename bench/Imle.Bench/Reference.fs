/// The PyTorch reference: bench/reference.py, written the way torch-imle and blackbox-backprop do it, run by
/// Debian's /usr/bin/python3 in the same session. This module never installs anything: `dotnet fsi build.fsx bench`
/// sets the machine up (Debian's python3-torch and python3-numpy); without them the reference is skipped with a note.
module Imle.Bench.Reference

open System
open System.Diagnostics
open System.IO
open System.Text.Json.Nodes
open Imle.Bench.Timing

/// Runs a process, returning its exit code and stdout (stderr passes through).
let runProcess (file: string) (args: string) (workDir: string) =
    let psi =
        ProcessStartInfo(file, args, WorkingDirectory = workDir, UseShellExecute = false, RedirectStandardOutput = true)

    try
        use p = Process.Start psi
        let out = p.StandardOutput.ReadToEnd()
        p.WaitForExit()
        p.ExitCode, out
    with e ->
        -1, e.Message

/// Debian's interpreter: the one python3-torch installs into (not necessarily the `python3` first on PATH).
let python = "/usr/bin/python3"

/// Whether /usr/bin/python3 imports torch and numpy (its ImportError is not shown: `run` prints a note instead).
let available (root: string) =
    let psi =
        ProcessStartInfo(
            python,
            "-c \"import torch, numpy\"",
            WorkingDirectory = root,
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true
        )

    try
        use p = Process.Start psi
        p.StandardOutput.ReadToEnd() |> ignore
        p.StandardError.ReadToEnd() |> ignore
        p.WaitForExit()
        p.ExitCode = 0
    with _ ->
        false

/// Runs bench/reference.py and returns its JSON, or None (after printing why) when it cannot run.
let run (root: string) (quick: bool) : JsonNode option =
    if not (available root) then
        printfn
            "NOTE: PyTorch reference skipped: %s cannot import torch and numpy. Install Debian's python3-torch and"
            python

        printfn
            "      python3-numpy (`dotnet fsi build.fsx bench` does it), or pass --no-reference. Reference columns stay empty."

        None
    else
        printfn "running the PyTorch reference (bench/reference.py) ..."
        let script = Path.Combine(root, "bench", "reference.py")

        let code, out =
            runProcess python (sprintf "\"%s\"%s" script (if quick then " --quick" else "")) root

        if code <> 0 then
            eprintfn "reference.py failed with exit code %d" code
            None
        else
            let line = out.Split('\n', StringSplitOptions.RemoveEmptyEntries) |> Array.last
            Some(JsonNode.Parse line)

/// The reference's timing of one case (by its name in reference.py), if it ran that case.
let stat (reference: JsonNode option) (name: string) : Stat option =
    reference
    |> Option.bind (fun j ->
        let c = j.["cases"].[name]

        if isNull c then
            None
        else
            Some
                { Median = c.["median"].GetValue<float>()
                  Min = c.["min"].GetValue<float>()
                  Max = c.["max"].GetValue<float>()
                  Reps = c.["reps"].GetValue<int>() })

/// A top-level field of the reference's JSON (its Python, torch and numpy versions) as text, or "not run".
let text (reference: JsonNode option) (key: string) =
    reference
    |> Option.map (fun j -> j.[key].ToString())
    |> Option.defaultValue "not run"
