/// Imle.Data's Warcraft-style maps and cost network: maps are deterministic in (seed, k, split, index), their path is
/// the optimum of their costs, the disk cache gives back what was generated, and bad arguments name the parameter.
module Imle.Tests.WarcraftDataTests

open System
open System.IO
open Expecto
open TorchSharp
open Imle
open Imle.Data
open Imle.Tests.TestUtil

[<Tests>]
let tests =
    testList
        "warcraft data"
        [ test "a map depends only on (seed, k, split, index), and its path is optimal for its costs" {
              let a = WarcraftMaps.generate 7 6 0 3
              let b = WarcraftMaps.generate 7 6 0 3

              Expect.equal
                  (a.Terrain, a.Costs, a.Path, a.Image)
                  (b.Terrain, b.Costs, b.Path, b.Image)
                  "same arguments, same map"

              Expect.notEqual (WarcraftMaps.generate 7 6 1 3).Image a.Image "the test split differs"
              Expect.notEqual (WarcraftMaps.generate 7 6 0 4).Image a.Image "the next index differs"
              Expect.equal a.Image.Length (WarcraftMaps.imageBytes 6) "3·8K·8K bytes"
              let costs = a.Terrain |> Array.map (fun t -> WarcraftMaps.terrainCosts.[int t])
              Expect.equal a.Costs (Array.map float32 costs) "costs are the terrain's"
              let best = Problem.solve (WarcraftMaps.problem 6) costs

              Expect.floatClose
                  Accuracy.veryHigh
                  a.PathCost
                  (Problem.objective costs best)
                  "the path cost is the optimum"

              let walk = WarcraftMaps.orderedPath 6 (Array.map float a.Path)
              Expect.equal walk.[0] (0, 0) "the walk starts top-left"
              Expect.equal walk.[walk.Length - 1] (5, 5) "and ends bottom-right"
          }
          test "the cache gives back the generated maps" {
              let dir =
                  Path.Combine(Path.GetTempPath(), "imle-warcraft-" + Guid.NewGuid().ToString("N"))

              try
                  let steps = ref 0

                  let first, cached1 =
                      WarcraftMaps.dataset dir 5 4 "test" 3 (fun () -> steps.Value <- steps.Value + 1)

                  let again, cached2 = WarcraftMaps.dataset dir 5 4 "test" 3 ignore
                  Expect.isFalse cached1 "generated the first time"
                  Expect.isTrue cached2 "loaded the second time"
                  Expect.equal steps.Value 3 "one step per generated map"

                  for i in 0..2 do
                      Expect.equal
                          (again.[i].Image, again.[i].Path, again.[i].PathCost)
                          (first.[i].Image, first.[i].Path, first.[i].PathCost)
                          "same map"

                      Expect.equal first.[i].Image (WarcraftMaps.generate 5 4 1 i).Image "map i of the test split"
              finally
                  if Directory.Exists dir then
                      Directory.Delete(dir, true)
          }
          test "bad arguments name the parameter" {
              throwsNaming "k" (fun () -> WarcraftMaps.generate 0 1 0 0)
              throwsNaming "split" (fun () -> WarcraftMaps.generate 0 4 2 0)
              throwsNaming "index" (fun () -> WarcraftMaps.generate 0 4 0 -1)
              throwsNaming "split" (fun () -> WarcraftMaps.dataset (Path.GetTempPath()) 0 4 "valid" 1 ignore)
              throwsNaming "count" (fun () -> WarcraftMaps.dataset (Path.GetTempPath()) 0 4 "train" -1 ignore)
              throwsNaming "cacheDir" (fun () -> WarcraftMaps.dataset "" 0 4 "train" 1 ignore)
              throwsNaming "indicator" (fun () -> WarcraftMaps.orderedPath 3 [| 1.0 |])
              throwsNaming "maps" (fun () -> WarcraftMaps.meanPathLength [||])
              throwsNaming "k" (fun () -> new WarcraftCostNet(0, 8L))
              throwsNaming "width" (fun () -> new WarcraftCostNet(4, 0L))
              throwsNaming "path" (fun () -> Idx.read null)

              throwsNaming "pixels" (fun () ->
                  Idx.writeImages (Path.Combine(Path.GetTempPath(), "never-written")) 2 2 2 [| 1uy |])
          }
          test "the cost network maps images [B, 3, 8K, 8K] to positive costs [B, K, K]" {
              use _ = torch.NewDisposeScope()
              torch.random.manual_seed 1L |> ignore
              use net = new WarcraftCostNet(4, 8L)
              let x = torch.rand ([| 2L; 3L; 32L; 32L |])
              let c = net.forward x
              Expect.equal c.shape [| 2L; 4L; 4L |] "[B, K, K]"
              Expect.isTrue (c.data<float32>().ToArray() |> Array.forall (fun v -> v > 0.0f)) "positive"
              throwsNaming "x" (fun () -> net.forward (torch.rand ([| 2L; 1L; 32L; 32L |])))
          }
          test "the paper's ResNet18 first block maps images to non-negative costs [B, K, K] and trains end to end" {
              use _ = torch.NewDisposeScope()
              torch.random.manual_seed 2L |> ignore
              use net = new WarcraftResNet(3)
              // conv1, bn1, two basic blocks of two convolutions and two batch norms: 5 convolutions, 5 batch norms.
              let convWeights =
                  net.parameters () |> Seq.filter (fun p -> p.dim () = 4L) |> Seq.length

              Expect.equal convWeights 5 "ResNet18's first block has 5 convolutions"
              let x = torch.rand ([| 2L; 3L; 24L; 24L |])
              let c = net.forward x
              Expect.equal c.shape [| 2L; 3L; 3L |] "[B, K, K]"
              Expect.isTrue (c.data<float32>().ToArray() |> Array.forall (fun v -> v >= 0.0f)) "non-negative"
              use total = c.sum ()
              total.backward ()

              let gradNorm =
                  net.parameters ()
                  |> Seq.sumBy (fun p ->
                      if isNull p.grad then
                          0.0
                      else
                          float (p.grad.abs().sum().item<float32>()))

              Expect.isGreaterThan gradNorm 0.0 "gradients reach the parameters"
              throwsNaming "x" (fun () -> net.forward (torch.rand ([| 2L; 1L; 24L; 24L |])))
              throwsNaming "k" (fun () -> new WarcraftResNet(0))
          } ]
