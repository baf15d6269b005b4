/// Procedurally generated Warcraft-style terrain maps for the shortest-path experiment (paper Table 2).
///
/// A map is a K×K grid of terrain cells with fixed vertex costs in the range of the original data set (0.8 … 9.2).
/// Terrain is spatially coherent (two smoothed random fields, elevation and moisture, cut at per-map quantiles, plus
/// roads drawn as random walks across the map); every cell is rendered as a textured 8×8-pixel RGB tile with per-tile
/// variation, so the image has (8K)×(8K) pixels. The ground truth is the true cost matrix and the 8-neighbour
/// minimum-cost path from the top-left to the bottom-right cell (Imle's Dijkstra). Everything is deterministic from
/// (seed, K, split, index) and data sets are cached on disk. Invalid arguments raise ArgumentException naming the
/// parameter.
module Imle.Data.WarcraftMaps

open System
open System.IO
open Imle
open Imle.Solvers

/// Pixels per cell side.
[<Literal>]
let TilePixels = 8

/// The terrain types; the value indexes `terrainCosts` and `terrainNames`.
type Terrain =
    /// Cost 0.8.
    | Grass = 0uy
    /// Cost 1.2.
    | Road = 1uy
    /// Cost 3.5.
    | Forest = 2uy
    /// Cost 5.3.
    | DenseForest = 3uy
    /// Cost 7.7.
    | Rock = 4uy
    /// Cost 9.2.
    | Water = 5uy

/// The vertex cost of each terrain (index = terrain value).
let terrainCosts = [| 0.8; 1.2; 3.5; 5.3; 7.7; 9.2 |]

/// Terrain names for reports (index = terrain value).
let terrainNames = [| "grass"; "road"; "forest"; "dense forest"; "rock"; "water" |]

/// One map: terrain, true costs, the true shortest path, its cost and the rendered image.
type WarcraftMap =
    {
        /// Grid side K.
        K: int
        /// Terrain per cell, row-major K×K.
        Terrain: byte[]
        /// True vertex cost per cell, row-major K×K.
        Costs: float32[]
        /// Indicator of the true minimum-cost path (8-neighbour, top-left to bottom-right), row-major K×K.
        Path: byte[]
        /// The cost of the true path: the sum of the costs of its cells, both ends included.
        PathCost: float
        /// The RGB image, channel-major [3, 8K, 8K], one byte per channel.
        Image: byte[]
    }

/// The side of the image of a K×K map in pixels (8K).
let imageSide (k: int) =
    Validate.intAtLeast "k" 1 k
    TilePixels * k

/// The number of bytes of the image of a K×K map (3·8K·8K).
let imageBytes (k: int) = 3 * imageSide k * imageSide k

/// The problem every K×K map is solved with: the 8-neighbour minimum-cost path from the top-left to the bottom-right
/// cell, with `negativeCosts` saying what Dijkstra does with negative (perturbed) costs.
let problemWith (negativeCosts: NegativeCosts) (k: int) =
    Validate.intAtLeast "k" 1 k
    Problem.gridShortestPathWith negativeCosts k k Eight

/// `problemWith ClampToZero k`: negative costs are clamped to 0 (blackbox-backprop's convention).
let problem (k: int) = problemWith ClampToZero k

// ----- deterministic seeding ------------------------------------------------------------------------------------------

let private splitMix (x: uint64) =
    let mutable z = x + 0x9E3779B97F4A7C15UL
    z <- (z ^^^ (z >>> 30)) * 0xBF58476D1CE4E5B9UL
    z <- (z ^^^ (z >>> 27)) * 0x94D049BB133111EBUL
    z ^^^ (z >>> 31)

/// A seed for map `index` of split `split` (0 train, 1 test) at size k.
let private mapSeed (seed: int) (k: int) (split: int) (index: int) =
    let h =
        splitMix (uint64 (uint32 seed))
        ^^^ splitMix (uint64 k * 1000003UL + uint64 split * 7919UL)
        ^^^ splitMix (uint64 index + 0x51ED270B27UL)

    int (splitMix h &&& 0x7FFFFFFFUL)

// ----- terrain ------------------------------------------------------------------------------------------------------

/// A smooth value-noise field on a k×k grid: random values on a lattice of spacing `scale` cells, smoothstep-bilinear
/// interpolation and a random offset.
let private valueNoise (rng: Random) (k: int) (scale: float) =
    let g = int (ceil (float k / scale)) + 2
    let lattice = Array2D.init g g (fun _ _ -> rng.NextDouble())
    let ox, oy = rng.NextDouble(), rng.NextDouble()
    let smooth t = t * t * (3.0 - 2.0 * t)

    Array2D.init k k (fun r c ->
        let x = (float c + 0.5) / scale + ox
        let y = (float r + 0.5) / scale + oy
        let x0, y0 = int x, int y
        let tx, ty = smooth (x - float x0), smooth (y - float y0)
        let a = lattice.[y0, x0] * (1.0 - tx) + lattice.[y0, x0 + 1] * tx
        let b = lattice.[y0 + 1, x0] * (1.0 - tx) + lattice.[y0 + 1, x0 + 1] * tx
        a * (1.0 - ty) + b * ty)

/// Two octaves of value noise, flattened row-major.
let private field (rng: Random) (k: int) =
    let coarse = valueNoise rng k (max 2.0 (float k / 3.0))
    let fine = valueNoise rng k 2.0
    Array.init (k * k) (fun i -> 0.7 * coarse.[i / k, i % k] + 0.3 * fine.[i / k, i % k])

/// The value below which a share `q` of the entries lies.
let private quantile (values: float[]) (q: float) =
    let sorted = Array.sort values
    sorted.[min (sorted.Length - 1) (max 0 (int (q * float sorted.Length)))]

/// Terrain for one map.
let private terrain (rng: Random) (k: int) : byte[] =
    let elevation = field rng k
    let moisture = field rng k
    let rockShare = 0.08 + 0.12 * rng.NextDouble()
    let waterShare = 0.06 + 0.10 * rng.NextDouble()
    let denseShare = 0.10 + 0.10 * rng.NextDouble()
    let forestShare = 0.12 + 0.12 * rng.NextDouble()
    let rockCut = quantile elevation (1.0 - rockShare)
    let waterCut = quantile moisture (1.0 - waterShare)
    let denseCut = quantile moisture (1.0 - waterShare - denseShare)
    let forestCut = quantile moisture (1.0 - waterShare - denseShare - forestShare)

    let cells =
        Array.init (k * k) (fun i ->
            if elevation.[i] >= rockCut then Terrain.Rock
            elif moisture.[i] >= waterCut then Terrain.Water
            elif moisture.[i] >= denseCut then Terrain.DenseForest
            elif moisture.[i] >= forestCut then Terrain.Forest
            else Terrain.Grass)
    // Roads: random walks from one edge to the opposite one, with 4-connected side steps.
    let roads = rng.Next(0, 3)

    for _ in 1..roads do
        let horizontal = rng.Next 2 = 0
        let mutable lane = rng.Next(1, k - 1)

        for step in 0 .. k - 1 do
            let set l =
                if horizontal then
                    cells.[l * k + step] <- Terrain.Road
                else
                    cells.[step * k + l] <- Terrain.Road

            set lane

            if rng.NextDouble() < 0.25 then
                lane <- max 0 (min (k - 1) (lane + (if rng.Next 2 = 0 then -1 else 1)))
                set lane

    Array.map byte cells

// ----- rendering ----------------------------------------------------------------------------------------------------

/// Renders one 8×8 tile; `put px py r g b` writes a pixel (values in [0, 1]).
let private renderTile (rng: Random) (t: Terrain) (put: int -> int -> float -> float -> float -> unit) =
    let n = TilePixels
    let brightness = 0.9 + 0.2 * rng.NextDouble()
    let jitter (amount: float) = (rng.NextDouble() - 0.5) * amount
    let buffer = Array.init (n * n) (fun _ -> (0.0, 0.0, 0.0))

    let set x y (r, g, b) =
        if x >= 0 && x < n && y >= 0 && y < n then
            buffer.[y * n + x] <- (r, g, b)

    let fill (r, g, b) (amount: float) (speckle: float) (speckleColour: float * float * float) =
        for y in 0 .. n - 1 do
            for x in 0 .. n - 1 do
                if rng.NextDouble() < speckle then
                    set x y speckleColour
                else
                    let j = jitter amount
                    set x y (r + j, g + j, b + j)

    let tree (cx: int) (cy: int) (canopy: float * float * float) =
        let (r, g, b) = canopy

        for dy in -2 .. 1 do
            for dx in -2 .. 2 do
                if dx * dx + dy * dy <= 4 then
                    let j = jitter 0.06
                    set (cx + dx) (cy + dy) (r + j, g + j, b + j)

        set (cx - 1) (cy - 1) (r + 0.12, g + 0.14, b + 0.06)
        set cx (cy + 2) (0.36, 0.23, 0.10)

    match t with
    | Terrain.Grass -> fill (0.33, 0.60, 0.20) 0.10 0.12 (0.46, 0.73, 0.28)
    | Terrain.Road -> fill (0.70, 0.60, 0.43) 0.08 0.15 (0.55, 0.47, 0.33)
    | Terrain.Forest ->
        fill (0.33, 0.58, 0.21) 0.08 0.05 (0.46, 0.73, 0.28)

        for _ in 1 .. rng.Next(1, 3) do
            tree (rng.Next(2, 6)) (rng.Next(2, 5)) (0.10, 0.40, 0.12)
    | Terrain.DenseForest ->
        fill (0.12, 0.30, 0.12) 0.06 0.0 (0.0, 0.0, 0.0)

        for _ in 1 .. rng.Next(3, 6) do
            tree (rng.Next(1, 7)) (rng.Next(1, 6)) (0.05, 0.26, 0.07)
    | Terrain.Rock ->
        fill (0.53, 0.50, 0.47) 0.10 0.0 (0.0, 0.0, 0.0)
        let mutable x = rng.Next(0, n)

        for y in 0 .. n - 1 do
            set x y (0.30, 0.28, 0.26)
            x <- x + rng.Next(-1, 2)

        for _ in 1..3 do
            set (rng.Next(0, 4)) (rng.Next(0, 4)) (0.72, 0.70, 0.66)
    | _ ->
        fill (0.16, 0.36, 0.72) 0.05 0.0 (0.0, 0.0, 0.0)
        let offset = rng.Next 4

        for y in 0 .. n - 1 do
            if (y + offset) % 4 = 0 then
                for x in 0 .. n - 1 do
                    if rng.NextDouble() < 0.6 then
                        set x y (0.36, 0.56, 0.88)

    for y in 0 .. n - 1 do
        for x in 0 .. n - 1 do
            let (r, g, b) = buffer.[y * n + x]
            put x y (r * brightness) (g * brightness) (b * brightness)

/// Renders the whole map as channel-major bytes [3, 8K, 8K].
let private render (rng: Random) (k: int) (cells: byte[]) : byte[] =
    let side = imageSide k
    let plane = side * side
    let image = Array.zeroCreate (3 * plane)

    let toByte (v: float) =
        byte (Math.Round(255.0 * max 0.0 (min 1.0 v)))

    for cell in 0 .. k * k - 1 do
        let row, col = cell / k, cell % k

        renderTile rng (LanguagePrimitives.EnumOfValue<byte, Terrain> cells.[cell]) (fun px py r g b ->
            let offset = (row * TilePixels + py) * side + col * TilePixels + px
            image.[offset] <- toByte r
            image.[plane + offset] <- toByte g
            image.[2 * plane + offset] <- toByte b)

    image

/// Generates map `index` of a split (0 train, 1 test) at size k ≥ 2 from the seed; the map depends only on
/// (seed, k, split, index).
let generate (seed: int) (k: int) (split: int) (index: int) : WarcraftMap =
    Validate.intAtLeast "k" 2 k
    Validate.intInRange "split" 0 1 split
    Validate.intAtLeast "index" 0 index
    let rng = Random(mapSeed seed k split index)
    let cells = terrain rng k
    let costs = cells |> Array.map (fun t -> terrainCosts.[int t])
    let path = Problem.solve (problem k) costs
    let image = render rng k cells

    { K = k
      Terrain = cells
      Costs = Array.map float32 costs
      Path = Array.map byte path
      PathCost = Problem.objective costs path
      Image = image }

// ----- cache --------------------------------------------------------------------------------------------------------

let private magic = 0x314D4357 // "WCM1"

let private save (path: string) (seed: int) (k: int) (maps: WarcraftMap[]) =
    Directory.CreateDirectory(Path.GetDirectoryName path) |> ignore
    let tmp = path + ".tmp"

    (use stream = File.Create tmp
     use w = new BinaryWriter(stream)
     w.Write magic
     w.Write k
     w.Write maps.Length
     w.Write seed

     for m in maps do
         w.Write m.Terrain

         for c in m.Costs do
             w.Write c

         w.Write m.Path
         w.Write m.PathCost
         w.Write m.Image)

    File.Move(tmp, path, true)

let private tryLoad (path: string) (seed: int) (k: int) (count: int) : WarcraftMap[] option =
    if not (File.Exists path) then
        None
    else
        try
            use r = new BinaryReader(File.OpenRead path)

            if
                r.ReadInt32() <> magic
                || r.ReadInt32() <> k
                || r.ReadInt32() <> count
                || r.ReadInt32() <> seed
            then
                None
            else
                let cells = k * k

                Some(
                    Array.init count (fun _ ->
                        let terrain = r.ReadBytes cells
                        let costs = Array.init cells (fun _ -> r.ReadSingle())
                        let path = r.ReadBytes cells
                        let pathCost = r.ReadDouble()
                        let image = r.ReadBytes(imageBytes k)

                        if image.Length <> imageBytes k then
                            raise (EndOfStreamException())

                        { K = k
                          Terrain = terrain
                          Costs = costs
                          Path = path
                          PathCost = pathCost
                          Image = image })
                )
        with
        | :? IOException
        | :? EndOfStreamException -> None

/// The cache file of a split ("train" or "test") of `count` maps of size k from `seed`, inside `cacheDir`.
let cachePath (cacheDir: string) (k: int) (count: int) (seed: int) (split: string) =
    Check.nonEmpty "cacheDir" cacheDir
    Check.nonEmpty "split" split
    Path.Combine(cacheDir, sprintf "warcraft-%s-%d-%d-%d.bin" split k count seed)

/// A data set: loaded from the cache when there, otherwise generated (calling `step` once per map, in parallel over
/// maps; each map depends only on (seed, k, split, index)) and cached. `split` is "train" or "test"; k ≥ 2; count ≥ 0.
/// Returns the maps and whether they came from the cache.
let dataset
    (cacheDir: string)
    (seed: int)
    (k: int)
    (split: string)
    (count: int)
    (step: unit -> unit)
    : WarcraftMap[] * bool =
    Check.nonEmpty "cacheDir" cacheDir
    Validate.intAtLeast "k" 2 k
    Check.notNull "split" split

    if split <> "train" && split <> "test" then
        invalidArg "split" (sprintf "split must be \"train\" or \"test\"; got \"%s\"." split)

    Validate.intAtLeast "count" 0 count
    Check.notNull "step" step
    let file = cachePath cacheDir k count seed split

    match tryLoad file seed k count with
    | Some maps -> maps, true
    | None ->
        let splitId = if split = "train" then 0 else 1
        let maps = Array.zeroCreate count
        let gate = obj ()

        Threading.Tasks.Parallel.For(
            0,
            count,
            fun i ->
                maps.[i] <- generate seed k splitId i
                lock gate step
        )
        |> ignore

        save file seed k maps
        maps, false

// ----- statistics and pictures --------------------------------------------------------------------------------------

/// The share of cells of each terrain type over a set of maps.
let terrainShares (maps: WarcraftMap[]) : float[] =
    Validate.notNull "maps" maps
    let counts = Array.zeroCreate terrainCosts.Length

    for m in maps do
        for t in m.Terrain do
            counts.[int t] <- counts.[int t] + 1.0

    let total = Array.sum counts
    counts |> Array.map (fun c -> c / max 1.0 total)

/// The mean number of cells on the true paths (of at least one map).
let meanPathLength (maps: WarcraftMap[]) =
    Validate.notNull "maps" maps

    if maps.Length = 0 then
        invalidArg "maps" "maps must hold at least one map."

    maps |> Array.averageBy (fun m -> m.Path |> Array.sumBy float)

/// The cells (row, column) of a K×K path indicator (row-major, entries > 0.5 on the path) in walking order from
/// (0, 0), for drawing; empty when (0, 0) is not on the path.
let orderedPath (k: int) (indicator: float[]) : (int * int)[] =
    Validate.intAtLeast "k" 1 k
    Validate.length "indicator" (k * k) indicator

    let onPath r c =
        r >= 0 && r < k && c >= 0 && c < k && indicator.[r * k + c] > 0.5

    if not (onPath 0 0) then
        [||]
    else
        let visited = Collections.Generic.HashSet<int>()
        let result = ResizeArray()
        let mutable current = Some(0, 0)

        while current.IsSome do
            let (r, c) = current.Value
            visited.Add(r * k + c) |> ignore
            result.Add((r, c))

            current <-
                GridShortestPath.moves Eight
                |> Array.map (fun (dr, dc) -> r + dr, c + dc)
                |> Array.tryFind (fun (r2, c2) -> onPath r2 c2 && not (visited.Contains(r2 * k + c2)))

        result.ToArray()
