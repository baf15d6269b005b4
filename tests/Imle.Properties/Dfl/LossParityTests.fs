/// Every DFL loss of the catalogue (`DflLoss`) on both backends: the reference core over arrays
/// (`DflLoss.referenceBatch`) and the TorchSharp backend (`DflLosses.compute`) evaluate the same batch (with the same
/// noise for Fenchel–Young: the draw the TorchSharp loss makes, repeated by a twin generator, and the same solution
/// pool) and must give the same value and gradient w.r.t. the predicted costs, in both senses. A small case is also
/// checked against values worked out by hand.
module Imle.Tests.LossParityTests

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

/// One case: a problem, a loss, a batch of instances and a pool (for the contrastive and ranking losses).
type Case =
    { Name: string
      Problem: Problem
      Loss: DflLoss
      Instances: DflInstance[]
      Pool: float[][] }

let private f64 = torch.float64

let private toArray (t: torch.Tensor) =
    use c = t.detach().``to``(torch.float64, torch.CPU).contiguous()
    c.data<float>().ToArray()

let private tensorOf (problem: Problem) (rows: float[][]) =
    let shape = Array.append [| int64 rows.Length |] (Array.map int64 problem.Shape)
    torch.tensor(Array.concat rows, dtype = f64).reshape(shape)

/// The noise the TorchSharp loss draws first from a generator with this seed, as [B][S][m] (empty without noise).
let private draws (case: Case) (seed: int) : float[][][] =
    match case.Loss with
    | FenchelYoung o ->
        use _scope = torch.NewDisposeScope()
        use twin = new torch.Generator(uint64 seed)
        let b, m = case.Instances.Length, case.Problem.Size

        toArray (
            TensorNoise.sample (PerturbedOptions.noise o) twin [| int64 b; int64 o.Samples; int64 m |] f64 torch.CPU
        )
        |> Array.chunkBySize (o.Samples * m)
        |> Array.map (Array.chunkBySize m)
    | _ -> case.Instances |> Array.map (fun _ -> [||])

/// The batch-mean loss and its gradient w.r.t. each row of predicted costs, on one backend.
let run (backend: Backend) (case: Case) (seed: int) : float * float[][] =
    match backend with
    | Reference -> DflLoss.referenceBatch case.Problem case.Loss case.Pool (draws case seed) case.Instances
    | Torch ->
        use _scope = torch.NewDisposeScope()

        let rows (f: DflInstance -> float[]) =
            tensorOf case.Problem (case.Instances |> Array.map f)

        let predicted = (rows (fun i -> i.Predicted)).requires_grad_(true)

        let sources =
            { Generator = Some(new torch.Generator(uint64 seed))
              Pool =
                if DflLoss.needsPool case.Loss then
                    Some(SolutionPool(case.Problem, case.Pool, 0.0, seed))
                else
                    None }

        let batch =
            { Predicted = predicted
              TrueCosts = rows (fun i -> i.TrueCosts)
              TrueSolutions = rows (fun i -> i.TrueSolution)
              BindingNormals =
                if DflLoss.needsBindingNormals case.Loss then
                    case.Instances |> Array.map (fun i -> i.BindingNormals)
                else
                    null }

        let loss = DflLosses.compute case.Problem case.Loss sources batch
        Training.backward loss
        loss.ToDouble(), Array.chunkBySize case.Problem.Size (toArray predicted.grad)

let private expectClose (tolerance: float) (actual: float) (expected: float) (message: string) =
    if abs (actual - expected) > tolerance then
        failtestf "%s: %.12g, expected %.12g" message actual expected

let private parityTest (case: Case) =
    test case.Name {
        for seed in 1..3 do
            let expectedValue, expectedGradient = run Reference case seed

            for backend in backends do
                let value, gradient = run backend case seed
                expectClose 1e-9 value expectedValue (sprintf "%A value (seed %d)" backend seed)

                Array.iteri2
                    (fun r (a: float[]) (e: float[]) ->
                        Array.iteri2
                            (fun i x y ->
                                expectClose
                                    1e-9
                                    x
                                    y
                                    (sprintf "%A gradient row %d entry %d (seed %d)" backend r i seed))
                            a
                            e)
                    gradient
                    expectedGradient
    }

let private rng = Random 23

let private draw (m: int) (positive: bool) =
    Array.init m (fun _ ->
        if positive then
            0.5 + 3.0 * rng.NextDouble()
        else
            2.0 * rng.NextDouble() - 0.5)

/// A batch of 3 instances with distinct random pool objectives (no ties), predictions positive where a multiplicative
/// perturbation needs them.
let private case (name: string) (problem: Problem) (loss: DflLoss) =
    let m = problem.Size

    let positive =
        match loss with
        | FenchelYoung { Perturbation = Multiplicative _ } -> true
        | _ -> false

    let instances =
        Array.init 3 (fun _ ->
            let costs = draw m true

            { Predicted = draw m positive
              TrueCosts = costs
              TrueSolution = Problem.solve problem costs
              // Any normals exercise the cone projection (CaVE); 3 per instance, some pointing along −ĉ.
              BindingNormals = Array.init 3 (fun _ -> draw m false) })

    let pool =
        Array.init 6 (fun _ -> Problem.solve problem (draw m false))
        |> Array.append (instances |> Array.map (fun i -> i.TrueSolution))
        |> Array.distinct

    { Name = sprintf "%s, %s" (DflLoss.describe loss) name
      Problem = problem
      Loss = loss
      Instances = instances
      Pool = pool }

let private path = Problem.gridDagShortestPath 3 3
let private subset = Problem.kSubset 6 3

let private losses =
    [ DflLoss.SpoPlus
      DflLoss.FenchelYoung(PerturbedOptions.Create(Normal 0.5, 4))
      DflLoss.FenchelYoung(PerturbedOptions.Create(Gumbel 1.0, 3))
      DflLoss.FenchelYoung(PerturbedOptions.CreateMultiplicative(0.5, 4))
      Nce
      Cmap
      ListwiseLtr
      PairwiseLtr
      PointwiseLtr
      PerturbationGradient(Imle.Dfl.Pgb, 0.5)
      PerturbationGradient(Imle.Dfl.Pgc, 0.5)
      PerturbationGradient(Imle.Dfl.Pgf, 0.5)
      Cave
      StructuredSvm 1.0
      Imitation("Hamming", fun z y -> Array.fold2 (fun acc a b -> acc + abs (a - b)) 0.0 z y)
      ZeroOne
      RegularizedFenchelYoung FrankWolfeOptions.Default
      RegularizedFenchelYoung(FrankWolfeOptions.Create 0.3) ]

[<Tests>]
let tests =
    testList
        "DFL loss catalogue on both backends"
        [ for loss in losses do
              yield parityTest (case "shortest path (minimise)" path loss)
              yield parityTest (case "k-subset (maximise)" subset loss)
          yield
              test "by hand: SPO+, NCE, CMAP and the ranking losses on a pool of 2 (minimise)" {
                  // Categorical-like problem over 2 with a pool {[1,0], [0,1]}; ĉ = (1, 2), c = (2, 1), w*(c) = [0, 1].
                  let problem =
                      Problem.create "pick one of 2" [| 2 |] Minimise (fun c ->
                          if c.[0] <= c.[1] then [| 1.0; 0.0 |] else [| 0.0; 1.0 |])

                  let pool = [| [| 1.0; 0.0 |]; [| 0.0; 1.0 |] |]

                  let instance =
                      { Predicted = [| 1.0; 2.0 |]
                        TrueCosts = [| 2.0; 1.0 |]
                        TrueSolution = [| 0.0; 1.0 |]
                        BindingNormals = null }

                  let expected =
                      [
                        // 2ĉ − c = (0, 3): w = [1, 0], −0 + 2·2 − 1 = 3; gradient 2(w*(c) − w) = (−2, 2).
                        DflLoss.SpoPlus, (3.0, [| -2.0; 2.0 |])
                        // Margins ĉᵀw* − ĉᵀs = (1, 0): NCE 1/2, gradient w* − mean(s) = (−1/2, 1/2).
                        Nce, (0.5, [| -0.5; 0.5 |])
                        // CMAP: the worst margin 1 at s = [1, 0]: gradient w* − s = (−1, 1).
                        Cmap, (1.0, [| -1.0; 1.0 |])
                        // s* = [0, 1]; ĉᵀs* − ĉᵀs = (1, 0): hinge sum 1 / max(2 − 1, 1); gradient s* − [1, 0].
                        PairwiseLtr, (1.0, [| -1.0; 1.0 |])
                        // (c − ĉ)ᵀs = (1, −1): mean square 1; gradient (1/2)·Σ −2e·s = (−1, 1).
                        PointwiseLtr, (1.0, [| -1.0; 1.0 |]) ]

                  for loss, (value, gradient) in expected do
                      let c =
                          { Name = DflLoss.describe loss
                            Problem = problem
                            Loss = loss
                            Instances = [| instance |]
                            Pool = pool }

                      for backend in backends do
                          let v, g = run backend c 1
                          expectClose 1e-12 v value (sprintf "%s on %A: value" c.Name backend)
                          expectClose 1e-12 g.[0].[0] gradient.[0] (sprintf "%s on %A: gradient[0]" c.Name backend)
                          expectClose 1e-12 g.[0].[1] gradient.[1] (sprintf "%s on %A: gradient[1]" c.Name backend)
              }
          yield
              test "the sense is matched in one place: a Maximise problem is the Minimise problem on negated weights" {
                  let maximise = Problem.kSubset 5 2

                  let minimise =
                      Problem.create "min 2-subset of 5" [| 5 |] Minimise (fun c ->
                          Problem.solve maximise (Array.map (~-) c))

                  let pool =
                      [| [| 1.0; 1.0; 0.0; 0.0; 0.0 |]
                         [| 0.0; 0.0; 1.0; 1.0; 0.0 |]
                         [| 0.0; 1.0; 0.0; 0.0; 1.0 |] |]

                  let values = [| 0.3; -1.2; 2.0; 0.7; -0.4 |]
                  let predicted = [| 1.0; 0.1; -0.3; 0.8; 0.2 |]

                  let instance (flip: float) =
                      { Predicted = Array.map ((*) flip) predicted
                        TrueCosts = Array.map ((*) flip) values
                        TrueSolution = Problem.solve maximise values
                        BindingNormals = null }

                  for loss in [ DflLoss.SpoPlus; Nce; Cmap; ListwiseLtr; PairwiseLtr; PointwiseLtr ] do
                      let vMax, gMax = DflLoss.reference maximise loss pool [||] (instance 1.0)
                      let vMin, gMin = DflLoss.reference minimise loss pool [||] (instance -1.0)
                      expectClose 1e-12 vMax vMin (sprintf "%s: value" (DflLoss.describe loss))

                      Array.iteri2
                          (fun i a b -> expectClose 1e-12 a -b (sprintf "%s: gradient %d" (DflLoss.describe loss) i))
                          gMax
                          gMin
              } ]
