/// `alignment`: learning a substitution matrix and a gap cost from aligned sequence pairs, through global sequence
/// alignment (Needleman–Wunsch) as a combinatorial layer.
///
/// A hidden substitution matrix S* over a small alphabet and a gap cost g* define the ground truth: the Needleman–Wunsch
/// alignment of each pair under (S*, g*). Sequence pairs come from evolving a random ancestor with substitutions,
/// insertions and deletions. The model is (S, g) itself: S = (U + Uᵀ)/2 with U learnable, g = softplus(ρ). Methods:
/// the optimal-value loss of Gao et al. (a max-margin loss whose generalized gradient is the loss-augmented optimal
/// alignment minus the true one), a soft (log-sum-exp) Needleman–Wunsch relaxation of the same loss differentiated by
/// autograd, and I-MLE / blackbox differentiation of the alignment layer under the Hamming loss.
module Imle.Examples.Experiments.AlignmentExperiment

open System
open System.Collections.Generic
open System.Diagnostics
open System.IO
open Argu
open TorchSharp
open Imle
open Imle.Solvers
open Imle.Torch
open Imle.Examples
open Imle.Examples.Output
open Imle.Examples.Experiments.AlignmentReport

type private Tensor = torch.Tensor

/// Command-line arguments.
type Args =
    | Epochs of int
    | Pairs of int
    | Test_Pairs of int
    | Length of int
    | Alphabet of int
    | Batch of int
    | Lr of float
    | Gamma of float
    | Margin of float
    | Svm_Margin of float
    | Methods of string list

    interface IArgParserTemplate with
        member this.Usage =
            match this with
            | Epochs _ -> "training epochs per method (default 20)"
            | Pairs _ -> "training pairs (default 480)"
            | Test_Pairs _ -> "held-out test pairs (default 400)"
            | Length _ -> "length of the ancestral sequence of each pair (default 30)"
            | Alphabet _ -> "alphabet size, 2 to 26 (default 8)"
            | Batch _ -> "pairs per training step, at most --pairs (default 16)"
            | Lr _ -> "Adam learning rate (default 0.05)"
            | Gamma _ -> "temperature γ of the soft Needleman–Wunsch baseline (default 0.1)"
            | Margin _ ->
                "weight μ of the Hamming margin of opt-value and soft-nw; 0 is the structured perceptron (default 0)"
            | Svm_Margin _ -> "weight μ of the Hamming margin of opt-value-svm (default 0.1)"
            | Methods _ -> "methods: opt-value opt-value-svm soft-nw imle blackbox (default all)"

// ----- the task -----------------------------------------------------------------------------------------------------

/// The hidden scoring scheme: a symmetric substitution matrix and a gap cost.
type Scheme =
    { Letters: int
      S: float[,]
      Gap: float }

/// A sequence pair with its ground-truth alignment (Needleman–Wunsch under the hidden scheme) and its evolutionary
/// alignment (which positions descend from the same ancestral position).
type SeqPair =
    {
        X: int[]
        Y: int[]
        /// n×m indicator (row-major) of the Needleman–Wunsch alignment under (S*, g*): the training target.
        Truth: float[]
        /// The optimal alignment value under (S*, g*).
        TrueValue: float
        /// n×m indicator of the alignment recorded while evolving Y from X.
        Evolution: float[]
        /// A fixed pseudo-random n×m array in [0, 1); `tieBreak` times it is added to every score matrix of this pair
        /// before Needleman–Wunsch (truth and predictions alike), so that alignments tied for every (S, g), e.g. a letter
        /// aligned to either of two equal neighbours, are resolved the same way whatever the scheme.
        TieBreak: float[]
    }

let private letters = "ACDEFGHIKLMNPQRSTVWYBJOUXZ"

/// The weight of the tie-breaking perturbation.
let tieBreak = 1e-6

let private show (s: int[]) =
    String(s |> Array.map (fun c -> letters.[c]))

/// Scores s[i, j] = S[x_i, y_j] as a row-major n×m array.
let private scoresOf (s: float[,]) (x: int[]) (y: int[]) =
    let m = y.Length
    Array.init (x.Length * m) (fun k -> s.[x.[k / m], y.[k % m]])

/// Σ z·s − gap·(unaligned positions) of an alignment z.
let private alignmentValue (n: int) (m: int) (gap: float) (scores: float[]) (z: float[]) =
    let mutable sum = 0.0
    let mutable aligned = 0.0

    for k in 0 .. z.Length - 1 do
        sum <- sum + z.[k] * scores.[k]
        aligned <- aligned + z.[k]

    sum - gap * (float (n + m) - 2.0 * aligned)

/// The hidden scheme: diagonal U(1.5, 3), off-diagonal U(−4, 0.5) (symmetric), gap U(0.8, 1.4).
let makeScheme (rng: Random) (a: int) : Scheme =
    let s = Array2D.zeroCreate a a

    for i in 0 .. a - 1 do
        s.[i, i] <- 1.5 + 1.5 * rng.NextDouble()

        for j in i + 1 .. a - 1 do
            let v = -4.0 + 4.5 * rng.NextDouble()
            s.[i, j] <- v
            s.[j, i] <- v

    { Letters = a
      S = s
      Gap = 0.8 + 0.6 * rng.NextDouble() }

/// A pair: a uniform random ancestor X of the given length and Y evolved from it: each position deleted with
/// probability 0.1, otherwise substituted with probability 0.3 by b ≠ a with probability ∝ exp(S*[a, b]); before each
/// position and at the end, runs of random insertions (each further letter with probability 0.1).
let makePair (rng: Random) (scheme: Scheme) (length: int) : SeqPair =
    let a = scheme.Letters
    let x = Array.init length (fun _ -> rng.Next a)

    let substitute (c: int) =
        let w = Array.init a (fun b -> if b = c then 0.0 else exp scheme.S.[c, b])
        let mutable u = rng.NextDouble() * Array.sum w
        let mutable b = 0

        while b < a - 1 && u >= w.[b] do
            u <- u - w.[b]
            b <- b + 1

        if b = c then (c + 1) % a else b

    let y = ResizeArray<int>()
    let links = ResizeArray<int * int>()

    let insertions () =
        while rng.NextDouble() < 0.1 do
            y.Add(rng.Next a)

    for i in 0 .. length - 1 do
        insertions ()

        if rng.NextDouble() >= 0.1 then
            links.Add((i, y.Count))
            y.Add(if rng.NextDouble() < 0.3 then substitute x.[i] else x.[i])

    insertions ()

    if y.Count = 0 then
        y.Add(rng.Next a)

    let y = y.ToArray()
    let n, m = x.Length, y.Length
    let scores = scoresOf scheme.S x y
    let ties = Array.init (n * m) (fun _ -> rng.NextDouble())

    let truth =
        Alignment.solve n m scheme.Gap (Array.map2 (fun s t -> s + tieBreak * t) scores ties)

    let evolution = Array.zeroCreate (n * m)

    for (i, j) in links do
        evolution.[i * m + j] <- 1.0

    { X = x
      Y = y
      Truth = truth
      TrueValue = alignmentValue n m scheme.Gap scores truth
      Evolution = evolution
      TieBreak = ties }

// ----- metrics ------------------------------------------------------------------------------------------------------

/// Aligns every test pair with (s, gap) by Needleman–Wunsch and scores the alignments.
let evaluate (scheme: Scheme) (s: float[,]) (gap: float) (pairs: SeqPair[]) : Metrics =
    let mutable tp = 0.0
    let mutable predicted = 0.0
    let mutable actual = 0.0
    let mutable tpEvo = 0.0
    let mutable evo = 0.0
    let mutable exact = 0
    let mutable optimal = 0

    for p in pairs do
        let n, m = p.X.Length, p.Y.Length

        let z =
            Alignment.solve n m (max gap 0.0) (Array.map2 (fun v t -> v + tieBreak * t) (scoresOf s p.X p.Y) p.TieBreak)

        let mutable same = true

        for k in 0 .. z.Length - 1 do
            tp <- tp + z.[k] * p.Truth.[k]
            tpEvo <- tpEvo + z.[k] * p.Evolution.[k]
            predicted <- predicted + z.[k]
            actual <- actual + p.Truth.[k]
            evo <- evo + p.Evolution.[k]

            if z.[k] <> p.Truth.[k] then
                same <- false

        if same then
            exact <- exact + 1

        let v = alignmentValue n m scheme.Gap (scoresOf scheme.S p.X p.Y) z

        if v >= p.TrueValue - 1e-9 * (1.0 + abs p.TrueValue) then
            optimal <- optimal + 1

    let f1 tp a b =
        if a + b = 0.0 then 1.0 else 2.0 * tp / (a + b)

    { F1 = f1 tp predicted actual
      Exact = float exact / float pairs.Length
      Optimal = float optimal / float pairs.Length
      EvolutionF1 = f1 tpEvo predicted evo }

/// Cosine similarity of two vectors.
let private cosine (a: float[]) (b: float[]) =
    let dot = Array.fold2 (fun acc u v -> acc + u * v) 0.0 a b
    let na = sqrt (Array.sumBy (fun u -> u * u) a)
    let nb = sqrt (Array.sumBy (fun u -> u * u) b)
    if na = 0.0 || nb = 0.0 then 0.0 else dot / (na * nb)

/// The upper triangle (with the diagonal) of S, then the gap: the raw parameter vector.
let private rawVector (s: float[,]) (gap: float) =
    let a = Array2D.length1 s

    [| for i in 0 .. a - 1 do
           for j in i .. a - 1 do
               yield s.[i, j]
       yield gap |]

/// The upper triangle of the effective scores S + 2g: the alignment depends on (S, g) only through them, up to a
/// positive factor (Σ z·s − g·(n + m − 2Σz) = ⟨z, s + 2g⟩ − g·(n + m)).
let private effectiveVector (s: float[,]) (gap: float) =
    let a = Array2D.length1 s

    [| for i in 0 .. a - 1 do
           for j in i .. a - 1 do
               yield s.[i, j] + 2.0 * gap |]

// ----- methods ------------------------------------------------------------------------------------------------------

/// How a method trains.
type MethodKind =
    /// Gao et al.: OPT(s + μ(1 − 2y), g) + μ|y| − score(y), OPT through `Losses.alignmentScore` (generalized gradient).
    | OptimalValue of margin: float
    /// The same loss with a soft (log-sum-exp, temperature γ) Needleman–Wunsch in place of OPT, through autograd.
    | SoftNw of margin: float
    /// A discrete alignment layer with an estimator, Hamming loss on its output.
    | Layer of Estimator

/// A method of the comparison.
type MethodSpec =
    { Id: string
      Name: string
      Description: string
      Kind: MethodKind }

/// All method ids, in report order.
let methodIds = [ "opt-value"; "opt-value-svm"; "soft-nw"; "imle"; "blackbox" ]

let private methodSpecs (gamma: float) (margin: float) (svmMargin: float) =
    let noise = Gumbel 0.05

    let optValue (mu: float) =
        sprintf
            "L = OPT(S + μ(1 − 2y), g) + μ|y| − score(y; S, g) with μ = %g%s; OPT by `Losses.alignmentScore`, whose generalized gradient w.r.t. the pair's score matrix is the (loss-augmented) optimal alignment, so the loss's gradient is optimal − true alignment (w.r.t. g: true − optimal unaligned count)"
            mu
            (if mu = 0.0 then
                 " (the structured perceptron)"
             else
                 " (a structured SVM)")

    [ { Id = "opt-value"
        Name = "opt-value (Gao)"
        Description = optValue margin
        Kind = OptimalValue margin }
      { Id = "opt-value-svm"
        Name = sprintf "opt-value μ=%g" svmMargin
        Description = optValue svmMargin
        Kind = OptimalValue svmMargin }
      { Id = "soft-nw"
        Name = sprintf "soft-NW γ=%g" gamma
        Description =
          sprintf
              "the opt-value loss (μ = %g) with OPT replaced by a soft Needleman–Wunsch, max → γ·logsumexp(·/γ), γ = %g, written with tensor ops over padded batches, one anti-diagonal per step; gradients by autograd"
              margin
              gamma
        Kind = SoftNw margin }
      { Id = "imle"
        Name = "I-MLE (Hamming)"
        Description =
          sprintf
              "alignment layer (`Discrete.apply DiscreteOptions.Default` with `Problem.alignment n m 0` on the effective scores S + 2g) with I-MLE (PID λ = 3, %s noise, S = 1), Hamming loss to the true alignment"
              (Noise.describe noise)
        Kind =
          Layer(
              Imle
                  { ImleOptions.Create(1.0, 3.0) with
                      Noise = noise }
          ) }
      { Id = "blackbox"
        Name = "blackbox (Hamming)"
        Description =
          "the same alignment layer with blackbox differentiation (λ = 3), Hamming loss to the true alignment"
        Kind = Layer(Blackbox 3.0) } ]

/// What a run needs.
type Config =
    { Epochs: int
      Pairs: int
      TestPairs: int
      Length: int
      Letters: int
      Batch: int
      Lr: float
      Gamma: float
      Margin: float
      SvmMargin: float
      MethodIds: string list
      Seed: int
      OutDir: string
      Command: string }

let private f64 = torch.ScalarType.Float64

/// Very negative but finite, so log-sum-exp gradients stay finite.
let private negative = -1e9

let private negativeTensor () =
    torch.tensor (negative, dtype = torch.ScalarType.Float64)

/// softplus(x) = log(1 + eˣ) = logaddexp(x, 0), with no temporary Scalar (TorchSharp's `softplus` passes its β and
/// threshold as temporaries; see `Safe`).
let private softplus (x: Tensor) =
    use zero = torch.zeros_like (x)
    torch.logaddexp (x, zero)

/// A tensor of the given shape filled with `negative`.
let private negatives (shape: int64[]) = Safe.full shape negative f64 torch.CPU

/// Soft Needleman–Wunsch values γ·log Σ_paths exp(score/γ) for a padded batch: scores [B, N, M] (entries beyond each
/// pair's lengths are ignored), gap a scalar tensor, lengths ns, ms. Anti-diagonal recursion over cells (i, j) of the
/// (N+1)×(M+1) table, each diagonal indexed by i: R(i, j) = softmax_γ(R(i−1, j−1) + s_ij, R(i−1, j) − g, R(i, j−1) − g).
/// Returns [B]. Every edit path counts once, so an alignment with adjacent gaps in both sequences counts several times.
let softAlignmentValue (gamma: float) (scores: Tensor) (gap: Tensor) (ns: int[]) (ms: int[]) : Tensor =
    let b = int scores.shape.[0]
    let bigN = int scores.shape.[1]
    let bigM = int scores.shape.[2]
    let w = bigM + 1
    use padded = torch.nn.functional.pad (scores, [| 1L; 0L; 1L; 0L |])
    use flat = padded.reshape (int64 b, int64 ((bigN + 1) * w))
    let rows = int64 (bigN + 1)
    use negColumn = negatives [| int64 b; 1L |]

    let shift (r: Tensor) =
        torch.cat ([| negColumn; r.narrow (1, 0L, int64 bigN) |], 1L)

    let boolTensor (f: int -> bool) =
        torch.tensor(Array.init (bigN + 1) f).reshape(1L, rows)

    use zeroScalar = (0.0).ToScalar()

    let r0 =
        (negatives [| int64 b; rows |]).index_fill(1L, torch.tensor ([| 0L |]), zeroScalar)

    let diagonals = List<Tensor>()
    diagonals.Add r0
    let mutable previous2 = negatives [| int64 b; rows |]
    let mutable previous = r0
    let neg = negativeTensor ()

    for d in 1 .. bigN + bigM do
        let cellValid = boolTensor (fun i -> d - i >= 0 && d - i <= bigM)
        let diagonalAllowed = boolTensor (fun i -> i >= 1 && d - i >= 1 && d - i <= bigM)
        let upAllowed = boolTensor (fun i -> i >= 1 && d - i >= 0 && d - i <= bigM)
        let leftAllowed = boolTensor (fun i -> d - i >= 1 && d - i <= bigM)

        let index =
            torch.tensor (Array.init (bigN + 1) (fun i -> int64 (i * w + (min bigM (max 0 (d - i))))))

        let s = flat.index_select (1L, index)
        let diagonal = torch.where (diagonalAllowed, Safe.add (shift previous2) s, neg)
        let up = torch.where (upAllowed, shift previous - gap, neg)
        let left = torch.where (leftAllowed, previous - gap, neg)
        let stacked = torch.stack ([| diagonal; up; left |], 0L)
        let soft = Safe.mulScalar (torch.logsumexp (Safe.divScalar stacked gamma, 0L)) gamma
        let r = torch.where (cellValid, soft, neg)
        diagonals.Add r
        previous2 <- previous
        previous <- r

    use all = torch.stack(diagonals, 0L).reshape(-1L)

    let at =
        Array.init b (fun k -> int64 ((ns.[k] + ms.[k]) * b * (bigN + 1) + k * (bigN + 1) + ns.[k]))

    all.index_select (0L, torch.tensor at)

/// The Hamming margin (1 − 2y)·margin added to the scores of a margin-augmented loss.
let private hammingMargin (y: Tensor) (margin: float) =
    use flipped = Safe.subtractFrom 1.0 (Safe.mulScalar y 2.0)
    Safe.mulScalar flipped margin

/// A training run of one method: a row per epoch (epoch 0 = initial parameters) and the learned (S, g).
type private MethodRun =
    { Rows: AlignmentRow list
      S: float[,]
      Gap: float }

let private trainMethod
    (cfg: Config)
    (scheme: Scheme)
    (train: SeqPair[])
    (test: SeqPair[])
    (spec: MethodSpec)
    : MethodRun =
    let a = scheme.Letters
    torch.random.manual_seed (int64 cfg.Seed) |> ignore
    let initGenerator = new torch.Generator(uint64 (cfg.Seed * 31 + 5))

    let u =
        torch.nn.Parameter(
            Safe.mulScalar (torch.randn ([| int64 a; int64 a |], dtype = f64, generator = initGenerator)) 0.1
        )
    // g = softplus(ρ), initially 0.5.
    let rho = torch.nn.Parameter(torch.tensor (log (exp 0.5 - 1.0), dtype = f64))
    let optimizer = torch.optim.Adam([ u; rho ], cfg.Lr)
    let steps = (train.Length + cfg.Batch - 1) / cfg.Batch
    // Cosine decay of the learning rate to 0 over all steps: Adam at a constant rate keeps jumping between schemes.
    let scheduler =
        torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, float (cfg.Epochs * steps))

    let generator = new torch.Generator(uint64 (cfg.Seed * 7919 + 17))
    let problems = Dictionary<struct (int * int), Problem>()

    let problemFor n m =
        match problems.TryGetValue(struct (n, m)) with
        | true, p -> p
        | _ ->
            let p = Problem.alignment n m 0.0
            problems.[struct (n, m)] <- p
            p

    let current () =
        use _ = torch.no_grad ()
        use sum = Safe.add u (u.t ())
        use sym = Safe.mulScalar sum 0.5
        let values = sym.data<float>().ToArray()
        let s = Array2D.init a a (fun i j -> values.[i * a + j])
        use g = softplus rho
        s, g.ToDouble()

    let rows = ResizeArray<AlignmentRow>()

    let record epoch loss seconds =
        let s, g = current ()
        let m = evaluate scheme s g test

        rows.Add
            { Method = spec.Name
              MethodId = spec.Id
              Epoch = epoch
              TrainLoss = loss
              TestF1 = m.F1
              ExactMatch = m.Exact
              OptimalUnderTruth = m.Optimal
              EvolutionF1 = m.EvolutionF1
              EffectiveCosine = cosine (effectiveVector s g) (effectiveVector scheme.S scheme.Gap)
              RawCosine = cosine (rawVector s g) (rawVector scheme.S scheme.Gap)
              Gap = g
              Seconds = seconds
              Seed = cfg.Seed }

    record 0 Double.NaN 0.0
    let watch = Stopwatch()

    progress spec.Name (cfg.Epochs * steps) (fun tick ->
        for epoch in 1 .. cfg.Epochs do
            let mutable sum = 0.0
            watch.Start()

            for indices in Training.shuffledBatches (Random(cfg.Seed * 1000 + epoch)) train.Length cfg.Batch do
                use _ = torch.NewDisposeScope()
                let batch = indices |> Array.map (fun i -> train.[i])
                let s = Safe.mulScalar (Safe.add u (u.t ())) 0.5
                let g = softplus rho

                let pairScores (p: SeqPair) =
                    s
                        .index_select(0L, torch.tensor (Array.map int64 p.X))
                        .index_select(1L, torch.tensor (Array.map int64 p.Y))

                let truthOf (p: SeqPair) =
                    torch.tensor(p.Truth, dtype = f64).reshape(int64 p.X.Length, int64 p.Y.Length)
                // score(y; S, g) = Σ y·s − g·(n + m − 2|y|)
                let trueScore (p: SeqPair) (sc: Tensor) (y: Tensor) =
                    let aligned = Array.sum p.Truth

                    (sc * y).sum()
                    - Safe.mulScalar g (float (p.X.Length + p.Y.Length) - 2.0 * aligned)

                let loss =
                    match spec.Kind with
                    | OptimalValue margin ->
                        let losses =
                            batch
                            |> Array.map (fun p ->
                                let sc = pairScores p
                                let y = truthOf p
                                let augmented = Safe.add sc (hammingMargin y margin)
                                let opt = Losses.alignmentScore p.X.Length p.Y.Length augmented g
                                Safe.addScalar opt (margin * Array.sum p.Truth) - trueScore p sc y)

                        torch.stack(losses).mean()
                    | SoftNw margin ->
                        let ns = batch |> Array.map (fun p -> p.X.Length)
                        let ms = batch |> Array.map (fun p -> p.Y.Length)
                        let bigN, bigM = Array.max ns, Array.max ms

                        let padTo (t: Tensor) (n: int) (m: int) =
                            torch.nn.functional.pad (t, [| 0L; int64 (bigM - m); 0L; int64 (bigN - n) |])

                        let scs = batch |> Array.map pairScores
                        let ys = batch |> Array.map truthOf

                        let augmented =
                            Array.map3
                                (fun (p: SeqPair) (sc: Tensor) (y: Tensor) ->
                                    padTo (Safe.add sc (hammingMargin y margin)) p.X.Length p.Y.Length)
                                batch
                                scs
                                ys

                        let soft = softAlignmentValue cfg.Gamma (torch.stack (augmented, 0L)) g ns ms
                        let trues = Array.map3 (fun p sc y -> trueScore p sc y) batch scs ys

                        let margins =
                            torch.tensor (batch |> Array.map (fun p -> margin * Array.sum p.Truth), dtype = f64)

                        (Safe.add soft margins - torch.stack (trues)).mean()
                    | Layer estimator ->
                        let losses =
                            batch
                            |> Array.map (fun p ->
                                let n, m = p.X.Length, p.Y.Length

                                let weights =
                                    (Safe.add (pairScores p) (Safe.mulScalar g 2.0)).reshape(1L, int64 n, int64 m)

                                let z =
                                    Discrete.apply
                                        DiscreteOptions.Default
                                        (problemFor n m)
                                        estimator
                                        generator
                                        weights

                                Losses.hamming Reduction.Mean z ((truthOf p).reshape(1L, int64 n, int64 m)))

                        torch.stack(losses).mean()

                optimizer.zero_grad ()
                Training.backward loss
                optimizer.step () |> ignore
                scheduler.step ()
                sum <- sum + loss.ToDouble()
                tick ()

            watch.Stop()
            record epoch (sum / float steps) watch.Elapsed.TotalSeconds)

    let s, g = current ()
    u.Dispose()
    rho.Dispose()

    { Rows = List.ofSeq rows
      S = s
      Gap = g }

// ----- the experiment -----------------------------------------------------------------------------------------------

/// Runs the configured experiment: task, data, every method, results.json, plots, report.md. Returns the rows.
let runExperiment (cfg: Config) : AlignmentRow[] =
    let dir = ensureDir cfg.OutDir

    let specs =
        let all = methodSpecs cfg.Gamma cfg.Margin cfg.SvmMargin

        cfg.MethodIds
        |> List.map (fun id ->
            match all |> List.tryFind (fun s -> s.Id = id) with
            | Some s -> s
            | None ->
                invalidArg "methods" (sprintf "Unknown method '%s'; known: %s." id (String.Join(", ", methodIds))))

    let rng = Random(cfg.Seed)
    let scheme = makeScheme rng cfg.Letters
    let train = Array.init cfg.Pairs (fun _ -> makePair rng scheme cfg.Length)
    let test = Array.init cfg.TestPairs (fun _ -> makePair rng scheme cfg.Length)
    let oracle = evaluate scheme scheme.S scheme.Gap test
    let meanLength (f: SeqPair -> int) = test |> Array.averageBy (f >> float)

    let alignedShare =
        test
        |> Array.averageBy (fun p -> Array.sum p.Truth / float (min p.X.Length p.Y.Length))

    printfn
        "Hidden scheme: %d letters, gap g* = %.3f; %d training and %d test pairs, ancestor length %d (test: mean |X| = %.1f, |Y| = %.1f)"
        cfg.Letters
        scheme.Gap
        cfg.Pairs
        cfg.TestPairs
        cfg.Length
        (meanLength (fun p -> p.X.Length))
        (meanLength (fun p -> p.Y.Length))

    printfn "NW under (S*, g*) vs the evolutionary alignment on the test pairs: F1 %.3f" oracle.EvolutionF1

    let runs =
        specs |> List.map (fun spec -> spec, trainMethod cfg scheme train test spec)

    let rows = runs |> List.collect (fun (_, r) -> r.Rows) |> Array.ofList
    writeJson (Path.Combine(dir, "results.json")) rows
    let finals = runs |> List.map (fun (spec, r) -> spec, r, List.last r.Rows)

    /// One line per method of a metric against the epoch, saved as `file`.
    let epochPlot (file: string) (title: string) (yLabel: string) (metric: AlignmentRow -> float) =
        linePlot
            (Path.Combine(dir, file))
            title
            "epoch"
            yLabel
            (runs
             |> List.map (fun (spec, r) ->
                 { Label = spec.Name
                   X = r.Rows |> List.map (fun x -> float x.Epoch) |> Array.ofList
                   Y = r.Rows |> List.map metric |> Array.ofList
                   Band = None }))

    epochPlot "test-f1.png" "Held-out alignment F1 per epoch (epoch 0: initial parameters)" "test F1" (fun x ->
        x.TestF1)

    epochPlot "exact-match.png" "Held-out pairs aligned exactly as the truth" "exact match" (fun x -> x.ExactMatch)
    epochPlot "effective-cosine.png" "Cosine of learned S + 2g with S* + 2g*" "cosine" (fun x -> x.EffectiveCosine)

    let effective (s: float[,]) (g: float) =
        let a = Array2D.length1 s
        // Scaled to unit Frobenius norm so the matrices are comparable.
        let e = Array2D.init a a (fun i j -> s.[i, j] + 2.0 * g)
        let norm = sqrt (Seq.sum (Seq.cast<float> e |> Seq.map (fun v -> v * v)))
        Array2D.map (fun v -> if norm = 0.0 then 0.0 else v / norm) e

    heatmap
        (Path.Combine(dir, "scores-true.png"))
        "Hidden effective scores S* + 2g* (unit norm)"
        "letter"
        "letter"
        (effective scheme.S scheme.Gap)

    for (spec, r, _) in finals do
        heatmap
            (Path.Combine(dir, sprintf "scores-%s.png" spec.Id))
            (sprintf "Learned effective scores S + 2g, %s (unit norm)" spec.Name)
            "letter"
            "letter"
            (effective r.S r.Gap)

    let example = test.[0]

    AlignmentReport.write
        dir
        { Command = cfg.Command
          Letters = cfg.Letters
          Pairs = cfg.Pairs
          TestPairs = cfg.TestPairs
          Length = cfg.Length
          Epochs = cfg.Epochs
          Batch = cfg.Batch
          Lr = cfg.Lr
          Gamma = cfg.Gamma
          Margin = cfg.Margin
          SvmMargin = cfg.SvmMargin
          Seed = cfg.Seed }
        { Alphabet = letters.Substring(0, cfg.Letters)
          S = scheme.S
          Gap = scheme.Gap
          Oracle = oracle
          MeanLengthX = meanLength (fun p -> p.X.Length)
          MeanLengthY = meanLength (fun p -> p.Y.Length)
          AlignedShare = alignedShare
          HeldOutPairs = test.Length
          ExampleX = show example.X
          ExampleY = show example.Y
          ExampleAligned = int (Array.sum example.Truth) }
        (specs
         |> List.map (fun s ->
             ({ Id = s.Id
                Name = s.Name
                Description = s.Description }
             : MethodNote)))
        (runs |> List.map (fun (_, r) -> r.Rows))

    rows

/// The command line that reproduces a configuration.
let private commandLine (cfg: Config) =
    sprintf
        "dotnet run --project examples/Imle.Examples -c Release -- alignment --seed %d --out %s --epochs %d --pairs %d --test-pairs %d --length %d --alphabet %d --batch %d --lr %g --gamma %g --margin %g --svm-margin %g --methods %s"
        cfg.Seed
        cfg.OutDir
        cfg.Epochs
        cfg.Pairs
        cfg.TestPairs
        cfg.Length
        cfg.Letters
        cfg.Batch
        cfg.Lr
        cfg.Gamma
        cfg.Margin
        cfg.SvmMargin
        (String.Join(" ", cfg.MethodIds))

// ----- the command's checks ------------------------------------------------------------------------------------------

/// Seconds per DP cell of a pair, per epoch and method (measured here: 0.2 µs for opt-value and 0.85 µs for soft-NW at
/// length 30 on 2 cores).
let private secondsPerCell = 0.4e-6

/// Checks the options and returns the command's plan. A pair of ancestor length L has about L × L DP cells (the
/// evolved sequence keeps about L letters). Memory: three n×m float arrays per pair (truth, evolution, tie-break) and
/// one batch (soft-NW keeps about 15 float64 tensors per anti-diagonal for autograd); time: every method's epochs over
/// the training pairs, and the test pairs' evaluation.
let plan (ctx: RunContext) (args: ParseResults<Args>) : Cli.Plan =
    let letterCount =
        intAtLeast "alphabet" 2 (args.GetResult(Alphabet, defaultValue = 8))

    if letterCount > letters.Length then
        invalidArg "alphabet" (sprintf "--alphabet must be at most %d; got %d." letters.Length letterCount)

    let margin = nonNegativeFloat "margin" (args.GetResult(Margin, defaultValue = 0.0))

    let svmMargin =
        nonNegativeFloat "svm-margin" (args.GetResult(Svm_Margin, defaultValue = 0.1))

    let epochs = positiveInt "epochs" (args.GetResult(Epochs, defaultValue = 20))
    let pairs = positiveInt "pairs" (args.GetResult(Pairs, defaultValue = 480))

    let testPairs =
        positiveInt "test-pairs" (args.GetResult(Test_Pairs, defaultValue = 400))

    let length = positiveInt "length" (args.GetResult(Length, defaultValue = 30))

    let batch =
        match args.TryGetResult Batch with
        | Some b -> positiveInt "batch" b |> batchAtMost "pairs" pairs
        | None -> min 16 pairs

    let lr = positiveFloat "lr" (args.GetResult(Lr, defaultValue = 0.05))
    let gamma = positiveFloat "gamma" (args.GetResult(Gamma, defaultValue = 0.1))

    let methods =
        knownIds "methods" methodIds (args.GetResult(Methods, defaultValue = methodIds))

    let cells = 1.1 * float length * float length

    let perBatchCell =
        if List.contains "soft-nw" methods then
            2.0 * 15.0 * 8.0
        else
            5.0 * 8.0

    let cfg =
        { Epochs = epochs
          Pairs = pairs
          TestPairs = testPairs
          Length = length
          Letters = letterCount
          Batch = batch
          Lr = lr
          Gamma = gamma
          Margin = margin
          SvmMargin = svmMargin
          MethodIds = methods
          Seed = ctx.Seed
          OutDir = ctx.OutDir
          Command = "" }

    { Folders = [ "--out", ctx.OutDir ]
      Needs =
        [ Cli.Memory(
              Cli.describe
                  [ sprintf "--length %d" length
                    sprintf "--pairs %d" pairs
                    sprintf "--test-pairs %d" testPairs ],
              "the sequence pairs",
              float (pairs + testPairs) * cells * 3.0 * 8.0
          )
          Cli.Memory(
              Cli.describe [ sprintf "--length %d" length; sprintf "--batch %d" batch ],
              "one batch's alignment tables",
              float batch * cells * perBatchCell
          )
          Cli.Time(
              Cli.describe
                  [ sprintf "--length %d" length
                    sprintf "--epochs %d" epochs
                    sprintf "--pairs %d" pairs
                    sprintf "--test-pairs %d" testPairs
                    sprintf "%d method%s" methods.Length (if methods.Length = 1 then "" else "s") ],
              Cli.cpuSeconds (
                  float methods.Length
                  * float epochs
                  * (float pairs + float testPairs)
                  * cells
                  * secondsPerCell
              )
          ) ]
      Run =
        fun () ->
            let watch = Stopwatch.StartNew()
            runExperiment { cfg with Command = commandLine cfg } |> ignore
            printfn "Total wall time: %.1f s" watch.Elapsed.TotalSeconds
            0 }
