module Imle.Examples.Program

open System

[<EntryPoint>]
let main argv =
    printfn "Imle examples: %s" (String.Join(" ", argv))
    0
