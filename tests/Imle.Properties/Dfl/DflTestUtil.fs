/// Helpers shared by the decision-focused-learning tests: brute-force optima, SPO+ on arrays, the control-variate
/// check, and the catalogue's perturbed optimizers and DFL losses as the tests call them.
module Imle.Tests.DflTestUtil

open System
open Expecto
open Imle
open Imle.Solvers
open Imle.Dfl
open TorchSharp
open Imle.Torch

/// The additive perturbed optimizer (Normal σ, S) from the catalogue.
let additive (problem: Problem) (sigma: float) (s: int) (g: torch.Generator) (w: Tensor) =
    Discrete.apply DiscreteOptions.Default problem (Perturbed(PerturbedOptions.Create(Normal sigma, s))) g w

/// `additive` with the leave-one-out control variate.
let additiveWithBaseline (problem: Problem) (sigma: float) (s: int) (g: torch.Generator) (w: Tensor) =
    let options =
        PerturbedOptions.Create(Normal sigma, s).WithControlVariate LeaveOneOut

    Discrete.apply DiscreteOptions.Default problem (Perturbed options) g w

/// The multiplicative perturbed optimizer (σ, S) from the catalogue.
let multiplicative (problem: Problem) (sigma: float) (s: int) (g: torch.Generator) (w: Tensor) =
    Discrete.apply DiscreteOptions.Default problem (Perturbed(PerturbedOptions.CreateMultiplicative(sigma, s))) g w

/// `multiplicative` with the leave-one-out control variate.
let multiplicativeWithBaseline (problem: Problem) (sigma: float) (s: int) (g: torch.Generator) (w: Tensor) =
    let options =
        PerturbedOptions.CreateMultiplicative(sigma, s).WithControlVariate LeaveOneOut

    Discrete.apply DiscreteOptions.Default problem (Perturbed options) g w

/// A batch of predicted costs with the true costs and solutions (null where a loss does not read them).
let batch (predicted: Tensor) (trueCosts: Tensor) (trueSolutions: Tensor) =
    { Predicted = predicted
      TrueCosts = trueCosts
      TrueSolutions = trueSolutions
      BindingNormals = null }

/// The multiplicative Fenchel–Young loss (σ, S) against target solutions.
let fenchelYoungMultiplicative
    (problem: Problem)
    (sigma: float)
    (s: int)
    (g: torch.Generator)
    (w: Tensor)
    (target: Tensor)
    =
    let loss = DflLoss.FenchelYoung(PerturbedOptions.CreateMultiplicative(sigma, s))
    DflLosses.compute problem loss (DflSources.OfGenerator g) (batch w null target)

/// SPO+ of a batch.
let spoPlus (problem: Problem) (predicted: Tensor) (costs: Tensor) (solutions: Tensor) =
    DflLosses.compute problem DflLoss.SpoPlus DflSources.None (batch predicted costs solutions)

/// A pool loss (contrastive: the true solutions; ranking: the true costs) over the pool's problem.
let pooled (loss: DflLoss) (pool: SolutionPool) (predicted: Tensor) (truth: Tensor) =
    let b =
        if DflLoss.needsTrueCosts loss then
            batch predicted truth null
        else
            batch predicted null truth

    DflLosses.compute pool.Problem loss (DflSources.OfPool pool) b

let dot (w: float[]) (z: float[]) =
    Array.fold2 (fun s a b -> s + a * b) 0.0 w z

/// Every source–sink path of a graph given by arcs, by the test's own depth-first search (simple paths only).
let bruteForcePaths (nodes: int) (arcs: (int * int)[]) (source: int) (sink: int) : float[][] =
    let result = ResizeArray()
    let chosen = Array.zeroCreate arcs.Length
    let visited = Array.zeroCreate nodes

    let rec go v =
        if v = sink then
            result.Add(Array.copy chosen)
        else
            visited.[v] <- true

            arcs
            |> Array.iteri (fun i (u, w) ->
                if u = v && not visited.[w] then
                    chosen.[i] <- 1.0
                    go w
                    chosen.[i] <- 0.0)

            visited.[v] <- false

    go source
    result.ToArray()

/// The minimum of ⟨c, z⟩ over a list of states.
let bestValue (costs: float[]) (states: float[][]) =
    states |> Array.map (dot costs) |> Array.min

/// Every tour of n cities as an edge indicator over HeldKarp.edges, by the test's own permutation enumeration.
let bruteForceTours (n: int) : float[][] =
    let edges = HeldKarp.edges n

    let index i j =
        Array.findIndex (fun (a, b) -> (a = min i j) && (b = max i j)) edges

    let rec perms (xs: int list) : int list list =
        match xs with
        | [] -> [ [] ]
        | _ ->
            [ for x in xs do
                  for rest in perms (List.filter ((<>) x) xs) -> x :: rest ]

    [| for p in perms [ 1 .. n - 1 ] do
           let cycle = 0 :: p @ [ 0 ]
           let z = Array.zeroCreate edges.Length

           for (a, b) in List.pairwise cycle do
               z.[index a b] <- 1.0

           yield z |]

let spo (problem: Problem) (predicted: float[][]) (costs: float[][]) : float * float[][] =
    let m = problem.Size
    let b = predicted.Length
    use _scope = torch.NewDisposeScope()

    let tensor (rows: float[][]) =
        torch.tensor(Array.concat rows, dtype = torch.float64).reshape(int64 b, int64 m)

    let solutions = costs |> Array.map (Problem.solve problem)
    let chat = (tensor predicted).requires_grad_(true)
    let loss = spoPlus problem chat (tensor costs) (tensor solutions)
    Training.backward loss
    let g = chat.grad.contiguous().data<float>().ToArray()
    loss.ToDouble(), Array.chunkBySize m g

/// SPO+ of one instance from its definition, on arrays, in the problem's own sense (the test's own formula).
let spoByHand (problem: Problem) (chat: float[]) (c: float[]) =
    let wc = Problem.solve problem c
    let a = Array.map2 (fun x y -> 2.0 * x - y) chat c
    let wa = Problem.solve problem a
    let value = -(dot a wa) + 2.0 * dot chat wc - dot c wc

    match problem.Sense with
    | Minimise -> value
    | Maximise -> -value

let spoProblems () =
    let weights, _ = Generators.knapsack 1 5 10 1 1 0.0 4

    [ Problem.gridDagShortestPath 5 5, (fun (rng: Random) -> 2.0 * rng.NextDouble() - 0.5)
      Problem.knapsack weights.[0] 2500, (fun (rng: Random) -> 10.0 * rng.NextDouble() - 1.0) ]

/// A perturbed optimizer as the control-variate check calls it: problem, σ, S, generator, weights → mean solution.
type PerturbedCall = Problem -> float -> int -> torch.Generator -> Tensor -> Tensor

/// The control-variate check shared by the additive and multiplicative perturbed optimizers, on two classes with
/// weights (a, b): per seed 1..r the plain and baselined estimators draw the same noise; the forward values must be
/// equal, the plain and the baselined (leave-one-out) mean gradients dP_1/da must both be `exact` (each within 4 standard
/// errors: a false failure with fresh seeds has probability ~6e-5; the seeds are fixed, so the check is
/// deterministic), and the baselined variance below 0.6 of the plain one.
let expectControlVariate
    (plain: PerturbedCall)
    (based: PerturbedCall)
    (a: float, b: float)
    (sigma: float)
    (s: int)
    (r: int)
    (exact: float)
    =
    let problem = Problem.categorical 2

    let estimate (f: PerturbedCall) (seed: int) =
        use _scope = torch.NewDisposeScope()

        let w =
            torch.tensor([| a; b |], dtype = torch.float64).reshape(1L, 2L).requires_grad_(true)

        let y = f problem sigma s (new torch.Generator(uint64 seed)) w
        let dy = torch.tensor([| 1.0; 0.0 |], dtype = torch.float64).reshape(1L, 2L)
        Training.backward ((y * dy).sum())
        y.detach().data<float>().ToArray().[0], w.grad.data<float>().ToArray().[0]

    let plainRuns = Array.init r (fun i -> estimate plain (i + 1))
    let basedRuns = Array.init r (fun i -> estimate based (i + 1))
    Expect.equal (Array.map fst basedRuns) (Array.map fst plainRuns) "same forward values"

    let stats (xs: float[]) =
        let m = Array.average xs
        m, (xs |> Array.averageBy (fun x -> (x - m) * (x - m)))

    let mp, vp = stats (Array.map snd plainRuns)
    let mb, vb = stats (Array.map snd basedRuns)
    Expect.isLessThan (abs (mp - exact)) (4.0 * sqrt (vp / float r)) "plain mean = dP_1/da"

    Expect.isLessThan (abs (mb - exact)) (4.0 * sqrt (vb / float r)) "baselined mean = dP_1/da (leave-one-out)"

    Expect.isLessThan vb (0.6 * vp) (sprintf "variance %g with the baseline, %g without" vb vp)

let normalCdf (x: float) =
    let z = abs x / sqrt 2.0
    let t = 1.0 / (1.0 + 0.3275911 * z)

    let erf =
        1.0
        - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t
           + 0.254829592)
          * t
          * exp (-z * z)

    if x >= 0.0 then 0.5 * (1.0 + erf) else 0.5 * (1.0 - erf)
