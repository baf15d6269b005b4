module Imle.Tests.TorchEstimatorTests

open Expecto

let tests = testList "TorchEstimatorTests" []
