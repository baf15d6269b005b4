namespace Imle.Torch

open TorchSharp
open Imle
open Imle.Solvers

/// Grid shortest paths with vertex costs solved by tensor operations on the costs' own device (no host copy; the
/// solver behind `Problem.gridShortestPathTensor`). Synchronous Bellman–Ford: the distances d start at +∞ except
/// d(start) = c(start), and every round sets d(v) ← min(d(v), c(v) + min over the neighbours u of d(u)) for all maps
/// and cells at once (for 8 neighbours, one 3×3 max-pool of −d with its arg-max indices), recording the neighbour that
/// gave a strict improvement as v's predecessor; rounds stop when a block of rounds changes nothing. The path is then
/// read back from the end cell along the predecessors, one gather per step for every map at once.
///
/// Why reading back terminates: a predecessor u is recorded from u's distance of the previous round, and if u later
/// improved, v would improve again after it. So along the predecessors the round of each cell's last change strictly
/// decreases and reaches the start (round 0): the path has at most as many steps as rounds were run, and no cycle can
/// occur, even with zero costs.
[<RequireQualifiedAccess>]
module TensorGridPath =

    /// Rounds between two convergence tests (each test waits for the device).
    let private roundsPerTest = 4

    /// Costs after the negative-cost policy (the same as the host solver's): clamped at 0, or each map shifted by its
    /// minimum when that is negative.
    let private adjusted (negativeCosts: NegativeCosts) (costs: torch.Tensor) : torch.Tensor =
        match negativeCosts with
        | ClampToZero -> Safe.clampMin costs 0.0
        | ShiftToZero ->
            let n = costs.shape.[0]
            use flat = costs.reshape (n, -1L)
            let struct (lowest, _) = flat.min (1L, keepdim = true)
            use lowest = lowest
            use zero = torch.zeros_like lowest
            use shift = torch.minimum(lowest, zero).neg_().view(n, 1L, 1L)
            Safe.add costs shift

    /// One round: the least distance among each cell's neighbours and the flat index of the neighbour that has it.
    let private neighbourMin (neighbourhood: Neighbourhood) (dist: torch.Tensor) : torch.Tensor * torch.Tensor =
        let n, rows, cols = dist.shape.[0], dist.shape.[1], dist.shape.[2]

        match neighbourhood with
        | Eight ->
            // The 3×3 window includes the cell itself, which never gives a strict improvement (costs are >= 0).
            use negated = dist.neg().view(n, 1L, rows, cols)

            let struct (pooled, indices) =
                torch.nn.functional.max_pool2d_with_indices (negated, [| 3L; 3L |], [| 1L; 1L |], [| 1L; 1L |])

            use pooled = pooled
            use indices = indices
            pooled.neg().view(n, rows, cols), indices.view (n, rows * cols)
        | Four ->
            use padded =
                Safe.full [| n; rows + 2L; cols + 2L |] System.Double.PositiveInfinity dist.dtype dist.device

            padded.narrow(1L, 1L, rows).narrow(2L, 1L, cols).copy_(dist) |> ignore
            let steps = GridShortestPath.moves Four

            use stacked =
                torch.stack (
                    steps
                    |> Array.map (fun (dr, dc) ->
                        padded.narrow(1L, 1L + int64 dr, rows).narrow(2L, 1L + int64 dc, cols)),
                    1L
                )

            let struct (least, which) = stacked.min (1L)
            use which = which

            use offsets =
                torch.tensor (
                    steps |> Array.map (fun (dr, dc) -> int64 dr * cols + int64 dc),
                    dtype = torch.ScalarType.Int64,
                    device = dist.device
                )

            use cells =
                torch
                    .tensor(Array.init (int (rows * cols)) int64, dtype = torch.ScalarType.Int64, device = dist.device)
                    .view(1L, rows, cols)

            use step = offsets.take which
            least, (Safe.add cells step).view(n, rows * cols)

    /// The indicator states [n, rows, cols] (costs' dtype and device) of minimum-cost paths from (0, 0) to
    /// (rows − 1, cols − 1) for costs [n, rows, cols] (finite; negative ones handled by `negativeCosts`), and the
    /// number of relaxation rounds run.
    let internal solveCounted
        (negativeCosts: NegativeCosts)
        (neighbourhood: Neighbourhood)
        (costs: torch.Tensor)
        : torch.Tensor * int =
        use scope = torch.NewDisposeScope()
        let n, rows, cols = costs.shape.[0], costs.shape.[1], costs.shape.[2]
        let cells = rows * cols
        let c = adjusted negativeCosts costs

        let dist =
            Safe.full [| n; rows; cols |] System.Double.PositiveInfinity costs.dtype costs.device

        let flatDist = dist.view (n, cells)
        flatDist.narrow(1L, 0L, 1L).copy_(c.view(n, cells).narrow(1L, 0L, 1L)) |> ignore
        // The start's predecessor is itself (index 0), so reading back stays there once it arrives.
        let pred =
            torch.zeros ([| n; cells |], dtype = torch.ScalarType.Int64, device = costs.device)

        let mutable rounds = 0
        let mutable changing = true
        let limit = int cells + roundsPerTest

        while changing && rounds < limit do
            use before = dist.clone ()

            for _ in 1..roundsPerTest do
                use _round = torch.NewDisposeScope()
                let least, from = neighbourMin neighbourhood dist
                let candidate = Safe.add c least
                let better = candidate.lt dist
                dist.copy_ (torch.where (better, candidate, dist)) |> ignore
                pred.copy_ (torch.where (better.view (n, cells), from, pred)) |> ignore

            rounds <- rounds + roundsPerTest
            use changed = dist.lt before
            use any = changed.any ()
            changing <- any.item<bool>()

        let states =
            torch.zeros ([| n; cells |], dtype = costs.dtype, device = costs.device)

        use ones = torch.ones ([| n; 1L |], dtype = costs.dtype, device = costs.device)

        let mutable cur =
            Safe.full [| n; 1L |] (float (cells - 1L)) torch.ScalarType.Int64 costs.device

        for _ in 0..rounds do
            states.scatter_ (1L, cur, ones) |> ignore
            cur <- pred.gather (1L, cur)

        states.view(n, rows, cols).MoveToOuterDisposeScope(), rounds

    /// The indicator states [n, rows, cols] of minimum-cost paths from (0, 0) to (rows − 1, cols − 1) for costs
    /// [n, rows, cols] (a floating dtype, finite entries, any device), solved on the costs' device; see the module.
    /// Negative costs are handled by `negativeCosts` as the host solver does.
    let solve (negativeCosts: NegativeCosts) (neighbourhood: Neighbourhood) (costs: torch.Tensor) : torch.Tensor =
        if isNull costs then
            nullArg "costs"

        if costs.dim () <> 3L then
            invalidArg "costs" (sprintf "costs must have shape [n, rows, cols]; got %d dims." (costs.dim ()))

        if not (costs.is_floating_point ()) then
            invalidArg "costs" (sprintf "costs must have a floating-point dtype; got %A." costs.dtype)

        use finite = torch.isfinite(costs).all()

        if not (finite.item<bool>()) then
            invalidArg "costs" "costs must be finite; NaN and infinity are not allowed."

        use detached = costs.detach ()
        fst (solveCounted negativeCosts neighbourhood detached)
