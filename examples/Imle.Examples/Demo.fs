/// `demo`: the main job. Until the experiments land it runs the gradient check in its quick setting.
module Imle.Examples.Demo

open System.IO
open Imle.Examples.Output
open Imle.Examples.Experiments

/// Runs the demo.
let run (ctx: RunContext) : int =
    let rows = progress "gradient checks" GradCheckCommand.checkCount (fun step -> GradCheckCommand.check ctx.Seed 1000 step)
    let md = GradCheckCommand.printRows rows
    let dir = ensureDir ctx.OutDir
    writeJson (Path.Combine(dir, "gradcheck.json")) rows
    writeReport ctx "demo" ("# Imle demo\n\n" + md + "\n")
    0
