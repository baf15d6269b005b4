namespace Imle

open System

/// Options of the regularised Frank–Wolfe optimizer (PyEPO 2.2's `regularizedFrankWolfeOpt`, after Dalle et al.
/// 2022): the smooth solution μ(θ) = argmax_{μ ∈ conv(C)} ⟨θ, μ⟩ − (λ/2)·‖μ‖², found by Frank–Wolfe with exact line
/// search, needing only the problem's MAP oracle (no perturbation).
type FrankWolfeOptions =
    {
        /// The regularisation strength λ > 0 (PyEPO's `lambd`, default 1).
        Lambda: float
        /// The Frank–Wolfe iteration budget, ≥ 1 (PyEPO's `max_iter`, default 20).
        MaxIterations: int
        /// The Frank–Wolfe gap below which the iterations stop, ≥ 0 (PyEPO's `tol`, default 1e-6).
        Tolerance: float
    }

    /// PyEPO's defaults: λ = 1, 20 iterations, gap tolerance 1e-6.
    static member Default =
        { Lambda = 1.0
          MaxIterations = 20
          Tolerance = 1e-6 }

    /// The defaults with the given λ.
    static member Create(lambda: float) =
        { FrankWolfeOptions.Default with
            Lambda = lambda }

/// What a regularised Frank–Wolfe solve returns: the smooth solution and its active set (the vertices with positive
/// convex weight), which the backward pass differentiates through.
type FrankWolfeResult =
    {
        /// μ, a convex combination of the problem's states.
        Solution: float[]
        /// The active vertices (states of the problem).
        Vertices: float[][]
        /// Their convex weights (positive, summing to 1).
        Weights: float[]
    }

/// The regularised Frank–Wolfe optimizer over arrays (the reference of the TorchSharp backend's rows): forward
/// μ(θ/λ) = argmin_{μ ∈ conv(C)} ½‖μ − θ/λ‖² for scores θ (maximisation terms), backward the implicit derivative on
/// the active face, dμ/dθ·g = P(g)/λ with P the orthogonal projection onto the span of the centred active vertices
/// (PyEPO's `regularizedFrankWolfeOptFunc`).
[<RequireQualifiedAccess>]
module FrankWolfe =

    /// Checks λ > 0 (finite), MaxIterations ≥ 1 and Tolerance ≥ 0; returns the options.
    let validate (options: FrankWolfeOptions) : FrankWolfeOptions =
        Validate.positive "Lambda" options.Lambda
        Validate.intAtLeast "MaxIterations" 1 options.MaxIterations
        Validate.atLeast "Tolerance" 0.0 options.Tolerance
        options

    /// A short description for reports.
    let describe (options: FrankWolfeOptions) : string =
        sprintf "λ=%g, %d iterations, tol=%g" options.Lambda options.MaxIterations options.Tolerance

    let private dot (a: float[]) (b: float[]) =
        Array.fold2 (fun acc x y -> acc + x * y) 0.0 a b

    /// Frank–Wolfe for argmin_{μ ∈ conv(C)} ½‖μ − target‖² (target = θ/λ): start at MAP(target), then for each
    /// iteration the vertex v = MAP(target − μ), the gap ⟨μ − target, μ − v⟩ (stop below the tolerance), the exact step
    /// γ = clamp(gap/‖μ − v‖², 0, 1) and μ ← μ − γ·(μ − v), keeping the active set's weights (a vertex found again
    /// gains γ, one within L1 distance 1e-6 counts as the same).
    let solveTarget (problem: Problem) (options: FrankWolfeOptions) (target: float[]) : FrankWolfeResult =
        let vertices = Collections.Generic.List<float[]>()
        let weights = Collections.Generic.List<float>()
        let v0 = Problem.solveScores problem target
        vertices.Add v0
        weights.Add 1.0
        let mutable mu = Array.copy v0
        let mutable iteration = 0

        while iteration < options.MaxIterations do
            let v = Problem.solveScores problem (Array.map2 (-) target mu)
            let diff = Array.map2 (-) mu v
            let gap = dot (Array.map2 (-) mu target) diff

            if gap < options.Tolerance then
                iteration <- options.MaxIterations
            else
                let gamma = min 1.0 (max 0.0 (gap / max (dot diff diff) 1e-12))
                mu <- Array.map2 (fun m d -> m - gamma * d) mu diff

                for j in 0 .. weights.Count - 1 do
                    weights.[j] <- weights.[j] * (1.0 - gamma)

                let matched =
                    Seq.tryFindIndex
                        (fun (u: float[]) -> Array.fold2 (fun acc a b -> acc + abs (a - b)) 0.0 u v < 1e-6)
                        vertices

                match matched with
                | Some j -> weights.[j] <- weights.[j] + gamma
                | None ->
                    vertices.Add v
                    weights.Add gamma

                iteration <- iteration + 1

        let active =
            [| 0 .. weights.Count - 1 |] |> Array.filter (fun j -> weights.[j] > 0.0)

        { Solution = mu
          Vertices = active |> Array.map (fun j -> vertices.[j])
          Weights = active |> Array.map (fun j -> weights.[j]) }

    /// The regularised solution for weights in the problem's own sense: Frank–Wolfe on θ/λ, θ the scores. Raises
    /// ArgumentException naming `Lambda`, `MaxIterations`, `Tolerance` or `weights` (length m, finite).
    let solve (problem: Problem) (options: FrankWolfeOptions) (weights: float[]) : FrankWolfeResult =
        validate options |> ignore
        Validate.notNull "weights" weights
        Validate.length "weights" problem.Size weights
        Validate.allFinite "weights" weights

        Problem.toScores problem weights
        |> Array.map (fun t -> t / options.Lambda)
        |> solveTarget problem options

    /// The orthogonal projection of g onto the span of the centred active vertices (modified Gram–Schmidt, dropping
    /// directions shorter than 1e-9 of the longest): PyEPO's pseudo-inverse projector.
    let project (result: FrankWolfeResult) (g: float[]) : float[] =
        let n = float result.Vertices.Length
        let m = g.Length

        let centre =
            Array.init m (fun i -> result.Vertices |> Array.sumBy (fun v -> v.[i]) |> fun s -> s / n)

        let centred = result.Vertices |> Array.map (fun v -> Array.map2 (-) v centre)

        let scale = centred |> Array.fold (fun acc v -> max acc (sqrt (dot v v))) 0.0

        let basis = Collections.Generic.List<float[]>()

        for v in centred do
            let mutable r = Array.copy v

            for q in basis do
                let c = dot r q
                r <- Array.map2 (fun a b -> a - c * b) r q

            let norm = sqrt (dot r r)

            if norm > 1e-9 * max scale 1e-300 then
                basis.Add(Array.map (fun a -> a / norm) r)

        let result = Array.zeroCreate m

        for q in basis do
            let c = dot g q

            for i in 0 .. m - 1 do
                result.[i] <- result.[i] + c * q.[i]

        result

    /// The backward pass dL/dθ = P(g)/λ in maximisation terms for the upstream g = dL/dμ and the forward's result.
    let backwardScores (options: FrankWolfeOptions) (result: FrankWolfeResult) (g: float[]) : float[] =
        project result g |> Array.map (fun x -> x / options.Lambda)
