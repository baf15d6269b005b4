namespace Imle.Torch

open System
open TorchSharp
open Imle

/// What a DFL loss draws on besides its batch: the generator of Fenchel–Young's noise and the solution pool of the
/// contrastive and ranking losses.
type DflSources =
    {
        /// The generator Fenchel–Young draws its noise from (required by `FenchelYoung`).
        Generator: torch.Generator option
        /// The solution pool Γ (required by `Nce`, `Cmap` and the ranking losses).
        Pool: SolutionPool option
    }

    /// Neither (enough for SPO+).
    static member None = { Generator = None; Pool = None }

    /// Noise from the given generator (for Fenchel–Young).
    static member OfGenerator(generator: torch.Generator) =
        { Generator = Some generator
          Pool = None }

    /// The given solution pool (for the contrastive and ranking losses).
    static member OfPool(pool: SolutionPool) = { Generator = None; Pool = Some pool }

/// One batch of a DFL loss, every tensor [..batch, ...problem.Shape] in the problem's own sense. A loss reads only
/// what it needs (`DflLoss.needsTrueCosts`, `DflLoss.needsTrueSolutions`); the others may be null.
type DflBatch =
    {
        /// The predicted costs ĉ (differentiable).
        Predicted: Tensor
        /// The true costs c (data, no gradient).
        TrueCosts: Tensor
        /// The true (or target) solutions w*(c).
        TrueSolutions: Tensor
        /// Per row, the normals of the constraints binding at the true optimum (rows of length m; CaVE only, null
        /// otherwise).
        BindingNormals: float[][][]
    }

    /// A batch without binding normals (every loss but CaVE).
    static member Create(predicted: Tensor, trueCosts: Tensor, trueSolutions: Tensor) =
        { Predicted = predicted
          TrueCosts = trueCosts
          TrueSolutions = trueSolutions
          BindingNormals = null }

/// The DFL losses of the catalogue (`DflLoss`) on tensors: one entry point that validates the batch once and
/// interprets each case (SPO+, Fenchel–Young additive or multiplicative, NCE, CMAP, listwise/pairwise/pointwise LTR,
/// and PG, CaVE, structured SVM, imitation, zero-one and RFY row by row through `DflLoss.decision`),
/// returning the batch mean with its (sub)gradient attached. The reference of every case is `DflLoss.reference`.
[<RequireQualifiedAccess>]
module DflLosses =

    let private checkLike (name: string) (problem: Problem) (predicted: Tensor) (t: Tensor) =
        if isNull t then
            raise (ArgumentNullException(name, sprintf "%s must not be null." name))

        if t.shape <> predicted.shape then
            invalidArg
                name
                (sprintf
                    "%s has shape %s but predicted has shape %s; they must match."
                    name
                    (Validate.shapeText t.shape)
                    (Validate.shapeText predicted.shape))

        TensorSolve.validate name problem t

    let private required (name: string) (what: string) (value: 'T option) =
        match value with
        | Some v when not (isNull (box v)) -> v
        | _ -> invalidArg name (sprintf "%s needs %s." what name)

    /// The loss of a batch (see `DflBatch` for shapes; the batch mean, a scalar) for the problem, with the sources the
    /// loss needs (see `DflSources`). Raises ArgumentException naming `predicted`, `trueCosts`, `trueSolutions`,
    /// `BindingNormals`, `Generator` or `Pool` when what the loss reads is missing or malformed.
    let compute (problem: Problem) (loss: DflLoss) (sources: DflSources) (batch: DflBatch) : Tensor =
        if isNull (box problem) then
            nullArg "problem"

        if isNull (box batch) then
            nullArg "batch"

        DflLoss.validate loss |> ignore
        let predicted = batch.Predicted
        let dims = Shapes.batchDims "predicted" problem predicted
        let rows = Shapes.batchSize dims

        if DflLoss.needsTrueCosts loss then
            checkLike "trueCosts" problem predicted batch.TrueCosts

        if DflLoss.needsTrueSolutions loss then
            checkLike "trueSolutions" problem predicted batch.TrueSolutions

        let pool () =
            let pool = required "Pool" (DflLoss.describe loss) sources.Pool

            if pool.Problem.Name <> problem.Name || pool.Problem.Size <> problem.Size then
                invalidArg
                    "Pool"
                    (sprintf "the pool holds solutions of '%s'; the loss is over '%s'." pool.Problem.Name problem.Name)

            pool

        let call details =
            Calls.create problem dims TensorSolve.defaultParallelism details

        let draw (noise: Noise) (samples: int) =
            let generator = required "Generator" (DflLoss.describe loss) sources.Generator

            TensorNoise.sample
                noise
                generator
                [| rows; int64 samples; int64 problem.Size |]
                predicted.dtype
                predicted.device

        match loss with
        | SpoPlus ->
            SpoPlusFunction.apply (
                predicted,
                call
                    { TrueCosts = batch.TrueCosts.detach ()
                      TrueSolutions = batch.TrueSolutions.detach () }
            )
        | FenchelYoung o ->
            match o.Perturbation with
            | Additive noise ->
                use eps = draw noise o.Samples
                FenchelYoungFunction.apply (predicted, call (eps, batch.TrueSolutions))
            | Multiplicative sigma ->
                MultiplicativeCalls.checkNonZero "predicted" predicted
                let z = draw (PerturbedOptions.noise o) o.Samples
                MultiplicativeFenchelYoungFunction.apply (predicted, call (sigma, z), batch.TrueSolutions.detach ())
        | Nce
        | Cmap
        | ListwiseLtr
        | PairwiseLtr
        | PointwiseLtr ->
            let interpret, truth =
                match loss with
                | Nce -> Contrastive.nce, batch.TrueSolutions
                | Cmap -> Contrastive.cmap, batch.TrueSolutions
                | ListwiseLtr -> Ranking.listwise, batch.TrueCosts
                | PairwiseLtr -> Ranking.pairwise, batch.TrueCosts
                | _ -> Ranking.pointwise, batch.TrueCosts

            let pool = pool ()
            call () |> ignore
            interpret pool rows predicted truth
        | PerturbationGradient _
        | Cave
        | StructuredSvm _
        | Imitation _
        | ZeroOne
        | RegularizedFenchelYoung _ ->
            call () |> ignore
            let m = int64 problem.Size

            let flat (t: Tensor) =
                if isNull t then null else t.reshape (rows, m)

            use p = predicted.reshape (rows, m)
            use c = flat batch.TrueCosts
            use y = flat batch.TrueSolutions

            use perRow =
                DecisionLossTensor.decision
                    problem
                    loss
                    p
                    (if DflLoss.needsTrueCosts loss then c else null)
                    (if DflLoss.needsTrueSolutions loss then y else null)
                    batch.BindingNormals

            perRow.mean ()
