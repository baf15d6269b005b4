module Imle.Tests.EstimatorTests

open Expecto

let tests = testList "EstimatorTests" []
