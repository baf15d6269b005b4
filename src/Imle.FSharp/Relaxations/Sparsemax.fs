namespace Imle

open System

/// Sparsemax (Martins & Astudillo, ICML 2016): the Euclidean projection of scores onto the probability simplex,
/// sparsemax(θ) = argmin_{p ∈ Δ} ‖p − θ‖², a "sparse argmax" whose output has exact zeros. It is the regularised MAP
/// of the categorical family with the quadratic regulariser ½‖p‖² (InferOpt's `sparse_argmax`).
[<RequireQualifiedAccess>]
module Sparsemax =

    /// The threshold t with sparsemax(θ) = max(θ − t, 0): sort θ descending, find the largest j with
    /// 1 + j·θ_(j) > Σ_{i ≤ j} θ_(i), then t = (Σ_{i ≤ j} θ_(i) − 1)/j. O(m log m).
    let private threshold (theta: float[]) =
        let sorted = Array.sortDescending theta
        let mutable cumulative = 0.0
        let mutable support = 0
        let mutable supportSum = 0.0

        for j in 1 .. sorted.Length do
            cumulative <- cumulative + sorted.[j - 1]

            if 1.0 + float j * sorted.[j - 1] > cumulative then
                support <- j
                supportSum <- cumulative

        (supportSum - 1.0) / float support

    let private check (theta: float[]) =
        Validate.nonEmpty "theta" theta

        Validate.allFinite "theta" theta

    /// sparsemax(θ): non-negative entries summing to 1, zero where θ_i ≤ t. Raises ArgumentException naming `theta`
    /// (non-empty, finite).
    let project (theta: float[]) : float[] =
        check theta
        let t = threshold theta
        theta |> Array.map (fun v -> max (v - t) 0.0)

    /// The Jacobian–vector product J(θ)·g (J is symmetric, so also gᵀJ): on the support S (p_i > 0),
    /// g_i − mean_{j ∈ S} g_j, and 0 elsewhere. Raises ArgumentException naming `theta` or `g`.
    let jvp (theta: float[]) (g: float[]) : float[] =
        let p = project theta
        Validate.length "g" theta.Length g
        Validate.allFinite "g" g
        let support = p |> Array.map (fun v -> v > 0.0)
        let count = support |> Array.filter id |> Array.length

        let mean =
            (Array.fold2 (fun acc s v -> if s then acc + v else acc) 0.0 support g)
            / float count

        Array.map2 (fun s v -> if s then v - mean else 0.0) support g
