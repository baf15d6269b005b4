namespace Imle.Dfl

open System
open Imle

/// A loss value with its gradient w.r.t. the predicted weights (in the problem's own sense).
type LossWithGradient =
    {
        /// The loss.
        Value: float
        /// dℓ/dŵ, one entry per weight.
        Gradient: float[]
    }

/// The finite-difference variant of the perturbation-gradient (PG) losses.
type PgVariant =
    /// Backward difference (V(ĉ) − V(ĉ − h·c))/h.
    | Pgb
    /// Central difference (V(ĉ + h·c) − V(ĉ − h·c))/(2h).
    | Pgc
    /// Forward difference (V(ĉ + h·c) − V(ĉ))/h.
    | Pgf

/// Decision-focused losses of PyEPO 2.2 and InferOpt 0.7 over arrays, for a problem whose MAP oracle is `Problem.solve`
/// and predicted weights ŵ in the problem's own sense (costs for Minimise, scores for Maximise):
///   PG losses (Huang & Gupta 2024): finite differences of the optimal value V(w) = ⟨w, z*(w)⟩ along the true
///     weights, a surrogate of the decision's true objective ⟨c, z*(ĉ)⟩ with gradient (z*(·) − z*(·))/h;
///   NID (Sahoo et al. 2022, PyEPO's negativeIdentity): the solver's Jacobian taken as −I for Minimise (+I for
///     Maximise);
///   CaVE (Tang & Khalil 2024): 1 − cos(−ĉ, p), p the projection of −ĉ onto the cone of the binding constraints' normals
///     at the true optimum (Lawson–Hanson NNLS, `Nnls`);
///   the structured SVM (InferOpt's StructuredSVMLoss) with a Hamming margin, the imitation loss over any base loss
///     (by enumeration) and the zero-one loss.
[<RequireQualifiedAccess>]
module DecisionLosses =

    let private checkWeights (name: string) (problem: Problem) (w: float[]) =
        if obj.ReferenceEquals(problem, null) then
            nullArg "problem"

        Validate.notNull name w
        Validate.length name problem.Size w
        Validate.allFinite name w

    /// V(w) = ⟨w, z*(w)⟩ and z*(w).
    let private value (problem: Problem) (w: float[]) =
        let z = Problem.solve problem w
        Problem.objective w z, z

    let private step (w: float[]) (c: float[]) (h: float) = Array.map2 (fun a b -> a + h * b) w c

    /// The PG loss (Huang & Gupta 2024; PyEPO's PGLoss) of predicted weights ŵ against the true weights c with step
    /// h: PGB (V(ŵ) − V(ŵ − h·c))/h, PGC (V(ŵ + h·c) − V(ŵ − h·c))/(2h), PGF (V(ŵ + h·c) − V(ŵ))/h, V the optimal
    /// value; gradient the same differences of z*. As h → 0 the loss tends to ⟨c, z*(ŵ)⟩, the
    /// decision's true objective. For Maximise problems both are negated, so that minimising the loss always improves
    /// the decision. Two solver calls. Raises ArgumentException naming `h` (finite, > 0), `predicted` or `truth`
    /// (length m, finite).
    let pg (variant: PgVariant) (h: float) (problem: Problem) (predicted: float[]) (truth: float[]) : LossWithGradient =
        Validate.positive "h" h
        checkWeights "predicted" problem predicted
        checkWeights "truth" problem truth

        let (vPlus, zPlus), (vMinus, zMinus), width =
            match variant with
            | Pgb -> value problem predicted, value problem (step predicted truth (-h)), h
            | Pgc -> value problem (step predicted truth h), value problem (step predicted truth (-h)), 2.0 * h
            | Pgf -> value problem (step predicted truth h), value problem predicted, h

        let sign = -(Problem.scoreSign problem)

        { Value = sign * (vPlus - vMinus) / width
          Gradient = Array.map2 (fun a b -> sign * (a - b) / width) zPlus zMinus }

    /// NID's backward pass (negative identity, Sahoo et al. 2022): dℓ/dŵ = −dℓ/dz for Minimise, +dℓ/dz for Maximise
    /// (the forward pass is z*(ŵ), `Problem.solve`). Raises ArgumentException naming `g` (length m, finite).
    let nidBackward (problem: Problem) (g: float[]) : float[] =
        checkWeights "g" problem g
        let s = Problem.scoreSign problem
        Array.map (fun v -> s * v) g

    let private norm (v: float[]) = sqrt (Array.sumBy (fun x -> x * x) v)

    /// The projection of x onto the cone spanned by the rows of `normals` (binding constraints' normals), by NNLS.
    let coneProjection (normals: float[][]) (x: float[]) : float[] =
        Validate.notNull "normals" normals
        Validate.notNull "x" x

        if normals.Length = 0 then
            Array.zeroCreate x.Length
        else
            for row in normals do
                Validate.notNull "normals" row
                Validate.length "normals (each row)" x.Length row

            let a = Array2D.init x.Length normals.Length (fun i j -> normals.[j].[i])
            let solution = Nnls.solve a x

            Array.init x.Length (fun i ->
                Array.fold2 (fun acc (row: float[]) xj -> acc + row.[i] * xj) 0.0 normals solution.X)

    /// CaVE (Tang & Khalil 2024; PyEPO's coneAlignedCosine): 1 − cos(s·ŵ, p) with s = −1 for Minimise (+1 for
    /// Maximise) and p the projection of s·ŵ onto the cone of `normals`, the normals of the constraints binding at the
    /// true optimum (rows of length m, pointing out of the feasible set). Gradient with p held fixed, which equals the
    /// full gradient (for a cone projection ⟨x, p⟩ = ‖p‖², and ½‖p(x)‖² has gradient p). When p = 0 the loss is 1 with
    /// gradient 0 (PyEPO's cosine with ε). Raises ArgumentException naming `predicted` or `normals`.
    let cave (problem: Problem) (normals: float[][]) (predicted: float[]) : LossWithGradient =
        checkWeights "predicted" problem predicted

        let s = Problem.scoreSign problem

        let x = predicted |> Array.map (fun v -> s * v)
        let p = coneProjection normals x
        let nx, np = norm x, norm p

        if nx = 0.0 || np <= 1e-12 * max 1.0 nx then
            { Value = 1.0
              Gradient = Array.zeroCreate x.Length }
        else
            let dot = Array.fold2 (fun acc a b -> acc + a * b) 0.0 x p
            let cosine = dot / (nx * np)
            // d(1 − cos)/dx = −p/(‖x‖‖p‖) + cos·x/‖x‖², then the chain rule through x = s·ŵ.
            { Value = 1.0 - cosine
              Gradient = Array.map2 (fun xi pi -> s * (-pi / (nx * np) + cosine * xi / (nx * nx))) x p }

    /// The structured SVM loss (InferOpt's StructuredSVMLoss) with a Hamming margin of weight α: in scores θ
    /// (maximisation terms), max_z [α·Δ(z, y) + ⟨θ, z⟩] − ⟨θ, y⟩ with Δ(z, y) = Σᵢ |zᵢ − yᵢ| for binary states, solved
    /// as one MAP since Δ is linear in z (Δ = ⟨z, 1 − 2y⟩ + Σy); gradient ẑ − y in scores, mapped to the problem's
    /// sense. Non-negative, zero iff y beats every state by its margin. Raises ArgumentException naming `alpha` (≥ 0),
    /// `predicted` or `target` (length m, binary).
    let structuredSvm (alpha: float) (problem: Problem) (predicted: float[]) (target: float[]) : LossWithGradient =
        Validate.atLeast "alpha" 0.0 alpha
        checkWeights "predicted" problem predicted
        checkWeights "target" problem target
        Validate.binary "target" target
        let theta = Problem.toScores problem predicted
        let augmented = Array.map2 (fun t y -> t + alpha * (1.0 - 2.0 * y)) theta target
        let z = Problem.solveScores problem augmented

        let dot (a: float[]) (b: float[]) =
            Array.fold2 (fun acc x y -> acc + x * y) 0.0 a b

        let hamming = Array.fold2 (fun acc zi yi -> acc + abs (zi - yi)) 0.0 z target
        let gradTheta = Array.map2 (-) z target

        { Value = alpha * hamming + dot theta z - dot theta target
          Gradient = Problem.ofScores problem gradTheta }

    /// The imitation loss (InferOpt's ImitationLoss) for any base loss δ(z, y) ≥ 0, by enumerating the problem's states:
    /// in scores θ, max_z [δ(z, y) + ⟨θ, z − y⟩], gradient ẑ − y at the maximiser ẑ (mapped to the problem's sense).
    /// With the Hamming base loss it is the structured SVM. Raises ArgumentException naming `predicted` or `target`,
    /// or `baseLoss` when it returns a non-finite value; the problem must be enumerable.
    let imitation
        (baseLoss: float[] -> float[] -> float)
        (problem: Problem)
        (predicted: float[])
        (target: float[])
        : LossWithGradient =
        if obj.ReferenceEquals(baseLoss, null) then
            nullArg "baseLoss"

        checkWeights "predicted" problem predicted
        checkWeights "target" problem target
        let theta = Problem.toScores problem predicted

        let dot (a: float[]) (b: float[]) =
            Array.fold2 (fun acc x y -> acc + x * y) 0.0 a b

        let score (z: float[]) =
            let d = baseLoss z target

            if not (Double.IsFinite d) then
                invalidArg "baseLoss" (sprintf "baseLoss must return a finite value; got %g." d)

            d + dot theta z - dot theta target

        let best = Problem.states problem |> Array.maxBy score

        { Value = score best
          Gradient = Problem.ofScores problem (Array.map2 (-) best target) }

    /// The zero-one loss 1[z*(ŵ) ≠ y] (an evaluation metric: piecewise constant, no useful gradient). Raises
    /// ArgumentException naming `predicted` or `target`.
    let zeroOne (problem: Problem) (predicted: float[]) (target: float[]) : float =
        checkWeights "predicted" problem predicted
        checkWeights "target" problem target

        if Problem.solve problem predicted = target then
            0.0
        else
            1.0

    /// The Fenchel–Young loss of the regularised Frank–Wolfe optimizer (PyEPO 2.2's
    /// `regularizedFrankWolfeFenchelYoung`): in scores θ (maximisation terms), with Ω(y) = (λ/2)·‖y‖² and
    /// ŷ = argmax_{μ ∈ conv(C)} ⟨θ, μ⟩ − Ω(μ) by Frank–Wolfe (`FrankWolfe.solve`), the loss Ω(y) − Ω(ŷ) + ⟨θ, ŷ − y⟩
    /// with the Danskin gradient ŷ − y, mapped to the problem's sense. Raises ArgumentException naming the options'
    /// fields, `predicted` or `target` (length m, finite).
    let regularizedFenchelYoung
        (options: FrankWolfeOptions)
        (problem: Problem)
        (predicted: float[])
        (target: float[])
        : LossWithGradient =
        FrankWolfe.validate options |> ignore
        checkWeights "predicted" problem predicted
        checkWeights "target" problem target
        let theta = Problem.toScores problem predicted
        let y = (FrankWolfe.solve problem options predicted).Solution

        let omega (v: float[]) =
            0.5 * options.Lambda * Array.sumBy (fun x -> x * x) v

        let gradTheta = Array.map2 (-) y target

        { Value =
            omega target - omega y
            + Array.fold2 (fun acc t d -> acc + t * d) 0.0 theta gradTheta
          Gradient = Problem.ofScores problem gradTheta }
