namespace Imle

open System

/// Soft sorting and ranking (Blondel, Teboul, Berthet & Djolonga, ICML 2020, "Fast differentiable sorting and
/// ranking"), quadratic regularisation: Euclidean projections onto the permutahedron P(w) (the convex hull of the
/// permutations of w), computed in O(n log n) by isotonic regression with the pool-adjacent-violators algorithm.
/// With ρ = (n, n − 1, …, 1):
///   soft sort   s_ε(θ) = P(ρ/ε; θ)  → θ sorted in descending order as ε → 0;
///   soft rank   r_ε(θ) = P(−θ/ε; ρ) → the ranks of θ (1 for the largest) as ε → 0;
/// and both tend to constant vectors (the mean of θ, the mean rank) as ε → ∞.
[<RequireQualifiedAccess>]
module SoftSort =

    /// Decreasing isotonic regression by pool-adjacent-violators: argmin_{v_1 ≥ … ≥ v_n} ½‖v − y‖². Returns v and the
    /// block index of each position (positions of one block share the block's mean).
    let isotonicDecreasing (y: float[]) : float[] * int[] =
        Validate.notNull "y" y
        Validate.allFinite "y" y
        let n = y.Length
        // Blocks as a stack: start index, length, sum.
        let starts = Array.zeroCreate n
        let lengths = Array.zeroCreate n
        let sums = Array.zeroCreate n
        let mutable top = -1

        for i in 0 .. n - 1 do
            top <- top + 1
            starts.[top] <- i
            lengths.[top] <- 1
            sums.[top] <- y.[i]
            // Merge while the previous block's mean is below this one's (a violation of v decreasing).
            while top > 0
                  && sums.[top - 1] / float lengths.[top - 1] < sums.[top] / float lengths.[top] do
                lengths.[top - 1] <- lengths.[top - 1] + lengths.[top]
                sums.[top - 1] <- sums.[top - 1] + sums.[top]
                top <- top - 1

        let v = Array.zeroCreate n
        let block = Array.zeroCreate n

        for b in 0..top do
            let mean = sums.[b] / float lengths.[b]

            for i in starts.[b] .. starts.[b] + lengths.[b] - 1 do
                v.[i] <- mean
                block.[i] <- b

        v, block

    /// Averages g within each block of `block` (the Jacobian of isotonic regression, symmetric).
    let private blockAverage (block: int[]) (g: float[]) =
        let blocks = if block.Length = 0 then 0 else block.[block.Length - 1] + 1
        let sums = Array.zeroCreate blocks
        let counts = Array.zeroCreate blocks

        for i in 0 .. g.Length - 1 do
            sums.[block.[i]] <- sums.[block.[i]] + g.[i]
            counts.[block.[i]] <- counts.[block.[i]] + 1

        Array.init g.Length (fun i -> sums.[block.[i]] / float counts.[block.[i]])

    /// The projection of z onto the permutahedron of w, P(z; w) = z − v(z_σ − w_sorted)_{σ⁻¹}, σ sorting z in
    /// descending order; also returns σ and the blocks (for the Jacobians).
    let private project (z: float[]) (w: float[]) =
        let sigma =
            Array.init z.Length id |> Array.sortWith (fun i j -> compare z.[j] z.[i])

        let wSorted = Array.sortDescending w

        let v, block =
            isotonicDecreasing (Array.init z.Length (fun r -> z.[sigma.[r]] - wSorted.[r]))

        let result = Array.copy z

        for r in 0 .. z.Length - 1 do
            result.[sigma.[r]] <- z.[sigma.[r]] - v.[r]

        result, sigma, block

    let private check (epsilon: float) (theta: float[]) =
        Validate.positive "epsilon" epsilon
        Validate.nonEmpty "theta" theta

        Validate.allFinite "theta" theta

    /// `check`, and g: one finite entry per entry of θ.
    let private checkWithCotangent (epsilon: float) (theta: float[]) (g: float[]) =
        check epsilon theta
        Validate.length "g" theta.Length g
        Validate.allFinite "g" g

    let private rho (n: int) = Array.init n (fun i -> float (n - i))

    /// The soft sort s_ε(θ) = P(ρ/ε; θ) (descending). Raises ArgumentException naming `epsilon` (finite, > 0) or
    /// `theta` (non-empty, finite).
    let softSort (epsilon: float) (theta: float[]) : float[] =
        check epsilon theta
        let z = rho theta.Length |> Array.map (fun v -> v / epsilon)
        let result, _, _ = project z theta
        result

    /// The soft rank r_ε(θ) = P(−θ/ε; ρ): ranks in [1, n] summing to n(n + 1)/2, rank 1 for the largest θ.
    let softRank (epsilon: float) (theta: float[]) : float[] =
        check epsilon theta

        let result, _, _ =
            project (theta |> Array.map (fun v -> -v / epsilon)) (rho theta.Length)

        result

    /// gᵀ ∂s_ε/∂θ. As ρ/ε is sorted, s_ε = ρ/ε − v(ρ/ε − sort(θ)), so ∂s_ε = B·∂sort(θ) with B the block averaging of
    /// the isotonic solution; the result is B·g carried back to θ's positions.
    let softSortVjp (epsilon: float) (theta: float[]) (g: float[]) : float[] =
        checkWithCotangent epsilon theta g
        let n = theta.Length
        let z = rho n |> Array.map (fun v -> v / epsilon)
        let _, _, block = project z theta
        let averaged = blockAverage block g
        // sort(θ)_r = θ_{π(r)} with π sorting θ descending.
        let pi = Array.init n id |> Array.sortWith (fun i j -> compare theta.[j] theta.[i])
        let result = Array.zeroCreate n

        for r in 0 .. n - 1 do
            result.[pi.[r]] <- averaged.[r]

        result

    /// gᵀ ∂r_ε/∂θ. With z = −θ/ε, r_ε = z − (v(z_σ − ρ))_{σ⁻¹}, so ∂r_ε/∂z = I − Pσᵀ B Pσ and ∂z/∂θ = −I/ε.
    let softRankVjp (epsilon: float) (theta: float[]) (g: float[]) : float[] =
        checkWithCotangent epsilon theta g
        let n = theta.Length
        let _, sigma, block = project (theta |> Array.map (fun v -> -v / epsilon)) (rho n)
        let averaged = blockAverage block (Array.init n (fun r -> g.[sigma.[r]]))
        let result = Array.zeroCreate n

        for r in 0 .. n - 1 do
            result.[sigma.[r]] <- -(g.[sigma.[r]] - averaged.[r]) / epsilon

        result
