namespace Imle.Torch

open System
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
        | Unchanged ->
            invalidArg
                "negativeCosts"
                "The tensor grid solver needs costs >= 0 after the negative-cost rule: ClampToZero or ShiftToZero (Unchanged is a host-solver rule)."

    /// `x` inside a border of `fill`: [n, rows + 2, cols + 2].
    let private padded (fill: float) (x: torch.Tensor) : torch.Tensor =
        let n, rows, cols = x.shape.[0], x.shape.[1], x.shape.[2]
        let p = Safe.full [| n; rows + 2L; cols + 2L |] fill x.dtype x.device
        p.narrow(1L, 1L, rows).narrow(2L, 1L, cols).copy_(x) |> ignore
        p

    /// The view of a padded tensor shifted by the move (dr, dc): entry (r, c) is the neighbour (r + dr, c + dc).
    let private shifted (p: torch.Tensor) (rows: int64) (cols: int64) (dr: int, dc: int) : torch.Tensor =
        p.narrow(1L, 1L + int64 dr, rows).narrow(2L, 1L + int64 dc, cols)

    /// The least distance among each cell's neighbours. For 8 neighbours the 3×3 window (which includes the cell itself:
    /// that never gives a strict improvement, as costs are >= 0) is taken separably, a minimum over 3 columns and then
    /// over 3 rows.
    let private neighbourMin (neighbourhood: Neighbourhood) (dist: torch.Tensor) : torch.Tensor =
        let rows, cols = dist.shape.[1], dist.shape.[2]
        use p = padded Double.PositiveInfinity dist

        match neighbourhood with
        | Eight ->
            let column (j: int64) = p.narrow (2L, j, cols)
            use a = torch.minimum (column 0L, column 1L)
            use across = torch.minimum (a, column 2L)
            let row (i: int64) = across.narrow (1L, i, rows)
            use b = torch.minimum (row 0L, row 1L)
            torch.minimum (b, row 2L)
        | Four ->
            let moves = GridShortestPath.moves Four
            let mutable least = (shifted p rows cols moves.[0]).clone()

            for k in 1 .. moves.Length - 1 do
                let next = torch.minimum (least, shifted p rows cols moves.[k])
                least.Dispose()
                least <- next

            least

    /// The indicator states [n, rows, cols] (costs' dtype and device) of minimum-cost paths from (0, 0) to
    /// (rows − 1, cols − 1) for costs [n, rows, cols] (finite; negative ones handled by `negativeCosts`), and the
    /// number of relaxation rounds run.
    let rec internal solveCounted
        (negativeCosts: NegativeCosts)
        (neighbourhood: Neighbourhood)
        (costs: torch.Tensor)
        : torch.Tensor * int =
        // On the CPU the hundreds of small operations run on one intra-op thread (see IntraOp).
        IntraOp.serialOnCpu costs.device (fun () -> solveRounds negativeCosts neighbourhood costs)

    and private solveRounds
        (negativeCosts: NegativeCosts)
        (neighbourhood: Neighbourhood)
        (costs: torch.Tensor)
        : torch.Tensor * int =
        use scope = torch.NewDisposeScope()
        let n, rows, cols = costs.shape.[0], costs.shape.[1], costs.shape.[2]
        let cells = rows * cols
        let device = costs.device
        let c = adjusted negativeCosts costs
        let dist = Safe.full [| n; rows; cols |] Double.PositiveInfinity costs.dtype device

        dist.view(n, cells).narrow(1L, 0L, 1L).copy_(c.view(n, cells).narrow(1L, 0L, 1L))
        |> ignore
        // The round in which each cell's distance last fell (the start: round 0).
        let last =
            torch.zeros ([| n; rows; cols |], dtype = torch.ScalarType.Int32, device = device)

        let mutable rounds = 0
        let mutable changing = true
        let limit = int cells + roundsPerTest

        while changing && rounds < limit do
            use before = dist.clone ()

            for _ in 1..roundsPerTest do
                use _round = torch.NewDisposeScope()
                rounds <- rounds + 1
                let least = neighbourMin neighbourhood dist
                let candidate = Safe.add c least
                let better = candidate.lt dist
                dist.copy_ (torch.where (better, candidate, dist)) |> ignore

                let now =
                    torch.tensor (int64 rounds, dtype = torch.ScalarType.Int32, device = device)

                last.copy_ (torch.where (better, now, last)) |> ignore

            use changed = dist.lt before
            use any = changed.any ()
            changing <- any.item<bool>()

        // Predecessors: the first neighbour u (in move order) with d(u) + c(v) = d(v), as the rounds computed it, and
        // either d(u) < d(v) or an earlier last change. The neighbour that last lowered d(v) qualifies, so one exists
        // for every cell but the start; and (d, last round) falls strictly along predecessors, so they form no cycle.
        let moves = GridShortestPath.moves neighbourhood
        use pd = padded Double.PositiveInfinity dist
        use pl = padded (float Int32.MaxValue) last

        use cellIndex =
            torch
                .tensor(Array.init (int cells) int64, dtype = torch.ScalarType.Int64, device = device)
                .view(1L, rows, cols)

        let pred =
            torch.zeros ([| n; rows; cols |], dtype = torch.ScalarType.Int64, device = device)

        let chosen =
            torch.zeros ([| n; rows; cols |], dtype = torch.ScalarType.Bool, device = device)

        for dr, dc in moves do
            use _move = torch.NewDisposeScope()
            let du = shifted pd rows cols (dr, dc)
            let lu = shifted pl rows cols (dr, dc)
            let tight = (Safe.add c du).eq dist
            let earlier = du.lt(dist).logical_or_(lu.lt last)
            let fresh = tight.logical_and_(earlier).logical_and_(chosen.logical_not ())
            let offset = Safe.addScalar cellIndex (float (int64 dr * cols + int64 dc))
            pred.copy_ (torch.where (fresh, offset, pred)) |> ignore
            chosen.logical_or_ fresh |> ignore

        // Read the paths back from the end cell; the start points to itself, so finished maps stay put.
        let predFlat = pred.view (n, cells)
        predFlat.narrow(1L, 0L, 1L).zero_() |> ignore
        let states = torch.zeros ([| n; cells |], dtype = costs.dtype, device = device)
        use ones = torch.ones ([| n; 1L |], dtype = costs.dtype, device = device)

        let mutable cur =
            Safe.full [| n; 1L |] (float (cells - 1L)) torch.ScalarType.Int64 device

        let mutable walking = true
        let mutable steps = 0L

        while walking do
            // A block of steps between tests (at most `cells` steps in all: a path visits each cell once).
            for _ in 1 .. rounds + 1 do
                states.scatter_ (1L, cur, ones) |> ignore
                cur <- predFlat.gather (1L, cur)

            steps <- steps + int64 (rounds + 1)
            use atStart = cur.eq (torch.zeros_like cur)
            use all = atStart.all ()
            walking <- not (all.item<bool>())

            if walking && steps > cells then
                raise (
                    InvalidOperationException
                        "TensorGridPath: a path did not reach the start (a bug: please report it)."
                )

        states.scatter_ (1L, cur, ones) |> ignore
        states.view(n, rows, cols).MoveToOuterDisposeScope(), rounds

    /// `solve`, and the number of relaxation rounds it ran (a multiple of 4: convergence is tested every 4 rounds).
    let solveWithRounds
        (negativeCosts: NegativeCosts)
        (neighbourhood: Neighbourhood)
        (costs: torch.Tensor)
        : torch.Tensor * int =
        if isNull costs then
            nullArg "costs"

        if costs.dim () <> 3L then
            invalidArg "costs" (sprintf "costs must have shape [n, rows, cols]; got %d dims." (costs.dim ()))

        if not (costs.is_floating_point ()) then
            invalidArg "costs" (sprintf "costs must have a floating-point dtype; got %A." costs.dtype)

        use isFinite = torch.isfinite costs
        use finite = isFinite.all ()

        if not (finite.item<bool>()) then
            invalidArg "costs" "costs must be finite; NaN and infinity are not allowed."

        use detached = costs.detach ()
        solveCounted negativeCosts neighbourhood detached

    /// The indicator states [n, rows, cols] of minimum-cost paths from (0, 0) to (rows − 1, cols − 1) for costs
    /// [n, rows, cols] (a floating dtype, finite entries, any device), solved on the costs' device; see the module.
    /// Negative costs are handled by `negativeCosts` as the host solver does.
    let solve (negativeCosts: NegativeCosts) (neighbourhood: Neighbourhood) (costs: torch.Tensor) : torch.Tensor =
        fst (solveWithRounds negativeCosts neighbourhood costs)
