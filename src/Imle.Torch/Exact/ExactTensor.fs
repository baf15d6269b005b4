namespace Imle.Torch

open System
open TorchSharp
open Imle

/// Exact distributions on tensors for the score-function estimator: log-probabilities (differentiable in θ) and exact
/// samples, by enumeration or, for k-subsets, by the O(m·k) dynamic programme.
[<RequireQualifiedAccess>]
module ExactTensor =

    /// Checks weights for the exact distribution: a finite floating tensor whose trailing dims are the problem's shape
    /// or its size m, over a problem whose partition function is computable (a k-subset problem or an enumerable one).
    let private checkWeights (problem: Problem) (weights: Tensor) =
        if isNull (box problem) then
            nullArg "problem"

        if isNull weights then
            nullArg "weights"

        let shape = weights.shape

        if
            problem.Shape.Length > 1
            && shape.Length >= 1
            && shape.[shape.Length - 1] = int64 problem.Size
        then
            // Flattened [..., m]: check it viewed as [..., ...problem.Shape].
            use asStates =
                weights.reshape (Array.append shape.[.. shape.Length - 2] (Array.map int64 problem.Shape))

            TensorSolve.validate "weights" problem asStates
        else
            TensorSolve.validate "weights" problem weights

        match problem.Kind with
        | KSubsetKind _ -> ()
        | _ when problem.Enumerate.IsSome -> ()
        | _ ->
            invalidArg
                "problem"
                (sprintf
                    "problem '%s' cannot be enumerated, so its exact distribution is not available (k-subset problems and enumerable ones are)."
                    problem.Name)

    /// log p(z; θ) for validated scores θ (maximisation terms); see `logProbability`.
    let internal logProbabilityOfScores (problem: Problem) (tau: float) (scores: Tensor) (states: Tensor) : Tensor =
        let m = int64 problem.Size
        use flat = scores.reshape (-1L, m)
        use theta = Safe.divScalar flat tau
        use z = states.reshape(-1L, m).``to``(scores.dtype)
        use energy = (theta * z).sum([| 1L |])

        let logZ =
            match problem.Kind with
            | KSubsetKind k ->
                // log e_k(exp θ) by the recursion E_j(i) = logaddexp(E_j(i−1), E_{j−1}(i−1) + θ_i), j = 0..k.
                let b = theta.shape.[0]
                // A large finite stand-in for −∞: logaddexp(−∞, −∞) has a NaN gradient, logaddexp(−1e30, −1e30) a zero one.
                let negInf = Safe.full [| b; int64 k |] -1e30 scores.dtype scores.device

                let mutable e =
                    torch.cat (
                        [| torch.zeros ([| b; 1L |], dtype = scores.dtype, device = scores.device)
                           negInf |],
                        1L
                    )

                for i in 0L .. m - 1L do
                    let ti = theta.narrow (1L, i, 1L)

                    let shifted =
                        torch.cat ([| negInf.narrow (1L, 0L, 1L); Safe.add (e.narrow (1L, 0L, int64 k)) ti |], 1L)

                    e <- torch.logaddexp (e, shifted)

                e.narrow(1L, int64 k, 1L).squeeze(1L)
            | _ ->
                let all = Problem.states problem

                use s =
                    torch
                        .tensor(Array.concat all, dtype = scores.dtype, device = scores.device)
                        .reshape(int64 all.Length, m)

                use logits = theta.matmul (s.t ())
                torch.logsumexp (logits, 1L, false)

        use logZ = logZ
        // Leading dims: scores may be [..., ...problem.Shape] or flattened [..., m].
        let shape = scores.shape
        let k = problem.Shape.Length

        let leading =
            if shape.Length >= k && shape.[shape.Length - k ..] = Array.map int64 problem.Shape then
                shape.[.. shape.Length - k - 1]
            else
                shape.[.. shape.Length - 2]

        (energy - logZ).reshape(leading)

    /// log p(z; θ) = ⟨z, θ⟩/τ − A(θ) for weights in the problem's sense (θ = w for maximisation, −w for costs) and
    /// states z, both of shape [..., ...problem.Shape] (or flattened [..., m]), differentiable in the weights. Uses the
    /// k-subset dynamic programme for k-subset problems and enumeration otherwise.
    let logProbability (problem: Problem) (tau: float) (weights: Tensor) (states: Tensor) : Tensor =
        Validate.positive "tau" tau
        checkWeights problem weights

        if isNull states then
            nullArg "states"

        if states.shape <> weights.shape then
            invalidArg
                "states"
                (sprintf
                    "states must have the shape of weights, %s; got %s."
                    (Validate.shapeText weights.shape)
                    (Validate.shapeText states.shape))

        use theta = Shapes.toScores problem weights
        logProbabilityOfScores problem tau theta states

    /// `samples` exact samples of p(z; θ) for each row of weights [B, m] in the problem's sense (θ = w, or −w for
    /// costs) → states [B, S, m], drawn from `generator`.
    let sample (problem: Problem) (tau: float) (samples: int) (generator: torch.Generator) (weights: Tensor) : Tensor =
        Validate.positive "tau" tau
        Validate.intAtLeast "samples" 1 samples

        if isNull generator then
            nullArg "generator"

        checkWeights problem weights
        let m = int64 problem.Size
        use scores = Shapes.toScores problem (weights.detach ())
        use theta = scores.reshape(-1L, m).``to``(torch.float64, torch.CPU)
        let b = theta.shape.[0]
        let values = theta.data<float>().ToArray()

        use seedTensor =
            torch.randint (int64 Int32.MaxValue, [| 1L |], dtype = torch.int64, generator = generator)

        let rng = Random(int (seedTensor.item<int64>()))

        let rows =
            match problem.Kind with
            | KSubsetKind k ->
                Array.init (int b * samples) (fun r ->
                    let row = Array.sub values (r / samples * int m) (int m)
                    KSubset.sample tau k rng row)
            | _ ->
                let all = Problem.states problem

                Array.init (int b * samples) (fun r ->
                    let row = Array.sub values (r / samples * int m) (int m)
                    Exact.sample tau all rng row)

        torch.tensor(Array.concat rows).reshape(b, int64 samples, m).``to``(weights.dtype, weights.device)
