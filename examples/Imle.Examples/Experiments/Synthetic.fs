/// `synthetic`: paper Fig. 3 (Sec. 6, "Synthetic experiments"). 5-subsets of m = 10, loss L(θ) = E_{z∼p(z;θ)}‖z − b‖²
/// computed exactly by enumerating the C(10, 5) = 252 states, SGD with momentum 0.9 on θ, and the optimality gap
/// L(θ_t) − min_{z∈C} ‖z − b‖² (the infimum of L over θ, approached as p(z; θ) tends to a point mass on the best state).
/// Top: gap curves (mean ± std over runs) for I-MLE (SoG and Gumbel noise), straight-through and the score function.
/// Bottom: the final gap of I-MLE with SoG versus Gumbel noise on a learning-rate × λ grid, per problem instance, with
/// the reference code's unscaled gradient μ(θ) − μ(θ′) and with the gradient divided by λ (Eq. 12), and a paired test
/// per cell. Everything runs over plain arrays with the reference core (`Imle.Reference`, `Imle.Exact`).
module Imle.Examples.Experiments.Synthetic

open System
open System.Diagnostics
open System.IO
open System.Threading.Tasks
open Argu
open Imle
open Imle.Examples
open Imle.Examples.Output
open Imle.Examples.Experiments.SyntheticReport

/// Command-line arguments.
type Args =
    | Runs of int
    | Steps of int
    | Sfe_Steps of int
    | Grid
    | No_Grid
    | Theta0_Per_Run
    | Sog_Tau of float
    | Instances of int

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | Runs _ -> "independent runs per method and per grid cell (default 100)"
            | Steps _ -> "SGD steps for I-MLE and STE, and in the grid (default 50)"
            | Sfe_Steps _ -> "SGD steps for the score-function estimator (default 10 × --steps)"
            | Grid -> "run the SoG-versus-Gumbel learning-rate × λ grid (the default)"
            | No_Grid -> "skip the grid (curves only)"
            | Theta0_Per_Run ->
                "draw a fresh θ₀ ~ N(0, 1) for every run (default: one θ₀ from the seed, as the reference code)"
            | Sog_Tau _ -> "temperature τ of the SoG(κ=5, τ, s=10) noise (default 1, the paper's setting)"
            | Instances _ ->
                "problem instances of the grid: θ₀ = randn(10), b = |randn(10)| from NumPy's RandomState(0), RandomState(1), … (default 1: RandomState(0), the reference code's instance)"

// ----- the problem ---------------------------------------------------------------------------------------------------

let private m = 10
let private k = 5
/// The exponential family's temperature (p(z; θ) ∝ exp⟨z, θ⟩).
let private tau = 1.0
let private momentum = 0.9

/// One instance: the fixed target b, the initial θ₀ and the exact optimum.
type private Setup =
    {
        /// The NumPy RandomState seed that drew θ₀ and b.
        Instance: int
        Problem: Problem
        States: float[][]
        B: float[]
        Theta0: float[]
        /// min_{z ∈ C} ‖z − b‖².
        Optimum: float
        /// The loss value of every state (in the order of `States`).
        StateLosses: float[]
    }

let private lossOf (b: float[]) (z: float[]) =
    let mutable acc = 0.0

    for i in 0 .. z.Length - 1 do
        let d = z.[i] - b.[i]
        acc <- acc + d * d

    acc

/// dℓ/dz = 2(z − b).
let private lossGradientOf (b: float[]) (z: float[]) =
    Array.init z.Length (fun i -> 2.0 * (z.[i] - b.[i]))

let private normals (rng: Random) (n: int) =
    Array.init n (fun _ -> Sampling.standardNormal rng)

/// θ₀ = randn(10) then b = |randn(10)| from NumPy's `RandomState(instance)`, as tf-imle SYNTH/main.py draws them
/// (instance 0 gives the reference code's very numbers; b in float64 where the reference casts it to float32).
let private makeSetup (instance: int) : Setup =
    let problem = Problem.kSubset m k
    let states = Problem.states problem
    let rng = NumpyRandom.LegacyRandomState(int64 instance)
    let theta0 = rng.Randn m
    let b = rng.Randn m |> Array.map abs
    let losses = states |> Array.map (lossOf b)

    { Instance = instance
      Problem = problem
      States = states
      B = b
      Theta0 = theta0
      Optimum = Array.min losses
      StateLosses = losses }

/// The optimality gap L(θ) − min_z ‖z − b‖², L by exact enumeration.
let private gapAt (setup: Setup) (theta: float[]) =
    Exact.expectedLoss tau setup.States theta (lossOf setup.B) - setup.Optimum

// ----- deterministic seeds -------------------------------------------------------------------------------------------

/// SplitMix64 finaliser: mixes (seed, stream, run) into an independent 31-bit seed for `System.Random`.
let private derive (seed: int) (stream: int) (run: int) : int =
    let mutable x =
        uint64 (uint32 seed) * 0x9E3779B97F4A7C15UL
        + uint64 (uint32 stream) * 0xBF58476D1CE4E5B9UL
        + uint64 (uint32 run) * 0x94D049BB133111EBUL

    x <- (x ^^^ (x >>> 30)) * 0xBF58476D1CE4E5B9UL
    x <- (x ^^^ (x >>> 27)) * 0x94D049BB133111EBUL
    x <- x ^^^ (x >>> 31)
    int (x &&& 0x7FFFFFFFUL)

/// The θ₀ stream (only with --theta0-per-run): the same θ₀ for a given run across every method and grid cell.
let private theta0Stream = 1_000_000

// ----- methods -------------------------------------------------------------------------------------------------------

/// How a method estimates ∇θ L.
type private Kind =
    /// A perturb-and-MAP estimator with dL/dz = 2(ẑ − b) (one sample per step).
    | PerturbAndMap of Estimator
    /// The score function with exact samples (S = 1, no baseline) and exact marginals.
    | ScoreFunctionExact

type private Method =
    {
        Name: string
        NoiseName: string
        Lr: float
        Lambda: float
        Steps: int
        Kind: Kind
        /// The seed stream of the method's runs: run r draws from `derive seed Stream r`.
        Stream: int
    }

/// SoG(κ = k, τ, s = 10): κ = 5 as the subset size (Theorem 1), τ = 1 unless --sog-tau says otherwise.
let private sogWith (tau: float) = SumOfGamma(float k, tau, 10)
let private gumbel = Gumbel 1.0

/// I-MLE with one sample and the given scaling: `Unscaled` returns μ(θ) − μ(θ′) as tf-imle SYNTH/imle.py and torch-imle
/// do; `DivideByLambda` (the library's default, Eq. 12) divides it by λ.
let private imleWith (noise: Noise) (lambda: float) (scaling: Scaling) =
    Imle
        { ImleOptions.Create(float k, lambda) with
            Noise = noise
            Samples = 1
            Scaling = scaling }

/// One run's record: its gaps and, where asked for, the reference code's post-processed final value.
type private Run =
    {
        /// The gap at steps 0..n when recorded, else only the final gap (after the last update).
        Gaps: float[]
        /// The reference's float32 value of L at its last recorded θ (after n − 1 updates, as SYNTH/main.py `optim_loop`
        /// records before each step) minus its float32 minimum, with "< 0 counts as 5"; and whether that rule fired.
        Reference: (float * bool) option
    }

/// One SGD-with-momentum run (PyTorch's rule: v ← μv + g, θ ← θ − lr·v). Returns the gap at steps 0..n when
/// `record`, else only the final gap; with `reference`, also the reference code's post-processed final value.
let private trajectory
    (setup: Setup)
    (meth: Method)
    (rng: Random)
    (theta0: float[])
    (record: bool)
    (reference: SyntheticFloat32.ReferenceEvaluator option)
    : Run =
    let theta = Array.copy theta0
    let velocity = Array.zeroCreate m
    let mutable referenceValue = None

    let gaps =
        if record then
            Array.zeroCreate (meth.Steps + 1)
        else
            Array.zeroCreate 1

    let loss = lossOf setup.B
    let lossGradient = lossGradientOf setup.B

    for t in 0 .. meth.Steps - 1 do
        if record then
            gaps.[t] <- gapAt setup theta

        if t = meth.Steps - 1 then
            referenceValue <- reference |> Option.map (fun e -> e.PostProcessedGap theta)

        let g =
            match meth.Kind with
            | PerturbAndMap estimator -> snd (Reference.estimate setup.Problem estimator rng theta lossGradient)
            | ScoreFunctionExact -> Reference.scoreFunction setup.Problem tau 1 rng theta loss

        for i in 0 .. m - 1 do
            velocity.[i] <- momentum * velocity.[i] + g.[i]
            theta.[i] <- theta.[i] - meth.Lr * velocity.[i]

    gaps.[gaps.Length - 1] <- gapAt setup theta

    { Gaps = gaps
      Reference = referenceValue }

/// θ₀ of a run.
let private theta0For (setup: Setup) (seed: int) (perRun: bool) (run: int) =
    if perRun then
        normals (Random(derive seed theta0Stream run)) m
    else
        setup.Theta0

/// `runs` independent trajectories in parallel; slot r only depends on (seed, stream, r), never on scheduling.
let private runMany
    (setup: Setup)
    (seed: int)
    (perRun: bool)
    (meth: Method)
    (runs: int)
    (record: bool)
    (reference: SyntheticFloat32.ReferenceEvaluator option)
    (tick: unit -> unit)
    =
    let results = Array.zeroCreate runs

    Parallel.For(
        0,
        runs,
        fun r ->
            let rng = Random(derive seed meth.Stream r)
            results.[r] <- trajectory setup meth rng (theta0For setup seed perRun r) record reference
            tick ()
    )
    |> ignore

    results

/// Mean and population standard deviation (NumPy's np.std, as the reference plots).
let private meanStd (xs: float[]) =
    let mean = Array.average xs
    mean, sqrt (Array.averageBy (fun x -> (x - mean) * (x - mean)) xs)

// ----- rows ----------------------------------------------------------------------------------------------------------

let private rowOf group (meth: Method) (histories: float[][]) =
    let initial = histories |> Array.map (fun h -> h.[0]) |> Array.average

    let finalMean, finalStd =
        histories |> Array.map (fun h -> h.[h.Length - 1]) |> meanStd

    { Group = group
      Method = meth.Name
      Noise = meth.NoiseName
      LearningRate = meth.Lr
      Lambda = meth.Lambda
      Steps = meth.Steps
      Runs = histories.Length
      InitialGapMean = (if histories.[0].Length > 1 then initial else nan)
      FinalGapMean = finalMean
      FinalGapStd = finalStd }

let private curveOf (meth: Method) (histories: float[][]) =
    let steps = histories.[0].Length

    let stats =
        Array.init steps (fun t -> histories |> Array.map (fun h -> h.[t]) |> meanStd)

    { Method = meth.Name
      Noise = meth.NoiseName
      LearningRate = meth.Lr
      Lambda = meth.Lambda
      Runs = histories.Length
      Step = Array.init steps id
      Mean = Array.map fst stats
      Std = Array.map snd stats }

/// The four methods of Fig. 3 (top) with the reference hyperparameters (I-MLE unscaled, as the reference code).
let private curveMethods (sog: Noise) (steps: int) (sfeSteps: int) =
    [| { Name = "I-MLE"
         NoiseName = Noise.describe sog
         Lr = 0.75
         Lambda = 2.0
         Steps = steps
         Kind = PerturbAndMap(imleWith sog 2.0 Unscaled)
         Stream = 1 }
       { Name = "I-MLE"
         NoiseName = Noise.describe gumbel
         Lr = 0.75
         Lambda = 2.0
         Steps = steps
         Kind = PerturbAndMap(imleWith gumbel 2.0 Unscaled)
         Stream = 2 }
       { Name = "STE"
         NoiseName = Noise.describe gumbel
         Lr = 0.019
         Lambda = nan
         Steps = steps
         Kind = PerturbAndMap(StraightThrough gumbel)
         Stream = 3 }
       { Name = "SFE"
         NoiseName = "exact samples"
         Lr = 0.0046
         Lambda = nan
         Steps = sfeSteps
         Kind = ScoreFunctionExact
         Stream = 4 } |]

let private label (c: SyntheticCurve) =
    match c.Method with
    | "I-MLE" -> sprintf "I-MLE %s, λ=%g, lr=%g" c.Noise c.Lambda c.LearningRate
    | _ -> sprintf "%s %s, lr=%g" c.Method c.Noise c.LearningRate

/// Runs the curves of Fig. 3 (top) on the instance: returns rows and curves.
let private runCurves (sog: Noise) (setup: Setup) (seed: int) (runs: int) (steps: int) (sfeSteps: int) (perRun: bool) =
    let methods = curveMethods sog steps sfeSteps
    let gate = obj ()

    let results =
        progress (sprintf "curves: %d methods × %d runs" methods.Length runs) (methods.Length * runs) (fun step ->
            let tick () = lock gate step

            methods
            |> Array.map (fun meth ->
                meth,
                runMany setup seed perRun meth runs true None tick
                |> Array.map (fun r -> r.Gaps)))

    let rows = results |> Array.map (fun (meth, h) -> rowOf "curves" meth h)
    let curves = results |> Array.map (fun (meth, h) -> curveOf meth h)
    rows, curves

/// Output.linePlot with the legend in the upper right (the curves start high on the left and end low on the right)
/// and the y-axis from 0.
let private curvePlot (path: string) (title: string) (series: Series list) =
    use plt = new ScottPlot.Plot()
    let palette = ScottPlot.Palettes.Category10()
    let mutable top = 0.0

    series
    |> List.iteri (fun i s ->
        let color = palette.GetColor i

        match s.Band with
        | Some band ->
            let lo = Array.map2 (-) s.Y band
            let hi = Array.map2 (+) s.Y band
            top <- max top (Array.max hi)
            let fill = plt.Add.FillY(s.X, lo, hi)
            fill.FillColor <- color.WithAlpha(0.2)
            fill.LineWidth <- 0.0f
        | None -> top <- max top (Array.max s.Y)

        let line = plt.Add.ScatterLine(s.X, s.Y)
        line.Color <- color
        line.LineWidth <- 2.0f
        line.LegendText <- s.Label)

    plt.Title title
    plt.XLabel "SGD step"
    plt.YLabel "optimality gap L(θ) − min_z ‖z − b‖²"
    plt.Axes.SetLimitsY(0.0, 1.05 * top)
    plt.ShowLegend(ScottPlot.Alignment.UpperRight) |> ignore
    plt.SavePng(path, 900, 560) |> ignore

/// The gap-curve plots: all methods on the I-MLE step axis (SFE's steps divided by sfeSteps/steps), and the SFE on
/// its own range against the final gaps of the others.
let private plotCurves (dir: string) (prefix: string) (steps: int) (curves: SyntheticCurve[]) =
    let series =
        curves
        |> Array.map (fun c ->
            let n = c.Step.Length - 1
            let scale = float steps / float (max n 1)

            let lbl =
                if n <> steps then
                    sprintf "%s (x: step × %g)" (label c) scale
                else
                    label c

            { Label = lbl
              X = c.Step |> Array.map (fun s -> float s * scale)
              Y = c.Mean
              Band = Some c.Std })
        |> List.ofArray

    let main = Path.Combine(dir, prefix + "gap_curves.png")
    let runs = curves |> Array.map (fun c -> c.Runs) |> Array.max
    curvePlot main (sprintf "Fig. 3 (top): 5-subsets of 10, mean ± std over %d runs" runs) series
    let sfe = curves |> Array.tryFind (fun c -> c.Method = "SFE")

    match sfe with
    | Some s ->
        let own =
            curves
            |> Array.map (fun c ->
                let x = c.Step |> Array.map float

                { Label = label c
                  X = x
                  Y = c.Mean
                  Band = Some c.Std })
            |> List.ofArray

        let path = Path.Combine(dir, prefix + "gap_curves_sfe_range.png")
        curvePlot path (sprintf "Every method on the SFE's range (%d steps), mean ± std" (s.Step.Length - 1)) own
        [ main; path ]
    | None -> [ main ]

// ----- the grid (Fig. 3 bottom) --------------------------------------------------------------------------------------

let private linspace (a: float) (b: float) (n: int) =
    Array.init n (fun i -> a + (b - a) * float i / float (n - 1))

let private gridLrs = linspace 0.5 1.0 5
let private gridLambdas = linspace 0.5 3.0 6

/// The scalings compared on the grid: the reference code's first (the default and the paper's reproduction).
let private scalings = [| Unscaled, "unscaled"; DivideByLambda, "divided by λ" |]

/// A final gap below this counts as converged to float32 resolution (where the reference's float32 gap can round
/// below 0, which its post-processing turns into 5).
let private float32Resolution = 1e-6

/// Significance level of the per-cell tests.
let private alpha = 0.05

let private verdictOf (p: float) (difference: float) =
    if p < alpha && difference < 0.0 then "win"
    elif p < alpha && difference > 0.0 then "loss"
    else "tie"

/// One grid cell: paired final gaps of SoG and Gumbel (pair r shares run r's seed) → the comparison (Holm added later).
let private compareCell
    instance
    scalingName
    lr
    lambda
    (sog: float[], sogLost: float)
    (gumbel: float[], gumbelLost: float)
    : CellComparison =
    let sogMean, sogStd = meanStd sog
    let gumMean, gumStd = meanStd gumbel

    let median (xs: float[]) =
        let sorted = Array.sort xs
        let h = sorted.Length / 2

        if sorted.Length % 2 = 1 then
            sorted.[h]
        else
            0.5 * (sorted.[h - 1] + sorted.[h])

    let t = Statistics.pairedTTest sog gumbel
    let w = Statistics.wilcoxonSignedRank sog gumbel

    let converged (xs: float[]) =
        xs |> Array.averageBy (fun x -> if x < float32Resolution then 1.0 else 0.0)

    { Instance = instance
      Scaling = scalingName
      LearningRate = lr
      Lambda = lambda
      Runs = sog.Length
      SogMean = sogMean
      SogStd = sogStd
      GumbelMean = gumMean
      GumbelStd = gumStd
      SogMedian = median sog
      GumbelMedian = median gumbel
      MeanDifference = t.MeanDifference
      T = t.Statistic
      TP = t.P
      TVerdict = verdictOf t.P t.MeanDifference
      HolmVerdict = "tie"
      WilcoxonZ = w.Statistic
      WilcoxonP = w.P
      WilcoxonVerdict = verdictOf w.P w.Statistic
      SogConverged = converged sog
      GumbelConverged = converged gumbel
      SogLost = sogLost
      GumbelLost = gumbelLost }

/// Holm's correction over an instance's cells.
let private withHolm (cells: CellComparison[]) =
    let holm = Statistics.holm alpha (cells |> Array.map (fun c -> c.TP))

    Array.map2
        (fun (c: CellComparison) rejected ->
            { c with
                HolmVerdict = (if rejected then c.TVerdict else "tie") })
        cells
        holm

/// The grid on one instance with one scaling: every cell's SoG and Gumbel runs share the seeds (run r of cell c draws
/// from `derive seed (100 + 64·instance + c) r` for both noises and both scalings), then Holm over the cells. The
/// unscaled runs also give the grid as the reference code post-processes it (its float32 value at its last recorded θ,
/// a gap below 0 counted as 5): the same runs, a second `InstanceGrid`.
let private runGrid
    (sog: Noise)
    (setup: Setup)
    (seed: int)
    (runs: int)
    (steps: int)
    (perRun: bool)
    (scaling: Scaling, scalingName: string)
    (tick: unit -> unit)
    : InstanceGrid list =
    let nk = gridLambdas.Length

    use evaluator = new SyntheticFloat32.ReferenceEvaluator(setup.States, setup.B, k)

    let reference = if scaling = Unscaled then Some evaluator else None

    let pairs =
        [| for i in 0 .. gridLrs.Length - 1 do
               for j in 0 .. nk - 1 do
                   let final (noise: Noise) =
                       let meth =
                           { Name = "I-MLE"
                             NoiseName = Noise.describe noise
                             Lr = gridLrs.[i]
                             Lambda = gridLambdas.[j]
                             Steps = steps
                             Kind = PerturbAndMap(imleWith noise gridLambdas.[j] scaling)
                             Stream = 100 + 64 * setup.Instance + (i * nk + j) }

                       runMany setup seed perRun meth runs false reference tick

                   let ours (rs: Run[]) =
                       rs |> Array.map (fun r -> r.Gaps.[r.Gaps.Length - 1]), 0.0

                   let theirs (rs: Run[]) =
                       let values = rs |> Array.map (fun r -> r.Reference.Value)
                       Array.map fst values, values |> Array.averageBy (fun (_, lost) -> if lost then 1.0 else 0.0)

                   let sogRuns, gumbelRuns = final sog, final gumbel

                   let cell name =
                       compareCell setup.Instance name gridLrs.[i] gridLambdas.[j]

                   cell scalingName (ours sogRuns) (ours gumbelRuns),
                   (if reference.IsSome then
                        Some(cell referencePostProcessing (theirs sogRuns) (theirs gumbelRuns))
                    else
                        None) |]

    let gridOf name cells =
        { Instance = setup.Instance
          Theta0 = setup.Theta0
          B = setup.B
          Optimum = setup.Optimum
          Scaling = name
          Lrs = gridLrs
          Lambdas = gridLambdas
          Cells = withHolm cells }

    [ gridOf scalingName (Array.map fst pairs)
      if reference.IsSome then
          gridOf referencePostProcessing (pairs |> Array.map (snd >> Option.get)) ]

/// A heatmap over the grid with λ on x, the learning rate on y, `text r c` printed in each cell.
let private gridHeatmap
    (path: string)
    (title: string)
    (values: float[,])
    (diverging: bool)
    (text: int -> int -> string)
    =
    let nl, nk = Array2D.length1 values, Array2D.length2 values
    use plt = new ScottPlot.Plot()
    // Row 0 (smallest lr) at the bottom: ScottPlot draws the first row at the top, so flip the rows.
    let flipped = Array2D.init nl nk (fun r c -> values.[nl - 1 - r, c])
    let hm = plt.Add.Heatmap(flipped)
    let range = values |> Seq.cast<float> |> Seq.map abs |> Seq.max |> max 1e-12

    if diverging then
        hm.Colormap <- ScottPlot.Colormaps.Balance()
        hm.ManualRange <- Nullable(ScottPlot.Range(-range, range))
    else
        hm.Colormap <- ScottPlot.Colormaps.Viridis()

    hm.Position <- Nullable(ScottPlot.CoordinateRect(0.0, float (nk - 1), 0.0, float (nl - 1)))
    plt.Add.ColorBar(hm) |> ignore

    for r in 0 .. nl - 1 do
        for c in 0 .. nk - 1 do
            let t = plt.Add.Text(text r c, float c, float r)
            t.LabelAlignment <- ScottPlot.Alignment.MiddleCenter

            t.LabelFontColor <-
                if diverging && abs values.[r, c] < 0.6 * range then
                    ScottPlot.Colors.Black
                else
                    ScottPlot.Colors.White

            t.LabelFontSize <- 13.0f

    let xt = gridLambdas |> Array.mapi (fun j l -> ScottPlot.Tick(float j, fmt 1 l))
    let yt = gridLrs |> Array.mapi (fun i l -> ScottPlot.Tick(float i, fmt 3 l))
    plt.Axes.Bottom.TickGenerator <- ScottPlot.TickGenerators.NumericManual(xt)
    plt.Axes.Left.TickGenerator <- ScottPlot.TickGenerators.NumericManual(yt)
    plt.Title title
    plt.XLabel "λ"
    plt.YLabel "learning rate"
    plt.SavePng(path, 820, 600) |> ignore

let private cellMatrix (g: InstanceGrid) (f: CellComparison -> float) =
    Array2D.init g.Lrs.Length g.Lambdas.Length (fun i j -> f g.Cells.[i * g.Lambdas.Length + j])

/// The SoG − Gumbel difference of mean final gaps; "*" marks a significant paired t-test at 0.05, "**" one that
/// survives Holm's correction over the 30 cells.
let private differenceHeatmap (path: string) (g: InstanceGrid) =
    let values = cellMatrix g (fun c -> c.MeanDifference)

    let text r c =
        let cell = g.Cells.[r * g.Lambdas.Length + c]

        let star =
            if cell.HolmVerdict <> "tie" then "**"
            elif cell.TVerdict <> "tie" then "*"
            else ""

        fmt 3 values.[r, c] + star

    gridHeatmap
        path
        (sprintf "instance %d, %s: SoG − Gumbel mean final gap (blue = SoG better)" g.Instance g.Scaling)
        values
        true
        text

/// Grouped bars per instance: cells SoG better by mean, significant wins and losses (unscaled), cells better ÷λ.
let private countsPlot (path: string) (summaries: InstanceSummary[]) =
    let instances =
        summaries |> Array.map (fun s -> s.Instance) |> Array.distinct |> Array.sort

    let pick scaling (f: InstanceSummary -> int) =
        instances
        |> Array.map (fun i ->
            summaries
            |> Array.tryFind (fun s -> s.Instance = i && s.Scaling = scaling)
            |> Option.map (f >> float)
            |> Option.defaultValue 0.0)

    let groups =
        [| "SoG better by mean (unscaled)", pick "unscaled" (fun s -> s.SogBetter)
           "significant wins (unscaled)", pick "unscaled" (fun s -> s.Wins)
           "significant losses (unscaled)", pick "unscaled" (fun s -> s.Losses)
           "SoG better by mean (÷λ)", pick "divided by λ" (fun s -> s.SogBetter) |]

    use plt = new ScottPlot.Plot()
    let palette = ScottPlot.Palettes.Category10()
    let width = float groups.Length + 1.0

    let bars =
        [| for gi in 0 .. groups.Length - 1 do
               let _, values = groups.[gi]

               for ii in 0 .. instances.Length - 1 do
                   ScottPlot.Bar(
                       Position = float ii * width + float gi,
                       Value = values.[ii],
                       FillColor = palette.GetColor gi
                   ) |]

    plt.Add.Bars(bars) |> ignore

    for gi in 0 .. groups.Length - 1 do
        plt.Legend.ManualItems.Add(ScottPlot.LegendItem(LabelText = fst groups.[gi], FillColor = palette.GetColor gi))

    let half = plt.Add.HorizontalLine(15.0)
    half.LinePattern <- ScottPlot.LinePattern.Dashed
    half.Color <- ScottPlot.Colors.Gray

    let ticks =
        instances
        |> Array.mapi (fun ii i ->
            ScottPlot.Tick(float ii * width + 0.5 * float (groups.Length - 1), sprintf "RandomState(%d)" i))

    plt.Axes.Bottom.TickGenerator <- ScottPlot.TickGenerators.NumericManual(ticks)
    plt.Axes.SetLimitsY(0.0, 31.0)
    plt.Title "SoG versus Gumbel per instance (of 30 cells; dashed: half)"
    plt.YLabel "cells"
    plt.ShowLegend(ScottPlot.Alignment.UpperRight) |> ignore
    plt.SavePng(path, 900, 560) |> ignore

/// Counts over one instance's grid with one scaling.
let private summarise (g: InstanceGrid) : InstanceSummary =
    let count f =
        g.Cells |> Array.filter f |> Array.length

    { Instance = g.Instance
      Scaling = g.Scaling
      Cells = g.Cells.Length
      SogBetter = count (fun c -> c.SogMean < c.GumbelMean)
      Wins = count (fun c -> c.TVerdict = "win")
      Losses = count (fun c -> c.TVerdict = "loss")
      HolmWins = count (fun c -> c.HolmVerdict = "win")
      HolmLosses = count (fun c -> c.HolmVerdict = "loss")
      WilcoxonWins = count (fun c -> c.WilcoxonVerdict = "win")
      WilcoxonLosses = count (fun c -> c.WilcoxonVerdict = "loss")
      SogLowerStd = count (fun c -> c.SogStd < c.GumbelStd)
      SogLowerMedian = count (fun c -> c.SogMedian < c.GumbelMedian)
      BestSog = g.Cells |> Array.map (fun c -> c.SogMean) |> Array.min
      BestGumbel = g.Cells |> Array.map (fun c -> c.GumbelMean) |> Array.min
      Converged = g.Cells |> Array.averageBy (fun c -> 0.5 * (c.SogConverged + c.GumbelConverged)) }

// ----- entry points --------------------------------------------------------------------------------------------------

/// Runs and SGD steps of the demo's reduced setting (`runQuick`; the score function takes 10 times the steps).
let private quickRuns, quickSteps = 100, 50

/// The reduced setting for the demo: the four curves of Fig. 3 (top) over 100 runs with the paper's settings on the
/// reference code's instance, no grid (a few seconds on 2 cores); writes `synthetic_gap_curves.png` into the context's
/// output folder and returns the four rows.
let runQuick (ctx: RunContext) : SyntheticRow[] =
    let steps = quickSteps

    let rows, curves =
        runCurves (sogWith 1.0) (makeSetup 0) ctx.Seed quickRuns steps (10 * steps) false

    let dir = ensureDir ctx.OutDir
    plotCurves dir "synthetic_" steps curves |> ignore
    rows

/// Runs the experiment (the options are checked by `plan`).
let run
    (ctx: RunContext)
    (args: ParseResults<Args>)
    (runs: int)
    (steps: int)
    (sfeSteps: int)
    (sogTau: float)
    (grid: bool)
    (instances: int)
    : int =
    let sog = sogWith sogTau
    let perRun = args.Contains Theta0_Per_Run
    let dir = ensureDir ctx.OutDir
    let watch = Stopwatch.StartNew()
    let setup = makeSetup 0

    let curveRows, curves = runCurves sog setup ctx.Seed runs steps sfeSteps perRun
    let curveSeconds = watch.Elapsed.TotalSeconds
    let plots = plotCurves dir "" steps curves
    let curveTable = SyntheticReport.curveTable curveRows
    writeJson (Path.Combine(dir, "curves.json")) curves

    let grids =
        if grid then
            let setups = Array.init instances makeSetup
            let cellRuns = 2 * gridLrs.Length * gridLambdas.Length * runs
            let gate = obj ()

            progress
                (sprintf
                    "grid: %d instance(s) × {unscaled, ÷λ} × %d lr × %d λ × {SoG, Gumbel} × %d runs"
                    instances
                    gridLrs.Length
                    gridLambdas.Length
                    runs)
                (instances * scalings.Length * cellRuns)
                (fun step ->
                    let tick () = lock gate step

                    [| for s in setups do
                           for scaling in scalings do
                               yield! runGrid sog s ctx.Seed runs steps perRun scaling tick |])
        else
            [||]

    let summaries = grids |> Array.map summarise
    let totalSeconds = watch.Elapsed.TotalSeconds

    for g in grids do
        if g.Instance = 0 && g.Scaling = "unscaled" then
            let cellText (values: float[,]) r c = fmt 3 values.[r, c]
            let sogMeans = cellMatrix g (fun c -> c.SogMean)
            let gumMeans = cellMatrix g (fun c -> c.GumbelMean)

            gridHeatmap
                (Path.Combine(dir, "grid_sog.png"))
                (sprintf "I-MLE %s, unscaled: mean final gap" (Noise.describe sog))
                sogMeans
                false
                (cellText sogMeans)

            gridHeatmap
                (Path.Combine(dir, "grid_gumbel.png"))
                "I-MLE Gumbel(τ=1), unscaled: mean final gap"
                gumMeans
                false
                (cellText gumMeans)

        let suffix =
            if g.Scaling = "unscaled" then
                ""
            elif g.Scaling = referencePostProcessing then
                "_reference_pp"
            else
                "_divided"

        differenceHeatmap (Path.Combine(dir, sprintf "grid_difference_instance%d%s.png" g.Instance suffix)) g

    if grids.Length > 0 then
        countsPlot (Path.Combine(dir, "instance_counts.png")) summaries
        writeJson (Path.Combine(dir, "cells.json")) (grids |> Array.collect (fun g -> g.Cells))
        writeJson (Path.Combine(dir, "instances.json")) summaries

    writeJson (Path.Combine(dir, "results.json")) curveRows

    let best =
        setup.States.[Array.findIndex (fun l -> l = setup.Optimum) setup.StateLosses]

    SyntheticReport.write
        ctx
        { Seed = ctx.Seed
          PerRun = perRun
          Runs = runs
          Steps = steps
          SfeSteps = sfeSteps
          SogName = Noise.describe sog
          GumbelName = Noise.describe gumbel
          TotalSeconds = totalSeconds
          CurveSeconds = curveSeconds
          Alpha = alpha
          Float32Resolution = float32Resolution }
        { Theta0 = setup.Theta0
          B = setup.B
          Optimum = setup.Optimum
          Best = best }
        curveRows
        curves
        curveTable
        plots
        grids
        summaries

    0

/// Seconds per SGD step of one run: measured here about 9 µs on 2 cores (3.3 s for the default run, plots included).
let private secondsPerRunStep = 9e-6

/// Estimated wall-clock seconds of `runQuick` on this machine's cores.
let quickSeconds () =
    Cli.cpuSeconds (
        secondsPerRunStep
        * float quickRuns
        * (3.0 * float quickSteps + 10.0 * float quickSteps)
    )

/// Checks the options and returns the command's plan: memory grows with --runs × (--steps, --sfe-steps) (every run's
/// gap curve is kept), time with the SGD steps of all runs (curves, and the 60 grid cells × 2 scalings per instance
/// unless --no-grid).
let plan (ctx: RunContext) (args: ParseResults<Args>) : Cli.Plan =
    let runs = intAtLeast "runs" 2 (args.GetResult(Runs, defaultValue = 100))
    let steps = positiveInt "steps" (args.GetResult(Steps, defaultValue = 50))

    let sfeSteps =
        positiveInt
            "sfe-steps"
            (args.GetResult(
                Sfe_Steps,
                defaultValue =
                    (if steps > Int32.MaxValue / 10 then
                         Int32.MaxValue
                     else
                         10 * steps)
            ))

    let sogTau = positiveFloat "sog-tau" (args.GetResult(Sog_Tau, defaultValue = 1.0))

    let instances =
        positiveInt "instances" (args.GetResult(Instances, defaultValue = 1))

    if instances > 1000 then
        invalidArg "instances" (sprintf "--instances must be at most 1000; got %d." instances)

    let grid = not (args.Contains No_Grid) && not ctx.Quick || args.Contains Grid

    let options =
        Cli.describe
            [ sprintf "--runs %d" runs
              sprintf "--steps %d" steps
              sprintf "--sfe-steps %d" sfeSteps
              sprintf "--instances %d" instances ]

    let gridCells =
        float (instances * scalings.Length * 2 * gridLrs.Length * gridLambdas.Length)

    let curvePoints = 3.0 * float steps + float sfeSteps + 4.0

    let runSteps =
        float runs * (3.0 * float steps + float sfeSteps)
        + (if grid then gridCells * float runs * float steps else 0.0)

    { Folders = [ "--out", ctx.OutDir ]
      Needs =
        [ Cli.Memory(
              options,
              "the gap curves of every run and method, and the final gaps of every grid run",
              16.0 * float runs * curvePoints + 8.0 * gridCells * float runs
          )
          Cli.Time(
              (if grid then options + " (and the grid)" else options),
              Cli.cpuSeconds (secondsPerRunStep * runSteps)
          ) ]
      Run = fun () -> run ctx args runs steps sfeSteps sogTau grid instances }
