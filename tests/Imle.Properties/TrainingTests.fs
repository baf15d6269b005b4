/// `Training.shuffledBatches`: every index exactly once, batches of the asked size (the last one shorter), the same
/// batches for the same seed, the order the experiments used before the helper existed, and argument errors.
module Imle.Tests.TrainingTests

open System
open Expecto
open FsCheck
open FsCheck.FSharp
open Imle.Torch
open Imle.Tests.TestUtil

let private config =
    { FsCheckConfig.defaultConfig with
        maxTest = 300
        replay = Some(20260101UL, 0x9E3779B97F4A7C15UL, None) }

/// The loop the experiments wrote by hand: shuffle 0 .. n − 1, then slice [s·b, min(n, (s + 1)·b)).
let private handWritten (rng: Random) (n: int) (b: int) =
    let order = Array.init n id
    rng.Shuffle order
    let steps = (n + b - 1) / b
    Array.init steps (fun s -> order.[s * b .. min n ((s + 1) * b) - 1])

[<Tests>]
let tests =
    testList
        "training"
        [ testPropertyWithConfig
              config
              "shuffledBatches: every index once, sizes, deterministic per seed, as the hand-written loop"
          <| Prop.forAll
              (Arb.fromGen (Gen.zip3 (Gen.choose (0, 400)) (Gen.choose (1, 60)) (Gen.choose (0, Int32.MaxValue))))
              (fun (n, b, seed) ->
                  let batches = Training.shuffledBatches (Random seed) n b
                  let all = Array.concat batches
                  Expect.equal (Array.sort all) (Array.init n id) "every index exactly once"
                  Expect.equal batches.Length ((n + b - 1) / b) "⌈n / b⌉ batches"

                  batches
                  |> Array.iteri (fun i batch ->
                      if i < batches.Length - 1 then
                          Expect.equal batch.Length b "full batches"
                      else
                          Expect.equal batch.Length (n - b * (batches.Length - 1)) "the last batch holds the rest")

                  Expect.equal (Training.shuffledBatches (Random seed) n b) batches "same seed, same batches"
                  Expect.equal (handWritten (Random seed) n b) batches "the experiments' order"

                  if n >= 10 then
                      Expect.notEqual
                          (Training.shuffledBatches (Random(seed + 1)) n b |> Array.concat)
                          all
                          "another seed, another order")
          test "shuffledBatches: arguments" {
              Expect.isEmpty (Training.shuffledBatches (Random 0) 0 5) "no index, no batch"
              Expect.equal (Training.shuffledBatches (Random 0) 1 5) [| [| 0 |] |] "one index"
              throwsNaming "count" (fun () -> Training.shuffledBatches (Random 0) -1 5)
              throwsNaming "batchSize" (fun () -> Training.shuffledBatches (Random 0) 10 0)
              throwsNaming "rng" (fun () -> Training.shuffledBatches null 10 2)
          } ]
