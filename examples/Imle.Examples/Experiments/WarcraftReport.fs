/// The report of the `warcraft` experiment: its results (one row per method and grid size) and the report.md written
/// from them.
module Imle.Examples.Experiments.WarcraftReport

open System
open Imle.Data.WarcraftMaps
open Imle.Examples.Output

/// One result: a method at one grid size.
type WarcraftRow =
    {
        /// The method as the report names it.
        Method: string
        /// The method's command-line id.
        MethodId: string
        /// The I-MLE target distribution (or the loss / gradient rule) used.
        Target: string
        /// Grid side K.
        K: int
        /// Training epochs.
        Epochs: int
        /// Training maps.
        TrainMaps: int
        /// Test maps.
        TestMaps: int
        /// Batch size.
        Batch: int
        /// Percentage of test maps whose predicted path has optimal cost under the true costs (1e-4 relative).
        OptimalPathAccuracy: float
        /// Percentage of test cells on which the predicted path indicator equals the true one.
        CellAccuracy: float
        /// The reference number for this method and K: the paper's Table 2 (mean ± sd over 5 runs) or the authors'
        /// logs, or "–".
        Paper: string
        /// The method's column of Table 2 (0 μ-μ, 1 MAP-MAP, 2 BB, 3 DPO) when it is set as the authors ran that column,
        /// else −1.
        PaperColumn: int
        /// Training and evaluation time in seconds.
        Seconds: float
        /// The torch device.
        Device: string
        /// The seed.
        Seed: int
    }

/// The run's settings, as the report states them.
type WarcraftSettings =
    { Command: string
      Ks: int list
      Epochs: int
      TrainMaps: int
      TestMaps: int
      Batch: int
      Lr: float
      Seed: int
      Seeds: int list
      Network: string
      NegativeCosts: string
      DeviceName: string }

/// What the report says about the training maps of one grid size.
type MapSummary =
    {
        /// The grid side K.
        GridSide: int
        /// The share of cells of each terrain type (index = terrain value).
        TerrainShares: float[]
        /// The mean number of cells on the true paths.
        MeanPathLength: float
    }

/// One method at one grid size over its seeds.
type WarcraftSummary =
    {
        Method: string
        MethodId: string
        K: int
        /// Mean optimal-path accuracy (%) over the seeds.
        Mean: float
        /// Sample standard deviation over the seeds (0 for one seed).
        Std: float
        /// Number of seeds.
        Runs: int
        MeanCellAccuracy: float
        Paper: string
        PaperColumn: int
        /// Mean seconds per run.
        Seconds: float
    }

/// The rows grouped by method and K (in run order), with mean and standard deviation over the seeds.
let summarise (rows: WarcraftRow[]) : WarcraftSummary[] =
    rows
    |> Array.groupBy (fun r -> r.MethodId, r.K)
    |> Array.map (fun ((id, k), group) ->
        let acc = group |> Array.map (fun r -> r.OptimalPathAccuracy)
        let mean = Array.average acc

        let std =
            if acc.Length < 2 then
                0.0
            else
                sqrt ((acc |> Array.sumBy (fun a -> (a - mean) ** 2.0)) / float (acc.Length - 1))

        { Method = group.[0].Method
          MethodId = id
          K = k
          Mean = mean
          Std = std
          Runs = group.Length
          MeanCellAccuracy = group |> Array.averageBy (fun r -> r.CellAccuracy)
          Paper = group.[0].Paper
          PaperColumn = group.[0].PaperColumn
          Seconds = group |> Array.averageBy (fun r -> r.Seconds) })

let private meanStd (s: WarcraftSummary) =
    if s.Runs > 1 then
        sprintf "%.1f ± %.1f (%d seeds)" s.Mean s.Std s.Runs
    else
        sprintf "%.1f (1 seed)" s.Mean

/// The results as a Markdown table (ours beside the reference numbers). The console gets a short form that fits 80
/// columns: method ids instead of descriptions, epochs and maps in the title.
let resultsTable (summary: WarcraftSummary[]) (epochs: int) (trainMaps: int) : string =
    tableFor
        (sprintf "Warcraft optimal-path accuracy, %d epochs on %d maps (ours vs paper)" epochs trainMaps)
        ([| "method"; "K"; "ours: path %"; "cell %"; "paper %"; "s/run" |],
         summary
         |> Array.map (fun r ->
             [| r.MethodId
                string r.K
                meanStd r
                fmt 1 r.MeanCellAccuracy
                r.Paper
                fmt 0 r.Seconds |]))
        ([| "method"
            "K"
            "ours: optimal path %"
            "ours: cell %"
            "paper or authors' logs %"
            "epochs"
            "train maps"
            "seconds per run" |],
         summary
         |> Array.map (fun r ->
             [| r.Method
                string r.K
                meanStd r
                fmt 1 r.MeanCellAccuracy
                r.Paper
                string epochs
                string trainMaps
                fmt 0 r.Seconds |]))

/// Table 2's layout: one row per K, one column per paper column, "ours / paper" in each cell (only methods set as the
/// authors ran that column).
let paperLayoutTable (summary: WarcraftSummary[]) (columns: string[]) : string =
    let ks = summary |> Array.map (fun s -> s.K) |> Array.distinct

    markdownTable
        (Array.append [| "K" |] (columns |> Array.map (fun c -> c + ": ours / paper")))
        (ks
         |> Array.map (fun k ->
             Array.append
                 [| string k |]
                 (columns
                  |> Array.mapi (fun c _ ->
                      match summary |> Array.tryFind (fun s -> s.K = k && s.PaperColumn = c) with
                      | Some s -> sprintf "%s / %s" (meanStd s) s.Paper
                      | None -> "not run"))))

/// The target distribution / loss of each method, as a Markdown list.
let targetsList (rows: WarcraftRow[]) : string =
    rows
    |> Array.distinctBy (fun r -> r.MethodId)
    |> Array.map (fun r -> sprintf "- **%s** (`%s`): %s" r.Method r.MethodId r.Target)
    |> fun lines -> String.Join("\n", lines)

/// The "configuration vs the paper" table: each setting, the paper's or the authors' code's value, ours, and whether
/// they differ.
let configurationTable (settings: WarcraftSettings) : string =
    let differs (same: bool) = if same then "same" else "**differs**"
    let resnet = settings.Network = "resnet18"
    let paperEpochs = settings.Epochs = 50
    let seeds = settings.Seeds.Length

    markdownTable
        [| "setting"
           "paper / authors' code (tf-imle)"
           "ours (this run)"
           "differs?" |]
        [| [| "data"
              "10,000 Warcraft II training maps, 1,000 test maps per K"
              sprintf "procedural Warcraft-style maps: %d training, %d test" settings.TrainMaps settings.TestMaps
              "**differs** (the tile set is not available here)" |]
           [| "network"
              "ResNet18's first block (conv1, BN, ReLU, max-pool, layer1), adaptive max-pool to K×K, mean over channels, |·| (CombResnet18)"
              (if resnet then
                   "the same, written layer by layer (`WarcraftResNet`)"
               else
                   "a small CNN (4×4 stride-4 stem, 32 channels, one residual block, softplus)")
              differs resnet |]
           [| "input normalisation"
              "per channel, training-set mean and std"
              (if resnet then "the same" else "none (pixels in [0, 1])")
              differs resnet |]
           [| "optimiser"
              "Adam, lr 5e-4, ×0.1 at epochs 30 and 40"
              sprintf "Adam, lr %g, ×0.1 at 60%% and 80%% of the epochs" settings.Lr
              differs (settings.Lr = 5e-4) |]
           [| "epochs, batch"
              "50, 70"
              sprintf "%d, %d" settings.Epochs settings.Batch
              differs (paperEpochs && settings.Batch = 70) |]
           [| "runs per cell"
              "5 seeds (mean ± sd)"
              sprintf "%d seed%s (%s)" seeds (if seeds = 1 then "" else "s") (String.Join(", ", settings.Seeds))
              differs (seeds = 5) |]
           [| "μ-μ column"
              "mode 4: z = MAP(w − ε), z' = MAP(c_true − ε) with the same ε, SoG(int(1.3K), 1, 10), S = 1, gradient (z' − z)/10"
              "`paper-mumu`: Eq. 14 on ℓ_R (θ' = −c_true, Fact 2), same ε both sides, SoG(int(1.3K), 1, 10), S = 1, gradient z' − z"
              "same up to the constant 1/10, which Adam's update ignores (up to its ε = 1e-8)" |]
           [| "MAP-MAP column"
              "mode 1: θ' = −50·dL/dz (Eq. 14), ℓ_H averaged over maps, no noise, S = 1, gradient (z' − z)/50"
              "`paper-mm`: Eq. 14 on ℓ_H averaged over maps, no noise, S = 1, gradient z' − z"
              "same up to the constant 1/50 (Adam)" |]
           [| "BB column"
              "w' = w + 20·dL/dz, no noise, gradient (z' − z)/20"
              "`paper-bb`: the same"
              "same" |]
           [| "DPO column"
              "Fenchel–Young loss, Normal(σ = 0.01), S = 1"
              "`paper-dpo`: the same"
              "same" |]
           [| "negative perturbed costs"
              "only a noiseless target θ' (BB's w + λ·dL/dz, MAP-MAP's λ·dL/dz) is shifted per map to a minimum of 0; noisy costs (w − ε, and μ-μ's c_true − ε) go unshifted to its `dijkstra` (blackbox-backprop's), which settles each cell at its first pop and never reopens it"
              sprintf
                  "`--negative-costs %s` on every solve: %s"
                  settings.NegativeCosts
                  (match settings.NegativeCosts with
                   | "shift" ->
                       "each map's costs moved so the minimum is 0 (this adds the same amount to every cell, which favours paths with fewer cells)"
                   | "unchanged" ->
                       "negative costs passed as they are to Dijkstra, which settles each cell at its first pop and never reopens it"
                   | _ -> "each negative cost set to 0 (blackbox-backprop's rule)")
              (match settings.NegativeCosts with
               | "shift" -> "**differs** for the noisy solves (same for the noiseless targets)"
               | "unchanged" ->
                   "same for the noisy solves (μ-μ, DPO); **differs** for the noiseless targets (BB, MAP-MAP)"
               | _ -> "**differs** for the noisy solves and the noiseless targets") |]
           [| "solver and metric"
              "Dijkstra on vertex costs, 8 neighbours, top-left to bottom-right; a path counts if its cost under the true costs is optimal"
              "the same (optimal within 1e-4 relative)"
              "same" |] |]

/// Writes report.md into `dir` (and prints the results table): the configuration against the paper's, results against
/// the paper, targets, data, plots and caveats.
let write (dir: string) (settings: WarcraftSettings) (maps: MapSummary list) (rows: WarcraftRow[]) : unit =
    let summary = summarise rows
    let md = resultsTable summary settings.Epochs settings.TrainMaps

    let datasetNotes =
        maps
        |> List.map (fun m ->
            let k = m.GridSide

            sprintf
                "K = %d: image %d×%d px; terrain shares %s; mean true path length %.1f cells (κ = int(1.3·K) = %d)"
                k
                (imageSide k)
                (imageSide k)
                (String.Join(
                    ", ",
                    Array.map2 (fun (n: string) s -> sprintf "%s %.0f%%" n (100.0 * s)) terrainNames m.TerrainShares
                ))
                m.MeanPathLength
                (int (1.3 * float k)))

    let report =
        String.Join(
            "\n",
            [ "# Warcraft-style shortest path (paper Table 2)"
              ""
              "Reproduce with:"
              ""
              "```"
              settings.Command
              "```"
              ""
              "## Configuration vs the paper"
              ""
              "The paper's values as the authors' code ran them (tf-imle `WARCRAFT/maprop/warcraft_shortest_path/maprop.py`, `settings/…/12x12_map.json` and the run logs); \"same up to a constant\" marks a gradient scale that Adam's update does not see."
              ""
              configurationTable settings
              ""
              "## Results"
              ""
              sprintf
                  "Settings: K = %s, %d epochs, %d training maps, %d test maps, batch %d, Adam lr %g (×0.1 at 60%% and 80%% of the epochs), network %s, negative costs: %s, maps from seed %d, training seeds %s, device %s."
                  (String.Join(", ", settings.Ks))
                  settings.Epochs
                  settings.TrainMaps
                  settings.TestMaps
                  settings.Batch
                  settings.Lr
                  settings.Network
                  settings.NegativeCosts
                  settings.Seed
                  (String.Join(", ", settings.Seeds))
                  settings.DeviceName
              ""
              "Metric: the share of test maps whose predicted path (Dijkstra on the predicted costs, 8 neighbours, no noise) has optimal cost under the true costs (1e-4 relative); cell accuracy is the share of cells where the predicted path indicator equals the true one. \"paper\" is Table 2 of Niepert et al. (2021), mean ± sd over 5 runs with 50 epochs on 10,000 real Warcraft II maps; the noisy MAP-MAP's reference is the authors' run logs (not in the paper)."
              ""
              "Table 2's layout (the four columns set as the authors ran them):"
              ""
              paperLayoutTable summary [| "μ-μ"; "MAP-MAP"; "BB"; "DPO" |]
              ""
              "Every method:"
              ""
              md
              ""
              "Targets and losses:"
              ""
              targetsList rows
              ""
              "## Data"
              ""
              "Procedurally generated maps (not the Warcraft II tile set, which is not available here): terrain from two smoothed random fields (elevation, moisture) cut at per-map quantiles plus random-walk roads; costs grass 0.8, road 1.2, forest 3.5, dense forest 5.3, rock 7.7, water 9.2; each cell an 8×8 textured tile with per-tile variation; deterministic from the seed and cached."
              ""
              String.Join("\n", datasetNotes |> Seq.map (fun s -> "- " + s))
              ""
              "## Plots"
              ""
              String.Join(
                  "\n",
                  settings.Ks
                  |> List.map (fun k ->
                      sprintf
                          "- `sample-map-K%d.png`: a test map with the true path (red) and each method's path\n- `training-loss-K%d.png`, `test-accuracy-K%d.png`: curves per epoch (first seed)"
                          k
                          k
                          k)
              )
              "- `accuracy.png`: optimal-path accuracy per method (mean over seeds)"
              ""
              "## Notes"
              ""
              "- Different data: procedural maps with six terrain types stand in for the Warcraft II maps, so the numbers are comparable in kind, not in value; with fewer maps and epochs than the paper's protocol (see the table above) the absolute numbers are lower."
              "- Negative costs: with `shift` each map's perturbed costs are moved so that their minimum is 0 (tf-imle does this only for a noiseless target); on a path problem this adds the same amount to every cell and so favours paths with fewer cells; with `clamp` (blackbox-backprop's rule) each negative cost becomes 0, which with SoG noise turns some off-path cells into free cells; with `unchanged` Dijkstra runs as written on the negative costs, settling each cell at its first pop (the authors' `dijkstra` on their noisy solves), which returns a path that need not be the cheapest. No exact solver avoids all three on this graph: with 8 neighbours, two adjacent negative cells form a negative cycle, and the shortest *simple* path is then NP-hard; on a grid that only moves right and down (`Problem.gridDagShortestPath`) negative costs are exact, but that is not the Warcraft problem."
              "- `paper-mumu` trains on the true costs (the μ-μ column's target is built from them in the authors' code), so it has stronger supervision than the path-only methods; `imle-mumu` is the gradient-based PID version and `imle-fact2` the same Fact 2 target with S = 10."
              "- `imle-mm` (SoG on both sides, S = 10) and `dpo` (σ = 1, S = 10) are our earlier settings, not the paper's; the authors' own noisy MAP-MAP (`authors-mm-noisy`) shows that forward noise costs accuracy there too."
              "" ]
        )

    writeReport
        { Seed = settings.Seed
          OutDir = dir
          Quick = false
          Device = "cpu" }
        "warcraft"
        report
