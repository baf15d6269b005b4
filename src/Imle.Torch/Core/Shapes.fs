namespace Imle.Torch

open TorchSharp
open Imle

/// Shape bookkeeping shared by the autograd functions: weights [..batch, ...problem.Shape] are viewed as [B, m].
module internal Shapes =

    /// Checks `weights` with `TensorSolve.validate` (trailing dims = the problem's shape, finite floating entries) and
    /// returns the batch dims. Public entry points call this once; everything after works on validated tensors.
    let batchDims (parameter: string) (problem: Problem) (weights: Tensor) : int64[] =
        TensorSolve.validate parameter problem weights
        let shape = weights.shape
        shape.[.. shape.Length - problem.Shape.Length - 1]

    let batchSize (dims: int64[]) = Array.fold (*) 1L dims

    /// The shape of weights (and of their gradient): the batch dims followed by the problem's state shape.
    let weightShape (batchDims: int64[]) (problem: Problem) : int64[] =
        Array.append batchDims (Array.map int64 problem.Shape)

    /// Scores θ from weights in the problem's sense (θ = −c for minimisation): the one sense flip of the tensor backend
    /// (the array backend's is `Problem.toScores`).
    let toScores (problem: Problem) (weights: Tensor) : Tensor =
        match problem.Sense with
        | Maximise -> weights.alias ()
        | Minimise -> weights.neg ()

    /// dL/dw from dL/dθ (the same flip: it is its own inverse).
    let toWeightGradient (problem: Problem) (gradTheta: Tensor) : Tensor = toScores problem gradTheta

    /// Checks an upstream gradient for NaN/∞ before an estimator uses it (dL/dz comes from outside: it is an edge).
    let checkGradient (name: string) (grad: Tensor) =
        use finite = torch.isfinite(grad).all()

        if not (finite.item<bool>()) then
            invalidOp (
                sprintf
                    "%s: the incoming gradient dL/dz contains NaN or infinite entries; the estimator cannot use it (check the downstream loss)."
                    name
            )

    /// Checks a floating, finite tensor [..., m] with m ≥ 1 named `name` (the rows of scores, logits or a relaxation's
    /// input); returns m.
    let lastDimension (name: string) (t: Tensor) : int64 =
        if isNull t then
            nullArg name

        if t.shape.Length = 0 || t.shape.[t.shape.Length - 1] < 1L then
            invalidArg
                name
                (sprintf "%s must have shape [..., m] with m >= 1; got %s." name (Validate.shapeText t.shape))

        if not (torch.is_floating_point t) then
            invalidArg name (sprintf "%s must be a floating tensor; got %A." name t.dtype)

        use finite = torch.isfinite(t).all()

        if not (finite.item<bool>()) then
            invalidArg name (sprintf "%s must be finite (no NaN or infinity)." name)

        t.shape.[t.shape.Length - 1]
