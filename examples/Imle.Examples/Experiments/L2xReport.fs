/// The report of the `l2x` experiment: its results (one row per selector and k) and the report.md written from them.
module Imle.Examples.Experiments.L2xReport

open System
open Imle.Data
open Imle.Examples.Output

/// One result: a selector at one k.
type L2xRow =
    {
        /// The selector as the report names it.
        Method: string
        /// The selector's command-line id.
        MethodId: string
        /// Selected patches (of 49).
        K: int
        /// Share of test images on which the frozen classifier predicts the same class from the k selected patches
        /// (hard top-k of the explainer's scores) as from the full image, in percent.
        PostHocAccuracy: float
        /// Mean training loss (cross-entropy against the classifier's full-image prediction) in the last epoch.
        FinalTrainLoss: float
        /// Explainer epochs.
        Epochs: int
        /// Training images.
        TrainSize: int
        /// Test images.
        TestSize: int
        /// Training and evaluation time in seconds.
        Seconds: float
        /// The paper's BeerAdvocate (aroma) test MSE × 100 for the closest method and k, or "–".
        PaperBeerMse: string
        /// The torch device.
        Device: string
        /// The seed.
        Seed: int
    }

/// The paper's Table 1 / appendix (BeerAdvocate aroma, test MSE × 100) at k = 5 / 10 / 15, from Niepert et al. 2021 (Table 1).
let paperBeer: (string * float[]) list =
    [ "I-MLE", [| 2.62; 2.71; 2.91 |]
      "L2X", [| 5.75; 6.68; 7.71 |]
      "SoftSub", [| 2.57; 2.67; 2.52 |]
      "STE", [| nan; 4.44; nan |]
      "Identity", [| 2.62; 2.47; 2.39 |] ]

/// A selector as the report describes it.
type SelectorNote =
    {
        Id: string
        Name: string
        Description: string
        /// The paper's Table 1 row for this selector, if any.
        PaperRow: string option
    }

/// The run's settings, as the report states them.
type L2xSettings =
    {
        Command: string
        /// The folder of the IDX files.
        DataDir: string
        Tune: bool
        /// Training images used (the first N).
        TrainImages: int
        /// Test images used (the first N).
        TestImages: int
        /// The training images the selectors train on (all of them without --tune).
        FitImages: int
        /// The validation images of --tune (0 without it).
        ValidationImages: int
        /// Patches per image side.
        Grid: int
        /// Patch side in pixels.
        Patch: int
        Ks: int list
        ClassifierEpochs: int
        Epochs: int
        Batch: int
        Lr: float
        Seed: int
        DeviceName: string
        /// Total wall time in seconds.
        Seconds: float
        /// The frozen classifier's test accuracy (%).
        ClassifierAccuracy: float
    }

/// The report's section on the validation search: per k, validation post-hoc accuracy for every (λ, τ).
let tuningSection (tuning: (int * (float * float * (float * float * float) list)) list) =
    if tuning.IsEmpty then
        ""
    else
        let perK (k, (lambda, tauFactor, scores: (float * float * float) list)) =
            // The search grid, in the order it was searched (λ outer, τ inner).
            let tuneLambdas = scores |> List.map (fun (l, _, _) -> l) |> List.distinct
            let tuneTauFactors = scores |> List.map (fun (_, t, _) -> t) |> List.distinct

            let title =
                sprintf "k = %d: validation post-hoc accuracy (%%); chosen λ = %g, τ = %g·k" k lambda tauFactor

            title
            + ":\n\n"
            + table
                title
                (Array.append [| "λ \\ τ" |] (tuneTauFactors |> List.map (sprintf "%g·k") |> Array.ofList))
                (tuneLambdas
                 |> List.map (fun l ->
                     Array.append
                         [| sprintf "%g" l |]
                         (tuneTauFactors
                          |> List.map (fun t ->
                              scores
                              |> List.find (fun (l', t', _) -> l' = l && t' = t)
                              |> fun (_, _, a) -> fmt 1 a)
                          |> Array.ofList))
                 |> Array.ofList)

        String.Join("\n\n", "## I-MLE's λ and τ, chosen on the validation split" :: List.map perK tuning)
        + "\n"

/// Writes report.md into `dir` (and prints the results table): settings, classifier, post-hoc accuracies against the
/// paper's numbers, the validation search (`tuning`: per k, the chosen λ and τ factor and every (λ, τ, accuracy)),
/// the selectors, plots and caveats.
let write
    (dir: string)
    (settings: L2xSettings)
    (specs: SelectorNote list)
    (tuning: (int * (float * float * (float * float * float) list)) list)
    (rows: L2xRow[])
    : unit =
    let nTrain, nTest, nFit, nValid =
        settings.TrainImages, settings.TestImages, settings.FitImages, settings.ValidationImages

    let grid, patch, classifierAccuracy =
        settings.Grid, settings.Patch, settings.ClassifierAccuracy

    let md =
        table
            "L2X on image patches: post-hoc accuracy (%), higher is better"
            (Array.append [| "method" |] (settings.Ks |> List.map (sprintf "k = %d") |> Array.ofList)
             |> fun h ->
                 Array.append
                     h
                     [| "paper: BeerAdvocate MSE×100 (k=5 / 10 / 15, different data and metric)"
                        "seconds" |])
            (specs
             |> List.map (fun spec ->
                 let spec =
                     if spec.Id = "imle" && not tuning.IsEmpty then
                         { spec with
                             Name = "I-MLE SoG (λ, τ tuned per k)" }
                     else
                         spec

                 let mine = rows |> Array.filter (fun r -> r.MethodId = spec.Id)

                 let paper =
                     match
                         spec.PaperRow
                         |> Option.bind (fun r -> paperBeer |> List.tryFind (fun (n, _) -> n = r))
                     with
                     | Some(_, v) -> String.Join(" / ", v |> Array.map (fmt 2))
                     | None -> "–"

                 Array.concat
                     [ [| spec.Name |]
                       settings.Ks
                       |> List.map (fun k ->
                           mine
                           |> Array.tryFind (fun r -> r.K = k)
                           |> Option.map (fun r -> fmt 1 r.PostHocAccuracy)
                           |> Option.defaultValue "–")
                       |> Array.ofList
                       [| paper; fmt 0 (mine |> Array.sumBy (fun r -> r.Seconds)) |] ])
             |> Array.ofList)

    let dataName = Idx.datasetName settings.DataDir

    let report =
        String.Join(
            "\n",
            [ "# Learning to explain: k of 49 image patches (paper Sec. 5.2, Table 1 setting)"
              ""
              "Reproduce with:"
              ""
              "```"
              settings.Command
              "```"
              ""
              (if settings.Tune then
                   sprintf
                       "With `--tune`: the selectors train on the first %d training images; the last %d are the validation split for I-MLE's λ and τ."
                       nFit
                       nValid
               else
                   "")
              ""
              sprintf
                  "Settings: %s, %d training and %d test images (first N), %d×%d patches of %d×%d pixels (%d), k = %s, classifier %d epochs, explainer %d epochs per selector and k, batch %d, Adam lr %g, seed %d, device %s; total wall time %.0f s."
                  dataName
                  nTrain
                  nTest
                  grid
                  grid
                  patch
                  patch
                  (grid * grid)
                  (String.Join(", ", settings.Ks))
                  settings.ClassifierEpochs
                  settings.Epochs
                  settings.Batch
                  settings.Lr
                  settings.Seed
                  settings.DeviceName
                  settings.Seconds
              ""
              sprintf
                  "Classifier (conv 16 - pool - conv 32 - pool - dense 128 - dense 10), trained on full images with the true labels and then frozen: test accuracy %.2f%%."
                  classifierAccuracy
              ""
              "Explainer: a small CNN (conv 16 - conv 16 - pool - conv 32 - pool - 1×1 conv) giving one score per 4×4 patch. Training: the selector turns the scores into a k-hot (or relaxed) patch mask, the mask is upsampled to pixels (other pixels set to 0), and the loss is the cross-entropy of the *frozen classifier* on the masked image against the classifier's own full-image prediction (summed over the batch). No separate approximator is trained (L2X trains a variational approximator jointly; here the classifier itself is the model being explained and the one the metric uses)."
              ""
              "Metric: post-hoc accuracy — the share of test images on which the frozen classifier, given only the k patches chosen by the hard top-k of the explainer's scores (no noise), predicts the same class as on the full image."
              ""
              md
              ""
              tuningSection tuning
              "Selectors:"
              ""
              String.Join(
                  "\n",
                  specs
                  |> List.map (fun s ->
                      let description =
                          if s.Id = "imle" && not tuning.IsEmpty then
                              "I-MLE on the k-subset (top-k) problem, PID target, gradient divided by λ, S = 1, SoG(κ = k, τ, s = 10) noise; λ ∈ {10, 100, 1000} and τ ∈ {k, 2k, 3k} chosen per k on the validation split (above)"
                          else
                              s.Description

                      sprintf "- **%s** (`%s`): %s" s.Name s.Id description)
              )
              ""
              "## Paper (different data and metric)"
              ""
              "paper, Table 1 and appendix (BeerAdvocate aroma, selecting k of the words of a review, test MSE × 100 of the rating predicted from the selected words, lower is better): I-MLE 2.62 / 2.71 / 2.91, L2X 5.75 / 6.68 / 7.71, SoftSub 2.57 / 2.67 / 2.52, identity with projection 2.62 / 2.47 / 2.39 for k = 5 / 10 / 15; STE (SoG, τ = 30) 4.44 at k = 10. Its qualitative result: I-MLE is on par with SoftSub and identity and clearly better than L2X's relaxed sampler. The columns above are not comparable in value: different data (image patches instead of words), different metric (post-hoc accuracy, higher is better)."
              ""
              "## Plots"
              ""
              "- `post-hoc-accuracy.png`: post-hoc accuracy per selector and k"
              ""
              "## Caveats"
              ""
              "- BeerAdvocate is not available here; Fashion-MNIST patches stand in (the original L2X paper's MNIST setting). "
              + (if tuning.IsEmpty then
                     "No hyperparameter search: I-MLE λ, the SoG temperature and the relaxation temperatures are fixed (the paper tuned them on validation MSE)."
                 else
                     "I-MLE's λ and τ are chosen on a validation split (as the paper did, on its grid); the other selectors' temperatures are fixed.")
              "- One seed; unless run with `--full`, a subset of the images and few epochs."
              "" ]
        )

    writeReport
        { Seed = settings.Seed
          OutDir = dir
          Quick = false
          Device = "cpu" }
        "l2x"
        report
