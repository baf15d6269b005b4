namespace Imle

open Imle.Dfl

/// The losses of decision-focused learning (predict-then-optimise) over predicted costs ĉ in the problem's own sense:
/// one closed catalogue, interpreted over arrays here (`DflLoss.reference`) and over tensors by the TorchSharp backend
/// (`DflLosses.compute`).
type DflLoss =
    /// SPO+ (Elmachtoub and Grigas 2022, Eq. (9)): −min_w (2ĉ − c)ᵀw + 2ĉᵀw*(c) − cᵀw*(c) in minimisation terms;
    /// needs the true costs c and solutions w*(c).
    | SpoPlus
    /// The Fenchel–Young loss of a perturbed optimizer (Berthet et al. 2020; PyEPO's PFYL, additive or multiplicative):
    /// ⟨ĉ, y⟩ − E[min_z ⟨perturbed ĉ, z⟩] in minimisation terms; needs the target solutions y.
    | FenchelYoung of PerturbedOptions
    /// NCE (Mulamba et al. 2021): the mean over a solution pool Γ of ĉᵀw*(c) − ĉᵀs; needs the true solutions.
    | Nce
    /// CMAP (contrastive MAP): ĉᵀw*(c) − min_{s ∈ Γ} ĉᵀs; needs the true solutions.
    | Cmap
    /// Listwise LTR (Mandi et al. 2022): the cross-entropy between softmax(−cᵀs) and softmax(−ĉᵀs) over Γ, divided by
    /// |Γ| (PyEPO's mean reduction); needs the true costs.
    | ListwiseLtr
    /// Pairwise LTR: Σ_{s ∈ Γ} max(0, ĉᵀs* − ĉᵀs) / max(|Γ| − 1, 1), s* the pool member best under c (first on ties);
    /// needs the true costs.
    | PairwiseLtr
    /// Pointwise LTR: (1/|Γ|)·Σ_{s ∈ Γ} ((c − ĉ)ᵀs)²; needs the true costs.
    | PointwiseLtr
    /// The perturbation-gradient loss (Huang & Gupta 2024; PyEPO's PGLoss): finite differences of the optimal value
    /// along the true costs with step h > 0, backward (PGB), central (PGC) or forward (PGF); needs the true costs
    /// (`DecisionLosses.pg`).
    | PerturbationGradient of variant: PgVariant * h: float
    /// CaVE (Tang & Khalil 2024; PyEPO's coneAlignedCosine): 1 − cos between −ĉ (minimisation terms) and its
    /// projection onto the cone of the binding constraints' normals at the true optimum; needs the binding normals
    /// (`DecisionLosses.cave`).
    | Cave
    /// The structured SVM (InferOpt's StructuredSVMLoss) with a Hamming margin of weight α ≥ 0; needs the target
    /// (binary) solutions (`DecisionLosses.structuredSvm`).
    | StructuredSvm of alpha: float
    /// The imitation loss (InferOpt's ImitationLoss) over a named base loss δ(z, y) ≥ 0, by enumerating the
    /// problem's states; needs the target solutions and an enumerable problem (`DecisionLosses.imitation`).
    | Imitation of name: string * baseLoss: (float[] -> float[] -> float)
    /// The zero-one loss 1[z*(ĉ) ≠ y] (an evaluation metric: its gradient is zero); needs the target solutions.
    | ZeroOne
    /// The Fenchel–Young loss of the regularised Frank–Wolfe optimizer (PyEPO 2.2's RFY): Ω(y) − Ω(ŷ) + ⟨θ, ŷ − y⟩
    /// with Ω = (λ/2)·‖·‖²; needs the target solutions (`DecisionLosses.regularizedFenchelYoung`).
    | RegularizedFenchelYoung of FrankWolfeOptions

/// One instance of a DFL loss, every vector in the problem's own sense (costs for Minimise, values for Maximise).
type DflInstance =
    {
        /// The predicted costs ĉ.
        Predicted: float[]
        /// The true costs c (SPO+ and the ranking losses; may be null otherwise).
        TrueCosts: float[]
        /// The true (or target) solution w*(c) (SPO+, Fenchel–Young, NCE, CMAP, the structured SVM, imitation,
        /// zero-one and RFY; may be null otherwise).
        TrueSolution: float[]
        /// The normals of the constraints binding at the true optimum, one row of length m each (CaVE; null
        /// otherwise).
        BindingNormals: float[][]
    }

/// Functions over DFL losses, and their reference implementations over arrays: value and gradient w.r.t. ĉ.
[<RequireQualifiedAccess>]
module DflLoss =

    /// Checks the loss's parameters (Fenchel–Young: the noise, any of them, since its gradient ȳ − y needs no noise
    /// density; σ > 0 for a multiplicative perturbation; S ≥ 1); returns the loss.
    let validate (loss: DflLoss) : DflLoss =
        match loss with
        | FenchelYoung options ->
            match options.Perturbation with
            | Additive noise -> Noise.validate noise |> ignore
            | Multiplicative sigma -> Validate.positive "sigma" sigma

            Validate.intAtLeast "samples" 1 options.Samples
        | PerturbationGradient(_, h) -> Validate.positive "h" h
        | StructuredSvm alpha -> Validate.atLeast "alpha" 0.0 alpha
        | Imitation(name, baseLoss) -> Validate.customCase "loss" name "baseLoss" (box baseLoss)
        | RegularizedFenchelYoung options -> FrankWolfe.validate options |> ignore
        | Cave
        | ZeroOne
        | SpoPlus
        | Nce
        | Cmap
        | ListwiseLtr
        | PairwiseLtr
        | PointwiseLtr -> ()

        loss

    /// A short description for reports.
    let describe (loss: DflLoss) : string =
        match loss with
        | SpoPlus -> "SPO+"
        | FenchelYoung o -> sprintf "Fenchel-Young[%s]" (PerturbedOptions.describe o)
        | Nce -> "NCE"
        | Cmap -> "CMAP"
        | ListwiseLtr -> "listwise LTR"
        | PairwiseLtr -> "pairwise LTR"
        | PointwiseLtr -> "pointwise LTR"
        | PerturbationGradient(variant, h) ->
            let name =
                match variant with
                | Pgb -> "PGB"
                | Pgc -> "PGC"
                | Pgf -> "PGF"

            sprintf "%s(h=%g)" name h
        | Cave -> "CaVE"
        | StructuredSvm alpha -> sprintf "structured SVM(α=%g)" alpha
        | Imitation(name, _) -> sprintf "imitation[%s]" name
        | ZeroOne -> "zero-one"
        | RegularizedFenchelYoung o -> sprintf "RFY[%s]" (FrankWolfe.describe o)

    /// Whether the loss reads the true costs c.
    let needsTrueCosts (loss: DflLoss) : bool =
        match loss with
        | SpoPlus
        | ListwiseLtr
        | PairwiseLtr
        | PointwiseLtr
        | PerturbationGradient _ -> true
        | FenchelYoung _
        | Nce
        | Cmap
        | Cave
        | StructuredSvm _
        | Imitation _
        | ZeroOne
        | RegularizedFenchelYoung _ -> false

    /// Whether the loss reads the true (target) solutions w*(c).
    let needsTrueSolutions (loss: DflLoss) : bool =
        match loss with
        | SpoPlus
        | FenchelYoung _
        | Nce
        | Cmap
        | StructuredSvm _
        | Imitation _
        | ZeroOne
        | RegularizedFenchelYoung _ -> true
        | ListwiseLtr
        | PairwiseLtr
        | PointwiseLtr
        | PerturbationGradient _
        | Cave -> false

    /// Whether the loss ranks a solution pool Γ.
    let needsPool (loss: DflLoss) : bool =
        match loss with
        | Nce
        | Cmap
        | ListwiseLtr
        | PairwiseLtr
        | PointwiseLtr -> true
        | SpoPlus
        | FenchelYoung _
        | PerturbationGradient _
        | Cave
        | StructuredSvm _
        | Imitation _
        | ZeroOne
        | RegularizedFenchelYoung _ -> false

    /// Whether the loss reads the binding constraints' normals at the true optimum (CaVE).
    let needsBindingNormals (loss: DflLoss) : bool =
        match loss with
        | Cave -> true
        | _ -> false

    /// The losses of `DecisionLosses` (which match the problem's sense themselves) for one instance, or None for the
    /// losses defined here in minimisation terms. The one dispatch both backends use for these cases.
    let decision (problem: Problem) (loss: DflLoss) (instance: DflInstance) : LossWithGradient option =
        let p, y = instance.Predicted, instance.TrueSolution

        match loss with
        | PerturbationGradient(variant, h) -> Some(DecisionLosses.pg variant h problem p instance.TrueCosts)
        | Cave -> Some(DecisionLosses.cave problem instance.BindingNormals p)
        | StructuredSvm alpha -> Some(DecisionLosses.structuredSvm alpha problem p y)
        | Imitation(_, baseLoss) -> Some(DecisionLosses.imitation baseLoss problem p y)
        | ZeroOne ->
            Some
                { Value = DecisionLosses.zeroOne problem p y
                  Gradient = Array.zeroCreate problem.Size }
        | RegularizedFenchelYoung o -> Some(DecisionLosses.regularizedFenchelYoung o problem p y)
        | _ -> None

    /// The sign that turns objectives in the problem's own sense into minimisation terms: +1 for Minimise, −1 for
    /// Maximise. The one place every DFL loss, on both backends, matches the sense: each is defined in minimisation
    /// terms on sign·ĉ and sign·c, and its gradient w.r.t. ĉ is sign times the one w.r.t. sign·ĉ.
    let orientation (problem: Problem) : float = -(Problem.scoreSign problem)

    let private dot (a: float[]) (b: float[]) =
        Array.fold2 (fun acc x y -> acc + x * y) 0.0 a b

    let private scale (k: float) (v: float[]) = Array.map (fun x -> k * x) v

    let private sumRows (m: int) (rows: seq<float * float[]>) =
        let total = Array.zeroCreate m

        for k, v in rows do
            for i in 0 .. m - 1 do
                total.[i] <- total.[i] + k * v.[i]

        total

    let private softmax (xs: float[]) =
        let top = Array.max xs
        let e = xs |> Array.map (fun x -> exp (x - top))
        let total = Array.sum e
        e |> Array.map (fun x -> x / total)

    /// Value and gradient w.r.t. c = sign·ĉ, in minimisation terms.
    let private minimisation
        (problem: Problem)
        (loss: DflLoss)
        (pool: float[][])
        (noise: float[][])
        (instance: DflInstance)
        (sign: float)
        =
        let m = problem.Size
        let c = scale sign instance.Predicted
        let costs () = scale sign instance.TrueCosts
        let wStar = instance.TrueSolution
        let n = float pool.Length

        match loss with
        | SpoPlus ->
            let trueCosts = costs ()
            let a = Array.map2 (fun ch ct -> 2.0 * ch - ct) c trueCosts
            // argmin aᵀw is the maximiser of the scores −a.
            let wa = Problem.solveScores problem (scale -1.0 a)
            -(dot a wa) + 2.0 * dot c wStar - dot trueCosts wStar, Array.map2 (fun x y -> 2.0 * (x - y)) wStar wa
        | FenchelYoung o ->
            let samples = noise.Length

            let terms =
                noise
                |> Array.map (fun e ->
                    match o.Perturbation with
                    | Additive _ ->
                        // min_z ⟨c − ε, z⟩ = −max_z ⟨θ + ε, z⟩ with θ = −c; the state weighs 1.
                        let perturbed = Array.map2 (-) c e
                        let z = Problem.solveScores problem (scale -1.0 perturbed)
                        dot perturbed z, z
                    | Multiplicative sigma ->
                        let factor = e |> Array.map (fun x -> exp (x * sigma + -0.5 * sigma * sigma))
                        let z = Problem.solve problem (Array.map2 (*) instance.Predicted factor)
                        dot (Array.map2 (*) c factor) z, Array.map2 (*) z factor)

            let value = dot c wStar - (terms |> Array.averageBy fst)
            let expected = sumRows m (terms |> Seq.map (fun (_, z) -> 1.0 / float samples, z))
            value, Array.map2 (-) wStar expected
        | Nce ->
            let margins = pool |> Array.map (fun s -> dot c wStar - dot c s)
            Array.average margins, Array.map2 (-) wStar (sumRows m (pool |> Seq.map (fun s -> 1.0 / n, s)))
        | Cmap ->
            let margins = pool |> Array.map (fun s -> dot c wStar - dot c s)
            let worst = Array.findIndex (fun x -> x = Array.max margins) margins
            margins.[worst], Array.map2 (-) wStar pool.[worst]
        | ListwiseLtr ->
            let logits = pool |> Array.map (fun s -> -(dot c s))

            let logSum =
                log (Array.sumBy (fun x -> exp (x - Array.max logits)) logits)
                + Array.max logits

            let p = softmax logits

            let t =
                pool
                |> Array.map (fun s -> -(dot (costs ()) s))
                |> softmax
                |> Array.map (fun x -> max x 1e-8)

            let total = Array.sum t

            let value =
                -(Array.fold2 (fun acc ti li -> acc + ti * (li - logSum)) 0.0 t logits) / n

            value, sumRows m (Seq.init pool.Length (fun j -> (t.[j] - p.[j] * total) / n, pool.[j]))
        | PairwiseLtr ->
            let trueCosts = costs ()
            let objectives = pool |> Array.map (dot trueCosts)
            let best = pool.[Array.findIndex (fun x -> x = Array.min objectives) objectives]
            let denominator = max (n - 1.0) 1.0
            let gaps = pool |> Array.map (fun s -> dot c best - dot c s)
            let value = (gaps |> Array.sumBy (max 0.0)) / denominator

            let gradient =
                sumRows
                    m
                    (Seq.init pool.Length (fun j ->
                        (if gaps.[j] > 0.0 then 1.0 / denominator else 0.0), Array.map2 (-) best pool.[j]))

            value, gradient
        | PointwiseLtr ->
            let trueCosts = costs ()
            let errors = pool |> Array.map (fun s -> dot trueCosts s - dot c s)

            Array.averageBy (fun e -> e * e) errors,
            sumRows m (Seq.init pool.Length (fun j -> -2.0 * errors.[j] / n, pool.[j]))
        | PerturbationGradient _
        | Cave
        | StructuredSvm _
        | Imitation _
        | ZeroOne
        | RegularizedFenchelYoung _ -> invalidOp "unreachable: DflLoss.decision interprets these losses"

    let private checkVector (problem: Problem) (name: string) (v: float[]) =
        Validate.length name problem.Size v
        Validate.allFinite name v

    /// The reference value of the loss for one instance and its gradient w.r.t. ĉ (in the problem's own sense).
    /// `pool` holds Γ for the contrastive and ranking losses (empty otherwise); `noise` holds the S draws of
    /// `PerturbedOptions.noise` for Fenchel–Young (empty otherwise).
    let reference
        (problem: Problem)
        (loss: DflLoss)
        (pool: float[][])
        (noise: float[][])
        (instance: DflInstance)
        : float * float[] =
        if isNull (box problem) then
            nullArg "problem"

        validate loss |> ignore
        checkVector problem "predicted" instance.Predicted

        if needsTrueCosts loss then
            checkVector problem "trueCosts" instance.TrueCosts

        if needsTrueSolutions loss then
            checkVector problem "trueSolutions" instance.TrueSolution

        if needsPool loss then
            Validate.notNull "pool" pool

            if pool.Length = 0 then
                invalidArg "pool" "the pool needs at least one solution."

            pool |> Array.iteri (fun i s -> checkVector problem (sprintf "pool[%d]" i) s)

        if needsBindingNormals loss then
            Validate.notNull "bindingNormals" instance.BindingNormals

        match loss with
        | FenchelYoung o ->
            Validate.length "noise" o.Samples noise
            noise |> Array.iteri (fun i e -> checkVector problem (sprintf "noise[%d]" i) e)

            match o.Perturbation with
            | Multiplicative _ when Array.contains 0.0 instance.Predicted ->
                invalidArg "predicted" "predicted must be non-zero for a multiplicative perturbation."
            | _ -> ()
        | _ -> ()

        match decision problem loss instance with
        | Some result -> result.Value, result.Gradient
        | None ->
            let sign = orientation problem
            let value, gradient = minimisation problem loss pool noise instance sign
            value, scale sign gradient

    /// The batch mean of `reference` over instances (each with its own noise draws): the value and the gradient
    /// w.r.t. each instance's ĉ (divided by the batch size), as the TorchSharp losses return them.
    let referenceBatch
        (problem: Problem)
        (loss: DflLoss)
        (pool: float[][])
        (noise: float[][][])
        (instances: DflInstance[])
        : float * float[][] =
        Validate.notNull "instances" instances
        Validate.length "noise" instances.Length noise
        let b = float instances.Length
        let results = Array.map2 (reference problem loss pool) noise instances
        (results |> Array.averageBy fst), results |> Array.map (fun (_, g) -> scale (1.0 / b) g)
