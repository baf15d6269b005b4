/// IDX files (the MNIST / Fashion-MNIST format): a reader for unsigned-byte IDX arrays (plain or gzip-compressed,
/// recognised by content, not by name), a writer (for tests and small fixtures), and a loader of the four standard files
/// of a dataset folder as float32 tensors. Null or out-of-range arguments raise ArgumentException (naming the
/// parameter); malformed files raise IdxFormatException, missing ones DatasetNotFoundException.
///
/// Format: a 4-byte magic number 0x00 0x00 TYPE NDIMS (TYPE 0x08 = unsigned byte; images 0x00000803, labels
/// 0x00000801), NDIMS big-endian int32 sizes, then the values in row-major order.
module Imle.Data.Idx

open System
open System.Buffers.Binary
open System.IO
open System.IO.Compression
open TorchSharp

/// An IDX file could not be read: a bad magic number, an unsupported element type, a truncated or over-long file.
/// The message names the file and what is wrong.
type IdxFormatException(message: string) =
    inherit Exception(message)

/// The dataset's files are not where they were looked for; the message names the missing files and how to get them.
type DatasetNotFoundException(message: string) =
    inherit Exception(message)

/// The magic number of an unsigned-byte IDX file with three dimensions (images: count, rows, columns).
[<Literal>]
let ImagesMagic = 0x00000803

/// The magic number of an unsigned-byte IDX file with one dimension (labels).
[<Literal>]
let LabelsMagic = 0x00000801

/// Where Debian's `dataset-fashion-mnist` package puts the files.
[<Literal>]
let DefaultFashionMnistDir = "/usr/share/datasets/fashion-mnist"

/// How a report names the data in `dir`: "Fashion-MNIST" for a Fashion-MNIST folder, otherwise its path.
let datasetName (dir: string) =
    Check.notNull "dir" dir

    if dir.Contains("fashion", System.StringComparison.OrdinalIgnoreCase) then
        "Fashion-MNIST"
    else
        "the IDX data in " + dir

/// An unsigned-byte IDX array: its dimensions and its values in row-major order.
type IdxArray =
    {
        /// The dimensions, outermost first.
        Dims: int[]
        /// The values in row-major order (the product of `Dims` bytes).
        Data: byte[]
    }

/// Images of one IDX image file: count, rows, columns and count·rows·columns pixel bytes (0 = background).
type IdxImages =
    {
        /// The number of images.
        Count: int
        /// Pixel rows per image.
        Rows: int
        /// Pixel columns per image.
        Cols: int
        /// Count·rows·columns bytes, image after image, each row-major.
        Pixels: byte[]
    }

let private fail fmt =
    Printf.kprintf (fun s -> raise (IdxFormatException s)) fmt

let private isGzip (bytes: byte[]) =
    bytes.Length >= 2 && bytes.[0] = 0x1fuy && bytes.[1] = 0x8buy

/// The bytes of a file, decompressed when they are a gzip stream (whatever the file's name).
let private readBytes (path: string) : byte[] =
    if not (File.Exists path) then
        raise (FileNotFoundException(sprintf "IDX file '%s' does not exist." path, path))

    let raw = File.ReadAllBytes path

    if isGzip raw then
        try
            use input = new MemoryStream(raw)
            use gz = new GZipStream(input, CompressionMode.Decompress)
            use output = new MemoryStream()
            gz.CopyTo output
            output.ToArray()
        with
        | :? InvalidDataException
        | :? EndOfStreamException as e -> fail "%s: the gzip stream is corrupt or truncated (%s)." path e.Message
    else
        raw

/// Parses the bytes of an unsigned-byte IDX file; `source` names the file in error messages.
let parse (source: string) (bytes: byte[]) : IdxArray =
    Check.notNull "source" source
    Check.notNull "bytes" bytes

    if bytes.Length < 4 then
        fail "%s: %d bytes is too short for an IDX file (the magic number alone takes 4)." source bytes.Length

    let magic = BinaryPrimitives.ReadInt32BigEndian(ReadOnlySpan(bytes, 0, 4))

    if bytes.[0] <> 0uy || bytes.[1] <> 0uy || bytes.[3] = 0uy then
        fail
            "%s: bad magic number 0x%08X; not an IDX file (unsigned-byte IDX files start with 0x%08X for images or 0x%08X for labels)."
            source
            magic
            ImagesMagic
            LabelsMagic

    if bytes.[2] <> 0x08uy then
        fail
            "%s: magic number 0x%08X declares element type 0x%02X; only unsigned bytes (0x08) are supported."
            source
            magic
            bytes.[2]

    let nd = int bytes.[3]
    let header = 4 + 4 * nd

    if bytes.Length < header then
        fail "%s: truncated header: %d dimensions need %d header bytes, the file has %d." source nd header bytes.Length

    let dims =
        Array.init nd (fun i -> BinaryPrimitives.ReadInt32BigEndian(ReadOnlySpan(bytes, 4 + 4 * i, 4)))

    if dims |> Array.exists (fun d -> d < 0) then
        fail "%s: negative dimension in %s." source (Imle.Validate.shapeText dims)

    let count = dims |> Array.fold (fun acc d -> acc * int64 d) 1L
    let available = int64 (bytes.Length - header)

    if available < count then
        fail
            "%s: truncated: dimensions %s need %d data bytes, the file has %d."
            source
            (String.Join("×", dims))
            count
            available

    if available > count then
        fail
            "%s: %d bytes beyond the %d data bytes that dimensions %s declare (corrupt file?)."
            source
            (available - count)
            count
            (String.Join("×", dims))

    { Dims = dims
      Data = bytes.[header .. header + int count - 1] }

/// Reads an unsigned-byte IDX file of any rank (plain or gzip-compressed); FileNotFoundException when it is absent.
let read (path: string) : IdxArray =
    Check.nonEmpty "path" path
    parse path (readBytes path)

/// Reads an IDX image file (magic 0x00000803: count × rows × columns bytes).
let readImages (path: string) : IdxImages =
    let a = read path

    if a.Dims.Length <> 3 then
        fail
            "%s: expected an image file (magic 0x%08X, 3 dimensions); this one has %d dimension(s) (a label file has 1)."
            path
            ImagesMagic
            a.Dims.Length

    { Count = a.Dims.[0]
      Rows = a.Dims.[1]
      Cols = a.Dims.[2]
      Pixels = a.Data }

/// Reads an IDX label file (magic 0x00000801: one byte per item).
let readLabels (path: string) : byte[] =
    let a = read path

    if a.Dims.Length <> 1 then
        fail
            "%s: expected a label file (magic 0x%08X, 1 dimension); this one has %d dimensions (an image file has 3)."
            path
            LabelsMagic
            a.Dims.Length

    a.Data

/// The bytes of an unsigned-byte IDX file with the given dimensions and values.
let encode (dims: int[]) (data: byte[]) : byte[] =
    Check.notNull "dims" dims
    Check.notNull "data" data

    if dims.Length < 1 || dims.Length > 255 then
        invalidArg "dims" (sprintf "IDX files have 1 to 255 dimensions; got %d." dims.Length)

    if dims |> Array.exists (fun d -> d < 0) then
        invalidArg "dims" "Dimensions must be non-negative."

    let count = dims |> Array.fold (fun acc d -> acc * int64 d) 1L

    if count <> int64 data.Length then
        invalidArg "data" (sprintf "Dimensions %s hold %d values; got %d." (String.Join("×", dims)) count data.Length)

    let header = 4 + 4 * dims.Length
    let bytes = Array.zeroCreate<byte>(header + data.Length)
    bytes.[2] <- 0x08uy
    bytes.[3] <- byte dims.Length

    dims
    |> Array.iteri (fun i d -> BinaryPrimitives.WriteInt32BigEndian(Span(bytes, 4 + 4 * i, 4), d))

    Buffer.BlockCopy(data, 0, bytes, header, data.Length)
    bytes

/// Writes an unsigned-byte IDX file, gzip-compressed when the path ends in ".gz".
let write (path: string) (dims: int[]) (data: byte[]) : unit =
    Check.nonEmpty "path" path
    let bytes = encode dims data

    if path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) then
        use file = File.Create path
        use gz = new GZipStream(file, CompressionLevel.Fastest)
        gz.Write(bytes, 0, bytes.Length)
    else
        File.WriteAllBytes(path, bytes)

/// Writes an IDX image file of `count` images of rows × cols bytes (gzip-compressed when the path ends in ".gz").
let writeImages (path: string) (count: int) (rows: int) (cols: int) (pixels: byte[]) : unit =
    Imle.Validate.intAtLeast "count" 0 count
    Imle.Validate.intAtLeast "rows" 0 rows
    Imle.Validate.intAtLeast "cols" 0 cols
    Check.notNull "pixels" pixels

    if int64 pixels.Length <> int64 count * int64 rows * int64 cols then
        invalidArg
            "pixels"
            (sprintf
                "%d images of %d×%d need %d bytes; got %d."
                count
                rows
                cols
                (int64 count * int64 rows * int64 cols)
                pixels.Length)

    write path [| count; rows; cols |] pixels

/// Writes an IDX label file (gzip-compressed when the path ends in ".gz").
let writeLabels (path: string) (labels: byte[]) : unit =
    Check.notNull "labels" labels
    write path [| labels.Length |] labels

/// A dataset of the MNIST layout as tensors on the CPU: images [N, rows·cols] float32 in [0, 1], labels [N] int64.
type Dataset =
    {
        /// Training images [N, rows·cols], float32 in [0, 1].
        TrainImages: torch.Tensor
        /// Training labels [N], int64.
        TrainLabels: torch.Tensor
        /// Test images [M, rows·cols], float32 in [0, 1].
        TestImages: torch.Tensor
        /// Test labels [M], int64.
        TestLabels: torch.Tensor
        /// Pixel rows per image.
        Rows: int
        /// Pixel columns per image.
        Cols: int
        /// The four files read (train images, train labels, test images, test labels).
        Files: string[]
    }

/// The file names tried for each of the four files: the standard names (`train-images-idx3-ubyte`) and the
/// dotted variant (`train-images.idx3-ubyte`), each plain or with ".gz".
let candidateNames (stem: string) (what: string) (idx: string) : string list =
    Check.notNull "stem" stem
    Check.notNull "what" what
    Check.notNull "idx" idx

    [ for name in
          [ sprintf "%s-%s-%s-ubyte" stem what idx
            sprintf "%s-%s.%s-ubyte" stem what idx ] do
          yield name
          yield name + ".gz" ]

/// The message shown when a dataset folder lacks its files (`missing`: the standard names of the absent files).
let missingMessage (dir: string) (missing: string list) : string =
    Check.notNull "dir" dir
    Check.notNull "missing" missing

    sprintf
        "The dataset was not found in '%s': no %s. Install Fashion-MNIST with `sudo apt-get install dataset-fashion-mnist` (it puts the IDX files in %s), or pass --data DIR pointing at a folder holding train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (optionally .gz; MNIST's files work too)."
        dir
        (String.Join(", ", missing |> List.map (fun s -> s + "[.gz]")))
        DefaultFashionMnistDir

/// Finds the four files in `dir`: [| trainImages; trainLabels; testImages; testLabels |], or raises
/// DatasetNotFoundException saying what is missing and how to get the data.
let findFiles (dir: string) : string[] =
    Check.nonEmpty "dir" dir

    let wanted =
        [ "train", "images", "idx3"
          "train", "labels", "idx1"
          "t10k", "images", "idx3"
          "t10k", "labels", "idx1" ]

    let found =
        wanted
        |> List.map (fun (stem, what, idx) ->
            let names = candidateNames stem what idx

            sprintf "%s-%s-%s-ubyte" stem what idx,
            (if Directory.Exists dir then
                 names |> List.map (fun n -> Path.Combine(dir, n)) |> List.tryFind File.Exists
             else
                 None))

    let missing =
        found
        |> List.choose (fun (name, path) -> if path.IsNone then Some name else None)

    if not missing.IsEmpty then
        raise (DatasetNotFoundException(missingMessage dir missing))

    found |> List.map (fun (_, p) -> p.Value) |> Array.ofList

let private imagesTensor (images: IdxImages) =
    use flat = torch.tensor (images.Pixels)
    use raw = flat.reshape (int64 images.Count, int64 (images.Rows * images.Cols))
    use scale = (255.0).ToScalar()
    raw.``to``(torch.ScalarType.Float32).div_(scale)

let private labelsTensor (labels: byte[]) =
    use raw = torch.tensor (labels)
    raw.``to`` (torch.ScalarType.Int64)

/// Loads the four IDX files of an MNIST-layout folder (Fashion-MNIST, MNIST) as CPU tensors: images [N, rows·cols]
/// float32 in [0, 1], labels [N] int64. Raises DatasetNotFoundException (with how to get the data) when files are
/// missing and IdxFormatException when one is malformed or the counts disagree.
let loadFashionMnist (dir: string) : Dataset =
    Check.nonEmpty "dir" dir
    let files = findFiles dir
    let trainImages = readImages files.[0]
    let trainLabels = readLabels files.[1]
    let testImages = readImages files.[2]
    let testLabels = readLabels files.[3]

    if trainImages.Count <> trainLabels.Length then
        fail "%s holds %d images but %s holds %d labels." files.[0] trainImages.Count files.[1] trainLabels.Length

    if testImages.Count <> testLabels.Length then
        fail "%s holds %d images but %s holds %d labels." files.[2] testImages.Count files.[3] testLabels.Length

    if trainImages.Rows <> testImages.Rows || trainImages.Cols <> testImages.Cols then
        fail
            "Training images are %d×%d but test images are %d×%d."
            trainImages.Rows
            trainImages.Cols
            testImages.Rows
            testImages.Cols

    { TrainImages = imagesTensor trainImages
      TrainLabels = labelsTensor trainLabels
      TestImages = imagesTensor testImages
      TestLabels = labelsTensor testLabels
      Rows = trainImages.Rows
      Cols = trainImages.Cols
      Files = files }

/// `loadFashionMnist` for a command-line program: prints the error (missing data, malformed file) to stderr without a
/// stack trace and returns None instead of raising (a null or empty `dir` still raises ArgumentException).
let tryLoad (dir: string) : Dataset option =
    Check.nonEmpty "dir" dir

    try
        Some(loadFashionMnist dir)
    with
    | :? DatasetNotFoundException as e ->
        eprintfn "%s" e.Message
        None
    | :? IdxFormatException as e ->
        eprintfn "Cannot read the dataset: %s" e.Message
        None

/// The sizes of an MNIST-layout folder read from the two image files' headers only (no pixels): training images, test
/// images, rows and columns; None when a file is missing or its header is unreadable (loading it then says why). The
/// commands use it to estimate a run's memory and time before loading anything.
type IdxSizes =
    {
        /// Training images.
        Train: int
        /// Test images.
        Test: int
        /// Rows of an image.
        Rows: int
        /// Columns of an image.
        Cols: int
    }

/// See IdxSizes.
let tryPeek (dir: string) : IdxSizes option =
    try
        let files = findFiles dir

        let header (path: string) =
            use file = File.OpenRead path
            let first = [| byte (file.ReadByte()); byte (file.ReadByte()) |]
            file.Seek(0L, SeekOrigin.Begin) |> ignore

            use stream =
                if isGzip first then
                    new GZipStream(file, CompressionMode.Decompress) :> Stream
                else
                    file :> Stream

            let bytes = Array.zeroCreate<byte> 16
            stream.ReadExactly(bytes, 0, 16)

            let at (i: int) =
                BinaryPrimitives.ReadInt32BigEndian(ReadOnlySpan(bytes, i, 4))

            if at 0 <> ImagesMagic || at 4 < 0 || at 8 < 1 || at 12 < 1 then
                None
            else
                Some(at 4, at 8, at 12)

        match header files.[0], header files.[2] with
        | Some(train, rows, cols), Some(test, _, _) ->
            Some
                { Train = train
                  Test = test
                  Rows = rows
                  Cols = cols }
        | _ -> None
    with _ ->
        None
