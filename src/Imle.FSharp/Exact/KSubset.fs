namespace Imle

open System

/// Exact quantities of the k-subset distribution p(z; θ) ∝ exp(⟨z, θ⟩/τ) over binary z ∈ {0,1}^m with exactly k ones
/// (paper Example 2), by dynamic programming over the elementary symmetric polynomials e_j of exp(θ_i/τ) in log
/// space: O(m·k) time, no enumeration of the C(m, k) states. Scores θ are in the maximisation convention.
/// Stable for large |θ|/τ (e.g. |θ| ~ 1e6 with τ = 1e-3): everything is a log-sum-exp of finite numbers.
[<RequireQualifiedAccess>]
module KSubset =

    /// log(e^a + e^b) with −∞ handled (either or both may be −∞).
    let private logAdd (a: float) (b: float) =
        if Double.IsNegativeInfinity a then b
        elif Double.IsNegativeInfinity b then a
        elif a >= b then a + log (1.0 + exp (b - a))
        else b + log (1.0 + exp (a - b))

    /// Validates τ, k and θ and returns the scaled scores a_i = θ_i/τ.
    let private scaled (tau: float) (k: int) (scores: float[]) =
        Validate.positive "tau" tau
        Validate.allFinite "scores" scores

        Validate.nonEmpty "scores" scores

        Validate.intInRange "k" 1 scores.Length k
        scores |> Array.map (fun t -> t / tau)

    /// Backward table B.[i].[j] = log e_j(a_i, …, a_{m−1}) for i in 0..m and j in 0..k (−∞ where j exceeds m − i).
    let private backward (a: float[]) (k: int) =
        let m = a.Length
        let b = Array.init (m + 1) (fun _ -> Array.create (k + 1) Double.NegativeInfinity)
        b.[m].[0] <- 0.0

        for i in m - 1 .. -1 .. 0 do
            b.[i].[0] <- 0.0

            for j in 1 .. min k (m - i) do
                b.[i].[j] <- logAdd b.[i + 1].[j] (a.[i] + b.[i + 1].[j - 1])

        b

    /// Forward table F.[i].[j] = log e_j(a_0, …, a_{i−1}) for i in 0..m and j in 0..k.
    let private forward (a: float[]) (k: int) =
        let m = a.Length
        let f = Array.init (m + 1) (fun _ -> Array.create (k + 1) Double.NegativeInfinity)
        f.[0].[0] <- 0.0

        for i in 1..m do
            f.[i].[0] <- 0.0

            for j in 1 .. min k i do
                f.[i].[j] <- logAdd f.[i - 1].[j] (a.[i - 1] + f.[i - 1].[j - 1])

        f

    /// log Z(θ) = log Σ_{|z| = k} exp(⟨z, θ⟩/τ) = log e_k(exp(θ_1/τ), …, exp(θ_m/τ)), in O(m·k) time and O(k) memory.
    /// Raises ArgumentException naming `tau` (finite, > 0), `k` (in [1, m]) or `scores` (non-empty, finite).
    let logPartition (tau: float) (k: int) (scores: float[]) : float =
        let a = scaled tau k scores
        let row = Array.create (k + 1) Double.NegativeInfinity
        row.[0] <- 0.0

        for i in 0 .. a.Length - 1 do
            // Descending j so that row.[j − 1] still holds the previous prefix's value.
            for j in min k (i + 1) .. -1 .. 1 do
                row.[j] <- logAdd row.[j] (a.[i] + row.[j - 1])

        row.[k]

    /// The marginals μ_i = p(z_i = 1) by forward-backward over the log elementary symmetric polynomials:
    /// μ_i = Σ_j exp(F_i[j] + θ_i/τ + B_{i+1}[k − 1 − j] − log Z). O(m·k). Entries lie in [0, 1] and sum to k.
    let marginals (tau: float) (k: int) (scores: float[]) : float[] =
        let a = scaled tau k scores
        let m = a.Length
        let f = forward a k
        let b = backward a k
        let logZ = b.[0].[k]

        Array.init m (fun i ->
            let mutable acc = 0.0

            for j in 0 .. k - 1 do
                let x = f.[i].[j] + a.[i] + b.[i + 1].[k - 1 - j]

                if not (Double.IsNegativeInfinity x) then
                    acc <- acc + exp (x - logZ)

            min 1.0 (max 0.0 acc))

    /// log(e^x + e^y) with its tangent, for forward-mode differentiation of the tables: (x, dx), (y, dy) → (r, dr).
    let private logAddDual (x: float, dx: float) (y: float, dy: float) =
        if Double.IsNegativeInfinity x then
            y, dy
        elif Double.IsNegativeInfinity y then
            x, dx
        else
            let r = logAdd x y
            r, exp (x - r) * dx + exp (y - r) * dy

    /// The forward and backward tables (as `forward`, `backward`) with their tangents along da.
    let private tablesDual (a: float[]) (da: float[]) (k: int) =
        let m = a.Length

        let table () =
            Array.init (m + 1) (fun _ -> Array.create (k + 1) (Double.NegativeInfinity, 0.0))

        let f, b = table (), table ()
        f.[0].[0] <- (0.0, 0.0)
        b.[m].[0] <- (0.0, 0.0)

        for i in 1..m do
            f.[i].[0] <- (0.0, 0.0)

            for j in 1 .. min k i do
                let fa, dfa = f.[i - 1].[j - 1]
                f.[i].[j] <- logAddDual f.[i - 1].[j] (a.[i - 1] + fa, da.[i - 1] + dfa)

        for i in m - 1 .. -1 .. 0 do
            b.[i].[0] <- (0.0, 0.0)

            for j in 1 .. min k (m - i) do
                let ba, dba = b.[i + 1].[j - 1]
                b.[i].[j] <- logAddDual b.[i + 1].[j] (a.[i] + ba, da.[i] + dba)

        f, b

    /// The directional derivative of the marginals, J_μ(θ)·g = Cov_p(z)·g / τ (∂μ/∂θ of an exponential family is its
    /// covariance over τ, a symmetric matrix, so this is also the vector–Jacobian product gᵀJ_μ): the backward pass of
    /// SIMPLE (Ahmed et al., ICLR 2023), exact, by forward-mode differentiation of the forward–backward tables in
    /// O(m·k), without the m × m covariance. Raises ArgumentException naming `tau`, `k`, `scores` or `g` (length m,
    /// finite).
    let marginalsJvp (tau: float) (k: int) (scores: float[]) (g: float[]) : float[] =
        let a = scaled tau k scores
        Validate.length "g" a.Length g
        Validate.allFinite "g" g
        let m = a.Length
        let da = g |> Array.map (fun v -> v / tau)
        let f, b = tablesDual a da k
        let logZ, dLogZ = b.[0].[k]

        Array.init m (fun i ->
            let mutable acc = 0.0

            for j in 0 .. k - 1 do
                let fx, dfx = f.[i].[j]
                let bx, dbx = b.[i + 1].[k - 1 - j]
                let x = fx + a.[i] + bx

                if not (Double.IsNegativeInfinity x) then
                    acc <- acc + exp (x - logZ) * (dfx + da.[i] + dbx - dLogZ)

            acc)

    /// One exact draw z ~ p(z; θ): a binary vector with exactly k ones, sampled sequentially with
    /// p(z_i = 1 | r ones still to place) = exp(θ_i/τ + B_{i+1}[r − 1] − B_i[r]). Uses one uniform per coordinate
    /// until all k ones are placed. O(m·k).
    let sample (tau: float) (k: int) (rng: Random) (scores: float[]) : float[] =
        let a = scaled tau k scores

        Validate.notNull "rng" rng

        let m = a.Length
        let b = backward a k
        let z = Array.zeroCreate m
        let mutable remaining = k
        let mutable i = 0

        while remaining > 0 && i < m do
            if m - i = remaining then
                // Every remaining coordinate must be taken.
                z.[i] <- 1.0
                remaining <- remaining - 1
            else
                let p = exp (a.[i] + b.[i + 1].[remaining - 1] - b.[i].[remaining])

                if rng.NextDouble() < p then
                    z.[i] <- 1.0
                    remaining <- remaining - 1

            i <- i + 1

        z

    /// log p(z; θ) = ⟨z, θ⟩/τ − log Z(θ) for a binary z of length m. A binary z whose number of ones is not k lies
    /// outside the support and gets −∞. Raises ArgumentException naming `z` if it has the wrong length or a
    /// non-binary entry.
    let logProbability (tau: float) (k: int) (scores: float[]) (z: float[]) : float =
        let logZ = logPartition tau k scores
        Validate.length "z" scores.Length z
        Validate.binary "z" z

        if Array.sum z <> float k then
            Double.NegativeInfinity
        else
            let mutable acc = 0.0

            for i in 0 .. z.Length - 1 do
                if z.[i] = 1.0 then
                    acc <- acc + scores.[i] / tau

            acc - logZ
