/// `frontier`: the k-subset and categorical estimator frontier. For m ∈ {10, 50, 200} and several k, every estimator
/// that can be called on k-subsets (the catalogue's through `Discrete.apply`, SIMPLE, SFESS and RFWO among them) or on
/// categorical variables (Gumbel-softmax, ReinMax, the softmax straight-through) against the exact gradient of E_p[‖z − b‖²] at
/// τ = 1 (−2·J_μ·b by the O(m·k) dynamic programme, so no enumeration): bias (cosine and relative error of the mean
/// gradient), variance per draw, and the error at equal numbers of solver calls and at equal wall time.
module Imle.Examples.Experiments.Frontier

open System
open System.Diagnostics
open System.IO
open Argu
open TorchSharp
open Imle
open Imle.Torch
open Imle.Examples
open Imle.Examples.Output

/// Command-line arguments.
type Args =
    | Draws of int
    | Budget of int

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | Draws _ -> "independent gradient draws per estimator and setting, at least 2 (default 1000)"
            | Budget _ -> "solver calls per gradient estimate for the equal-budget column (default 10)"

/// One row of results.json.
type Row =
    {
        M: int
        K: int
        Estimator: string
        /// Solver calls (MAP solves or exact samples; a marginal computation counts as one) per gradient draw.
        Calls: int
        Draws: int
        Cosine: float
        RelativeError: float
        /// √(Variance/Draws)/‖g‖: the part of RelativeError that Monte Carlo error alone can explain.
        MonteCarloFloor: float
        Variance: float
        /// Relative RMSE √(‖bias‖² + Variance·Calls/Budget)/‖g‖ of an estimate that spends Budget solver calls.
        ErrorAtBudget: float
        /// Milliseconds of wall time per draw (batched, this run's machine).
        MsPerDraw: float
        /// Relative RMSE of an estimate that spends 10 ms of wall time (Variance·MsPerDraw/10).
        ErrorAt10ms: float
    }

/// A layer: generator, weights [N, m] (requiring grad) → the per-draw loss [N] (ℓ applied to its output, averaged
/// over the draw's samples where it returns several).
type private Layer = torch.Generator -> Tensor -> Tensor

/// The loss ‖z − b‖² per state (GradCheck.squaredDistance) averaged over the sample axis when z is [N, S, m].
let private perDraw (b: float[]) (z: Tensor) =
    let loss = GradCheck.squaredDistance b z

    if z.shape.Length = 3 then loss.mean ([| 1L |]) else loss

/// The estimators for a k-subset setting: name, solver calls per draw, layer.
let private kSubsetLayers (m: int) (k: int) (b: float[]) : (string * int * Layer) list =
    let subset = Problem.kSubset m k
    let kappa = float k

    let catalogue (estimator: Estimator) (calls: int) (output: SampleOutput) =
        let layer (g: torch.Generator) (w: Tensor) =
            let adaptive =
                match estimator with
                | Imle { Target = Adaptive settings } -> Some(AdaptiveLambdaCell settings)
                | _ -> None

            let options =
                { DiscreteOptions.Default with
                    Adaptive = adaptive
                    Output = output }

            perDraw b (Discrete.apply options subset estimator g w)

        Estimator.describe estimator, calls, layer

    let imle (noise: Noise) =
        Imle((ImleOptions.Create(kappa, 2.0)).WithNoise(noise).WithSamples(5))

    [ catalogue (ScoreFunction 10) 10 MeanOfSamples
      catalogue (StraightThrough(Gumbel 1.0)) 1 MeanOfSamples
      catalogue (Identity(MeanCentre, Gumbel 1.0)) 1 MeanOfSamples
      catalogue (Blackbox 2.0) 2 MeanOfSamples
      catalogue (Estimator.perturbed (Normal 1.0) 10) 10 MeanOfSamples
      catalogue (RelaxedTopK 0.5) 1 MeanOfSamples
      catalogue (imle (Gumbel 1.0)) 10 AllSamples
      catalogue (imle (SumOfGamma(kappa, 1.0, 10))) 10 AllSamples
      // AIMLE as its paper runs it: adaptive λ (reference defaults), symmetric (two target solves per sample).
      catalogue
          (Imle(
              (ImleOptions.Create(kappa, 2.0))
                  .WithTarget(Adaptive AdaptiveLambda.Default)
                  .WithSamples(5)
                  .WithSymmetric(true)
          ))
          15
          AllSamples
      // SIMPLE: one exact sample and one marginal computation; SFESS: all S = 10 draws, each scored by its own loss.
      catalogue (Simple 1.0) 2 MeanOfSamples
      catalogue (Sfess(1.0, 10)) 10 AllSamples
      // RFWO: PyEPO's defaults, one MAP call for the start and one per Frank-Wolfe iteration (at most 21).
      catalogue (RegularizedFrankWolfe FrankWolfeOptions.Default) 21 MeanOfSamples ]

/// The categorical estimators (k = 1 on categorical(m)).
let private categoricalLayers (m: int) (b: float[]) : (string * int * Layer) list =
    let categorical = Problem.categorical m

    [ Estimator.describe (GumbelSoftmax 0.5),
      1,
      (fun g w -> perDraw b (Discrete.apply DiscreteOptions.Default categorical (GumbelSoftmax 0.5) g w))
      yield!
          [ ReinMax 1.0; SoftmaxStraightThrough ]
          |> List.map (fun estimator ->
              Estimator.describe estimator,
              1,
              (fun g w -> perDraw b (Discrete.apply DiscreteOptions.Default categorical estimator g w))) ]

let private norm (v: float[]) = sqrt (Array.sumBy (fun x -> x * x) v)

/// One setting's rows.
let private setting (seed: int) (draws: int) (budget: int) (m: int) (k: int) (onStep: unit -> unit) : Row list =
    let rng = Random(seed + 1000 * m + k)
    let theta = Array.init m (fun _ -> Sampling.standardNormal rng)
    let b = Array.init m (fun _ -> abs (Sampling.standardNormal rng))
    // On k-subsets ‖z − b‖² = k − 2⟨z, b⟩ + ‖b‖², so ∇θ E_p[‖z − b‖²] = −2·J_μ(θ)·b at τ = 1.
    let exact = KSubset.marginalsJvp 1.0 k theta b |> Array.map (fun x -> -2.0 * x)
    let exactNorm = norm exact

    let layers = kSubsetLayers m k b @ (if k = 1 then categoricalLayers m b else [])

    layers
    |> List.mapi (fun i (name, calls, (layer: Layer)) ->
        use _scope = torch.NewDisposeScope()
        let generator = new torch.Generator(uint64 (seed + 17 * i + 1000 * m + k))

        use w0 = torch.tensor(theta, dtype = torch.float64).reshape(1L, int64 m)

        let w = w0.expand(int64 draws, int64 m).contiguous().requires_grad_(true)
        let clock = Stopwatch.StartNew()
        use l = (layer generator w).sum()
        l.backward ()
        let seconds = clock.Elapsed.TotalSeconds
        use grads = w.grad.detach().cpu()
        let g = grads.data<float>().ToArray()
        let rows = Array.init draws (fun r -> Array.sub g (r * m) m)
        let mean = Array.init m (fun j -> rows |> Array.averageBy (fun row -> row.[j]))

        let variance =
            rows
            |> Array.averageBy (fun row -> Array.fold2 (fun acc x y -> acc + (x - y) * (x - y)) 0.0 row mean)

        let bias2 = Array.fold2 (fun acc x y -> acc + (x - y) * (x - y)) 0.0 mean exact
        let dot = Array.fold2 (fun acc x y -> acc + x * y) 0.0 mean exact
        let ms = 1000.0 * seconds / float draws
        onStep ()

        { M = m
          K = k
          Estimator = name
          Calls = calls
          Draws = draws
          Cosine =
            (if norm mean = 0.0 then
                 0.0
             else
                 dot / (exactNorm * norm mean))
          RelativeError = sqrt bias2 / exactNorm
          MonteCarloFloor = sqrt (variance / float draws) / exactNorm
          Variance = variance
          ErrorAtBudget = sqrt (bias2 + variance * float calls / float budget) / exactNorm
          MsPerDraw = ms
          ErrorAt10ms = sqrt (bias2 + variance * ms / 10.0) / exactNorm })

/// The (m, k) settings.
let settings =
    [ 10, 1; 10, 3; 10, 5; 50, 1; 50, 5; 50, 10; 200, 1; 200, 10; 200, 50 ]

/// The number of rows `check` produces (for progress bars).
let rowCount =
    settings
    |> List.sumBy (fun (m, k) -> List.length (kSubsetLayers m k (Array.zeroCreate m)) + (if k = 1 then 3 else 0))

/// Runs every setting and returns the rows.
let check (seed: int) (draws: int) (budget: int) (onStep: unit -> unit) : Row[] =
    settings
    |> List.collect (fun (m, k) -> setting seed draws budget m k onStep)
    |> Array.ofList

/// The Markdown tables of the rows, one per setting (and the console tables).
let private tables (budget: int) (rows: Row[]) =
    rows
    |> Array.groupBy (fun r -> r.M, r.K)
    |> Array.map (fun ((m, k), group) ->
        let title =
            sprintf "m = %d, k = %d (exact gradient of E[‖z − b‖²] at τ = 1; %d draws)" m k group.[0].Draws

        sprintf "### %s\n\n" title
        + table
            title
            [| "estimator"
               "calls/draw"
               "cosine"
               "rel. error"
               "MC floor"
               "variance/draw"
               (sprintf "rel. RMSE @ %d calls" budget)
               "ms/draw"
               "rel. RMSE @ 10 ms" |]
            (group
             |> Array.map (fun r ->
                 [| r.Estimator
                    string r.Calls
                    fmt 3 r.Cosine
                    fmt 3 r.RelativeError
                    fmt 3 r.MonteCarloFloor
                    fmt 3 r.Variance
                    fmt 3 r.ErrorAtBudget
                    fmt 3 r.MsPerDraw
                    fmt 3 r.ErrorAt10ms |])))
    |> String.concat "\n\n"

/// The best estimator per setting by the equal-budget error (a summary table).
let private winners (budget: int) (rows: Row[]) =
    let title = sprintf "Lowest relative RMSE at %d solver calls, per setting" budget

    sprintf "## %s\n\n" title
    + table
        title
        [| "m"; "k"; "best"; "rel. RMSE"; "runner-up"; "rel. RMSE " |]
        (rows
         |> Array.groupBy (fun r -> r.M, r.K)
         |> Array.map (fun ((m, k), group) ->
             let sorted = group |> Array.sortBy (fun r -> r.ErrorAtBudget)

             [| string m
                string k
                sorted.[0].Estimator
                fmt 3 sorted.[0].ErrorAtBudget
                sorted.[1].Estimator
                fmt 3 sorted.[1].ErrorAtBudget |]))

/// Runs the frontier and writes results.json and report.md.
let run (ctx: RunContext) (draws: int) (budget: int) : int =
    let rows =
        progress "frontier" rowCount (fun step -> check ctx.Seed draws budget step)

    let dir = ensureDir ctx.OutDir
    writeJson (Path.Combine(dir, "results.json")) rows
    let summary = winners budget rows
    let detail = tables budget rows

    writeReport
        ctx
        "frontier"
        (sprintf
            "# The k-subset estimator frontier\n\nCommand: `dotnet run --project examples/Imle.Examples -c Release -- frontier --seed %d --draws %d --budget %d --out %s`\n\nFor each setting (m items, subsets of size k), θ ~ N(0, I) and b = |N(0, I)| are drawn from the seed; the loss is f(z) = ‖z − b‖² on the layer's output (averaged over a draw's samples where the layer returns several) and the exact gradient is ∇θ E_p[f(z)] = −2·J_μ(θ)·b at τ = 1, where p is the k-subset distribution and J_μ the Jacobian of its marginals (O(m·k) by the dynamic programme, no enumeration). Each estimator draws %d independent gradients in one batched pass.\n\nColumns: *cosine* and *rel. error* ‖ĝ − g‖/‖g‖ of the mean gradient ĝ (bias; the *MC floor* √(Var/N)/‖g‖ is the part Monte Carlo error alone explains); *variance/draw* E‖gₙ − ĝ‖²; *calls/draw*: MAP solves or exact samples per draw (a marginal computation counts as one; relaxations count as one); *rel. RMSE @ %d calls*: √(‖ĝ − g‖² + Var·calls/%d)/‖g‖, the error of an estimate that averages as many draws as %d solver calls allow; *ms/draw*: wall time per draw in the batched pass on the machine that ran it (a ratio within one run, not a benchmark); *rel. RMSE @ 10 ms*: the same at 10 ms of wall time.\n\nEstimators: the catalogue's (`Discrete.apply`: the score function with a leave-one-out baseline, whose layer returns the mean of its S draws, so its reward is ⟨dL/dz̄, zₛ⟩; straight-through and identity with Gumbel noise; Blackbox; perturbed optimizers; the relaxed top-k; I-MLE with Gumbel and Sum-of-Gamma noise, S = 5, all samples returned; AIMLE, adaptive λ, symmetric, S = 5; SIMPLE: exact sample, marginals' Jacobian; SFESS: exact score, leave-one-out baseline, S = 10, all draws returned; the regularised Frank–Wolfe layer (RFWO, PyEPO's defaults: λ = 1, at most 20 iterations, each a solver call, plus one) and, for k = 1 on categorical(m), Gumbel-softmax, ReinMax and the softmax straight-through).\n\n%s\n\n## Per setting\n\n%s\n"
            ctx.Seed
            draws
            budget
            ctx.OutDir
            draws
            budget
            budget
            budget
            summary
            detail)

    0

/// Checks the options and returns the command's plan.
let plan (ctx: RunContext) (args: ParseResults<Args>) : Cli.Plan =
    let draws =
        intAtLeast "draws" 2 (args.GetResult(Draws, defaultValue = (if ctx.Quick then 200 else 1000)))

    let budget = intAtLeast "budget" 1 (args.GetResult(Budget, defaultValue = 10))
    let options = sprintf "--draws %d" draws

    { Folders = [ "--out", ctx.OutDir ]
      Needs =
        [ Cli.Memory(options, "the gradient draws of the largest setting (m = 200, S = 10)", 2e5 * float draws)
          Cli.Time(options, Cli.cpuSeconds (0.4 * float draws)) ]
      Run = fun () -> run ctx draws budget }
