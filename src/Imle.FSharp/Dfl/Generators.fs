namespace Imle.Dfl

open System
open Imle

/// Feature–cost pairs from a synthetic generator: features x_i ∈ R^p and cost (or value) vectors c_i ∈ R^m, one row
/// per instance.
type GeneratedData =
    {
        /// Features, [n][p].
        Features: float[][]
        /// Costs (shortest path) or item values (knapsack), [n][m].
        Costs: float[][]
        /// The Bernoulli(0.5) matrix B, [m][p], that maps features to costs.
        B: float[][]
    }

/// PyEPO's synthetic data generators (Tang and Khalil, "PyEPO: a PyTorch-based end-to-end predict-then-optimize
/// library", 2022; `pyepo/data/shortestpath.py` and `pyepo/data/knapsack.py`), after Elmachtoub and Grigas ("Smart
/// 'Predict, then Optimize'", 2022, Sec. 6): x_i ~ N(0, I_p), a fixed B ∈ {0, 1}^{m×p} with Bernoulli(0.5) entries,
///
///   c_ij = ( ((B x_i)_j / √p + 3)^deg + 1 ) / 3.5^deg · ε_ij,   ε_ij ~ U[1 − noiseWidth, 1 + noiseWidth]
///
/// (multiplicative noise of half-width `noiseWidth`). This is PyEPO's code, which also divides the "+ 1" by 3.5^deg;
/// the SPO paper writes [ ((B x)_j/√p + 3)^deg / 3.5^deg + 1 ] · ε. We follow PyEPO, whose numbers we compare with.
///
/// with `deg` the polynomial degree (misspecification grows with it). Deterministic per seed (System.Random with the
/// seed; draws in the order B, x, ε as PyEPO draws them), but not bit-identical to NumPy's generator.
[<RequireQualifiedAccess>]
module Generators =

    let private checkCommon (instances: int) (features: int) (deg: int) (noiseWidth: float) =
        Validate.intAtLeast "instances" 1 instances
        Validate.intAtLeast "features" 1 features
        Validate.intAtLeast "deg" 1 deg
        Validate.inHalfOpen "noiseWidth" 0.0 1.0 noiseWidth

    /// PyEPO's cost formula for one instance without noise, exactly as `shortestpath.py` computes it:
    /// c_j = ((B x)_j / √p + 3)^deg + 1, then divided by 3.5^deg. (So the "+ 1" is also scaled: c_j = (((Bx)_j/√p + 3)^deg
    /// + 1) / 3.5^deg.) `b` is [m][p], `x` has p entries.
    let costFormula (b: float[][]) (x: float[]) (deg: int) : float[] =
        Validate.notNull "b" b
        Validate.notNull "x" x
        Validate.intAtLeast "deg" 1 deg
        let p = x.Length

        if p = 0 then
            invalidArg "x" "x must have at least one feature."

        b
        |> Array.iteri (fun j row ->
            if isNull row || row.Length <> p then
                invalidArg "b" (sprintf "b[%d] must have %d entries (one per feature)." j p))

        let scale = 3.5 ** float deg

        b
        |> Array.map (fun row ->
            let bx = Array.fold2 (fun s bj xj -> s + bj * xj) 0.0 row x
            ((bx / sqrt (float p) + 3.0) ** float deg + 1.0) / scale)

    /// Draws B ([m][p], Bernoulli(0.5)), then x_i ~ N(0, I_p) for every instance, then ε_ij ~ U[1 − w, 1 + w].
    let private draw (rng: Random) (instances: int) (features: int) (m: int) (noiseWidth: float) =
        let b =
            Array.init m (fun _ -> Array.init features (fun _ -> if rng.NextDouble() < 0.5 then 1.0 else 0.0))

        let x =
            Array.init instances (fun _ -> Array.init features (fun _ -> Sampling.standardNormal rng))

        let eps =
            Array.init instances (fun _ ->
                Array.init m (fun _ -> 1.0 - noiseWidth + 2.0 * noiseWidth * rng.NextDouble()))

        b, x, eps

    /// PyEPO's shortest-path data (`pyepo.data.shortestpath.genData`) on the rows×cols grid network: m =
    /// (rows−1)·cols + (cols−1)·rows arc costs per instance (40 on 5×5, in `DagShortestPath.gridArcs` order),
    /// c_i = costFormula(B, x_i, deg) ∘ ε_i. All costs are positive.
    let shortestPath
        (instances: int)
        (features: int)
        (rows: int)
        (cols: int)
        (deg: int)
        (noiseWidth: float)
        (seed: int)
        : GeneratedData =
        checkCommon instances features deg noiseWidth
        Validate.intAtLeast "rows" 1 rows
        Validate.intAtLeast "cols" 1 cols
        let m = (rows - 1) * cols + (cols - 1) * rows

        if m < 1 then
            invalidArg "cols" "the grid needs at least one arc (rows*cols >= 2)."

        let b, x, eps = draw (Random seed) instances features m noiseWidth

        let costs =
            Array.init instances (fun i -> Array.map2 (*) (costFormula b x.[i] deg) eps.[i])

        { Features = x; Costs = costs; B = b }

    /// PyEPO's knapsack data (`pyepo.data.knapsack.genData`): item values
    /// v_i = ⌈5 · costFormula(B, x_i, deg) ∘ ε_i⌉ (integers ≥ 1) for `items` items, and item weights drawn once,
    /// uniformly from {3.00, 3.01, …, 7.99} per resource dimension. The weights are returned in hundredths, as
    /// integers in [300, 799] ([dim][items]), so that `Problem.knapsack weights.[0] (100 · capacity)` solves PyEPO's
    /// one-dimensional instance exactly. (Weights are drawn first, then B, x and ε, as PyEPO does.)
    let knapsack
        (instances: int)
        (features: int)
        (items: int)
        (dim: int)
        (deg: int)
        (noiseWidth: float)
        (seed: int)
        : int[][] * GeneratedData =
        checkCommon instances features deg noiseWidth
        Validate.intAtLeast "items" 1 items
        Validate.intAtLeast "dim" 1 dim
        let rng = Random seed

        let weights =
            Array.init dim (fun _ -> Array.init items (fun _ -> rng.Next(300, 800)))

        let b, x, eps = draw rng instances features items noiseWidth

        let values =
            Array.init instances (fun i ->
                Array.map2 (fun c e -> Math.Ceiling(5.0 * c * e)) (costFormula b x.[i] deg) eps.[i])

        weights, { Features = x; Costs = values; B = b }

    /// Euclidean distances between the cities' coordinates, in `HeldKarp.edges` order (PyEPO's condensed `pdist`).
    let private tspDistances (coords: float[][]) =
        let n = coords.Length

        [| for i in 0 .. n - 2 do
               for j in i + 1 .. n - 1 do
                   let dx = coords.[i].[0] - coords.[j].[0]
                   let dy = coords.[i].[1] - coords.[j].[1]
                   yield sqrt (dx * dx + dy * dy) |]

    /// The feature term ((B x)_e / √p + 3)^deg / 3^(deg−1) per edge.
    let private tspFeatureTerm (b: float[][]) (x: float[]) (deg: int) =
        let p = float x.Length
        let scale = 3.0 ** float (deg - 1)

        b
        |> Array.map (fun row ->
            let bx = Array.fold2 (fun s be xk -> s + be * xk) 0.0 row x
            (bx / sqrt p + 3.0) ** float deg / scale)

    /// PyEPO's TSP cost formula for one instance without noise and before rounding (`pyepo.data.tsp.genData`):
    /// c_e = ‖u_i − u_j‖ + ((B x)_e / √p + 3)^deg / 3^(deg−1) for every edge e = (i, j), i &lt; j, in `HeldKarp.edges`
    /// order (PyEPO's condensed `pdist` order). `coords` is [n][2] (n ≥ 2 cities), `b` is [n(n−1)/2][p], `x` has p
    /// entries. Raises ArgumentException naming the parameter of the wrong shape.
    let tspCostFormula (coords: float[][]) (b: float[][]) (x: float[]) (deg: int) : float[] =
        Validate.notNull "coords" coords
        Validate.notNull "b" b
        Validate.notNull "x" x
        Validate.intAtLeast "deg" 1 deg
        let n = coords.Length

        if n < 2 then
            invalidArg "coords" "coords needs at least two cities."

        coords
        |> Array.iteri (fun i u ->
            if isNull u || u.Length <> 2 then
                invalidArg "coords" (sprintf "coords[%d] must have 2 entries (a point in the plane)." i))

        let p = x.Length

        if p = 0 then
            invalidArg "x" "x must have at least one feature."

        let edges = n * (n - 1) / 2

        if b.Length <> edges then
            invalidArg "b" (sprintf "b must have %d rows (one per edge of %d cities); got %d." edges n b.Length)

        b
        |> Array.iteri (fun e row ->
            if isNull row || row.Length <> p then
                invalidArg "b" (sprintf "b[%d] must have %d entries (one per feature)." e p))

        Array.map2 (+) (tspDistances coords) (tspFeatureTerm b x deg)

    /// PyEPO's TSP data (`pyepo.data.tsp.genData`, "Euclidean distance plus polynomial feature term") for the
    /// complete graph on `cities` nodes, paired with `Problem.tsp` / `HeldKarp`: n(n−1)/2 edge costs per instance in
    /// `HeldKarp.edges` order. Draws, in PyEPO's order: coordinates (the first ⌊n/2⌋ cities U(−2, 2)², the rest
    /// N(0, I₂)), then B = Bernoulli(0.5) ∘ U(−2, 2) ([edges][p]; all Bernoulli draws first, then all uniforms),
    /// features x_i ~ N(0, I_p), noise ε ~ U[1 − w, 1 + w]; c_i = dist + (formula's feature term) ∘ ε_i, rounded to 4
    /// decimals (PyEPO also casts to float32; we keep float). Returns the coordinates ([n][2]) and the data.
    /// Deterministic per seed (System.Random), not bit-identical to NumPy. With deg ≥ 2 even or small B x the costs are
    /// positive; odd deg can give negative edge costs, as in PyEPO (Held–Karp accepts any sign).
    let tsp (instances: int) (features: int) (cities: int) (deg: int) (noiseWidth: float) (seed: int) =
        checkCommon instances features deg noiseWidth
        Validate.intAtLeast "cities" 2 cities
        let rng = Random seed
        let edges = cities * (cities - 1) / 2
        let half = cities / 2

        let coords =
            Array.init cities (fun i ->
                if i < half then
                    Array.init 2 (fun _ -> -2.0 + 4.0 * rng.NextDouble())
                else
                    Array.init 2 (fun _ -> Sampling.standardNormal rng))

        let bernoulli =
            Array.init edges (fun _ -> Array.init features (fun _ -> if rng.NextDouble() < 0.5 then 1.0 else 0.0))

        let b =
            bernoulli
            |> Array.map (Array.map (fun bit -> bit * (-2.0 + 4.0 * rng.NextDouble())))

        let x =
            Array.init instances (fun _ -> Array.init features (fun _ -> Sampling.standardNormal rng))

        let eps =
            Array.init instances (fun _ ->
                Array.init edges (fun _ -> 1.0 - noiseWidth + 2.0 * noiseWidth * rng.NextDouble()))

        let dist = tspDistances coords

        let costs =
            Array.init instances (fun i ->
                let term = tspFeatureTerm b x.[i] deg
                Array.init edges (fun e -> Math.Round(dist.[e] + term.[e] * eps.[i].[e], 4)))

        coords, { Features = x; Costs = costs; B = b }
