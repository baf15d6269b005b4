/// Reliability, bad input everywhere public: an FsCheck fuzz over every public entry point (noise, problems and
/// their constructors, exact quantities, reference estimators, discrete layers, losses, gradient checks, tensor
/// solvers), mostly valid and sometimes not. Valid input must give finite results; invalid input a typed error
/// (ArgumentException or InvalidOperationException) that names the offending parameter; nothing may hang.
module Imle.Tests.Reliability.Fuzz

open System
open System.IO
open System.Threading
open System.Threading.Tasks
open Expecto
open FsCheck
open FsCheck.FSharp
open TorchSharp
open Imle
open Imle.Solvers
open Imle.Torch
open Imle.Tests.Reliability.Common


/// A configuration: a description, the names (any of which) a typed error must mention when the input is invalid
/// (empty = the input is valid), and the call, which returns the numbers it produced.
type FuzzCase =
    { Description: string
      Invalid: string list
      Run: unit -> float[] }

    override this.ToString() = this.Description

let private tried = ref 0
let private invalidCount = ref 0
let private fuzzTests = 1000
/// Per-call limit: a call that takes longer has hung.
let private callTimeout = TimeSpan.FromSeconds 20.0

/// Runs a case on a worker thread with a timeout and checks its outcome.
let private check (case: FuzzCase) : bool =
    Interlocked.Increment tried |> ignore

    if not case.Invalid.IsEmpty then
        Interlocked.Increment invalidCount |> ignore

    let task = Task.Run(fun () -> case.Run())

    let finished =
        try
            task.Wait callTimeout
        with :? AggregateException ->
            true

    if not finished then
        failwithf "HANG: '%s' did not return within %A" case.Description callTimeout

    match task.Exception with
    | null ->
        if not case.Invalid.IsEmpty then
            failwithf
                "'%s' is invalid (expected an error naming one of %A) but returned %A"
                case.Description
                case.Invalid
                (task.Result |> Array.truncate 8)

        if not (allFinite task.Result) then
            failwithf
                "'%s' is valid but returned non-finite values %A"
                case.Description
                (task.Result |> Array.truncate 8)

        true
    | agg ->
        let e = agg.InnerExceptions.[0]
        let typed = e :? ArgumentException || e :? InvalidOperationException

        if case.Invalid.IsEmpty then
            failwithf "'%s' is valid but raised %s: %s" case.Description (e.GetType().Name) e.Message

        if not typed then
            failwithf
                "'%s' raised %s (expected ArgumentException or InvalidOperationException): %s"
                case.Description
                (e.GetType().FullName)
                e.Message

        if not (case.Invalid |> List.exists (fun n -> e.Message.Contains(n: string))) then
            failwithf
                "'%s' raised %s whose message names none of %A: %s"
                case.Description
                (e.GetType().Name)
                case.Invalid
                e.Message

        true

// ----- parameter generators: mostly valid, sometimes not --------------------------------------------------------------

let private badFloats = [ 0.0; -1.0; nan; infinity; -infinity ]

let private isBad (x: float) =
    Double.IsNaN x || Double.IsInfinity x || x <= 0.0

let private positive =
    Gen.frequency [ 5, Gen.elements [ 0.1; 0.5; 1.0; 2.0; 10.0 ]; 1, Gen.elements badFloats ]

let private kappaGen =
    Gen.frequency
        [ 5, Gen.elements [ 1.0; 2.0; 5.0 ]
          1, Gen.elements [ 0.5; 0.0; -2.0; nan; infinity ] ]

let private termsGen =
    Gen.frequency [ 5, Gen.elements [ 1; 3; 10 ]; 1, Gen.elements [ 0; -3 ] ]

/// A noise and the parameter names that make it invalid.
let private noiseGen: Gen<Noise * string list> =
    gen {
        let! choice = Gen.choose (0, 5)
        let! tau = positive
        let! kappa = kappaGen
        let! terms = termsGen
        let bad name cond = if cond then [ name ] else []

        match choice with
        | 0 -> return Zero, []
        | 1 -> return Gumbel tau, bad "tau" (isBad tau)
        | 2 ->
            return
                SumOfGamma(kappa, tau, terms),
                bad "kappa" (Double.IsNaN kappa || Double.IsInfinity kappa || kappa < 1.0)
                @ bad "tau" (isBad tau)
                @ bad "terms" (terms < 1)
        | 3 ->
            return
                SumOfGammaCorrected(kappa, tau, terms),
                bad "kappa" (Double.IsNaN kappa || Double.IsInfinity kappa || kappa < 1.0)
                @ bad "tau" (isBad tau)
                @ bad "terms" (terms < 1)
        | 4 -> return Normal tau, bad "sigma" (isBad tau)
        | _ -> return Custom("uniform", fun rng -> rng.NextDouble()), []
    }

/// A vector of m entries, sometimes with one NaN or ±∞.
let private vectorGen (m: int) : Gen<float[] * bool> =
    gen {
        let! values =
            Gen.arrayOfLength m (Gen.choose (-1000, 1000) |> Gen.map (fun i -> float i / 100.0))

        let! poison =
            Gen.frequency
                [ 6, Gen.constant None
                  1, Gen.elements [ nan; infinity; -infinity ] |> Gen.map Some ]

        let! at = Gen.choose (0, max 0 (m - 1))

        match poison with
        | Some p when m > 0 ->
            let v = Array.copy values
            v.[at] <- p
            return v, true
        | _ -> return values, false
    }

/// Sometimes a vector of the wrong length.
let private lengthGen (m: int) =
    Gen.frequency [ 6, Gen.constant m; 1, Gen.elements [ 0; m + 1; max 0 (m - 1) ] ]

let private imleOptionsGen: Gen<ImleOptions * string list> =
    gen {
        let! noise, noiseBad = noiseGen
        let! lambda = positive
        let! samples = Gen.frequency [ 5, Gen.choose (1, 3); 1, Gen.elements [ 0; -1 ] ]
        let! tin = Gen.frequency [ 8, Gen.constant 1.0; 1, Gen.elements badFloats ]

        let! target =
            Gen.frequency
                [ 4, Gen.constant (Pid lambda)
                  1, Gen.constant CombOpt
                  1,
                  Gen.constant (
                      Adaptive
                          { AdaptiveLambda.Default with
                              InitialBeta = 0.5
                              BetaStep = 1e-3 }
                  ) ]

        let! symmetric = Gen.frequency [ 4, Gen.constant false; 1, Gen.constant true ]

        let o =
            { ImleOptions.Create(2.0, 1.0) with
                Noise = noise
                Target = target
                Samples = samples
                InputTemperature = tin
                Symmetric = symmetric }

        let bad =
            noiseBad
            @ (match target with
               | Pid l when isBad l -> [ "lambda" ]
               | _ -> [])
            @ (if samples < 1 then [ "samples" ] else [])
            @ (if isBad tin then [ "inputTemperature" ] else [])
            @ (match target with
               | CombOpt when symmetric -> [ "Symmetric" ]
               | _ -> [])

        return o, bad
    }

/// Any estimator, with the names that make it invalid for a k-subset problem (`categorical` says whether the
/// problem is categorical, which Gumbel-softmax needs).
let private estimatorGen (categorical: bool) : Gen<Estimator * string list> =
    gen {
        let! choice = Gen.choose (0, 7)
        let! tau = positive
        let! noise, noiseBad = noiseGen
        let! samples = Gen.frequency [ 5, Gen.choose (1, 3); 1, Gen.elements [ 0; -2 ] ]
        let samplesBad = if samples < 1 then [ "samples" ] else []

        match choice with
        | 0
        | 1 ->
            let! o, bad = imleOptionsGen
            return Imle o, bad
        | 2 -> return Blackbox tau, (if isBad tau then [ "lambda" ] else [])
        | 3 -> return Identity(MeanCentre, noise), noiseBad
        | 4 -> return StraightThrough noise, noiseBad
        | 5 ->
            let kindBad =
                match noise with
                | Normal _
                | Gumbel _ -> []
                | _ -> [ "noise" ]

            return Estimator.perturbed noise samples, noiseBad @ kindBad @ samplesBad
        | 6 -> return ScoreFunction samples, samplesBad
        | _ ->
            if categorical then
                return GumbelSoftmax tau, (if isBad tau then [ "tau" ] else [])
            else
                return RelaxedTopK tau, (if isBad tau then [ "tau" ] else [])
    }

// ----- the cases ------------------------------------------------------------------------------------------------------

let private noiseCase =
    gen {
        let! noise, bad = noiseGen
        let! count = Gen.frequency [ 6, Gen.choose (0, 50); 1, Gen.constant -1 ]
        let! seed = Gen.choose (0, 1000)

        return
            { Description = sprintf "Noise.sample %s count=%d" (Noise.describe noise) count
              Invalid = bad @ (if count < 0 then [ "count" ] else [])
              Run = fun () -> Noise.sample noise (Random seed) count }
    }

let private tensorNoiseCase =
    gen {
        let! noise, bad = noiseGen

        let! shape =
            Gen.frequency
                [ 6, Gen.elements [ [| 3L; 4L |]; [| 10L |]; [| 0L; 2L |]; [||] ]
                  1, Gen.constant [| 2L; -1L |] ]

        let! dtype =
            Gen.frequency [ 4, Gen.elements [ f32; f64 ]; 1, Gen.constant torch.int32 ]

        let! seed = Gen.choose (0, 1000)

        let invalid =
            bad
            @ (if shape |> Array.exists (fun d -> d < 0L) then
                   [ "shape" ]
               else
                   [])
            @ (if dtype = torch.int32 then [ "dtype" ] else [])

        return
            { Description = sprintf "TensorNoise.sample %s shape=%A dtype=%A" (Noise.describe noise) shape dtype
              Invalid = invalid
              Run =
                fun () ->
                    use t =
                        TensorNoise.sample noise (new torch.Generator(uint64 seed)) shape dtype torch.CPU

                    toArray t }
    }

/// A ready-made or user problem: a description, its constructor (run inside the case, since it may fail), the shape
/// of its states (a guess when the constructor fails), the names a constructor failure must mention, and the names a
/// solve failure must mention (disconnected graphs, faulty user solvers).
type private ProblemSpec =
    { Name: string
      Make: unit -> Problem
      Shape: int[]
      Sense: Sense
      CtorBad: string list
      SolveBad: string list }

let private spec name (make: unit -> Problem) ctorBad solveBad (fallbackShape: int[]) (sense: Sense) =
    let shape =
        if List.isEmpty ctorBad then
            (make ()).Shape
        else
            fallbackShape

    { Name = name
      Make = make
      Shape = shape
      Sense = sense
      CtorBad = ctorBad
      SolveBad = solveBad }

let private problemGen: Gen<ProblemSpec> =
    gen {
        let! choice = Gen.choose (0, 9)

        match choice with
        | 0 ->
            let! m = Gen.frequency [ 6, Gen.choose (1, 8); 1, Gen.elements [ 0; -2 ] ]

            let! k =
                Gen.frequency [ 6, Gen.choose (1, max 1 m); 1, Gen.elements [ 0; -1; m + 1 ] ]

            let bad =
                if m < 1 then [ "m" ]
                elif k < 1 || k > m then [ "k" ]
                else []

            return spec (sprintf "kSubset %d %d" m k) (fun () -> Problem.kSubset m k) bad [] [| 3 |] Maximise
        | 1 ->
            let! m = Gen.frequency [ 6, Gen.choose (1, 8); 1, Gen.constant 0 ]

            return
                spec
                    (sprintf "categorical %d" m)
                    (fun () -> Problem.categorical m)
                    (if m < 1 then [ "m" ] else [])
                    []
                    [| 3 |]
                    Maximise
        | 2 ->
            let! rows = Gen.frequency [ 6, Gen.choose (1, 4); 1, Gen.constant 0 ]
            let! cols = Gen.frequency [ 6, Gen.choose (1, 4); 1, Gen.constant -1 ]
            let! n = Gen.elements [ Four; Eight ]

            let bad =
                if rows < 1 then [ "rows" ]
                elif cols < 1 then [ "cols" ]
                else []

            return
                spec
                    (sprintf "grid %dx%d %A" rows cols n)
                    (fun () -> Problem.gridShortestPath rows cols n)
                    bad
                    []
                    [| 2; 2 |]
                    Minimise
        | 3 ->
            let! n = Gen.choose (1, 4)
            let! m = Gen.choose (1, 4)

            let! gap =
                Gen.frequency [ 6, Gen.elements [ 0.0; 0.5; 2.0 ]; 1, Gen.elements [ -1.0; nan; infinity ] ]

            let bad =
                if Double.IsNaN gap || Double.IsInfinity gap || gap < 0.0 then
                    [ "gap" ]
                else
                    []

            return
                spec
                    (sprintf "alignment %dx%d gap=%g" n m gap)
                    (fun () -> Problem.alignment n m gap)
                    bad
                    []
                    [| n; m |]
                    Maximise
        | 4 ->
            let! rows = Gen.choose (1, 4)
            let! cols = Gen.frequency [ 6, Gen.choose (rows, 5); 1, Gen.constant (rows - 1) ]

            return
                spec
                    (sprintf "matching %dx%d" rows cols)
                    (fun () -> Problem.matching rows cols)
                    (if cols < rows then [ "cols" ] else [])
                    []
                    [| rows; max 1 cols |]
                    Minimise
        | 5 ->
            // Connected (a cycle), disconnected (an isolated node), or an edge naming a missing node.
            let! kind = Gen.frequency [ 5, Gen.constant 0; 2, Gen.constant 1; 1, Gen.constant 2 ]
            let! nodes = Gen.choose (2, 6)
            let path = Array.init (nodes - 1) (fun i -> i, i + 1)

            match kind with
            | 0 ->
                return
                    spec
                        (sprintf "spanning tree, cycle of %d" nodes)
                        (fun () -> Problem.spanningTree nodes (Array.append path [| 0, nodes - 1 |]))
                        []
                        []
                        [| nodes |]
                        Minimise
            | 1 ->
                return
                    spec
                        (sprintf "spanning tree, disconnected %d nodes" (nodes + 1))
                        (fun () -> Problem.spanningTree (nodes + 1) path)
                        []
                        [ "edges"; "connected" ]
                        [| nodes - 1 |]
                        Minimise
            | _ ->
                return
                    spec
                        "spanning tree, edge to a missing node"
                        (fun () -> Problem.spanningTree nodes [| 0, nodes + 3 |])
                        [ "edges" ]
                        []
                        [| 1 |]
                        Minimise
        | 6 ->
            let! items = Gen.choose (1, 6)
            let! negative = Gen.frequency [ 6, Gen.constant false; 1, Gen.constant true ]
            let! capacity = Gen.frequency [ 6, Gen.choose (0, 10); 1, Gen.constant -1 ]
            let weights = Array.init items (fun i -> if negative && i = 0 then -2 else i + 1)

            let bad =
                if negative then [ "itemWeights" ]
                elif capacity < 0 then [ "capacity" ]
                else []

            return
                spec
                    (sprintf "knapsack %A cap %d" weights capacity)
                    (fun () -> Problem.knapsack weights capacity)
                    bad
                    []
                    [| items |]
                    Maximise
        | _ ->
            // A user solver: correct, or returning an infeasible, wrongly sized, non-binary or null state.
            let! m = Gen.choose (2, 6)

            let! fault =
                Gen.frequency
                    [ 4, Gen.constant 0
                      1, Gen.constant 1
                      1, Gen.constant 2
                      1, Gen.constant 3
                      1, Gen.constant 4 ]

            let name = sprintf "user-top1-fault%d" fault

            let solve (w: float[]) : float[] =
                match fault with
                | 0 -> TopK.solve 1 w
                | 1 -> Array.create w.Length 1.0 // infeasible: not one-hot
                | 2 -> Array.zeroCreate (w.Length + 1)
                | 3 -> Array.create w.Length 0.5
                | _ -> null

            let make () =
                Problem.create name [| m |] Maximise solve
                |> Problem.withFeasibility (fun z -> Array.sum z = 1.0)

            return spec name make [] (if fault = 0 then [] else [ name ]) [| m |] Maximise
    }

let private problemSolveCase =
    gen {
        let! p = problemGen
        let size = Array.fold (*) 1 p.Shape
        let! len = lengthGen size
        let! w, poisoned = vectorGen len

        let weights =
            w
            |> Array.map (fun x ->
                if p.Sense = Minimise && not (Double.IsNaN x) then
                    abs x
                else
                    x)

        let invalid =
            if not p.CtorBad.IsEmpty then p.CtorBad
            elif len <> size || poisoned then [ "weights" ]
            else p.SolveBad

        return
            { Description = sprintf "Problem.solve (%s) weights=%A" p.Name weights
              Invalid = invalid
              Run = fun () -> Problem.solve (p.Make()) weights }
    }

/// Constructor calls with bad arguments, named so that the failure is the constructor's own.
let private constructorCase =
    Gen.elements
        [ "kSubset m=0", [ "m" ], (fun () -> Problem.kSubset 0 1 |> ignore)
          "kSubset k=0", [ "k" ], (fun () -> Problem.kSubset 5 0 |> ignore)
          "kSubset k>m", [ "k" ], (fun () -> Problem.kSubset 3 4 |> ignore)
          "categorical m=-1", [ "m" ], (fun () -> Problem.categorical -1 |> ignore)
          "grid rows=0", [ "rows" ], (fun () -> Problem.gridShortestPath 0 3 Four |> ignore)
          "alignment gap=NaN", [ "gap" ], (fun () -> Problem.alignment 2 2 nan |> ignore)
          "matching cols<rows", [ "cols" ], (fun () -> Problem.matching 3 2 |> ignore)
          "spanningTree bad edge", [ "edges" ], (fun () -> Problem.spanningTree 3 [| 0, 5 |] |> ignore)
          "spanningTree nodes=0", [ "nodes" ], (fun () -> Problem.spanningTree 0 [||] |> ignore)
          "knapsack negative weight", [ "itemWeights" ], (fun () -> Problem.knapsack [| 1; -1 |] 3 |> ignore)
          "knapsack negative capacity", [ "capacity" ], (fun () -> Problem.knapsack [| 1; 2 |] -1 |> ignore)
          "knapsack no items", [ "itemWeights" ], (fun () -> Problem.knapsack [||] 3 |> ignore)
          "create empty name", [ "name" ], (fun () -> Problem.create " " [| 2 |] Maximise id |> ignore)
          "create shape 0", [ "shape" ], (fun () -> Problem.create "p" [| 2; 0 |] Maximise id |> ignore)
          "TopK k>m", [ "k" ], (fun () -> TopK.solve 4 [| 1.0; 2.0 |] |> ignore)
          "TopK NaN", [ "scores" ], (fun () -> TopK.solve 1 [| 1.0; nan |] |> ignore)
          "Argmax ∞", [ "scores" ], (fun () -> Argmax.solve [| infinity; 1.0 |] |> ignore)
          "Grid negative cost",
          [ "costs" ],
          (fun () -> GridShortestPath.solve 2 2 Four [| 1.0; -1.0; 1.0; 1.0 |] |> ignore)
          "Grid wrong length", [ "costs" ], (fun () -> GridShortestPath.solve 2 2 Four [| 1.0 |] |> ignore)
          "Matching NaN", [ "costs" ], (fun () -> Matching.solve 2 2 [| 1.0; nan; 1.0; 1.0 |] |> ignore)
          "Alignment wrong length", [ "scores" ], (fun () -> Alignment.solve 2 2 0.0 [| 1.0 |] |> ignore)
          "SpanningTree disconnected", [ "edges" ], (fun () -> SpanningTree.solve 3 [| 0, 1 |] [| 1.0 |] |> ignore)
          "Knapsack NaN value", [ "values" ], (fun () -> Knapsack.solve [| 1; 1 |] 1 [| nan; 1.0 |] |> ignore)
          "Exact.logPartition tau=0",
          [ "tau" ],
          (fun () -> Exact.logPartition 0.0 (Problem.kSubsets 3 1) [| 1.0; 2.0; 3.0 |] |> ignore)
          "Exact.marginals wrong length",
          [ "states" ],
          (fun () -> Exact.marginals 1.0 (Problem.kSubsets 3 1) [| 1.0; 2.0 |] |> ignore)
          "Exact.sample null rng",
          [ "rng" ],
          (fun () -> Exact.sample 1.0 (Problem.kSubsets 3 1) null [| 1.0; 2.0; 3.0 |] |> ignore)
          "Problem.states not enumerable",
          [ "enumeration" ],
          (fun () -> Problem.states (Problem.alignment 3 3 0.0) |> ignore)
          "AdaptiveLambda decay=1",
          [ "Decay" ],
          (fun () ->
              AdaptiveLambda.validate
                  { AdaptiveLambda.Default with
                      Decay = 1.0 }
              |> ignore)
          "DiscreteLayer invalid estimator",
          [ "lambda" ],
          (fun () ->
              Layers.kSubset
                  5
                  2
                  { KSubsetLayerOptions.Default with
                      Lambda = -1.0 }
              |> ignore)
          "DiscreteLayer S=0",
          [ "samples" ],
          (fun () ->
              Layers.kSubset
                  5
                  2
                  { KSubsetLayerOptions.Default with
                      Lambda = 1.0
                      Samples = 0 }
              |> ignore)
          "TensorSolve DOP=0",
          [ "degreeOfParallelism" ],
          (fun () ->
              TensorSolve.solveWithParallelism 0 (Problem.kSubset 3 1) (torch.zeros (3L))
              |> ignore)
          "Checkpoint.load missing model", [ "model" ], (fun () -> Checkpoint.load "nowhere.ckpt" null None |> ignore) ]
    |> Gen.map (fun (d, names, f) ->
        { Description = d
          Invalid = names
          Run =
            fun () ->
                f ()
                [||] })

let private exactCase =
    gen {
        let! m = Gen.choose (1, 8)
        let! k = Gen.frequency [ 6, Gen.choose (1, m); 1, Gen.elements [ 0; m + 1 ] ]
        let! tau = positive
        let! theta, poisoned = vectorGen m
        let! which = Gen.choose (0, 3)

        let invalid =
            (if isBad tau then [ "tau" ] else [])
            // KSubset names its scores `scores`; Exact.marginals names them `theta`.
            @ (if poisoned then
                   [ (if which = 3 then "theta" else "scores") ]
               else
                   [])
            @ (if k < 1 || k > m then [ "k" ] else [])

        let name, run =
            match which with
            | 0 -> "KSubset.logPartition", (fun () -> [| KSubset.logPartition tau k theta |])
            | 1 -> "KSubset.marginals", (fun () -> KSubset.marginals tau k theta)
            | 2 -> "KSubset.sample", (fun () -> KSubset.sample tau k (Random 1) theta)
            | _ ->
                "Exact.marginals (k-subsets)",
                (fun () ->
                    let states = if k >= 1 && k <= m then Problem.kSubsets m k else [||]
                    Exact.marginals tau states theta)

        let invalid =
            if which = 3 && (k < 1 || k > m) then
                [ "states"; "tau"; "theta" ]
            else
                invalid

        return
            { Description = sprintf "%s tau=%g k=%d theta=%A" name tau k theta
              Invalid = invalid
              Run = run }
    }

let private referenceCase =
    gen {
        let! m = Gen.choose (2, 7)
        let! k = Gen.choose (1, m - 1)
        let problem = Problem.kSubset m k
        let! estimator, bad = estimatorGen false
        let! weights, wPoisoned = vectorGen m
        let! dyLen = lengthGen m
        let! dy, dyPoisoned = vectorGen dyLen
        let! seed = Gen.choose (0, 1000)

        // Every estimator has a reference implementation; Gumbel-softmax needs a categorical problem.
        let noForward =
            match estimator with
            | GumbelSoftmax _ -> [ "estimator" ]
            | _ -> []
        // An adaptive-λ target keeps state between backward passes: Reference.estimate refuses it at the start of its
        // backward pass (after the forward pass has checked the weights), naming the estimator.
        let adaptive =
            match estimator with
            | Imle { Target = Adaptive _ } -> [ "estimator" ]
            | _ -> []

        let invalid =
            if not bad.IsEmpty then bad
            elif not noForward.IsEmpty then noForward
            elif wPoisoned then [ "weights" ]
            elif not adaptive.IsEmpty then adaptive
            elif dyPoisoned || dyLen <> m then [ "gradients" ]
            else []

        return
            { Description =
                sprintf "Reference.estimate %s on %s, w=%A dy=%A" (Estimator.describe estimator) problem.Name weights dy
              Invalid = invalid
              Run =
                fun () ->
                    let _, g = Reference.estimate problem estimator (Random seed) weights (fun _ -> dy)
                    g }
    }

/// Discrete.apply DiscreteOptions.Default (or a DiscreteLayer) forward + Training.backward on tensors, with bad shapes, dtypes, NaN weights
/// and NaN/∞ upstream gradients.
let private discreteCase =
    gen {
        let! categorical = Gen.frequency [ 3, Gen.constant false; 1, Gen.constant true ]
        let! m = Gen.choose (2, 6)

        let problem =
            if categorical then
                Problem.categorical m
            else
                Problem.kSubset m (m / 2)

        let! estimator, bad = estimatorGen categorical
        // The relaxed estimators need the matching problem: mismatches are named "estimator".
        let kindBad =
            match estimator, categorical with
            | GumbelSoftmax _, false
            | RelaxedTopK _, true -> [ "estimator" ]
            | _ -> []

        let! batch = Gen.choose (1, 3)

        let! shapeKind =
            Gen.frequency [ 8, Gen.constant 0; 1, Gen.constant 1; 1, Gen.constant 2 ]

        let shape =
            match shapeKind with
            | 0 -> [| int64 batch; int64 m |]
            | 1 -> [| int64 batch; int64 (m + 1) |] // wrong trailing dim
            | _ -> [||] // rank 0

        let! dtype =
            Gen.frequency [ 6, Gen.elements [ f32; f64 ]; 1, Gen.constant torch.int64 ]

        let! weights, wPoisoned = vectorGen (batch * m)
        let! dy, dyPoisoned = vectorGen (batch * m)
        let! useLayer = Gen.frequency [ 3, Gen.constant false; 1, Gen.constant true ]
        let! seed = Gen.choose (0, 1000)
        let shapeBad = shapeKind <> 0 || dtype = torch.int64 || wPoisoned

        let invalid =
            if not bad.IsEmpty then
                bad
            elif not kindBad.IsEmpty || shapeBad then
                kindBad @ (if shapeBad then [ "weights" ] else [])
            elif dyPoisoned then
                [ "dL/dz" ]
            else
                []
        // The relaxed estimators are ordinary differentiable functions: a NaN upstream gradient flows through
        // (no Imle backward pass to check it), so for them NaN dL/dz is not an Imle error.
        let relaxed =
            match estimator with
            | GumbelSoftmax _
            | RelaxedTopK _ -> true
            | _ -> false

        let invalid = if relaxed && invalid = [ "dL/dz" ] then [] else invalid

        return
            { Description =
                sprintf
                    "%s %s on %s, shape %A %A, w=%A dy=%A"
                    (if useLayer then
                         "DiscreteLayer"
                     else
                         "Discrete.apply DiscreteOptions.Default")
                    (Estimator.describe estimator)
                    problem.Name
                    shape
                    dtype
                    weights
                    dy
              Invalid = invalid
              Run =
                fun () ->
                    use _scope = torch.NewDisposeScope()

                    let w =
                        match shapeKind with
                        | 0 -> torch.tensor(weights, dtype = f64).reshape(shape).``to``(dtype)
                        | 1 -> torch.zeros (shape, dtype = dtype)
                        | _ -> torch.tensor (1.0, dtype = dtype)

                    if torch.is_floating_point w then
                        w.requires_grad_ (true) |> ignore

                    let z =
                        if useLayer then
                            use layer =
                                Layers.create problem estimator (LayerOptions.Default.WithSeed(int64 seed))

                            layer.forward w
                        else
                            applyAny problem estimator (new torch.Generator(uint64 seed)) w

                    let upstream = torch.tensor(dy, dtype = f64).reshape(z.shape).``to``(z.dtype)
                    Training.backward ((z * upstream).sum())

                    if relaxed && dyPoisoned then
                        Array.append (toArray z) [| 0.0 |]
                    else
                        Array.append (toArray z) (toArray w.grad) }
    }

let private lossCase =
    gen {
        let! which = Gen.choose (0, 3)
        let! m = Gen.choose (2, 5)
        let! mismatch = Gen.frequency [ 5, Gen.constant false; 1, Gen.constant true ]
        let! mixedDtypes = Gen.elements [ false; true ]
        let! noise, noiseBad = noiseGen
        let! samples = Gen.frequency [ 5, Gen.choose (1, 3); 1, Gen.constant 0 ]
        let problem = Problem.kSubset m 1

        let yShape =
            if mismatch then
                [| 2L; int64 m + 1L |]
            else
                [| 2L; int64 m |]

        let yType = if mixedDtypes then f32 else f64

        match which with
        | 0 ->
            return
                { Description = sprintf "Losses.hamming Reduction.Mean m=%d mismatch=%b mixed=%b" m mismatch mixedDtypes
                  Invalid = (if mismatch then [ "y" ] else [])
                  Run =
                    fun () ->
                        use z = torch.ones ([| 2L; int64 m |], dtype = f64)
                        use y = torch.zeros (yShape, dtype = yType)
                        use l = Losses.hamming Reduction.Mean z y
                        toArray l }
        | 1 ->
            return
                { Description = sprintf "Losses.regret Reduction.Mean m=%d mismatch=%b" m mismatch
                  Invalid = (if mismatch then [ "optimal" ] else [])
                  Run =
                    fun () ->
                        use z = torch.ones ([| 2L; int64 m |], dtype = f64)
                        use c = torch.ones ([| 2L; int64 m |], dtype = yType)
                        use o = torch.zeros (yShape, dtype = f64)
                        use l = Losses.regret Reduction.Mean z c o
                        toArray l }
        | 2 ->
            let fyNoiseBad =
                match noise with
                | Normal _
                | Gumbel _
                | Zero
                | Custom _
                | SumOfGamma _
                | SumOfGammaCorrected _ -> noiseBad

            let invalid =
                fyNoiseBad
                @ (if samples < 1 then [ "samples" ] else [])
                @ (if mismatch then [ "trueSolutions" ] else [])

            return
                { Description =
                    sprintf "DflLosses.compute FenchelYoung %s S=%d mismatch=%b" (Noise.describe noise) samples mismatch
                  Invalid = invalid
                  Run =
                    fun () ->
                        use _scope = torch.NewDisposeScope()
                        let w = torch.randn([| 2L; int64 m |], dtype = f64).requires_grad_(true)
                        let y = torch.zeros (yShape, dtype = yType)

                        let l =
                            DflLosses.compute
                                problem
                                (DflLoss.FenchelYoung(PerturbedOptions.Create(noise, samples)))
                                (DflSources.OfGenerator(new torch.Generator(1UL)))
                                { Predicted = w
                                  TrueCosts = null
                                  TrueSolutions = y
                                  BindingNormals = null }

                        Training.backward l
                        Array.append (toArray l) (toArray w.grad) }
        | _ ->
            return
                { Description = sprintf "Losses.optimalValue m=%d mismatch=%b" m mismatch
                  Invalid = (if mismatch then [ "weights" ] else [])
                  Run =
                    fun () ->
                        use _scope = torch.NewDisposeScope()
                        let w = torch.randn(yShape, dtype = f64).requires_grad_(true)
                        let l = Losses.optimalValue problem w
                        Training.backward (l.sum ())
                        Array.append (toArray l) (toArray w.grad) }
    }

let private gradCheckCase =
    gen {
        let! enumerable = Gen.frequency [ 5, Gen.constant true; 1, Gen.constant false ]
        let! m = Gen.choose (3, 5)

        let problem =
            if enumerable then
                Problem.kSubset m 2
            else
                Problem.alignment 2 2 0.0

        let! estimator, bad = estimatorGen false
        let! samples = Gen.frequency [ 5, Gen.constant 8; 1, Gen.elements [ 1; 0 ] ]
        let! len = lengthGen problem.Size
        let! weights, poisoned = vectorGen len

        let invalid =
            if not bad.IsEmpty then bad
            elif len <> problem.Size || poisoned then [ "weights" ]
            elif samples < 2 then [ "samples" ]
            elif not enumerable then [ "enumeration" ]
            else []

        let b = Array.init problem.Size (fun i -> if i % 2 = 0 then 1.0 else 0.0)

        return
            { Description =
                sprintf
                    "GradCheck.run %s on %s samples=%d w=%A"
                    (Estimator.describe estimator)
                    problem.Name
                    samples
                    weights
              Invalid = invalid
              Run =
                fun () ->
                    let r =
                        GradCheck.run problem estimator weights (GradCheck.squaredDistance b) samples 3L

                    Array.concat [ r.Mean; r.Exact; [| r.Variance |] ] }
    }

let private tensorSolveCase =
    gen {
        let! p = problemGen
        let! shapeKind = Gen.frequency [ 8, Gen.constant 0; 1, Gen.constant 1 ]

        let! dtype =
            Gen.frequency [ 6, Gen.elements [ f32; f64 ]; 1, Gen.constant torch.int32 ]

        let! batch = Gen.choose (1, 40)
        let! poison = Gen.frequency [ 8, Gen.constant false; 1, Gen.constant true ]
        let! dop = Gen.elements [ 1; 2; 4 ]
        let shape = Array.append [| int64 batch |] (Array.map int64 p.Shape)

        let shape =
            if shapeKind = 1 then
                Array.append shape.[.. shape.Length - 2] [| shape.[shape.Length - 1] + 1L |]
            else
                shape

        let invalid =
            if not p.CtorBad.IsEmpty then
                p.CtorBad
            elif shapeKind = 1 || dtype = torch.int32 || poison then
                [ "weights" ]
            else
                p.SolveBad

        return
            { Description =
                sprintf "TensorSolve.solveWithParallelism %d (%s) shape %A %A poison=%b" dop p.Name shape dtype poison
              Invalid = invalid
              Run =
                fun () ->
                    let problem = p.Make()
                    use _scope = torch.NewDisposeScope()

                    let w =
                        torch.rand (shape, dtype = f64, generator = new torch.Generator(uint64 batch))
                        * 5.0

                    if poison then
                        w.view(-1L).[0L] <- torch.tensor (nan, dtype = f64)

                    let z = TensorSolve.solveWithParallelism dop problem (w.``to`` (dtype))
                    toArray z }
    }

let private anyCase =
    Gen.frequency
        [ 2, noiseCase
          2, tensorNoiseCase
          3, problemSolveCase
          2, constructorCase
          2, exactCase
          3, referenceCase
          4, discreteCase
          2, lossCase
          1, gradCheckCase
          3, tensorSolveCase ]

let private fuzzConfig =
    { FsCheckConfig.defaultConfig with
        maxTest = fuzzTests
        replay = Some(20240611UL, 0x9E3779B97F4A7C15UL, None) }

/// The fuzz property (1,000 configurations from a fixed replay seed).
let property =
    testPropertyWithConfig fuzzConfig "valid → finite results; invalid → a typed error naming the parameter; no hang"
    <| Prop.forAll (Arb.fromGen anyCase) (fun case ->
        let ok = check case

        if tried.Value = fuzzTests then
            printfn
                "reliability fuzz: %d configurations tried, %d invalid (%d valid)"
                tried.Value
                invalidCount.Value
                (tried.Value - invalidCount.Value)

        ok)
