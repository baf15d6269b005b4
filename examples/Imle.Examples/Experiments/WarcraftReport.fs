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
        /// The paper's number for this method and K (mean ± sd over 5 runs), or "–".
        Paper: string
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

/// The results as a Markdown table (ours beside the paper's), also printed to the console.
let resultsTable (rows: WarcraftRow[]) : string =
    table
        "Warcraft shortest path: optimal-path accuracy (ours vs paper)"
        [| "method"
           "K"
           "ours: optimal path %"
           "ours: cell %"
           "paper %"
           "epochs"
           "train maps"
           "seconds" |]
        (rows
         |> Array.map (fun r ->
             [| r.Method
                string r.K
                fmt 1 r.OptimalPathAccuracy
                fmt 1 r.CellAccuracy
                r.Paper
                string r.Epochs
                string r.TrainMaps
                fmt 0 r.Seconds |]))

/// The target distribution / loss of each method, as a Markdown list.
let targetsList (rows: WarcraftRow[]) : string =
    rows
    |> Array.distinctBy (fun r -> r.MethodId)
    |> Array.map (fun r -> sprintf "- **%s** (`%s`): %s" r.Method r.MethodId r.Target)
    |> fun lines -> String.Join("\n", lines)

/// Writes report.md into `dir` (and prints the results table): settings, results against the paper, targets, data,
/// plots and caveats.
let write (dir: string) (settings: WarcraftSettings) (maps: MapSummary list) (rows: WarcraftRow[]) : unit =
    let md = resultsTable rows

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
              sprintf
                  "Settings: K = %s, %d epochs, %d training maps, %d test maps, batch %d, Adam lr %g (×0.1 at 60%% and 80%% of the epochs), seed %d, device %s."
                  (String.Join(", ", settings.Ks))
                  settings.Epochs
                  settings.TrainMaps
                  settings.TestMaps
                  settings.Batch
                  settings.Lr
                  settings.Seed
                  settings.DeviceName
              ""
              "Metric: the share of test maps whose predicted path (Dijkstra on the predicted costs, 8 neighbours) has optimal cost under the true costs (1e-4 relative); cell accuracy is the share of cells where the predicted path indicator equals the true one. \"paper\" is Table 2 of Niepert et al. (2021), mean ± sd over 5 runs with 50 epochs on 10,000 real Warcraft II maps."
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
                          "- `sample-map-K%d.png`: a test map with the true path (red) and each method's path\n- `training-loss-K%d.png`, `test-accuracy-K%d.png`: curves per epoch"
                          k
                          k
                          k)
              )
              "- `accuracy.png`: optimal-path accuracy per method"
              ""
              "## Caveats"
              ""
              "- Different data: procedural maps with six terrain types stand in for the Warcraft II maps, so the numbers are comparable in kind, not in value."
              "- Smaller model: a 3-layer CNN (4×4 stride-4 stem, two 3×3 convolutions, 32 channels) with batch norm and one residual block, adaptive max-pool to K×K and softplus, instead of the truncated ResNet18."
              "- One seed per row (the paper: 5); unless run with `--full`, far fewer maps and epochs than the paper's 10,000 maps × 50 epochs."
              "- `imle-mm-delta0` is `imle-mm` without noise (ρ = δ₀): by Fact 1 it is the perceptron rule, which BB approaches for large λ, so comparing it with `imle-mm` isolates the effect of the SoG noise on the MAP-MAP target."
              "- μ-μ: the paper's μ-μ row was produced with a target built from the *true* cell costs (anchors: tf-imle code). Here `imle-mumu` is the honest gradient-based version (PID target from dL/dz of the Hamming loss, λ = 10), and `imle-fact2` is Fact 2 made explicit: Eq. 14 applied to the regret loss ℓ_R, whose gradient dL/dz is the true cost vector, so θ' = −c_true. It therefore trains on the true costs (stronger supervision than paths), like the paper's row."
              "- Loss scaling: Eq. 14 reads dL/dz directly, so `imle-mm` sums ℓ_H over cells and maps (dL/dz = 1 − 2y, the target θ' = 2y − 1 sits on the noise's scale); `imle-fact2` sums ℓ_R over maps (dL/dz = c). BB, PID μ-μ and identity use Pogančić et al.'s Hamming loss (summed over cells, averaged over maps), for which BB's λ = 20 was chosen."
              "- DPO uses the Fenchel–Young loss with Normal(σ = 1) perturbations and 10 samples; identity with projection uses mean-centring and SoG noise in the forward pass; the regression baseline fits the true costs by MSE and never sees the solver in training."
              "" ]
        )

    writeReport
        { Seed = settings.Seed
          OutDir = dir
          Quick = false
          Device = "cpu" }
        "warcraft"
        report
