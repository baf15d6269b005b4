/// The Scalar-lifetime stress test: every estimator's forward and backward passes (and the losses) in a loop, one
/// dispose scope per step as a training loop has, while other threads allocate, create and abandon native Scalars and
/// force garbage collections. Each step recomputes the same gradients from the same seed and compares them bit for bit
/// with a baseline computed before the other threads start, so a freed-and-reused Scalar shows as an exception
/// ("Unknown scalar type"), a wrong value, or the death of the process (a segmentation fault: the parent sees it).
///
/// `--control` runs TorchSharp's own `tensor * number` (an implicit temporary Scalar) under the same load instead, each
/// product compared with one computed before the load starts: without the guard's Scalar quarantine (native/guard) it
/// fails within seconds; with it, it must not fail at all.
///
/// Both modes measure resident memory after a tenth of the run (the warm-up) and at the end, and fail when it grew by more
/// than 10 % + 16 MiB.
module Imle.Soak.ScalarStress

open System
open System.Threading
open TorchSharp
open Imle
open Imle.Torch

let private f64 = torch.float64

/// How many disposed Scalars wait in the guard's quarantine (native/guard); fails where the guard is not installed.
[<Runtime.InteropServices.DllImport("LibTorchSharp")>]
extern int64 private ImleGuard_quarantined()

let private quarantined () =
    try
        sprintf "%d Scalars in the guard's quarantine" (ImleGuard_quarantined())
    with :? EntryPointNotFoundException ->
        "no guard installed"

/// One checked computation: its name and a function from a seed to the gradient (or value) it produces.
type private Case =
    { Name: string
      Run: unit -> torch.Tensor }

let private cases () : Case list =
    let m, k, b = 20, 5, 16L
    let subsets = Problem.kSubset m k
    let categorical = Problem.categorical m
    let generator = new torch.Generator(11UL)

    let weights0 =
        torch.randn ([| b; int64 m |], dtype = f64, generator = new torch.Generator(1UL))

    let target =
        TensorSolve.solve subsets (torch.randn ([| b; int64 m |], dtype = f64, generator = new torch.Generator(2UL)))

    let targetCat =
        TensorSolve.solve
            categorical
            (torch.randn ([| b; int64 m |], dtype = f64, generator = new torch.Generator(3UL)))

    /// dL/dw of the Hamming loss of an estimator's output, from a fixed generator state.
    let gradientOf (problem: Problem) (estimator: Estimator) (y: torch.Tensor) () =
        generator.manual_seed 11L |> ignore
        let w = weights0.clone().requires_grad_(true)
        let z = Discrete.apply DiscreteOptions.Default problem estimator generator w
        let loss = Losses.hamming Reduction.Mean z y
        Training.backward loss
        w.grad.clone ()

    let lossGradient (loss: torch.Tensor -> torch.Tensor) () =
        generator.manual_seed 11L |> ignore
        let w = weights0.clone().requires_grad_(true)
        let l = (loss w).sum()
        Training.backward l
        w.grad.clone ()

    let sog = SumOfGamma(float k, 1.0, 10)
    let imle = ImleOptions.Create(float k, 2.0).WithSamples(3)

    [ { Name = "I-MLE (SoG, S = 3)"
        Run = gradientOf subsets (Imle imle) target }
      { Name = "I-MLE symmetric"
        Run = gradientOf subsets (Imle(imle.WithSymmetric true)) target }
      { Name = "I-MLE CombOpt target"
        Run = gradientOf subsets (Imle(imle.WithTarget CombOpt)) target }
      { Name = "blackbox"
        Run = gradientOf subsets (Blackbox 5.0) target }
      { Name = "identity (mean-centred)"
        Run = gradientOf subsets (Identity(MeanCentre, sog)) target }
      { Name = "straight-through"
        Run = gradientOf subsets (StraightThrough(Gumbel 1.0)) target }
      { Name = "perturbed (Normal, S = 3)"
        Run = gradientOf subsets (Estimator.perturbed (Normal 1.0) 3) target }
      { Name = "perturbed (Gumbel, S = 3)"
        Run = gradientOf subsets (Estimator.perturbed (Gumbel 1.0) 3) target }
      { Name = "score function (S = 3)"
        Run = gradientOf subsets (ScoreFunction 3) target }
      { Name = "Gumbel-softmax"
        Run = gradientOf categorical (GumbelSoftmax 0.5) targetCat }
      { Name = "relaxed top-k"
        Run = gradientOf subsets (RelaxedTopK 0.5) target }
      { Name = "Fenchel-Young loss"
        Run =
          lossGradient (fun w ->
              DflLosses.compute
                  subsets
                  (DflLoss.FenchelYoung(PerturbedOptions.Create(Normal 1.0, 3)))
                  (DflSources.OfGenerator generator)
                  { Predicted = w
                    TrueCosts = null
                    TrueSolutions = target
                    BindingNormals = null }) }
      { Name = "optimal-value loss"
        Run = lossGradient (fun w -> Losses.optimalValue subsets w) }
      { Name = "regret loss"
        Run =
          lossGradient (fun w ->
              Losses.regret
                  Reduction.Mean
                  (Discrete.apply DiscreteOptions.Default subsets (Blackbox 5.0) generator w)
                  w
                  target) }
      { Name = "exact log-probability"
        Run = lossGradient (fun w -> ExactTensor.logProbability subsets 1.0 w target) } ]

/// The load: threads that allocate managed memory, create and abandon native Scalars of other types (so that freed
/// native memory is reused at once) and force garbage collections.
let private startLoad (threads: int) (stop: bool ref) : Thread list =
    let churn () =
        let mutable keep: obj list = []
        let mutable j = 0L

        while not stop.Value do
            j <- j + 1L

            for _ in 1..50 do
                (j.ToScalar()) |> ignore // abandoned on purpose: its finaliser frees native memory later
                ((j % 2L = 0L).ToScalar()) |> ignore

            keep <-
                box (Array.zeroCreate<byte> 50_000)
                :: (if List.length keep > 50 then [] else keep)

            if j % 10L = 0L then
                GC.Collect()

    [ for _ in 1..threads ->
          let t = Thread(churn, IsBackground = true)
          t.Start()
          t ]

/// Runs the stress test for `seconds` with `threads` load threads; returns the exit code (0 = no failure).
let run (seconds: float) (threads: int) (control: bool) : int =
    torch.set_num_threads 1
    let stop = ref false
    let failures = Collections.Generic.Dictionary<string, int>()

    let fail (name: string) (what: string) =
        let key = sprintf "%s: %s" name what

        failures.[key] <-
            (match failures.TryGetValue key with
             | true, n -> n + 1
             | _ -> 1)

    let mutable iterations = 0
    let mutable warm = 0L
    let sw = Diagnostics.Stopwatch.StartNew()

    let warmedUp () =
        if warm = 0L && sw.Elapsed.TotalSeconds >= seconds / 10.0 then
            warm <- Imle.Tests.Memory.workingSet ()

    if control then
        printfn "stress (control: TorchSharp's own tensor * number), %g s, %d load threads" seconds threads

        use x = torch.linspace (0.25, 100.0, 1000L, dtype = f64)

        // The products, computed before the load starts with Scalars this code owns.
        let expected =
            [| for i in 0..6 ->
                   use s = (float i + 0.5).ToScalar()
                   x.mul s |]

        let load = startLoad threads stop

        while sw.Elapsed.TotalSeconds < seconds do
            iterations <- iterations + 1
            warmedUp ()
            use scope = torch.NewDisposeScope()
            let i = iterations % 7
            let c = float i + 0.5

            try
                use y = x * c // the implicit temporary Scalar under test
                use same = y.eq(expected.[i]).all()

                if not (same.item<bool>()) then
                    fail "tensor * number" "product differs from the one computed before the load"
            with e ->
                fail "tensor * number" (e.Message.Split('\n').[0])

        expected |> Array.iter (fun t -> t.Dispose())

        stop.Value <- true
        load |> List.iter (fun t -> t.Join())
    else
        let all = cases ()

        printfn
            "stress: %d computations (every estimator's forward + backward, the losses), %g s, %d load threads"
            all.Length
            seconds
            threads

        let baseline =
            all
            |> List.map (fun c ->
                use scope = torch.NewDisposeScope()
                c.Name, (c.Run()).MoveToOuterDisposeScope())
            |> dict

        let load = startLoad threads stop

        while sw.Elapsed.TotalSeconds < seconds do
            iterations <- iterations + 1
            warmedUp ()

            for c in all do
                use scope = torch.NewDisposeScope()

                try
                    let g = c.Run()
                    use same = g.eq(baseline.[c.Name]).all()

                    if not (same.item<bool>()) then
                        fail c.Name "gradient differs from the baseline"
                with e ->
                    fail c.Name (e.Message.Split('\n').[0])

        stop.Value <- true
        load |> List.iter (fun t -> t.Join())

    let elapsed = sw.Elapsed.TotalSeconds
    let final = Imle.Tests.Memory.workingSet ()
    let warm = if warm = 0L then final else warm
    let limit = 0.10 * float warm + 16.0 * 1048576.0

    if float (final - warm) > limit then
        fail
            "resident memory"
            (sprintf "grew by %.1f MiB (more than 10 %% + 16 MiB)" (Imle.Tests.Memory.mib (final - warm)))

    let total = failures.Values |> Seq.sum

    for KeyValue(what, n) in failures do
        printfn "  %5d × %s" n what

    printfn
        "stress: resident %.1f MiB after warm-up, %.1f MiB at the end; %s"
        (Imle.Tests.Memory.mib warm)
        (Imle.Tests.Memory.mib final)
        (quarantined ())

    printfn "stress: %d iterations in %.1f s, %d failures" iterations elapsed total
    if total = 0 then 0 else 1
