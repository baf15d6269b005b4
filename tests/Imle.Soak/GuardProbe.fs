/// The guard probe: three libtorch errors that ended the process with `std::terminate` (exit 134) before Imle's guard
/// library, because TorchSharp 0.107.0's native functions for them catch nothing. Plain TorchSharp calls, made before any
/// Imle call: each must arrive as a .NET exception, and the process must go on computing.
module Imle.Soak.GuardProbe

open System
open TorchSharp

let private attempts: (string * (unit -> unit)) list =
    [ "matmul with bad shapes",
      fun () ->
          use a = torch.randn (3L, 4L)
          use b = torch.randn (5L, 6L)
          a.matmul b |> ignore
      "cummax(5) on a 2-D tensor",
      fun () ->
          use a = torch.randn (3L, 4L)
          a.cummax 5L |> ignore
      "autograd.grad with an unused input",
      fun () ->
          use x = torch.randn (3L, requires_grad = true)
          use unused = torch.randn (3L, requires_grad = true)
          use z = x.mul(x).sum()
          torch.autograd.grad ([| z |], [| unused |]) |> ignore ]

/// Runs the three calls; prints one line each and a closing "guard probe: N of 3 caught, then computed V"; returns 0
/// when all three were caught and a later computation gives the right value.
let run () : int =
    let caught =
        attempts
        |> List.filter (fun (name, attempt) ->
            try
                attempt ()
                printfn "%s: no exception" name
                false
            with e ->
                printfn "%s: caught %s: %s" name (e.GetType().Name) (e.Message.Split('\n').[0])
                true)
        |> List.length

    use ones = torch.ones (2L, 2L, dtype = torch.float64)
    use product = ones.matmul ones
    use total = product.sum ()
    let value = total.ToDouble()
    printfn "guard probe: %d of %d caught, then computed %g" caught attempts.Length value
    if caught = attempts.Length && value = 8.0 then 0 else 1
