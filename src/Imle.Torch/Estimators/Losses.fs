namespace Imle.Torch

open TorchSharp
open Imle

/// How `Losses.hamming` and `Losses.regret` reduce a batch of per-entry losses. The batch is the first dim of
/// tensors of rank ≥ 2 (states [B, ...]); a tensor of rank ≤ 1 is one state, a batch of one.
[<RequireQualifiedAccess>]
type Reduction =
    /// The sum over every entry of every state of the batch: a scalar. dL/dz is then of order 1 per entry, whatever
    /// the batch size (the scale Eq. 14's target θ' = θ − dL/dz is built for).
    | Sum
    /// The mean over the batch of the per-state sums (the sum divided by B): a scalar (Pogančić et al.'s convention,
    /// and the usual choice).
    | Mean
    /// The per-state sums, without reducing over the batch: a tensor [B] for states [B, ...], a scalar for one
    /// state of rank ≤ 1.
    | PerSample

/// Losses over discrete states: the paper's (Hamming ℓ_H, regret ℓ_R) and Gao et al.'s optimal-value loss with
/// generalized gradients. The losses of decision-focused learning, Fenchel–Young among them, are the `DflLoss`
/// catalogue (`DflLosses.compute`).
[<RequireQualifiedAccess>]
module Losses =

    let private sameShape (a: string) (x: Tensor) (b: string) (y: Tensor) =
        if isNull x then
            nullArg a

        if isNull y then
            nullArg b

        if x.shape <> y.shape then
            invalidArg
                b
                (sprintf
                    "%s has shape %s but %s has shape %s; they must match."
                    b
                    (Validate.shapeText y.shape)
                    a
                    (Validate.shapeText x.shape))

    /// Reduces per-entry losses [B, ...] (or one state of rank ≤ 1) as `reduction` says.
    let private reduce (reduction: Reduction) (entries: Tensor) : Tensor =
        let rank = entries.shape.Length

        match reduction with
        | Reduction.Sum -> entries.sum ()
        | Reduction.Mean ->
            let batch = if rank >= 2 then entries.shape.[0] else 1L
            use total = entries.sum ()
            Safe.divScalar total (float batch)
        | Reduction.PerSample ->
            if rank >= 2 then
                use flat = entries.flatten (1L)
                flat.sum (1L)
            else
                entries.sum ()

    /// Hamming loss ℓ_H(z, y) = z∘(1 − y) + y∘(1 − z) (paper Sec. 4) of states z and targets y of the same shape
    /// [B, ...], summed over each state's entries and reduced over the batch as `reduction` says (`Reduction.Mean`:
    /// averaged over the batch).
    let hamming (reduction: Reduction) (z: Tensor) (y: Tensor) : Tensor =
        if isNull (box reduction) then
            nullArg "reduction"

        sameShape "z" z "y" y
        use notY = Safe.subtractFrom 1.0 y
        use notZ = Safe.subtractFrom 1.0 z
        use a = z * notY
        use b = y * notZ
        use both = Safe.add a b
        reduce reduction both

    /// Regret ℓ_R = ⟨c, z − z*⟩: the excess true cost of the predicted state z over the optimal state z* for the true
    /// costs c (all of shape [B, ...]), summed over each state's entries and reduced over the batch as `reduction`
    /// says. Its gradient w.r.t. z is c (Fact 2).
    let regret (reduction: Reduction) (z: Tensor) (costs: Tensor) (optimal: Tensor) : Tensor =
        if isNull (box reduction) then
            nullArg "reduction"

        sameShape "z" z "costs" costs
        sameShape "z" z "optimal" optimal
        use diff = z - optimal
        use prod = costs * diff
        reduce reduction prod

    /// The optimal value OPT(w) = ⟨z*(w), w⟩ of a linear problem, per batch row, as a loss whose generalized gradient
    /// is the optimal state z*(w) (Gao et al.). Shape: weights [..batch, ...shape] → [..batch].
    let optimalValue (problem: Problem) (weights: Tensor) : Tensor =
        let dims = Shapes.batchDims "weights" problem weights

        let call: Call<unit> = Calls.create problem dims TensorSolve.defaultParallelism ()

        OptimalValueFunction.apply (weights, call)

    /// The optimal global-alignment score of sequences of lengths n and m, for substitution scores [..batch, n, m] and
    /// a gap penalty (a scalar tensor, learnable): max over alignments of Σ z·s − gap·(unaligned positions). Its
    /// generalized gradient is the optimal alignment w.r.t. the scores and −(number of unaligned positions) w.r.t.
    /// the gap (Gao et al.'s showcase).
    let alignmentScore (n: int) (m: int) (scores: Tensor) (gap: Tensor) : Tensor =
        if isNull gap then
            nullArg "gap"

        if gap.numel () <> 1L then
            invalidArg "gap" (sprintf "gap must be a scalar tensor; got shape %s." (Validate.shapeText gap.shape))

        use gapValue = gap.detach ()

        if gapValue.ToDouble() < 0.0 then
            invalidArg "gap" "gap must be >= 0."
        // Σ z·s − g·(n + m − 2Σz) = ⟨z, s + 2g⟩ − g·(n + m): a linear problem in z with shifted scores.
        let problem = Problem.alignment n m 0.0
        use twiceGap = Safe.mulScalar gap 2.0
        use shifted = Safe.add scores twiceGap
        use value = optimalValue problem shifted
        use unaligned = Safe.mulScalar gap (float (n + m))
        value - unaligned
