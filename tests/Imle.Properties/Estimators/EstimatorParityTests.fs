/// Every estimator of the catalogue (`Estimator`) on both backends, as DiffSharp tests its backends: the reference core
/// over arrays and the TorchSharp backend run the same case (weights, upstream gradient dL/dz, and the same noise: the
/// draw the TorchSharp forward makes, repeated by a twin generator) and must give the same forward values and
/// gradients. Deterministic cases (zero noise) are also checked against values worked out by hand.
module Imle.Tests.EstimatorParityTests

open System
open Expecto
open TorchSharp
open Imle
open Imle.Torch

/// The two interpreters of the catalogue.
type Backend =
    | Reference
    | Torch

let backends = [ Reference; Torch ]

/// One case: a problem, an estimator, weights and upstream gradients (one row per batch entry), and, for deterministic
/// cases, the expected forward values and gradients.
type Case =
    { Name: string
      Problem: Problem
      Estimator: Estimator
      Weights: float[][]
      Upstream: float[][]
      Expected: (float[][] * float[][]) option }

let private f64 = torch.float64

let private toArray (t: torch.Tensor) =
    use c = t.detach().``to``(torch.float64, torch.CPU).contiguous()
    c.data<float>().ToArray()

let private tensorOf (problem: Problem) (rows: float[][]) =
    let shape = Array.append [| int64 rows.Length |] (Array.map int64 problem.Shape)
    torch.tensor(Array.concat rows, dtype = f64).reshape(shape)

/// What the TorchSharp forward draws first from a generator with this seed: ε per row and sample (or the exact samples
/// of the score function), as arrays [B][S][m].
let private draws (case: Case) (seed: int) : float[][][] =
    use _scope = torch.NewDisposeScope()
    let b, m = case.Weights.Length, case.Problem.Size
    let s = Estimator.sampleCount case.Estimator
    use twin = new torch.Generator(uint64 seed)

    let flat =
        match case.Estimator, Estimator.forwardNoise case.Estimator with
        | ScoreFunction _, _ ->
            toArray (ExactTensor.sample case.Problem 1.0 s twin (tensorOf case.Problem case.Weights))
        | (Simple tau | Sfess(tau, _)), _ ->
            toArray (ExactTensor.sample case.Problem tau s twin (tensorOf case.Problem case.Weights))
        | (ReinMax _ | SoftmaxStraightThrough), _ ->
            // Gumbel-max over the logits [B, m], as ReinMaxTensor.sample draws.
            use g = TensorNoise.sample (Gumbel 1.0) twin [| int64 b; int64 m |] f64 torch.CPU
            use perturbed = (tensorOf case.Problem case.Weights) + g
            use indices = perturbed.argmax (-1L, keepdim = true)
            use ones = torch.ones (indices.shape, dtype = f64)
            toArray (torch.zeros_like(perturbed).scatter_(-1L, indices, ones))
        | RegularizedFrankWolfe _, _ -> Array.zeroCreate (b * m) // deterministic: unused
        | _, Some noise -> toArray (TensorNoise.sample noise twin [| int64 b; int64 s; int64 m |] f64 torch.CPU)
        | _, None -> failwith "unreachable: every other estimator has noise"

    flat |> Array.chunkBySize (s * m) |> Array.map (Array.chunkBySize m)

/// Forward values (the mean over samples) and gradients dL/dw for L = ⟨z, upstream⟩, row by row, on one backend.
let run (backend: Backend) (case: Case) (seed: int) : float[][] * float[][] =
    let m = case.Problem.Size

    match backend with
    | Reference ->
        Array.init case.Weights.Length (fun r ->
            let pass =
                match case.Estimator with
                | ScoreFunction _
                | Simple _
                | Sfess _
                | ReinMax _
                | SoftmaxStraightThrough ->
                    Reference.forwardWithStates case.Problem case.Estimator (draws case seed).[r] case.Weights.[r]
                | RegularizedFrankWolfe _ ->
                    Reference.forward case.Problem case.Estimator (Random seed) case.Weights.[r]
                | _ -> Reference.forwardWithNoise case.Problem case.Estimator (draws case seed).[r] case.Weights.[r]

            let gradient =
                match case.Estimator with
                | Imle { Target = Adaptive settings } ->
                    fst (
                        Reference.backwardAdaptive
                            case.Problem
                            case.Estimator
                            (AdaptiveLambda.initial settings)
                            pass
                            [| case.Upstream.[r] |]
                    )
                | _ -> Reference.backward case.Problem case.Estimator pass [| case.Upstream.[r] |]

            pass.Mean, gradient)
        |> Array.unzip
    | Torch ->
        use _scope = torch.NewDisposeScope()
        let w = (tensorOf case.Problem case.Weights).requires_grad_(true)

        let options =
            match case.Estimator with
            | Imle { Target = Adaptive settings } ->
                { DiscreteOptions.Default with
                    Adaptive = Some(AdaptiveLambdaCell settings) }
            | _ -> DiscreteOptions.Default

        let z =
            Discrete.apply options case.Problem case.Estimator (new torch.Generator(uint64 seed)) w

        Training.backward ((z * tensorOf case.Problem case.Upstream).sum())
        Array.chunkBySize m (toArray z), Array.chunkBySize m (toArray w.grad)

let private expectRows (tolerance: float) (actual: float[][]) (expected: float[][]) (message: string) =
    Expect.equal actual.Length expected.Length (message + ": rows")

    Array.iteri2
        (fun r (a: float[]) (e: float[]) ->
            Expect.equal a.Length e.Length (sprintf "%s: row %d length" message r)

            Array.iteri2
                (fun i x y ->
                    if abs (x - y) > tolerance then
                        failtestf "%s: row %d entry %d is %.12g, expected %.12g" message r i x y)
                a
                e)
        actual
        expected

/// Both backends against the expected values: the hand-worked ones where the case has them, else the reference
/// core's with the shared noise (so the TorchSharp backend must reproduce it).
let private parityTest (case: Case) =
    test case.Name {
        for seed in 1..3 do
            let results = backends |> List.map (fun backend -> backend, run backend case seed)

            let expectedOutput, expectedGradient =
                match case.Expected with
                | Some expected -> expected
                | None -> snd results.Head

            for backend, (output, gradient) in results do
                expectRows 1e-9 output expectedOutput (sprintf "%A forward (seed %d)" backend seed)
                expectRows 1e-9 gradient expectedGradient (sprintf "%A gradient (seed %d)" backend seed)
    }

let private rng = Random 17

let private normalRows (rows: int) (m: int) =
    Array.init rows (fun _ -> Array.init m (fun _ -> Sampling.standardNormal rng))

let private positiveRows (rows: int) (m: int) =
    Array.init rows (fun _ -> Array.init m (fun _ -> 1.0 + 4.0 * rng.NextDouble()))

let private subset = Problem.kSubset 6 2
let private categorical = Problem.categorical 5
let private grid = Problem.gridShortestPath 3 3 Imle.Solvers.Eight

let private case (name: string) (problem: Problem) (estimator: Estimator) =
    let weights =
        match problem.Sense, estimator with
        | Minimise, _
        | _, Perturbed { Perturbation = Multiplicative _ } -> positiveRows 3 problem.Size
        | Maximise, _ -> normalRows 3 problem.Size

    { Name = name
      Problem = problem
      Estimator = estimator
      Weights = weights
      Upstream = normalRows 3 problem.Size
      Expected = None }

/// Hand-worked: k-subset(m = 4, k = 2), θ = (3, 1, 2, 0), so z = MAP(θ) = (1, 0, 1, 0), and dL/dz = (1, −1, 0, 0).
let private handWeights = [| [| 3.0; 1.0; 2.0; 0.0 |] |]
let private handUpstream = [| [| 1.0; -1.0; 0.0; 0.0 |] |]
let private handState = [| [| 1.0; 0.0; 1.0; 0.0 |] |]

let private handCase (name: string) (estimator: Estimator) (gradient: float[]) =
    { Name = name + " (by hand)"
      Problem = Problem.kSubset 4 2
      Estimator = estimator
      Weights = handWeights
      Upstream = handUpstream
      Expected = Some(handState, [| gradient |]) }

let private imleWith (noise: Noise) (target: Target) =
    Imle((ImleOptions.Create(2.0, 1.0)).WithNoise(noise).WithTarget(target))

let private cases =
    [
      // θ' = θ − 3·dL/dz = (0, 4, 2, 0): z' = (0, 1, 1, 0); (z − z')/3.
      handCase "blackbox λ = 3" (Blackbox 3.0) [| 1.0 / 3.0; -1.0 / 3.0; 0.0; 0.0 |]
      // CombOpt: θ' = (−1, 1, 2, 0) → z' = (0, 1, 1, 0); unscaled λ = 1: z − z'.
      handCase "I-MLE δ₀, CombOpt" (imleWith Zero CombOpt) [| 1.0; -1.0; 0.0; 0.0 |]
      handCase "straight-through δ₀" (StraightThrough Zero) [| 1.0; -1.0; 0.0; 0.0 |]
      handCase "identity δ₀, mean-centred" (Identity(MeanCentre, Zero)) [| 1.0; -1.0; 0.0; 0.0 |]
      // dL/dz has mean 0 and standard deviation √(1/2).
      handCase "identity δ₀, standardised" (Identity(Standardise, Zero)) [| sqrt 2.0; -(sqrt 2.0); 0.0; 0.0 |]
      case "I-MLE SoG, PID, S = 3, k-subset" subset (Imle((ImleOptions.Create(2.0, 2.0)).WithSamples(3)))
      case "I-MLE symmetric, grid (minimise)" grid (Imle((ImleOptions.Create(5.0, 2.0)).WithSymmetric(true)))
      case "I-MLE CombOpt, grid (minimise)" grid (imleWith (Gumbel 1.0) CombOpt)
      case
          "I-MLE custom target, k-subset"
          subset
          (imleWith (Gumbel 1.0) (CustomTarget("θ − 2·dL/dz", fun t g -> Array.map2 (fun a b -> a - 2.0 * b) t g)))
      case "AIMLE (adaptive target), k-subset" subset (imleWith (Gumbel 1.0) (Adaptive AdaptiveLambda.Default))
      |> fun c ->
          { c with
              Weights = [| c.Weights.[0] |]
              Upstream = [| c.Upstream.[0] |] }
      case "blackbox, grid (minimise)" grid (Blackbox 5.0)
      case "identity, Gumbel noise, k-subset" subset (Identity(NoProjection, Gumbel 0.5))
      case "straight-through, Gumbel noise, grid" grid (StraightThrough(Gumbel 1.0))
      case "perturbed additive Normal, S = 4, k-subset" subset (Estimator.perturbed (Normal 1.0) 4)
      case "perturbed additive Gumbel, S = 3, grid (minimise)" grid (Estimator.perturbed (Gumbel 1.0) 3)
      case
          "perturbed additive, leave-one-out, k-subset"
          subset
          (Perturbed(PerturbedOptions.Create(Normal 0.5, 4).WithControlVariate LeaveOneOut))
      case
          "perturbed multiplicative, S = 4, grid (minimise)"
          grid
          (Perturbed(PerturbedOptions.CreateMultiplicative(0.5, 4)))
      case
          "perturbed multiplicative, leave-one-out, k-subset"
          subset
          (Perturbed(PerturbedOptions.CreateMultiplicative(0.7, 3).WithControlVariate LeaveOneOut))
      case "score function, S = 1, categorical" categorical (ScoreFunction 1)
      case "score function, S = 4, k-subset" subset (ScoreFunction 4)
      case "Gumbel-softmax τ = 0.5, categorical" categorical (GumbelSoftmax 0.5)
      case "relaxed top-k τ = 0.7, k-subset" subset (RelaxedTopK 0.7)
      case "SIMPLE τ = 1, k-subset" subset (Simple 1.0)
      case "SIMPLE τ = 0.5, k-subset" subset (Simple 0.5)
      case "SFESS τ = 1, S = 4, k-subset" subset (Sfess(1.0, 4))
      case "SFESS τ = 2, S = 2, k-subset" subset (Sfess(2.0, 2))
      case "ReinMax τ = 1, categorical" categorical (ReinMax 1.0)
      case "ReinMax τ = 2, categorical" categorical (ReinMax 2.0)
      case "categorical straight-through" categorical SoftmaxStraightThrough
      case "regularised Frank-Wolfe λ = 1, k-subset" subset (RegularizedFrankWolfe FrankWolfeOptions.Default)
      case "regularised Frank-Wolfe λ = 0.5, grid (minimise)" grid (RegularizedFrankWolfe(FrankWolfeOptions.Create 0.5)) ]

[<Tests>]
let tests =
    testList
        "estimator catalogue on both backends"
        [ yield! cases |> List.map parityTest
          test "the control variate: the core's rule on arrays" {
              let ys = [| [| 1.0; 0.0 |]; [| 0.0; 1.0 |]; [| 1.0; 0.0 |] |]
              // ȳ = (2/3, 1/3); (yₛ − ȳ)·3/2.
              let expected = [| [| 0.5; -0.5 |]; [| -1.0; 1.0 |]; [| 0.5; -0.5 |] |]
              expectRows 1e-12 (ControlVariate.apply LeaveOneOut ys) expected "leave-one-out"
              Expect.equal (ControlVariate.apply NoControlVariate ys) ys "none"
          }
          test "every estimator has a reference forward and backward (none refused)" {
              for c in cases do
                  let pass = Reference.forward c.Problem c.Estimator (Random 1) c.Weights.[0]

                  match c.Estimator with
                  | Imle { Target = Adaptive settings } ->
                      Reference.backwardAdaptive
                          c.Problem
                          c.Estimator
                          (AdaptiveLambda.initial settings)
                          pass
                          [| c.Upstream.[0] |]
                      |> ignore
                  | _ -> Reference.backward c.Problem c.Estimator pass [| c.Upstream.[0] |] |> ignore
          } ]
