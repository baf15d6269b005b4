namespace Imle

/// The continuous relaxations that I-MLE is compared with, over arrays: forward values and vector–Jacobian products
/// for scores θ (maximisation terms) and given standard Gumbel noise g. The reference of the TorchSharp backend's
/// `Relaxed` module (there differentiated by autograd; parity tested).
[<RequireQualifiedAccess>]
module RelaxedReference =

    let private softmax (logits: float[]) =
        let top = Array.max logits
        let e = logits |> Array.map (fun x -> exp (x - top))
        let total = Array.sum e
        e |> Array.map (fun x -> x / total)

    /// The VJP of p = softmax(α/τ) for an upstream v: (1/τ)·p ⊙ (v − ⟨p, v⟩).
    let private softmaxVjp (tau: float) (p: float[]) (v: float[]) =
        let dot = Array.fold2 (fun acc a b -> acc + a * b) 0.0 p v
        Array.map2 (fun pi vi -> pi * (vi - dot) / tau) p v

    /// Gumbel-softmax (Jang et al. 2017): softmax((θ + g)/τ).
    let gumbelSoftmax (tau: float) (scores: float[]) (gumbel: float[]) : float[] =
        Array.map2 (fun t g -> (t + g) / tau) scores gumbel |> softmax

    /// dL/dθ of Gumbel-softmax for dL/dy = `upstream`.
    let gumbelSoftmaxBackward (tau: float) (scores: float[]) (gumbel: float[]) (upstream: float[]) : float[] =
        softmaxVjp tau (gumbelSoftmax tau scores gumbel) upstream

    /// The k rounds of SoftSub: the probabilities pᵣ = softmax(αᵣ₋₁/τ), α₀ = θ + g, αᵣ = αᵣ₋₁ + log(max(1 − pᵣ, 1e-20)).
    let private rounds (k: int) (tau: float) (scores: float[]) (gumbel: float[]) =
        let mutable alpha = Array.map2 (+) scores gumbel

        Array.init k (fun _ ->
            let p = alpha |> Array.map (fun a -> a / tau) |> softmax
            alpha <- Array.map2 (fun a pi -> a + log (max (1.0 - pi) 1e-20)) alpha p
            p)

    /// SoftSub, a relaxed top-k (Xie and Ermon 2019): the sum of the k rounds' probabilities, a relaxed k-hot.
    let topK (k: int) (tau: float) (scores: float[]) (gumbel: float[]) : float[] =
        rounds k tau scores gumbel
        |> Array.fold (Array.map2 (+)) (Array.zeroCreate scores.Length)

    /// dL/dθ of SoftSub for dL/dy = `upstream`: reverse mode through the k rounds.
    let topKBackward (k: int) (tau: float) (scores: float[]) (gumbel: float[]) (upstream: float[]) : float[] =
        let ps = rounds k tau scores gumbel
        // dα after the last round is 0; each round adds v to dp and dα·d log(max(1 − p, 1e-20))/dp.
        let mutable dAlpha = Array.zeroCreate scores.Length

        for r in k - 1 .. -1 .. 0 do
            let p = ps.[r]

            let dp =
                Array.init p.Length (fun i ->
                    let remaining = 1.0 - p.[i]
                    let through = if remaining >= 1e-20 then -dAlpha.[i] / remaining else 0.0
                    upstream.[i] + through)

            dAlpha <- Array.map2 (+) dAlpha (softmaxVjp tau p dp)

        dAlpha
