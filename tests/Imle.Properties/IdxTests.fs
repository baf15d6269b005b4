/// The IDX reader and writer of Imle.Data (MNIST / Fashion-MNIST format): round trips of plain and gzip files, the
/// dataset loader on a small fixture folder, and clear errors for bad magic numbers, truncated and missing files.
module Imle.Tests.IdxTests

open System
open System.IO
open Expecto
open Imle.Data

let private tempDir () = Imle.Tests.TestUtil.tempDir "imle-idx"

/// Pixel bytes of `count` images of rows × cols with a value depending on every index.
let private pixels count rows cols =
    Array.init (count * rows * cols) (fun i -> byte ((i * 37 + i / 7) % 256))

let private expectIdxError (path: string) (mustContain: string list) =
    try
        Idx.read path |> ignore
        failtest "expected an IdxFormatException"
    with :? Idx.IdxFormatException as e ->
        Expect.stringContains e.Message (Path.GetFileName path) "the message names the file"

        for s in mustContain do
            Expect.stringContains e.Message s (sprintf "the message says '%s'" s)

[<Tests>]
let tests =
    testList
        "idx"
        [ for gz in [ false; true ] do
              let suffix = if gz then ".gz" else ""

              testCase (sprintf "images round trip%s" suffix)
              <| fun () ->
                  let dir, cleanup = tempDir ()
                  use _ = cleanup
                  let path = Path.Combine(dir, "images-idx3-ubyte" + suffix)
                  let data = pixels 5 3 4
                  Idx.writeImages path 5 3 4 data
                  let raw = File.ReadAllBytes path

                  if gz then
                      Expect.equal (raw.[0], raw.[1]) (0x1fuy, 0x8buy) "written as gzip"
                  else
                      Expect.equal raw.[0..3] [| 0uy; 0uy; 8uy; 3uy |] "magic 0x00000803"

                  let images = Idx.readImages path
                  Expect.equal (images.Count, images.Rows, images.Cols) (5, 3, 4) "dims"
                  Expect.equal images.Pixels data "values"

              testCase (sprintf "labels round trip%s" suffix)
              <| fun () ->
                  let dir, cleanup = tempDir ()
                  use _ = cleanup
                  let path = Path.Combine(dir, "labels-idx1-ubyte" + suffix)
                  let labels = [| 3uy; 0uy; 9uy; 1uy; 7uy |]
                  Idx.writeLabels path labels

                  if not gz then
                      Expect.equal
                          (File.ReadAllBytes path).[0..7]
                          [| 0uy; 0uy; 8uy; 1uy; 0uy; 0uy; 0uy; 5uy |]
                          "magic 0x00000801, big-endian count"

                  Expect.equal (Idx.readLabels path) labels "labels"

          testCase "big-endian dimensions above 255"
          <| fun () ->
              let bytes = Idx.encode [| 2; 300 |] (Array.zeroCreate 600)
              Expect.equal bytes.[4..11] [| 0uy; 0uy; 0uy; 2uy; 0uy; 0uy; 1uy; 44uy |] "2 and 300 big-endian"
              Expect.equal (Idx.parse "x" bytes).Dims [| 2; 300 |] "parsed back"

          testCase "gzip is recognised by content, not by name"
          <| fun () ->
              let dir, cleanup = tempDir ()
              use _ = cleanup
              let gzPath = Path.Combine(dir, "a.gz")
              Idx.writeLabels gzPath [| 1uy; 2uy |]
              let renamed = Path.Combine(dir, "labels-idx1-ubyte")
              File.Move(gzPath, renamed)
              Expect.equal (Idx.readLabels renamed) [| 1uy; 2uy |] "gzip without .gz"

          testCase "dataset folder loads as float tensors in [0, 1]"
          <| fun () ->
              let dir, cleanup = tempDir ()
              use _ = cleanup
              let train = pixels 6 4 4
              let test = pixels 3 4 4 |> Array.map (fun b -> 255uy - b)
              // Mixed naming: standard names, one compressed, one dotted (as some MNIST mirrors ship them).
              Idx.writeImages (Path.Combine(dir, "train-images-idx3-ubyte.gz")) 6 4 4 train
              Idx.writeLabels (Path.Combine(dir, "train-labels-idx1-ubyte")) [| 0uy; 1uy; 2uy; 3uy; 4uy; 5uy |]
              Idx.writeImages (Path.Combine(dir, "t10k-images.idx3-ubyte")) 3 4 4 test
              Idx.writeLabels (Path.Combine(dir, "t10k-labels-idx1-ubyte.gz")) [| 9uy; 8uy; 7uy |]
              let d = Idx.loadFashionMnist dir
              Expect.equal d.TrainImages.shape [| 6L; 16L |] "train images [N, rows·cols]"
              Expect.equal d.TestImages.shape [| 3L; 16L |] "test images"
              Expect.equal (d.Rows, d.Cols) (4, 4) "rows, cols"
              Expect.equal d.TrainImages.dtype TorchSharp.torch.ScalarType.Float32 "float32"
              let values = d.TrainImages.data<float32>().ToArray()
              Expect.floatClose Accuracy.high (float values.[5]) (float train.[5] / 255.0) "pixel / 255"
              Expect.isTrue (values |> Array.forall (fun v -> v >= 0.0f && v <= 1.0f)) "in [0, 1]"
              Expect.equal (d.TrainLabels.data<int64>().ToArray()) [| 0L; 1L; 2L; 3L; 4L; 5L |] "train labels"
              Expect.equal (d.TestLabels.data<int64>().ToArray()) [| 9L; 8L; 7L |] "test labels"

          testCase "a missing dataset says how to get it"
          <| fun () ->
              let dir, cleanup = tempDir ()
              use _ = cleanup
              Idx.writeLabels (Path.Combine(dir, "train-labels-idx1-ubyte")) [| 0uy |]

              try
                  Idx.loadFashionMnist dir |> ignore
                  failtest "expected DatasetNotFoundException"
              with :? Idx.DatasetNotFoundException as e ->
                  Expect.stringContains e.Message "apt-get install dataset-fashion-mnist" "names the Debian package"
                  Expect.stringContains e.Message "--data" "names the option"
                  Expect.stringContains e.Message "train-images-idx3-ubyte" "names a missing file"
                  Expect.isFalse (e.Message.Contains "train-labels-idx1-ubyte[") "does not list the file that is there"

              Expect.isNone (Idx.tryLoad (Path.Combine(dir, "nowhere"))) "tryLoad returns None"

          testCase "bad magic number"
          <| fun () ->
              let dir, cleanup = tempDir ()
              use _ = cleanup
              let path = Path.Combine(dir, "bad-magic")
              File.WriteAllBytes(path, [| 0x12uy; 0x34uy; 0x08uy; 0x01uy; 0uy; 0uy; 0uy; 1uy; 5uy |])
              expectIdxError path [ "bad magic number 0x12340801"; "0x00000803"; "0x00000801" ]

          testCase "unsupported element type"
          <| fun () ->
              let dir, cleanup = tempDir ()
              use _ = cleanup
              let path = Path.Combine(dir, "floats")
              File.WriteAllBytes(path, [| 0uy; 0uy; 0x0Duy; 1uy; 0uy; 0uy; 0uy; 1uy; 0uy; 0uy; 0uy; 0uy |])
              expectIdxError path [ "unsigned bytes" ]

          testCase "truncated data"
          <| fun () ->
              let dir, cleanup = tempDir ()
              use _ = cleanup
              let path = Path.Combine(dir, "truncated")
              let full = Idx.encode [| 4; 2; 2 |] (pixels 4 2 2)
              File.WriteAllBytes(path, full.[.. full.Length - 6])
              expectIdxError path [ "truncated"; "16 data bytes"; "has 11" ]

          testCase "truncated header"
          <| fun () ->
              let dir, cleanup = tempDir ()
              use _ = cleanup
              let path = Path.Combine(dir, "short-header")
              File.WriteAllBytes(path, [| 0uy; 0uy; 8uy; 3uy; 0uy; 0uy; 0uy; 4uy |])
              expectIdxError path [ "truncated header" ]

          testCase "truncated gzip file"
          <| fun () ->
              let dir, cleanup = tempDir ()
              use _ = cleanup
              let whole = Path.Combine(dir, "whole.gz")
              Idx.writeImages whole 50 8 8 (Array.init (50 * 64) (fun i -> byte ((i * 7919) % 251)))
              let bytes = File.ReadAllBytes whole
              let path = Path.Combine(dir, "cut.gz")
              File.WriteAllBytes(path, bytes.[.. bytes.Length / 2])

              Expect.throwsT<Idx.IdxFormatException>
                  (fun () -> Idx.read path |> ignore)
                  "a cut gzip file gives an IdxFormatException"

          testCase "an image file read as labels is refused"
          <| fun () ->
              let dir, cleanup = tempDir ()
              use _ = cleanup
              let path = Path.Combine(dir, "images")
              Idx.writeImages path 2 2 2 (pixels 2 2 2)

              Expect.throwsT<Idx.IdxFormatException>
                  (fun () -> Idx.readLabels path |> ignore)
                  "labels from an image file"

          testCase "the installed Fashion-MNIST has the standard sizes (skipped when absent)"
          <| fun () ->
              if not (File.Exists(Path.Combine(Idx.DefaultFashionMnistDir, "t10k-labels-idx1-ubyte.gz"))) then
                  skiptest "dataset-fashion-mnist is not installed"

              let images =
                  Idx.readImages (Path.Combine(Idx.DefaultFashionMnistDir, "t10k-images-idx3-ubyte.gz"))

              let labels =
                  Idx.readLabels (Path.Combine(Idx.DefaultFashionMnistDir, "t10k-labels-idx1-ubyte.gz"))

              Expect.equal (images.Count, images.Rows, images.Cols) (10000, 28, 28) "10,000 test images of 28×28"
              Expect.equal labels.Length 10000 "10,000 labels"
              Expect.isTrue (labels |> Array.forall (fun l -> l < 10uy)) "labels 0..9" ]
