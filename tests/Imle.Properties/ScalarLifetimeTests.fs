/// The Scalar-lifetime rule (see tests/Shared/ScalarLifetime.fs and `Imle.Torch.Safe`) on every Imle assembly, and the
/// stress test that runs every estimator under garbage-collection pressure in a child process.
module Imle.Tests.ScalarLifetimeTests

open System
open System.Diagnostics
open System.IO
open Expecto

/// The repository root (the folder above the test binary that holds Imle.sln).
let root =
    let rec up (dir: DirectoryInfo) =
        if isNull dir then
            failwith "cannot find the repository root (Imle.sln) above the test binary"
        elif File.Exists(Path.Combine(dir.FullName, "Imle.sln")) then
            dir.FullName
        else
            up dir.Parent

    up (DirectoryInfo AppContext.BaseDirectory)

let private configuration =
    if AppContext.BaseDirectory.Contains "/Debug/" then
        "Debug"
    else
        "Release"

/// The assemblies whose per-step code must follow the rule: the libraries, the examples and the benchmark.
let private assemblies =
    [ "src/Imle.FSharp", "Imle.FSharp"
      "src/Imle.Torch", "Imle.Torch"
      "src/Imle.CSharp", "Imle.CSharp"
      "src/Imle.OrTools", "Imle.OrTools"
      "src/Imle.Data", "Imle.Data"
      "src/Imle.CSharp.OrTools", "Imle.CSharp.OrTools"
      "src/Imle.Distributed", "Imle.Distributed"
      "src/Imle.CSharp.Distributed", "Imle.CSharp.Distributed"
      "src/Imle.Data", "Imle.Data"
      "examples/Imle.Examples", "Imle.Examples"
      "examples/Imle.CSharp.Example", "Imle.CSharp.Example"
      "bench/Imle.Bench", "Imle.Bench" ]

let private assemblyPath (project: string, name: string) =
    Path.Combine(root, project, "bin", configuration, "net10.0", name + ".dll")

/// Runs tests/Imle.Soak (built) with `args` in a child process, since a crash kills the process; 20 s runs keep CI
/// bounded (build.fsx soak runs the stress tests for 10 minutes). Returns the exit code and the output.
let runSoak (args: string) : int * string =
    let soak =
        Path.Combine(root, "tests", "Imle.Soak", "bin", configuration, "net10.0", "Imle.Soak.dll")

    Expect.isTrue (File.Exists soak) "Imle.Soak is built"

    let psi =
        ProcessStartInfo(
            "dotnet",
            sprintf "\"%s\" %s" soak args,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false
        )

    use p = Process.Start psi
    let output = p.StandardOutput.ReadToEndAsync()
    let errors = p.StandardError.ReadToEndAsync()

    if not (p.WaitForExit 120_000) then
        p.Kill true
        failtestf "Imle.Soak %s did not finish within 120 s" args

    p.WaitForExit()
    printfn "%s" output.Result
    p.ExitCode, output.Result + errors.Result

[<Tests>]
let tests =
    testList
        "Scalar lifetime"
        [ test "the IL scan finds TorchSharp's own unsafe operators (it can fail)" {
              let unsafeMethods = ScalarLifetime.unsafeTorchSharpMethods.Force()

              let named (t: Type) (name: string) (ps: Type[]) =
                  let m = t.GetMethod(name, ps)
                  Expect.isNotNull m (sprintf "%s.%s exists" t.Name name)
                  unsafeMethods.Contains((m.Module.ModuleVersionId, m.MetadataToken))

              let tensor = typeof<TorchSharp.torch.Tensor>

              Expect.isTrue
                  (named tensor "op_Multiply" [| tensor; typeof<float> |])
                  "Tensor * double creates a temporary Scalar"

              Expect.isTrue
                  (named tensor "op_Addition" [| tensor; tensor |])
                  "Tensor + Tensor creates a temporary alpha"

              Expect.isFalse (named tensor "op_Subtraction" [| tensor; tensor |]) "Tensor − Tensor does not"
              Expect.isFalse (named tensor "mul" [| typeof<TorchSharp.Scalar> |]) "mul(Scalar) does not"
          }
          test "Safe arithmetic: values as TorchSharp computes them, null tensors refused by name" {
              use a = TorchSharp.torch.tensor ([| 1.0; -2.0; 4.0 |])
              use b = TorchSharp.torch.tensor ([| 0.5; 0.5; 0.5 |])
              let values (t: TorchSharp.torch.Tensor) = t.data<float>().ToArray()
              Expect.equal (values (Imle.Torch.Safe.add a b)) [| 1.5; -1.5; 4.5 |] "add"
              Expect.equal (values (Imle.Torch.Safe.mulScalar a 2.0)) [| 2.0; -4.0; 8.0 |] "mulScalar"
              Expect.equal (values (Imle.Torch.Safe.divScalar a 2.0)) [| 0.5; -1.0; 2.0 |] "divScalar"
              Expect.equal (values (Imle.Torch.Safe.subtractFrom 1.0 a)) [| 0.0; 3.0; -3.0 |] "subtractFrom"
              Expect.equal (values (Imle.Torch.Safe.clampMin a 0.0)) [| 1.0; 0.0; 4.0 |] "clampMin"

              let paramName =
                  try
                      Imle.Torch.Safe.add null b |> ignore
                      None
                  with :? ArgumentNullException as e ->
                      Some e.ParamName

              Expect.equal paramName (Some "a") "a null tensor is refused, naming the parameter"
          }
          test "no implicit or temporary Scalars in Imle's assemblies (libraries, examples, bench)" {
              let found =
                  [ for a in assemblies do
                        let path = assemblyPath a
                        Expect.isTrue (File.Exists path) (sprintf "%s is built (run the build first)" path)

                        for v in ScalarLifetime.scan (Reflection.Assembly.Load(File.ReadAllBytes path)) do
                            yield sprintf "%s: %s — %s" (snd a) v.Method v.Problem ]

              Expect.isEmpty
                  found
                  (sprintf
                      "Scalar-lifetime violations (use Imle.Torch.Safe or a `use`d Scalar):\n%s"
                      (String.Join("\n", found)))
          }
          test "every estimator under garbage-collection pressure: 20 s, no failure (child process)" {
              // With load threads allocating and collecting beside it, the pre-fix library failed within seconds (see
              // docs/notes/native-fix.md); a false failure here means a real use-after-free.
              let code, output = runSoak "stress --seconds 20"
              Expect.equal code 0 (sprintf "stress test exit code (139 = segmentation fault); output:\n%s" output)
              Expect.stringContains output ", 0 failures" "no failure reported"
          }
          test
              "TorchSharp's own tensor * number under garbage-collection pressure: 20 s, no failure, flat memory (child process)" {
              // TorchSharp's implicit Scalar is freed by its finaliser while libtorch reads it; the guard's quarantine
              // (native/guard) defers the free. Without it this fails within seconds; every product is compared with one
              // computed before the load starts, and resident memory may not grow after the warm-up.
              let code, output = runSoak "stress --seconds 20 --control"
              Expect.equal code 0 (sprintf "control stress exit code; output:\n%s" output)
              Expect.stringContains output ", 0 failures" "no failure reported"
              Expect.stringContains output "in the guard's quarantine" "the guard is installed in the soak's output"
          } ]
