module Imle.Tests.ReliabilityTests

open Expecto

let tests = testList "reliability" []
