namespace Imle.Torch

open System.Collections.Generic
open TorchSharp
open Imle
open Imle.Dfl

/// The decision-focused losses of `Imle.DecisionLosses` on tensors: predicted weights [B, m] in the problem's sense
/// (with the true weights, targets or binding constraints per row) → per-row losses [B], differentiable in the
/// predictions; each row runs the reference core on the CPU, so parity holds by construction and is tested.
[<RequireQualifiedAccess>]
module DecisionLossTensor =

    /// The rows of a [B, m] tensor as float64 arrays, after checking its shape against the problem.
    let private rowsOf (name: string) (problem: Problem) (t: Tensor) =
        if isNull t then
            nullArg name

        if t.shape.Length <> 2 || t.shape.[1] <> int64 problem.Size then
            invalidArg
                name
                (sprintf "%s must have shape [B, %d]; got %s." name problem.Size (Validate.shapeText t.shape))

        use cpu = t.detach().``to``(torch.float64, torch.CPU).contiguous()
        let values = cpu.data<float>().ToArray()
        let m = problem.Size
        Array.init (int t.shape.[0]) (fun r -> Array.sub values (r * m) m)

    /// Per-row losses [B] from a reference loss (row index, predicted row → value and gradient), computed once per row
    /// and reused by the backward pass.
    let private perRow
        (name: string)
        (problem: Problem)
        (predicted: Tensor)
        (loss: int -> float[] -> LossWithGradient)
        =
        if obj.ReferenceEquals(problem, null) then
            nullArg "problem"

        rowsOf "predicted" problem predicted |> ignore
        BackwardErrors.throwIfAny ()
        let cache = Dictionary<int, LossWithGradient>()

        let get r row =
            lock cache (fun () ->
                match cache.TryGetValue r with
                | true, v -> v
                | _ ->
                    let v = loss r row
                    cache.[r] <- v
                    v)

        let map =
            { Name = name
              Width = 1L
              Forward = fun r row -> [| (get r row).Value |]
              Vjp = fun r row g -> (get r row).Gradient |> Array.map (fun v -> v * g.[0]) }

        use out = RowMapFunction.apply (predicted, map)
        out.reshape (predicted.shape.[0])

    /// Per-row losses [B] of a `DflLoss` case that `DflLoss.decision` interprets (PG, CaVE, structured SVM, imitation,
    /// zero-one, RFY) for predicted [B, m], with the rows of the true costs and solutions (null when the loss does not
    /// read them) and each row's binding normals (null unless CaVE). Raises ArgumentException naming `loss` for the
    /// other cases, or what `DflLoss.decision` names.
    let decision
        (problem: Problem)
        (loss: DflLoss)
        (predicted: Tensor)
        (trueCosts: Tensor)
        (trueSolutions: Tensor)
        (normals: float[][][])
        : Tensor =
        let optionalRows name (t: Tensor) =
            if isNull t then None else Some(rowsOf name problem t)

        let costs = optionalRows "trueCosts" trueCosts
        let solutions = optionalRows "trueSolutions" trueSolutions

        if DflLoss.needsBindingNormals loss then
            Validate.notNull "BindingNormals" normals

            if int64 normals.Length <> predicted.shape.[0] then
                invalidArg
                    "BindingNormals"
                    (sprintf
                        "BindingNormals must have one entry per row (%d); got %d."
                        predicted.shape.[0]
                        normals.Length)

        let instance r row =
            { Predicted = row
              TrueCosts = costs |> Option.map (fun c -> c.[r]) |> Option.toObj
              TrueSolution = solutions |> Option.map (fun c -> c.[r]) |> Option.toObj
              BindingNormals = if isNull normals then null else normals.[r] }

        perRow (DflLoss.describe loss) problem predicted (fun r row ->
            match DflLoss.decision problem loss (instance r row) with
            | Some result -> result
            | None ->
                invalidArg
                    "loss"
                    (sprintf
                        "%s is not one of the decision losses (PG, CaVE, SSVM, imitation, zero-one, RFY)."
                        (DflLoss.describe loss)))

    /// The PG loss (`DecisionLosses.pg`) per row of predicted [B, m] against the true weights [B, m]. Raises
    /// ArgumentException naming `h`, `predicted` or `truth`.
    let pg (variant: PgVariant) (h: float) (problem: Problem) (predicted: Tensor) (truth: Tensor) : Tensor =
        Validate.positive "h" h
        let truths = rowsOf "truth" problem truth

        if truth.shape.[0] <> predicted.shape.[0] then
            invalidArg "truth" "truth must have as many rows as predicted."

        perRow "PG loss" problem predicted (fun r row -> DecisionLosses.pg variant h problem row truths.[r])

    /// CaVE (`DecisionLosses.cave`) per row of predicted [B, m], with each row's binding constraints' normals
    /// (`normals.[r]`, rows of length m). Raises ArgumentException naming `normals` (one entry per row) or `predicted`.
    let cave (problem: Problem) (normals: float[][][]) (predicted: Tensor) : Tensor =
        Validate.notNull "normals" normals

        if int64 normals.Length <> predicted.shape.[0] then
            invalidArg
                "normals"
                (sprintf "normals must have one entry per row (%d); got %d." predicted.shape.[0] normals.Length)

        perRow "CaVE" problem predicted (fun r row -> DecisionLosses.cave problem normals.[r] row)

    /// The structured SVM loss (`DecisionLosses.structuredSvm`) per row of predicted [B, m] against binary targets
    /// [B, m]. Raises ArgumentException naming `alpha`, `predicted` or `target`.
    let structuredSvm (alpha: float) (problem: Problem) (predicted: Tensor) (target: Tensor) : Tensor =
        Validate.atLeast "alpha" 0.0 alpha
        let targets = rowsOf "target" problem target

        if target.shape.[0] <> predicted.shape.[0] then
            invalidArg "target" "target must have as many rows as predicted."

        perRow "structured SVM" problem predicted (fun r row ->
            DecisionLosses.structuredSvm alpha problem row targets.[r])

    /// NID (negative identity, Sahoo et al. 2022; PyEPO's negativeIdentity) for predicted weights [B, m]: forward the
    /// optimal states z*(ŵ) [B, m]; backward −dℓ/dz for Minimise (+dℓ/dz for Maximise). Raises ArgumentException
    /// naming `predicted`.
    let nid (problem: Problem) (predicted: Tensor) : Tensor =
        if obj.ReferenceEquals(problem, null) then
            nullArg "problem"

        rowsOf "predicted" problem predicted |> ignore
        BackwardErrors.throwIfAny ()

        RowMapFunction.apply (
            predicted,
            { Name = "NID"
              Width = int64 problem.Size
              Forward = fun _ row -> Problem.solve problem row
              Vjp = fun _ _ g -> DecisionLosses.nidBackward problem g }
        )
