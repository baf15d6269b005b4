module Imle.Tests.Main

open Expecto

let allTests =
    testList
        "Imle"
        [ NativeTests.tests
          NoiseTests.tests
          SolverTests.tests
          ExactTests.tests
          RelaxationTests.tests
          EstimatorTests.tests
          TorchNoiseSolveTests.tests
          TorchEstimatorTests.tests
          ReliabilityTests.tests
          IdxTests.tests
          NpmMnistTests.tests
          WarcraftDataTests.tests
          TrainingTests.tests
          ScalarLifetimeTests.tests
          AdaptiveLambdaTests.tests
          ProblemConsistencyTests.tests
          CliTests.tests
          DflTests.tests
          StatisticsTests.tests
          NativeFixTests.tests
          ConsoleTextTests.tests
          PerfTests.tests
          ControlVariateTests.tests
          UnambiguousRegretTests.tests ]

[<EntryPoint>]
let main argv = CountingRunner.run argv allTests
