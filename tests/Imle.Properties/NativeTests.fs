/// libtorch must load and compute: a broken native load (e.g. the Debian 12 GLIBCXX fix missing) fails CI here.
module Imle.Tests.NativeTests

open Expecto
open TorchSharp

[<Tests>]
let tests =
    testList
        "native libtorch"
        [ test "loads libtorch and adds two tensors" {
              use a = torch.tensor ([| 1.0f; 2.0f; 3.0f |])
              use b = torch.tensor ([| 10.0f; 20.0f; 30.0f |])
              use c = a + b
              let values = c.data<float32>().ToArray()
              Expect.sequenceEqual values [| 11.0f; 22.0f; 33.0f |] "libtorch computed a + b"
          } ]
