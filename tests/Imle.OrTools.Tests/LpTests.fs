/// General LP/MILP models with continuous variables (`Lp`): optima against brute force, errors, and the DFL losses on
/// an LP problem.
module Imle.OrTools.Tests.LpTests

open System
open Expecto
open TorchSharp
open Imle
open Imle.Dfl
open Imle.Solvers
open Imle.Torch
open Imle.OrTools

let private dot (a: float[]) (b: float[]) =
    Array.fold2 (fun s x y -> s + x * y) 0.0 a b

let private throwsInvalidOp (fragment: string) (f: unit -> unit) =
    try
        f ()
        failtestf "expected an InvalidOperationException containing '%s'; nothing was raised" fragment
    with :? InvalidOperationException as e ->
        Expect.stringContains e.Message fragment "the message should say what went wrong"

let private throwsArg (param: string) (f: unit -> unit) =
    try
        f ()
        failtestf "expected an ArgumentException naming '%s'; nothing was raised" param
    with :? ArgumentException as e ->
        Expect.equal e.ParamName param (sprintf "ArgumentException should name '%s' (message: %s)" param e.Message)

/// A random bounded LP in 3 variables: x_i ∈ [0, u_i], three rows a·x <= b with b > 0 (so 0 is feasible).
let private randomLp (rng: Random) (sense: Sense) =
    let upper = Array.init 3 (fun _ -> 1.0 + 2.0 * rng.NextDouble())

    let rows =
        Array.init 3 (fun _ -> Array.init 3 (fun _ -> 2.0 * rng.NextDouble() - 0.5), 0.5 + rng.NextDouble())

    let model =
        Array.fold
            (fun m (a: float[], b) -> Lp.addConstraint (Array.mapi (fun i v -> i, v) a) Double.NegativeInfinity b m)
            (Lp.model [| 3 |] sense 0.0 Double.PositiveInfinity)
            rows

    let model = Array.fold (fun m i -> Lp.withBounds i 0.0 upper.[i] m) model [| 0..2 |]

    model, upper, rows

/// Every vertex of {x : 0 <= x <= u, a_r·x <= b_r}: the feasible solutions of each 3×3 system of active rows.
let private vertices (upper: float[]) (rows: (float[] * float)[]) =
    let unit i =
        Array.init 3 (fun j -> if i = j then 1.0 else 0.0)

    let all =
        [| for i in 0..2 -> unit i, 0.0
           for i in 0..2 -> unit i, upper.[i]
           yield! rows |]

    let det (m: float[][]) =
        m.[0].[0] * (m.[1].[1] * m.[2].[2] - m.[1].[2] * m.[2].[1])
        - m.[0].[1] * (m.[1].[0] * m.[2].[2] - m.[1].[2] * m.[2].[0])
        + m.[0].[2] * (m.[1].[0] * m.[2].[1] - m.[1].[1] * m.[2].[0])

    let feasible (x: float[]) =
        Array.forall2 (fun v u -> v >= -1e-9 && v <= u + 1e-9) x upper
        && rows |> Array.forall (fun (a, b) -> dot a x <= b + 1e-9)

    [| for i in 0 .. all.Length - 1 do
           for j in i + 1 .. all.Length - 1 do
               for k in j + 1 .. all.Length - 1 do
                   let m = [| fst all.[i]; fst all.[j]; fst all.[k] |]
                   let rhs = [| snd all.[i]; snd all.[j]; snd all.[k] |]
                   let d = det m

                   if abs d > 1e-9 then
                       // Cramer's rule.
                       let x =
                           Array.init 3 (fun c ->
                               let mc =
                                   m
                                   |> Array.mapi (fun r row ->
                                       Array.mapi (fun cc v -> if cc = c then rhs.[r] else v) row)

                               det mc / d)

                       if feasible x then
                           yield x |]

[<Tests>]
let lpTests =
    testList
        "lp"
        [ test "LP (GLOP): the optimum equals brute force over the vertices, 60 random 3-variable LPs, both senses" {
              let rng = Random 31

              for trial in 1..60 do
                  let sense = if trial % 2 = 0 then Maximise else Minimise
                  let model, upper, rows = randomLp rng sense
                  Expect.equal (Lp.backendFor model) "GLOP" "an LP goes to GLOP"
                  let c = Array.init 3 (fun _ -> 2.0 * rng.NextDouble() - 1.0)
                  let x = Lp.solve model c
                  let values = vertices upper rows |> Array.map (dot c)

                  let best =
                      if sense = Maximise then
                          Array.max values
                      else
                          Array.min values

                  Expect.floatClose
                      { absolute = 1e-7; relative = 1e-7 }
                      (dot c x)
                      best
                      (sprintf "trial %d: LP optimum = best vertex" trial)

                  Expect.isTrue (Lp.isFeasible model x) "the solution is feasible"
          }

          test "MILP (SCIP): the optimum equals brute force over the integer points of [0, 3]^3, 40 random instances" {
              let rng = Random 32

              for trial in 1..40 do
                  let sense = if trial % 2 = 0 then Maximise else Minimise
                  let model, _, rows = randomLp rng sense
                  let model = Array.fold (fun m i -> Lp.withBounds i 0.0 3.0 m) model [| 0..2 |]
                  let model = Lp.withIntegers [| 0; 1; 2 |] model
                  Expect.equal (Lp.backendFor model) "SCIP" "a MILP goes to SCIP"
                  let c = Array.init 3 (fun _ -> 2.0 * rng.NextDouble() - 1.0)
                  let x = Lp.solve model c

                  let values =
                      [| for a in 0..3 do
                             for b in 0..3 do
                                 for d in 0..3 do
                                     let p = [| float a; float b; float d |]

                                     if rows |> Array.forall (fun (r, bound) -> dot r p <= bound + 1e-9) then
                                         yield dot c p |]

                  let best =
                      if sense = Maximise then
                          Array.max values
                      else
                          Array.min values

                  Expect.floatClose { absolute = 1e-7; relative = 1e-7 } (dot c x) best (sprintf "trial %d" trial)
                  Expect.all x (fun v -> v = Math.Round v) "integer variables are returned as integers"
          }

          test
              "mixed: an integer and a continuous variable (max x0 + x1/2, x0 + x1 <= 2.5) gives (2, 0.5), not the LP's (2.5, 0)" {
              let model =
                  Lp.model [| 2 |] Maximise 0.0 3.0
                  |> Lp.addConstraint [| 0, 1.0; 1, 1.0 |] Double.NegativeInfinity 2.5

              let lp = Lp.solve model [| 1.0; 0.5 |]
              Expect.sequenceEqual (lp |> Array.map (fun v -> Math.Round(v, 9))) [| 2.5; 0.0 |] "the LP relaxation"
              let milp = Lp.solve (Lp.withIntegers [| 0 |] model) [| 1.0; 0.5 |]
              Expect.sequenceEqual (milp |> Array.map (fun v -> Math.Round(v, 9))) [| 2.0; 0.5 |] "the MILP"
          }

          test "the flow LP on PyEPO's 5x5 grid equals the signed-cost DAG solver (40 instances, costs in [-0.5, 1.5])" {
              let rng = Random 33
              let arcs = DagShortestPath.gridArcs 5 5
              let model = Lp.flowModel 25 arcs 0 24
              let lp = Lp.problem "grid LP" model
              let dag = Problem.gridDagShortestPath 5 5

              for trial in 1..40 do
                  let c = Array.init arcs.Length (fun _ -> 2.0 * rng.NextDouble() - 0.5)
                  let x = Problem.solve lp c
                  let z = Problem.solve dag c
                  Expect.floatClose Accuracy.high (dot c x) (dot c z) (sprintf "trial %d: same optimal cost" trial)
                  // Continuous costs: the shortest path is unique almost surely, and GLOP returns a vertex.
                  Expect.sequenceEqual
                      (x |> Array.map (fun v -> Math.Round(v, 6)))
                      z
                      (sprintf "trial %d: same path" trial)
          }

          test "one model type: a binary model and its LP relaxation share the builders, the solver and the tolerance" {
              let rng = Random 34

              for _ in 1..20 do
                  let m = rng.Next(2, 12)
                  let k = rng.Next(1, m + 1)
                  let ilp = Ilp.kSubsetModel m k
                  Expect.equal (Lp.backendFor ilp) Lp.mipBackend.Value "binary variables go to the MIP backend"
                  let w = Array.init m (fun _ -> rng.NextDouble())
                  // The k-subset polytope is integral: the LP relaxation (same constraints, continuous [0, 1]) has the
                  // same optimum.
                  let relaxation =
                      { ilp with
                          Variables = ilp.Variables |> Array.map (fun v -> { v with Integer = false }) }

                  let z = Lp.solve ilp w
                  Expect.equal (Lp.backendFor relaxation) "GLOP" "the relaxation goes to GLOP"

                  Expect.floatClose
                      Accuracy.high
                      (dot w (Lp.solve relaxation w))
                      (dot w z)
                      "the relaxation reaches the ILP's optimum"

                  Expect.sequenceEqual z (TopK.solve k w) "the ILP's optimum is the top-k set"

              // One tolerance for both kinds: within it a state passes, beyond it it does not.
              let tol = Lp.feasibilityTolerance
              Expect.equal tol 1e-6 "the documented tolerance"
              let ilp = Ilp.kSubsetModel 3 1
              Expect.isTrue (Lp.isFeasible ilp [| 1.0 + 0.5 * tol; 0.0; 0.0 |]) "binary: within the tolerance"
              Expect.isFalse (Lp.isFeasible ilp [| 1.0 + 3.0 * tol; 0.0; 0.0 |]) "binary: beyond it"

              let lp =
                  Lp.model [| 2 |] Maximise 0.0 1.0
                  |> Lp.addConstraint [| 0, 1.0; 1, 1.0 |] -infinity 1.0

              Expect.isTrue (Lp.isFeasible lp [| 0.5; 0.5 + 0.5 * tol |]) "continuous: within the tolerance"
              Expect.isFalse (Lp.isFeasible lp [| 0.5; 0.5 + 3.0 * tol |]) "continuous: beyond it"
          }

          test "Lp.problem: binary states exactly when every state variable is binary" {
              Expect.isFalse (Lp.problem "ilp" (Ilp.kSubsetModel 4 2)).RealStates "binary variables"
              let general = Lp.model [| 2 |] Maximise 0.0 3.0 |> Lp.withIntegers [| 0; 1 |]
              Expect.isTrue (Lp.problem "integers in [0, 3]" general).RealStates "integers beyond 1"
              Expect.isTrue (Lp.problem "lp" (Lp.model [| 2 |] Maximise 0.0 1.0)).RealStates "continuous"
          }

          test "Lp.problem has real states: a fractional vertex passes Problem.solve" {
              // max x0 + x1 s.t. 2x0 + x1 <= 1, x0 + 2x1 <= 1, x >= 0: the optimum (1/3, 1/3).
              let model =
                  Lp.model [| 2 |] Maximise 0.0 Double.PositiveInfinity
                  |> Lp.addConstraint [| 0, 2.0; 1, 1.0 |] Double.NegativeInfinity 1.0
                  |> Lp.addConstraint [| 0, 1.0; 1, 2.0 |] Double.NegativeInfinity 1.0

              let problem = Lp.problem "fractional" model
              Expect.isTrue problem.RealStates "real states"
              let x = Problem.solve problem [| 1.0; 1.0 |]
              Expect.floatClose Accuracy.high x.[0] (1.0 / 3.0) "x0"
              Expect.floatClose Accuracy.high x.[1] (1.0 / 3.0) "x1"
              Expect.isFalse (Lp.isFeasible model [| 1.0; 0.0 |]) "(1, 0) violates 2x0 + x1 <= 1"
          }

          test "auxiliary variables: the state is returned without them; isFeasible completes them" {
              // State x0, x1 in [0, 1]; auxiliary s in [0, 1] with x0 + x1 + s = 1.5.
              let model =
                  Lp.model [| 2 |] Maximise 0.0 1.0
                  |> Lp.withAuxiliary 1 0.0 1.0 false
                  |> Lp.addConstraint [| 0, 1.0; 1, 1.0; 2, 1.0 |] 1.5 1.5

              let x = Lp.solve model [| 1.0; 2.0 |]
              Expect.equal x.Length 2 "the state only"
              Expect.floatClose Accuracy.high (dot [| 1.0; 2.0 |] x) 2.5 "x = (0.5, 1) with s = 0"
              Expect.isTrue (Lp.isFeasible model [| 0.25; 0.5 |]) "s = 0.75 completes it"
              Expect.isFalse (Lp.isFeasible model [| 0.1; 0.1 |]) "s would have to be 1.3 > 1"
          }

          test "errors: infeasible and unbounded models say which; bad arguments name the parameter" {
              let infeasible =
                  Lp.model [| 2 |] Minimise 0.0 1.0
                  |> Lp.addConstraint [| 0, 1.0; 1, 1.0 |] 3.0 Double.PositiveInfinity

              throwsInvalidOp "infeasible" (fun () -> Lp.solve infeasible [| 1.0; 1.0 |] |> ignore)

              throwsInvalidOp "infeasible" (fun () ->
                  Lp.solve (Lp.withIntegers [| 0; 1 |] infeasible) [| 1.0; 1.0 |] |> ignore)

              let open' = Lp.model [| 2 |] Maximise 0.0 Double.PositiveInfinity
              throwsInvalidOp "unbounded" (fun () -> Lp.solve open' [| 1.0; 0.0 |] |> ignore)

              throwsInvalidOp "unbounded" (fun () -> Lp.solve (Lp.withIntegers [| 0 |] open') [| 1.0; 0.0 |] |> ignore)

              // Bounded in the direction of the costs: no error.
              Expect.sequenceEqual (Lp.solve open' [| -1.0; -2.0 |]) [| 0.0; 0.0 |] "optimum at 0"
              throwsArg "weights" (fun () -> Lp.solve open' [| 1.0 |] |> ignore)
              throwsArg "weights" (fun () -> Lp.solve open' [| nan; 1.0 |] |> ignore)
              throwsArg "lower" (fun () -> Lp.model [| 2 |] Minimise 1.0 0.0 |> ignore)
              throwsArg "lower" (fun () -> Lp.withBounds 0 nan 1.0 open' |> ignore)
              throwsArg "index" (fun () -> Lp.withBounds 5 0.0 1.0 open' |> ignore)
              throwsArg "indices" (fun () -> Lp.withIntegers [| 2 |] open' |> ignore)
              throwsArg "coefficients" (fun () -> Lp.addConstraint [| 2, 1.0 |] 0.0 1.0 open' |> ignore)
              throwsArg "coefficients" (fun () -> Lp.addConstraint [| 0, nan |] 0.0 1.0 open' |> ignore)
              throwsArg "shape" (fun () -> Lp.model [||] Minimise 0.0 1.0 |> ignore)
              throwsArg "name" (fun () -> Lp.problem " " open' |> ignore)
          }

          test
              "SPO+, perturbed optimizers and I-MLE on an LP problem: finite gradients; SPO+ training lowers the regret" {
              use _scope = torch.NewDisposeScope()
              let arcs = DagShortestPath.gridArcs 3 3
              let problem = Lp.problem "3x3 flow LP" (Lp.flowModel 9 arcs 0 8)
              let data = Generators.shortestPath 64 5 3 3 4 0.5 7
              let dataset = DflDataset.create problem data.Features data.Costs

              let tensor (rows: float[][]) =
                  torch
                      .tensor(Array.concat rows, dtype = torch.float64)
                      .reshape(int64 rows.Length, int64 rows.[0].Length)

              let x = tensor dataset.Features
              let c = tensor dataset.Costs
              let w = tensor dataset.Solutions
              torch.manual_seed 5L |> ignore
              let model = torch.nn.Linear(5L, int64 arcs.Length, dtype = torch.float64)
              let optimizer = torch.optim.Adam(model.parameters (), 0.05)

              let regret () =
                  use noGrad = torch.no_grad ()
                  use p = model.forward x
                  let rows = Array.init 64 (fun i -> p.[int64 i].data<float>().ToArray())
                  Regret.normalised dataset rows

              let before = regret ()

              for _ in 1..40 do
                  use _step = torch.NewDisposeScope()
                  optimizer.zero_grad ()

                  let loss =
                      DflLosses.compute
                          problem
                          DflLoss.SpoPlus
                          DflSources.None
                          { Predicted = model.forward x
                            TrueCosts = c
                            TrueSolutions = w
                            BindingNormals = null }

                  Training.backward loss
                  optimizer.step () |> ignore

              let after = regret ()

              Expect.isLessThan
                  after
                  before
                  (sprintf "normalised regret %g before, %g after 40 SPO+ steps" before after)

              // The other estimators only call the oracle: their outputs and gradients are finite on real states.
              let g = new torch.Generator(3UL)

              for layer in
                  [ (fun (t: torch.Tensor) ->
                        Discrete.apply DiscreteOptions.Default problem (Estimator.perturbed (Normal 1.0) 4) g t)
                    (fun t ->
                        let options = PerturbedOptions.Create(Normal 1.0, 4).WithControlVariate LeaveOneOut
                        Discrete.apply DiscreteOptions.Default problem (Perturbed options) g t)
                    (fun t ->
                        Discrete.apply
                            DiscreteOptions.Default
                            problem
                            (Perturbed(PerturbedOptions.CreateMultiplicative(0.5, 4)))
                            g
                            t)
                    (fun t -> Discrete.apply DiscreteOptions.Default problem (Imle(ImleOptions.Create(3.0, 10.0))) g t) ] do
                  let first = torch.TensorIndex.Slice(0L, 8L)
                  let c8 = c.index first
                  let theta = c8.clone().requires_grad_(true)
                  let y = layer theta
                  Training.backward (Losses.regret Reduction.Mean y c8 (w.index first))
                  Expect.isTrue (y.isfinite().all().item<bool>()) "finite output"
                  Expect.isTrue (theta.grad.isfinite().all().item<bool>()) "finite gradient"
          } ]
