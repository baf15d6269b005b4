namespace Imle.Torch

open System
open System.Collections.Generic
open TorchSharp
open Imle

/// A pool of feasible solutions Γ for the contrastive losses (Mulamba et al., "Contrastive losses and solution caching
/// for predict-and-optimize", IJCAI 2021; PyEPO's `solve_ratio`): seeded with known solutions (typically the training
/// set's optimal ones), deduplicated, and grown by solving the predicted costs of a batch with probability
/// `solveRatio` per call (0: never solve, the pool stays as seeded; 1: solve every batch). Owns its random generator
/// (seeded), so a run is reproducible; calls from several threads are serialised by a lock.
type SolutionPool(problem: Problem, initial: float[][], solveRatio: float, seed: int) =
    do
        if isNull (box problem) then
            nullArg "problem"

        Validate.notNull "initial" initial

        if initial.Length = 0 then
            invalidArg "initial" "the pool needs at least one solution to start from."

        if not (Validate.isFinite solveRatio) || solveRatio < 0.0 || solveRatio > 1.0 then
            invalidArg "solveRatio" (sprintf "solveRatio must lie in [0, 1]; got %g." solveRatio)

    let gate = obj ()
    let rng = Random seed
    let keys = HashSet<string>()
    let states = List<float[]>()
    let mutable cached: Tensor option = None

    let keyOf (z: float[]) =
        String(z |> Array.map (fun x -> if x = 1.0 then '1' else '0'))

    let add (z: float[]) =
        if keys.Add(keyOf z) then
            states.Add(Array.copy z)
            cached |> Option.iter (fun t -> t.Dispose())
            cached <- None

    do
        Problem.checkRows "initial" problem initial

        initial
        |> Array.iter (fun z ->
            Validate.binary "initial" z
            add z)

    /// The problem whose solutions the pool holds.
    member _.Problem = problem
    /// The probability of solving a batch's predicted costs (and adding the solutions) per loss call.
    member _.SolveRatio = solveRatio
    /// The number of distinct solutions in the pool.
    member _.Count = lock gate (fun () -> states.Count)
    /// The solutions (copies).
    member _.States = lock gate (fun () -> states |> Seq.map Array.copy |> Array.ofSeq)

    /// Adds solutions (binary, of the problem's size); duplicates are ignored.
    member _.Add(solutions: float[][]) =
        Problem.checkRows "solutions" problem solutions
        solutions |> Array.iter (Validate.binary "solutions")

        lock gate (fun () -> solutions |> Array.iter add)

    /// With probability `SolveRatio`, solves the (validated) predicted costs [B, m] and adds the solutions; returns the
    /// pool as a tensor [N, m] of the predictions' dtype and device (a new handle the caller disposes).
    member internal _.Refresh(predicted: Tensor) : Tensor =
        lock gate (fun () ->
            if solveRatio > 0.0 && rng.NextDouble() < solveRatio then
                use solved = Discrete.mapValidated TensorSolve.defaultParallelism problem predicted

                use flat =
                    solved.reshape(-1L, int64 problem.Size).``to``(torch.float64, torch.CPU).contiguous()

                flat.data<float>().ToArray() |> Array.chunkBySize problem.Size |> Array.iter add

            let t =
                match cached with
                | Some t -> t
                | None ->
                    // The pool owns this tensor across training steps: keep it out of the caller's dispose scope.
                    use flat = torch.tensor (Array.concat (Array.ofSeq states))

                    let t =
                        flat.reshape(int64 states.Count, int64 problem.Size).DetachFromDisposeScope()

                    cached <- Some t
                    t

            let converted = t.``to`` (predicted.dtype, predicted.device)

            if obj.ReferenceEquals(converted, t) then
                t.alias ()
            else
                converted)

/// Contrastive losses over a solution pool (Mulamba et al. 2021; PyEPO's `pyepo/func/contrastive.py`) on validated
/// tensors, differentiable in the predicted costs by ordinary autograd (they are linear in ĉ; no solver in the backward
/// pass): the `Nce` and `Cmap` cases of `DflLoss`, whose reference (and sense convention, through
/// `DflLoss.orientation`) is `DflLoss.reference`. Reached through `DflLosses.compute`.
module internal Contrastive =

    /// Margins [B, N] between the true solutions and every pool member, in minimisation terms: sign·(ĉᵀw*(c) − ĉᵀs).
    let private margins (pool: SolutionPool) (rows: int64) (predicted: Tensor) (trueSolutions: Tensor) : Tensor =
        let problem = pool.Problem
        let m = int64 problem.Size
        use poolTensor = pool.Refresh predicted
        use flat = predicted.reshape (rows, m)
        use w = trueSolutions.reshape(rows, m).``to``(predicted.dtype, predicted.device)
        use trueObjective = (flat * w).sum([| 1L |], true) // [B, 1]
        use poolObjective = flat.matmul (poolTensor.t ()) // [B, N]
        use difference = trueObjective - poolObjective
        Safe.mulScalar difference (DflLoss.orientation problem)

    /// NCE: the batch mean of (1/|Γ|)·Σ_{s ∈ Γ} margin(s).
    let nce (pool: SolutionPool) (rows: int64) (predicted: Tensor) (trueSolutions: Tensor) : Tensor =
        use m = margins pool rows predicted trueSolutions
        use perInstance = m.mean ([| 1L |])
        perInstance.mean ()

    /// CMAP: the batch mean of max_{s ∈ Γ} margin(s).
    let cmap (pool: SolutionPool) (rows: int64) (predicted: Tensor) (trueSolutions: Tensor) : Tensor =
        use m = margins pool rows predicted trueSolutions
        let struct (worst, indices) = m.max (1L)
        indices.Dispose()
        use worst = worst
        worst.mean ()
