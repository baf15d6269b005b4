/// What the report says about the machine: CPU, load, the libtorch version in use, the repository root.
module Imle.Bench.Machine

open System
open System.IO

let repoRoot () =
    let rec up (d: DirectoryInfo) =
        if isNull d then
            Directory.GetCurrentDirectory()
        elif File.Exists(Path.Combine(d.FullName, "Imle.sln")) then
            d.FullName
        else
            up d.Parent

    up (DirectoryInfo AppContext.BaseDirectory)

let cpuModel () =
    try
        File.ReadAllLines "/proc/cpuinfo"
        |> Array.tryFind (fun l -> l.StartsWith "model name")
        |> Option.map (fun l -> l.Substring(l.IndexOf ':' + 1).Trim())
        |> Option.defaultValue "unknown"
    with _ ->
        "unknown"

let loadAverage () =
    try
        (File.ReadAllText "/proc/loadavg").Split(' ')
        |> Array.take 3
        |> String.concat " "
    with _ ->
        "unknown"

let libtorchVersion (root: string) =
    try
        File.ReadAllLines(Path.Combine(root, "paket.lock"))
        |> Array.tryFind (fun l -> l.TrimStart().StartsWith "libtorch-cpu-linux-x64 (")
        |> Option.map (fun l -> l.Trim().Replace("libtorch-cpu-linux-x64 ", "").Trim('(', ')'))
        |> Option.defaultValue "unknown"
    with _ ->
        "unknown"
