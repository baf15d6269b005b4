(**
---
title: Getting started (C#)
category: Tutorials
categoryindex: 1
index: 2
---

# Getting started in C#

## Install

Build the packages in a clone of the repository (`dotnet fsi build.fsx pack`), add their folder as a package source,
then add the packages (the README's *Install* section, step by step):

```text
dotnet new console -o ImleStart && cd ImleStart
dotnet new nugetconfig
dotnet nuget add source <clone>/artifacts/packages --name imle-local --configfile nuget.config
dotnet add package Imle.CSharp --prerelease
dotnet add package libtorch-cpu-linux-x64 --version 2.10.0
```

The program below is `examples/Imle.CSharp.Example/Program.cs` in the repository.

`Imle.CSharp` is a C#-shaped façade over the same library: static classes, fluent builders, PascalCase, optional
parameters and arrays, with no F# types in any public signature (a reflection test enforces it).

fsdocs can only evaluate F#, so this page is kept honest another way: the code below is read, when the site is
built, from `examples/Imle.CSharp.Example/Program.cs` — the example console application of the repository, which the
build compiles — and the output under it is what running that compiled program printed during the same build. If
the program fails, the site build fails.
*)
(*** hide ***)
#load ".shared/load.fsx"
open Load
Docs.page "csharp"

open System.Diagnostics
open System.IO
open System.Net

let programPath =
    Path.Combine(Docs.root, "examples", "Imle.CSharp.Example", "Program.cs")

let program = File.ReadAllText programPath

let exampleDll =
    Path.Combine(Docs.root, "examples", "Imle.CSharp.Example", "bin", "Release", "net10.0", "Imle.CSharp.Example.dll")

sprintf "<pre><code class=\"language-csharp\">%s</code></pre>" (WebUtility.HtmlEncode program)
(*** include-it-raw ***)
(**
The project references `Imle.CSharp` and the native backend (`libtorch-cpu-linux-x64` here). Its output, from this
build:
*)
(*** hide ***)
let output =
    if not (File.Exists exampleDll) then
        failwithf "%s not found: build examples/Imle.CSharp.Example in Release first." exampleDll

    let psi =
        ProcessStartInfo("dotnet", sprintf "\"%s\"" exampleDll, RedirectStandardOutput = true, UseShellExecute = false)

    use p = Process.Start psi
    let text = p.StandardOutput.ReadToEnd()
    p.WaitForExit()

    if p.ExitCode <> 0 then
        failwithf "Imle.CSharp.Example exited with code %d:\n%s" p.ExitCode text

    text.TrimEnd()

printfn "%s" output
(*** include-output ***)
(*** hide ***)
Docs.expect (output.Contains "step 200") "the example trains for 200 steps"
Docs.finish [ box program; box output ]
(**
## The same concepts, one file each

| F# (`Imle`, `Imle.Torch`) | C# (`Imle.CSharp`) |
|---|---|
| `Problem.kSubset m k` | `Problems.KSubset(m, k)` |
| `Imle(ImleOptions.Create(...))`, `Blackbox λ`, ... | `Estimators.Imle(lambda: ...)`, `Estimators.Blackbox(...)` |
| `Layers.kSubset`, `Layers.create` | `ImleLayers.KSubset`, `DiscreteLayers.Create` |
| `TensorSolve.solve` | `Discrete.Solve` |
| `Losses.hamming reduction`, `Losses.regret reduction` | `Losses.Hamming`, `Losses.Regret` |
| `Training.backward` | `Training.Backward` |
| `GradCheck.run` | `GradientCheck.Run` |

The [API reference](reference/index.html) lists both.
*)
