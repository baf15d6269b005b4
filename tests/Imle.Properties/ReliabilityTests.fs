/// Reliability: bad input at every public entry point (typed errors that name the problem, never a crash, NaN or hang),
/// numerical extremes, determinism (across runs and thread counts), flat memory over long runs, refusal of concurrent
/// layer use, and checkpoints (save, load, resume bit for bit, corrupt and foreign files). The tests live in
/// Reliability/ by concern; this module assembles them into the lists they have always been in, run one at a time.
module Imle.Tests.ReliabilityTests

open Expecto
open Imle.Tests.Reliability

[<Tests>]
let tests =
    testSequenced
    <| testList
        "reliability"
        [ testList "bad input everywhere public" [ Fuzz.property; Faults.backwardFaults ]
          Extremes.tests
          Determinism.tests
          testList "long runs and concurrency" [ LongRuns.memory; Faults.concurrentLayerUse ]
          Checkpoints.tests ]
