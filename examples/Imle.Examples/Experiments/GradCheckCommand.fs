/// `gradcheck`: every estimator against the exact gradient on the paper's synthetic problem (5-subsets of 10,
/// loss ‖z − b‖²), on a categorical problem and on a small grid shortest path; and the control variates (leave-one-out
/// baselines) of the perturbed optimizers and the score function, with and without, at equal bias.
module Imle.Examples.Experiments.GradCheckCommand

open System
open System.IO
open Argu
open TorchSharp
open Imle
open Imle.Solvers
open Imle.Torch
open Imle.Examples
open Imle.Examples.Output
open Imle.Examples.Experiments.GradCheckReport

/// Command-line arguments.
type Args =
    | Samples of int

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | Samples _ -> "Monte Carlo gradient draws per estimator, at least 2 (default 4000)"

/// The estimators checked on k-subsets.
let kSubsetEstimators (k: int) =
    [ ScoreFunction 10
      Imle(ImleOptions.Create(float k, 2.0))
      Imle((ImleOptions.Create(float k, 2.0)).WithNoise(Gumbel 1.0))
      Imle((ImleOptions.Create(float k, 2.0)).WithSymmetric(true))
      Imle((ImleOptions.Create(float k, 2.0)).WithSamples(10))
      // AIMLE as its paper runs it: adaptive λ (reference defaults), 10 samples, symmetric.
      Imle(
          (ImleOptions.Create(float k, 2.0))
              .WithTarget(Adaptive AdaptiveLambda.Default)
              .WithSamples(10)
              .WithSymmetric(true)
      )
      Blackbox 2.0
      StraightThrough(Gumbel 1.0)
      Identity(MeanCentre, Gumbel 1.0)
      Estimator.perturbed (Normal 1.0) 10
      RelaxedTopK 0.5
      Simple 1.0
      Sfess(1.0, 10)
      RegularizedFrankWolfe FrankWolfeOptions.Default ]

/// Runs the checks and returns the rows.
let check (seed: int) (samples: int) (onStep: unit -> unit) : Row[] =
    let rng = Random seed
    let m, k = 10, 5
    let theta = Array.init m (fun _ -> Sampling.standardNormal rng)
    let b = Array.init m (fun _ -> abs (Sampling.standardNormal rng))
    let loss = GradCheck.squaredDistance b

    let toRow (r: GradCheckResult) =
        onStep ()

        { Problem = r.Problem
          Estimator = r.Estimator
          Samples = r.Samples
          Cosine = r.Cosine
          RelativeBias = r.RelativeBias
          Variance = r.Variance }

    let subset = Problem.kSubset m k

    let subsetRows =
        kSubsetEstimators k
        |> List.mapi (fun i est -> GradCheck.run subset est theta loss samples (int64 (seed + i)) |> toRow)

    let categorical = Problem.categorical m

    let catRows =
        [ ScoreFunction 10
          Imle((ImleOptions.Create(1.0, 2.0)).WithNoise(Gumbel 1.0))
          StraightThrough(Gumbel 1.0)
          GumbelSoftmax 0.5
          ReinMax 1.0
          SoftmaxStraightThrough ]
        |> List.mapi (fun i est ->
            GradCheck.run categorical est theta loss samples (int64 (seed + 100 + i))
            |> toRow)

    let grid = Problem.gridShortestPath 3 3 Eight
    let costs = Array.init 9 (fun _ -> 1.0 + 4.0 * rng.NextDouble())
    let target = Array.init 9 (fun _ -> if rng.NextDouble() < 0.4 then 1.0 else 0.0)

    let gridRows =
        [ ScoreFunction 10
          Imle((ImleOptions.Create(3.0, 2.0)).WithNoise(Gumbel 1.0))
          Imle(ImleOptions.Create(3.0, 2.0))
          Blackbox 2.0
          Identity(NoProjection, Gumbel 1.0)
          Estimator.perturbed (Normal 1.0) 10 ]
        |> List.mapi (fun i est ->
            GradCheck.run grid est costs (GradCheck.squaredDistance target) samples (int64 (seed + 200 + i))
            |> toRow)

    // Control variates at equal bias: on categorical(m=10) with the linear loss −2⟨z, b⟩ (the same exact gradient as
    // ‖z − b‖² on one-hot states; its gradient w.r.t. z does not depend on the samples), every estimator with and
    // without its leave-one-out baseline, drawing the same noise (same seed), so both have the same mean.
    let linearLoss = GradCheck.linear (Array.map (fun x -> -2.0 * x) b)
    let s = 10

    let controlRows =
        [ "Perturbed[Gumbel(τ=1), S=10]", PerturbedOptions.Create(Gumbel 1.0, s)
          "Perturbed[Normal(σ=1), S=10]", PerturbedOptions.Create(Normal 1.0, s)
          "Multiplicative[σ=0.5, S=10]", PerturbedOptions.CreateMultiplicative(0.5, s) ]
        |> List.map (fun (name, options) ->
            let layer (options: PerturbedOptions) (g: torch.Generator) w =
                Discrete.apply DiscreteOptions.Default categorical (Perturbed options) g w

            name, layer options, layer (options.WithControlVariate LeaveOneOut))
        |> List.mapi (fun i (name, plain, based) ->
            let seed = int64 (seed + 300 + i)

            [ GradCheck.runLayer categorical (name + ", no baseline") plain theta linearLoss samples seed
              |> toRow
              GradCheck.runLayer categorical (name + " + baseline") based theta linearLoss samples seed
              |> toRow ])
        |> List.concat

    let scoreRows =
        [ false; true ]
        |> List.map (fun baseline ->
            GradCheck.runScoreFunction categorical s baseline theta linearLoss samples (int64 (seed + 310))
            |> toRow)

    Array.ofList (subsetRows @ catRows @ gridRows @ controlRows @ scoreRows)

/// The number of checks `check` runs (for progress bars): the k-subset estimators, 4 categorical and 6 grid ones,
/// then 6 control-variate rows (3 estimators with and without a baseline) and 2 score-function rows.
let checkCount = List.length (kSubsetEstimators 5) + 4 + 6 + 6 + 2

/// Runs the checks with `samples` draws per estimator and writes the report.
let run (ctx: RunContext) (samples: int) : int =
    let rows =
        progress "gradient checks" checkCount (fun step -> check ctx.Seed samples step)

    let dir = ensureDir ctx.OutDir
    writeJson (Path.Combine(dir, "results.json")) rows
    GradCheckReport.write ctx samples rows
    0

/// Checks the options and returns the command's plan (memory and time grow with --samples: every estimator draws all
/// samples in one batched pass; measured here: about 90 KB and 1.2 ms per sample over the first 20 checks, about 0.5 ms
/// more for the 8 control-variate checks).
let plan (ctx: RunContext) (args: ParseResults<Args>) : Cli.Plan =
    let samples =
        intAtLeast "samples" 2 (args.GetResult(Samples, defaultValue = (if ctx.Quick then 1000 else 4000)))

    let options = sprintf "--samples %d" samples

    { Folders = [ "--out", ctx.OutDir ]
      Needs =
        [ Cli.Memory(options, "the gradient samples (drawn in one batched pass)", 90e3 * float samples)
          Cli.Time(options, Cli.cpuSeconds (1.7e-3 * float samples)) ]
      Run = fun () -> run ctx samples }
