/// Data-parallel training over MPI: `mpirun -np 2` runs of this program (see Training.rankMain), checked here.
module Imle.Distributed.Tests.MpiTests

open System
open System.IO
open Expecto
open Imle.Distributed
open Imle.Distributed.Tests.Training

let private steps = 30
let private checkpointAt = 15

/// A fresh folder for one run's files.
let private tempDir () =
    let d =
        Path.Combine(Path.GetTempPath(), "imle-mpi-" + Guid.NewGuid().ToString("N").Substring(0, 8))

    Directory.CreateDirectory d |> ignore
    d

/// `mpirun -np 2` of this program's mpi-rank mode (bounded by `timeout`); fails with the output when it fails.
let private launch (dir: string) (resume: bool) =
    let args =
        Children.mpirunArgs 2 (sprintf "mpi-rank %s %d %d %d" dir steps checkpointAt (if resume then 1 else 0))

    let c = Children.start "mpirun" 120 (Children.mpirun ()) args Children.mpiEnv

    try
        let code = Children.wait 120 c

        if code <> 0 then
            failtestf "mpirun -np 2 exited with %d:\n%s" code (Children.output c)
    finally
        Children.kill c

/// The single-process run on the union of the two shards' batches, step for step.
let private unionRun () =
    let x, y = data ()
    let model, optimizer = fresh ()
    let half = examples / 2
    let shards = [| Array.init half id; Array.init half (fun i -> half + i) |]

    let losses =
        [ for s in 0 .. steps - 1 ->
              step model optimizer x y (Array.append (batchOf shards.[0] s) (batchOf shards.[1] s)) ignore ]

    flatParameters model, losses

let private maxDiff (a: float32[]) (b: float32[]) =
    Array.map2 (fun (u: float32) v -> abs (float u - float v)) a b |> Array.max

[<Tests>]
let tests =
    testSequenced
    <| testList
        "mpi"
        [ test "single process without a launcher: rank 0 of 1, averaging is the identity" {
              let dp = DataParallel(Mpi.init ())
              Expect.equal dp.Communicator.Backend SingleProcess "no launcher here"
              Expect.equal (dp.Rank, dp.Size) (0, 1) "rank 0 of 1"
              Expect.equal (dp.Shard 10) (Array.init 10 id) "the whole data set"
              let x, y = data ()
              let m1, o1 = fresh ()
              let m2, o2 = fresh ()
              let all = Array.init examples id

              for s in 0..4 do
                  let b = batchOf all s
                  step m1 o1 x y b (fun () -> dp.AverageGradients m1) |> ignore
                  step m2 o2 x y b ignore |> ignore

              Expect.equal (flatParameters m1) (flatParameters m2) "same as plain training, bit for bit"
              Expect.isTrue (dp.AreIdentical m1) "one rank is identical to itself"
              let v = [| 1.5; -2.0 |]
              dp.Communicator.AllreduceSum v
              Expect.equal v [| 1.5; -2.0 |] "sum over one rank"
          }

          test "shards partition the data set" {
              for size in 1..5 do
                  for count in [ 0; 1; 7; 256 ] do
                      let blocks =
                          [ for r in 0 .. size - 1 ->
                                let lo = r * count / size
                                let hi = (r + 1) * count / size
                                Array.init (hi - lo) (fun i -> lo + i) ]

                      Expect.equal (Array.concat blocks) (Array.init count id) "a partition in order"
          }

          test "averaging rejects bad tensors with clear errors" {
              let comm = Mpi.init ()

              use ints =
                  TorchSharp.torch.zeros ([| 3L |], dtype = TorchSharp.torch.ScalarType.Int32)

              Expect.throwsT<ArgumentException> (fun () -> comm.AllreduceSum ints) "int32 is not reduced"
              use t = TorchSharp.torch.zeros ([| 3L |])
              Expect.throwsT<ArgumentException> (fun () -> comm.Broadcast(t, 1)) "root out of range"
          }

          test "mpirun -np 2: ranks stay bit-identical, match one process on the union of the shards, resume exactly" {
              let dir = tempDir ()

              try
                  launch dir false
                  let r0 = readFloats (Path.Combine(dir, "run-params-rank0.bin"))
                  let r1 = readFloats (Path.Combine(dir, "run-params-rank1.bin"))

                  let differing =
                      Array.map2
                          (fun (a: float32) b -> BitConverter.SingleToInt32Bits a <> BitConverter.SingleToInt32Bits b)
                          r0
                          r1
                      |> Array.filter id
                      |> Array.length

                  Expect.equal differing 0 (sprintf "0 of %d parameters differ bitwise between the ranks" r0.Length)

                  let report = File.ReadAllLines(Path.Combine(dir, "run-report-rank1.txt"))
                  Expect.contains report "backend OpenMpi rank 1 size 2" "Open MPI, 2 ranks"
                  Expect.contains report "identical-start true" "same seed: identical at the start"
                  Expect.contains report "perturbed-identical false" "a perturbed rank is detected"
                  Expect.contains report "after-broadcast-identical true" "broadcast from rank 0 repairs it"

                  let union, unionLosses = unionRun ()
                  let d = maxDiff r0 union
                  // Float32 sums in another order (two half-batch means vs one mean): 30 SGD steps stay within 1e-5.
                  Expect.isLessThan d 1e-5 (sprintf "max |rank − union| = %g" d)

                  let losses0 =
                      File.ReadAllLines(Path.Combine(dir, "run-losses-rank0.txt")) |> Array.map float

                  let losses1 =
                      File.ReadAllLines(Path.Combine(dir, "run-losses-rank1.txt")) |> Array.map float

                  let mean i = (losses0.[i] + losses1.[i]) / 2.0
                  let early = List.average [ for i in 0..4 -> mean i ]
                  let late = List.average [ for i in steps - 5 .. steps - 1 -> mean i ]
                  Expect.isLessThan late (0.5 * early) (sprintf "loss falls: %.4f → %.4f" early late)
                  let unionLate = List.average unionLosses.[steps - 5 ..]
                  Expect.floatClose Accuracy.low late unionLate "the same loss as the union run"

                  printfn
                      "mpi: 0 of %d parameters differ between ranks; max |rank - union| = %g; loss %.4f -> %.4f"
                      r0.Length
                      d
                      early
                      late

                  // Resume from the step-15 checkpoint (rank 0 wrote it) and finish: the same parameters, bit for bit.
                  launch dir true
                  let resumed = readFloats (Path.Combine(dir, "resumed-params-rank0.bin"))
                  Expect.equal resumed r0 "resumed run = uninterrupted run, bit for bit"
                  let resumed1 = readFloats (Path.Combine(dir, "resumed-params-rank1.bin"))
                  Expect.equal resumed1 r0 "on both ranks"
              finally
                  try
                      Directory.Delete(dir, true)
                  with _ ->
                      ()
          } ]
