/// Reliability, checkpoints: save, load and resume bit for bit; adaptive-λ state; missing, truncated, corrupt, foreign
/// and wrong-architecture files give clear errors and leave the model unchanged.
module Imle.Tests.Reliability.Checkpoints

open System
open System.IO
open System.Threading
open System.Threading.Tasks
open Expecto
open FsCheck
open FsCheck.FSharp
open TorchSharp
open Imle
open Imle.Solvers
open Imle.Torch
open Imle.Tests.Reliability.Common

let private tempFile (name: string) =
    Path.Combine(Path.GetTempPath(), sprintf "imle-%s-%s.ckpt" name (Guid.NewGuid().ToString("N")))

let private parameterBits (net: torch.nn.Module) =
    net.state_dict ()
    |> Seq.map (fun (KeyValue(k, v)) -> k, bits (toArray v))
    |> Seq.toList

let tests =
    testList
        "checkpoints"
        [ test "save, load into a fresh model: same parameters and outputs; resume = uninterrupted run, bit for bit" {
              let path = tempFile "resume"

              try
                  use teacher =
                      torch.randn ([| 12L; 20L |], dtype = f64, generator = new torch.Generator(1UL))
                  // Uninterrupted: 10 steps. Interrupted: 5 steps, save, fresh objects, load, 5 steps.
                  use net = new Net(12L, 20, 5, 3L)
                  let optimizer = torch.optim.Adam(net.parameters (), 0.05)
                  let dataGen = new torch.Generator(2UL)

                  for _ in 1..5 do
                      trainStep net optimizer teacher dataGen |> ignore

                  let state =
                      { TrainingState.Empty with
                          Step = 5L
                          Seed = 3L
                          Generators =
                              Map
                                  [ "layer", Checkpoint.captureGenerator net.Layer.Generator
                                    "data", Checkpoint.captureGenerator dataGen ]
                          Settings = Map [ "optimizer", "Adam"; "lr", "0.05" ]
                          Metrics = Map [ "loss", 1.25; "nan", nan; "inf", -infinity ] }

                  Checkpoint.save path net (Some optimizer) state
                  net.eval ()

                  use probe =
                      torch.randn ([| 4L; 12L |], dtype = f64, generator = new torch.Generator(9UL))

                  let outBefore = bits (toArray (net.forward probe))
                  let scoresBefore = bits (toArray (net.Scores probe))
                  net.train ()
                  let lossesA = [ for _ in 1..5 -> trainStep net optimizer teacher dataGen ]
                  let paramsA = parameterBits net

                  use fresh = new Net(12L, 20, 5, 99L)
                  let freshOptimizer = torch.optim.Adam(fresh.parameters (), 0.05)
                  let freshData = new torch.Generator(12345UL)
                  let loaded = Checkpoint.load path fresh (Some freshOptimizer)
                  Expect.equal loaded.Step 5L "step"
                  Expect.equal loaded.Settings state.Settings "settings"
                  Expect.equal loaded.Metrics.["loss"] 1.25 "metric"

                  Expect.isTrue
                      (Double.IsNaN loaded.Metrics.["nan"]
                       && Double.IsNegativeInfinity loaded.Metrics.["inf"])
                      "NaN/∞ metrics round-trip"

                  Checkpoint.restoreGenerator loaded.Generators.["layer"] fresh.Layer.Generator
                  Checkpoint.restoreGenerator loaded.Generators.["data"] freshData
                  fresh.eval ()
                  Expect.equal (bits (toArray (fresh.Scores probe))) scoresBefore "same scores after loading"
                  Expect.equal (bits (toArray (fresh.forward probe))) outBefore "same outputs after loading"
                  fresh.train ()
                  let lossesB = [ for _ in 1..5 -> trainStep fresh freshOptimizer teacher freshData ]

                  Expect.equal
                      (lossesB |> List.map BitConverter.DoubleToInt64Bits)
                      (lossesA |> List.map BitConverter.DoubleToInt64Bits)
                      "same losses after resuming"

                  Expect.equal (parameterBits fresh) paramsA "same parameters after resuming (Adam moments restored)"
                  let info = Checkpoint.read path
                  Expect.equal info.OptimizerType (Some(freshOptimizer.GetType().FullName)) "optimizer type recorded"

                  Expect.equal
                      (info.Parameters |> Array.map (fun (n, _, _) -> n))
                      [| "fc.weight"; "fc.bias" |]
                      "parameter names recorded"
              finally
                  if File.Exists path then
                      File.Delete path
          }

          test "adaptive λ state round-trips exactly" {
              let settings =
                  { AdaptiveLambda.Default with
                      InitialBeta = 0.0
                      BetaStep = 1e-3 }

              let cell = AdaptiveLambdaCell settings

              for x in [ 3.0; 0.0; 2.0; 0.5 ] do
                  cell.Record x

              let saved = Checkpoint.captureAdaptive cell
              let path = tempFile "adaptive"

              try
                  use net = new Net(12L, 20, 5, 3L)

                  Checkpoint.save
                      path
                      net
                      None
                      { TrainingState.Empty with
                          AdaptiveLambdas = Map [ "layer", saved ] }

                  let loaded = Checkpoint.load path net None
                  let other = AdaptiveLambdaCell settings
                  Checkpoint.restoreAdaptive loaded.AdaptiveLambdas.["layer"] other

                  Expect.equal
                      (BitConverter.DoubleToInt64Bits other.State.Beta)
                      (BitConverter.DoubleToInt64Bits cell.State.Beta)
                      "β"

                  Expect.equal
                      (BitConverter.DoubleToInt64Bits other.State.AverageNonZero)
                      (BitConverter.DoubleToInt64Bits cell.State.AverageNonZero)
                      "EMA"

                  cell.Record 1.5
                  other.Record 1.5
                  Expect.equal other.State cell.State "same evolution after restoring"

                  Expect.throwsT<ArgumentException>
                      (fun () ->
                          Checkpoint.restoreAdaptive saved (AdaptiveLambdaCell { settings with TargetNonZero = 2.0 }))
                      "different settings refused"
              finally
                  if File.Exists path then
                      File.Delete path
          }

          test "missing, truncated, corrupt, foreign and wrong-architecture files: clear errors, model unchanged" {
              let path = tempFile "errors"
              let bad = tempFile "bad"

              try
                  use net = new Net(12L, 20, 5, 3L)
                  let optimizer = torch.optim.Adam(net.parameters (), 0.01)
                  Checkpoint.save path net (Some optimizer) TrainingState.Empty
                  let original = File.ReadAllBytes path
                  use target = new Net(12L, 20, 5, 4L)
                  let before = parameterBits target

                  let expectError
                      (expected: Type)
                      (what: string)
                      (file: string)
                      (model: torch.nn.Module)
                      (mention: string)
                      =
                      let e = Expect.throwsC (fun () -> Checkpoint.load file model None |> ignore) id

                      if not (expected.IsInstanceOfType e) then
                          failtestf "%s: expected %s, got %s: %s" what expected.Name (e.GetType().Name) e.Message

                      Expect.stringContains e.Message file (sprintf "%s: the message names the path" what)
                      Expect.stringContains e.Message mention (sprintf "%s: the message says what is wrong" what)
                      Expect.equal (parameterBits target) before (sprintf "%s: the model is unchanged" what)

                  expectError typeof<FileNotFoundException> "missing" (bad + ".missing") target "does not exist"
                  File.WriteAllBytes(bad, Array.sub original 0 (original.Length - 10))
                  expectError typeof<InvalidDataException> "truncated" bad target "truncated"
                  File.WriteAllBytes(bad, Array.sub original 0 20)
                  expectError typeof<InvalidDataException> "cut inside the header" bad target "header"
                  let flipped = Array.copy original
                  flipped.[flipped.Length / 2] <- flipped.[flipped.Length / 2] ^^^ 0x40uy
                  File.WriteAllBytes(bad, flipped)
                  expectError typeof<InvalidDataException> "one flipped bit" bad target "checksum"

                  File.WriteAllBytes(
                      bad,
                      Text.Encoding.UTF8.GetBytes
                          "definitely not a checkpoint, just some text that is long enough to fill the header of one"
                  )

                  expectError typeof<InvalidDataException> "foreign file" bad target "magic"
                  net.save (bad) |> ignore
                  expectError typeof<InvalidDataException> "a bare Module.save file" bad target "magic"
                  use wider = new Net(12L, 24, 5, 3L)
                  let widerBefore = parameterBits wider
                  let e = Expect.throwsC (fun () -> Checkpoint.load path wider None |> ignore) id

                  Expect.isTrue
                      (e :? ArgumentException)
                      (sprintf "wrong architecture → ArgumentException, got %s" (e.GetType().Name))

                  Expect.stringContains e.Message path "names the path"
                  Expect.stringContains e.Message "fc.weight" "names the parameter"
                  Expect.stringContains e.Message "[24, 12]" "names the shapes"
                  Expect.equal (parameterBits wider) widerBefore "wider model unchanged"
                  use other = torch.nn.Linear(12L, 20L, dtype = torch.float64)
                  let e2 = Expect.throwsC (fun () -> Checkpoint.load path other None |> ignore) id

                  Expect.isTrue
                      (e2 :? ArgumentException && e2.Message.Contains "weight")
                      (sprintf "different parameter names → ArgumentException: %s" e2.Message)
                  // Optimizer mismatches.
                  let sgd = torch.optim.SGD(target.parameters (), 0.1)

                  let e3 =
                      Expect.throwsC (fun () -> Checkpoint.load path target (Some sgd) |> ignore) id

                  Expect.isTrue
                      (e3 :? ArgumentException && e3.Message.Contains "Adam")
                      (sprintf "wrong optimizer type → ArgumentException: %s" e3.Message)

                  Checkpoint.save bad net None TrainingState.Empty

                  let e4 =
                      Expect.throwsC
                          (fun () ->
                              Checkpoint.load bad target (Some(torch.optim.Adam(target.parameters (), 0.01)))
                              |> ignore)
                          id

                  Expect.isTrue
                      (e4 :? ArgumentException && e4.Message.Contains "no optimizer state")
                      (sprintf "no optimizer state → ArgumentException: %s" e4.Message)

                  Expect.equal (parameterBits target) before "target unchanged by every failed load"
                  // A correct load still works after all that.
                  Checkpoint.load path target None |> ignore
                  Expect.equal (parameterBits target) (parameterBits net) "loads the saved parameters"
              finally
                  for f in [ path; bad ] do
                      if File.Exists f then
                          File.Delete f
          } ]
