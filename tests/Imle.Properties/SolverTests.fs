/// Properties of the pure MAP solvers: optimality against brute force on small random instances, feasibility,
/// deterministic tie-breaking, determinism, thread safety and argument checks.
module Imle.Tests.SolverTests

open System
open System.Threading.Tasks
open Expecto
open FsCheck
open Imle.Solvers
open Imle.Tests

let private tol = 1e-9

let private dot (w: float[]) (z: float[]) =
    Array.fold2 (fun s a b -> s + a * b) 0.0 w z

/// All binary vectors of length n.
let private allBinary (n: int) : float[][] =
    Array.init (1 <<< n) (fun mask -> Array.init n (fun i -> if (mask >>> i) &&& 1 = 1 then 1.0 else 0.0))

let private ones (z: float[]) = z |> Array.sumBy id |> int

let private isBinary (z: float[]) =
    z |> Array.forall (fun x -> x = 0.0 || x = 1.0)

/// Random scores: small integers (many ties) half the time, continuous otherwise.
let private randomScores (rng: Random) (integer: bool) (lo: int) (hi: int) (n: int) =
    if integer then
        Array.init n (fun _ -> float (rng.Next(lo, hi + 1)))
    else
        Array.init n (fun _ -> float lo + float (hi - lo) * rng.NextDouble())

let private instances = 200

// ----- argmax --------------------------------------------------------------------------------------------------------

let private argmaxTests =
    testList
        "argmax"
        [ test "matches brute force with lowest-index ties" {
              let rng = Random 1

              for t in 0 .. instances - 1 do
                  let m = rng.Next(1, 9)
                  let s = randomScores rng (t % 2 = 0) -3 3 m
                  let z = Argmax.solve s
                  let best = Array.max s
                  let first = Array.findIndex (fun x -> x = best) s
                  Expect.equal z (Array.init m (fun i -> if i = first then 1.0 else 0.0)) "one-hot at the first maximum"
          }
          test "all ties go to index 0" {
              Expect.equal (Argmax.solve [| 2.0; 2.0; 2.0 |]) [| 1.0; 0.0; 0.0 |] "lowest index"
              Expect.equal (Argmax.solve [| -1.0; 3.0; 3.0 |]) [| 0.0; 1.0; 0.0 |] "lowest index among maxima"
          }
          testProperty "objective is the maximum (FsCheck)" (fun (xs: NormalFloat[]) ->
              let s = Array.append [| 0.0 |] (xs |> Array.map (fun (NormalFloat x) -> x))
              let z = Argmax.solve s
              ones z = 1 && dot s z = Array.max s)
          test "solveInto overwrites the state" {
              let state = Array.create 3 7.0
              Argmax.solveInto (ReadOnlySpan [| 0.0; 5.0; 1.0 |], Span state)
              Expect.equal state [| 0.0; 1.0; 0.0 |] "one-hot"
          }
          test "argument errors" {
              TestUtil.throwsNaming "scores" (fun () -> Argmax.solve [| 1.0; nan |])
              TestUtil.throwsNaming "scores" (fun () -> Argmax.solve [| infinity |])
              TestUtil.throwsNaming "scores" (fun () -> Argmax.solve [||])
              TestUtil.throwsNaming "scores" (fun () -> Argmax.solve null)

              TestUtil.throwsNaming "state" (fun () ->
                  Argmax.solveInto (ReadOnlySpan [| 1.0; 2.0 |], Span(Array.zeroCreate 3)))
          } ]

// ----- top-k ---------------------------------------------------------------------------------------------------------

/// Reference top-k: sort by (score descending, index ascending), take the first k.
let private referenceTopK (k: int) (s: float[]) =
    let chosen =
        Array.init s.Length id
        |> Array.sortWith (fun a b -> if s.[a] <> s.[b] then compare s.[b] s.[a] else compare a b)
        |> Array.truncate k

    let z = Array.zeroCreate s.Length

    for i in chosen do
        z.[i] <- 1.0

    z

let private topKTests =
    testList
        "topk"
        [ test "matches brute force with deterministic ties" {
              let rng = Random 2

              for t in 0 .. instances - 1 do
                  let m = rng.Next(1, 9)
                  let k = rng.Next(0, m + 1)
                  let s = randomScores rng (t % 2 = 0) -2 2 m
                  let z = TopK.solve k s
                  Expect.equal (ones z) k "exactly k ones"
                  Expect.isTrue (isBinary z) "binary"

                  let best =
                      allBinary m
                      |> Array.filter (fun x -> ones x = k)
                      |> Array.map (dot s)
                      |> Array.max

                  Expect.floatClose Accuracy.veryHigh (dot s z) best "optimal"
                  Expect.equal z (referenceTopK k s) "higher score first, then lower index"
                  Expect.equal (TopK.solve k s) z "deterministic"
          }
          test "ties go to the lower index" {
              Expect.equal (TopK.solve 2 [| 1.0; 1.0; 1.0; 1.0 |]) [| 1.0; 1.0; 0.0; 0.0 |] "all equal"
              Expect.equal (TopK.solve 2 [| 0.0; 1.0; 5.0; 1.0 |]) [| 0.0; 1.0; 1.0; 0.0 |] "tie for second place"

              Expect.equal
                  (TopK.solve 3 [| 3.0; 1.0; 3.0; 1.0; 3.0; 3.0 |])
                  [| 1.0; 0.0; 1.0; 0.0; 1.0; 0.0 |]
                  "tie for the top"
          }
          test "large instances match a full sort" {
              let rng = Random 3

              for (m, k) in
                  [ (10000, 1)
                    (10000, 100)
                    (10000, 5000)
                    (10000, 9999)
                    (5000, 5000)
                    (777, 0) ] do
                  let s = randomScores rng true -50 50 m
                  Expect.equal (TopK.solve k s) (referenceTopK k s) (sprintf "m=%d k=%d" m k)
          }
          testProperty "exactly k ones and optimal (FsCheck)" (fun (xs: NormalFloat[]) (kSeed: PositiveInt) ->
              let s = Array.append [| 0.0 |] (xs |> Array.map (fun (NormalFloat x) -> x))
              let k = kSeed.Get % (s.Length + 1)
              let z = TopK.solve k s
              ones z = k && z = referenceTopK k s)
          test "argument errors" {
              TestUtil.throwsNaming "k" (fun () -> TopK.solve 4 [| 1.0; 2.0; 3.0 |])
              TestUtil.throwsNaming "k" (fun () -> TopK.solve -1 [| 1.0 |])
              TestUtil.throwsNaming "scores" (fun () -> TopK.solve 1 [| 1.0; nan |])
              TestUtil.throwsNaming "scores" (fun () -> TopK.solve 1 null)

              TestUtil.throwsNaming "state" (fun () ->
                  TopK.solveInto (1, ReadOnlySpan [| 1.0; 2.0 |], Span(Array.zeroCreate 1)))
          } ]

// ----- grid shortest path ------------------------------------------------------------------------------------------

/// All simple paths from (0, 0) to (rows−1, cols−1), by an independent depth-first search.
let private simplePaths (rows: int) (cols: int) (eight: bool) : float[][] =
    let result = ResizeArray()
    let visited = Array.zeroCreate<bool>(rows * cols)

    let rec go r c =
        visited.[r * cols + c] <- true

        if r = rows - 1 && c = cols - 1 then
            result.Add(visited |> Array.map (fun b -> if b then 1.0 else 0.0))
        else
            for dr in -1 .. 1 do
                for dc in -1 .. 1 do
                    if (dr <> 0 || dc <> 0) && (eight || dr = 0 || dc = 0) then
                        let r2, c2 = r + dr, c + dc

                        if r2 >= 0 && r2 < rows && c2 >= 0 && c2 < cols && not visited.[r2 * cols + c2] then
                            go r2 c2

        visited.[r * cols + c] <- false

    go 0 0
    result.ToArray()

let private gridTests =
    testList
        "grid shortest path"
        [ test "moves" {
              Expect.equal (GridShortestPath.moves Four |> Array.sort) [| (-1, 0); (0, -1); (0, 1); (1, 0) |] "4 moves"
              Expect.equal (GridShortestPath.moves Eight |> Array.length) 8 "8 moves"
              Expect.equal (GridShortestPath.moves Eight |> Array.distinct |> Array.length) 8 "distinct"
          }
          test "matches brute force over all simple paths" {
              let rng = Random 4
              let shapes = [| (1, 1); (1, 3); (2, 2); (2, 3); (3, 2); (3, 3); (3, 4); (4, 3) |]

              for (rows, cols) in shapes do
                  for neighbourhood in [ Four; Eight ] do
                      let paths = simplePaths rows cols (neighbourhood = Eight)

                      for z in paths do
                          Expect.isTrue
                              (GridShortestPath.isPath rows cols neighbourhood z)
                              "every simple path is a path"

                      for t in 0 .. instances / 4 - 1 do
                          let costs = randomScores rng (t % 2 = 0) 0 3 (rows * cols)
                          let z = GridShortestPath.solve rows cols neighbourhood costs
                          let state = Array.zeroCreate (rows * cols)

                          let value =
                              GridShortestPath.solveInto (rows, cols, neighbourhood, ReadOnlySpan costs, Span state)

                          Expect.equal state z "solve = solveInto"
                          Expect.isTrue (isBinary z) "binary"
                          Expect.isTrue (GridShortestPath.isPath rows cols neighbourhood z) "feasible"
                          Expect.isTrue (paths |> Array.contains z) "a simple path"
                          let best = paths |> Array.map (dot costs) |> Array.min

                          Expect.floatClose
                              Accuracy.veryHigh
                              (dot costs z)
                              best
                              (sprintf "optimal %dx%d %A" rows cols neighbourhood)

                          Expect.floatClose Accuracy.veryHigh value (dot costs z) "returned cost"
                          Expect.equal (GridShortestPath.solve rows cols neighbourhood costs) z "deterministic"
          }
          test "Problem.gridPaths states are paths" {
              for neighbourhood in [ Four; Eight ] do
                  for z in Imle.Problem.gridPaths 3 3 neighbourhood do
                      Expect.isTrue (GridShortestPath.isPath 3 3 neighbourhood z) "enumerated path"

                  Expect.equal
                      (Imle.Problem.gridPaths 3 3 neighbourhood).Length
                      (simplePaths 3 3 (neighbourhood = Eight)).Length
                      "count"
          }
          test "larger grids give feasible paths with the optimal cost of a reference Dijkstra" {
              let rng = Random 5

              for t in 0..49 do
                  let rows, cols = rng.Next(1, 16), rng.Next(1, 16)
                  let neighbourhood = if t % 2 = 0 then Four else Eight
                  let costs = randomScores rng (t % 4 < 2) 0 9 (rows * cols)
                  let z = GridShortestPath.solve rows cols neighbourhood costs
                  Expect.isTrue (GridShortestPath.isPath rows cols neighbourhood z) "feasible"
                  // Bellman–Ford style relaxation as the reference.
                  let v = rows * cols
                  let dist = Array.create v infinity
                  dist.[0] <- costs.[0]
                  let moves = GridShortestPath.moves neighbourhood

                  for _ in 0..v do
                      for u in 0 .. v - 1 do
                          if not (Double.IsInfinity dist.[u]) then
                              for (dr, dc) in moves do
                                  let r2, c2 = u / cols + dr, u % cols + dc

                                  if r2 >= 0 && r2 < rows && c2 >= 0 && c2 < cols then
                                      let w = r2 * cols + c2
                                      dist.[w] <- min dist.[w] (dist.[u] + costs.[w])

                  Expect.floatClose Accuracy.high (dot costs z) dist.[v - 1] "optimal"
          }
          test "isPath rejects non-paths" {
              let p (rows: int) cols n (z: float list) =
                  GridShortestPath.isPath rows cols n (Array.ofList z)

              Expect.isTrue (p 2 2 Four [ 1.0; 1.0; 0.0; 1.0 ]) "L path"
              Expect.isFalse (p 2 2 Four [ 1.0; 0.0; 0.0; 1.0 ]) "diagonal jump under 4 moves"
              Expect.isTrue (p 2 2 Eight [ 1.0; 0.0; 0.0; 1.0 ]) "diagonal step under 8 moves"
              Expect.isFalse (p 2 2 Four [ 0.0; 1.0; 0.0; 1.0 ]) "missing start"
              Expect.isFalse (p 2 2 Four [ 1.0; 1.0; 0.0; 0.0 ]) "missing end"
              Expect.isFalse (p 3 3 Four [ 1.0; 1.0; 1.0; 0.0; 1.0; 1.0; 0.0; 0.0; 1.0 ]) "branch"
              Expect.isFalse (p 3 3 Four [ 1.0; 1.0; 1.0; 0.0; 0.0; 1.0; 1.0; 0.0; 1.0 ]) "detached cell"
              Expect.isFalse (p 2 2 Four [ 1.0; 0.5; 0.0; 1.0 ]) "non-binary"
              Expect.isTrue (p 1 1 Four [ 1.0 ]) "single cell"
              Expect.isFalse (p 1 1 Four [ 0.0 ]) "empty single cell"
          }
          test "zero costs and ties are deterministic" {
              let z = GridShortestPath.solve 4 4 Eight (Array.zeroCreate 16)
              Expect.isTrue (GridShortestPath.isPath 4 4 Eight z) "feasible"
              Expect.equal (GridShortestPath.solve 4 4 Eight (Array.zeroCreate 16)) z "deterministic"
          }
          test "parallel solves agree with sequential ones" {
              let rng = Random 6
              let batch = Array.init 64 (fun _ -> randomScores rng false 0 5 144)
              let sequential = batch |> Array.map (GridShortestPath.solve 12 12 Eight)
              let parallel' = Array.zeroCreate batch.Length

              Parallel.For(0, batch.Length, fun i -> parallel'.[i] <- GridShortestPath.solve 12 12 Eight batch.[i])
              |> ignore

              Expect.equal parallel' sequential "thread-safe"
          }
          test "12x12 8-neighbourhood is fast" {
              let rng = Random 7
              let costs = randomScores rng false 0 5 144
              let state = Array.zeroCreate 144
              // Warm up long enough for tiered compilation to reach optimised code.
              let warm = Diagnostics.Stopwatch.StartNew()

              while warm.ElapsedMilliseconds < 300L do
                  GridShortestPath.solveInto (12, 12, Eight, ReadOnlySpan costs, Span state)
                  |> ignore

              let runs = 20000
              let sw = Diagnostics.Stopwatch.StartNew()

              for _ in 1..runs do
                  GridShortestPath.solveInto (12, 12, Eight, ReadOnlySpan costs, Span state)
                  |> ignore

              let us = sw.Elapsed.TotalMilliseconds * 1000.0 / float runs
              printfn "GridShortestPath 12x12 Eight: %.2f µs per solve" us
              Expect.isLessThan us 500.0 "well under a millisecond per solve"
          }
          test "argument errors" {
              TestUtil.throwsNaming "costs" (fun () -> GridShortestPath.solve 2 2 Four [| 1.0; -1.0; 1.0; 1.0 |])
              TestUtil.throwsNaming "costs" (fun () -> GridShortestPath.solve 2 2 Four [| 1.0; nan; 1.0; 1.0 |])
              TestUtil.throwsNaming "costs" (fun () -> GridShortestPath.solve 2 2 Eight [| 1.0; infinity; 1.0; 1.0 |])
              TestUtil.throwsNaming "costs" (fun () -> GridShortestPath.solve 2 2 Four [| 1.0; 1.0; 1.0 |])
              TestUtil.throwsNaming "costs" (fun () -> GridShortestPath.solve 2 2 Four null)
              TestUtil.throwsNaming "rows" (fun () -> GridShortestPath.solve 0 2 Four [||])

              TestUtil.throwsNaming "state" (fun () ->
                  GridShortestPath.solveInto (2, 2, Four, ReadOnlySpan(Array.zeroCreate 4), Span(Array.zeroCreate 3)))

              TestUtil.throwsNaming "state" (fun () -> GridShortestPath.isPath 2 2 Four [| 1.0 |])
          }
          test "settling once on negative costs: the path of Dijkstra as blackbox-backprop writes it" {
              // The reference: a lazy heap of (distance, row-major index), each cell settled at its first pop; a
              // settled cell is never updated, and a stale pop expands again without effect (as in the Python).
              let reference (rows: int) (cols: int) (neighbourhood: Neighbourhood) (costs: float[]) =
                  let v = rows * cols
                  let dist = Array.create v 1e10
                  let pred = Array.create v -1
                  let settled = Array.zeroCreate<bool> v
                  let queue = Collections.Generic.PriorityQueue<int, struct (float * int)>()
                  dist.[0] <- costs.[0]
                  queue.Enqueue(0, struct (costs.[0], 0))

                  while queue.Count > 0 do
                      let u = queue.Dequeue()

                      for (dr, dc) in GridShortestPath.moves neighbourhood do
                          let r, c = u / cols + dr, u % cols + dc

                          if r >= 0 && r < rows && c >= 0 && c < cols then
                              let w = r * cols + c

                              if not settled.[w] && dist.[u] + costs.[w] < dist.[w] then
                                  dist.[w] <- dist.[u] + costs.[w]
                                  pred.[w] <- u
                                  queue.Enqueue(w, struct (dist.[w], w))

                      settled.[u] <- true

                  let z = Array.zeroCreate v
                  let mutable x = v - 1

                  while x >= 0 do
                      z.[x] <- 1.0
                      x <- pred.[x]

                  z

              let rng = Random 20261207
              let mutable withNegative = 0

              for trial in 0..1999 do
                  let rows, cols = rng.Next(1, 13), rng.Next(1, 13)
                  let neighbourhood = if trial % 2 = 0 then Eight else Four

                  let costs =
                      Array.init (rows * cols) (fun _ ->
                          if rng.NextDouble() < 0.15 then
                              -3.0 * rng.NextDouble()
                          else
                              0.1 + 5.0 * rng.NextDouble())

                  if costs |> Array.exists (fun c -> c < 0.0) then
                      withNegative <- withNegative + 1

                  let state = Array.zeroCreate (rows * cols)

                  let cost =
                      GridShortestPath.solveSettlingOnceInto (rows, cols, neighbourhood, ReadOnlySpan costs, Span state)

                  Expect.equal
                      state
                      (reference rows cols neighbourhood costs)
                      (sprintf "trial %d: the reference's path" trial)

                  Expect.isTrue (GridShortestPath.isPath rows cols neighbourhood state) "a path"
                  Expect.floatClose Accuracy.high cost (dot costs state) "its cost"

                  let nonNegative = costs |> Array.map abs
                  let exact = Array.zeroCreate (rows * cols)

                  GridShortestPath.solveInto (rows, cols, neighbourhood, ReadOnlySpan nonNegative, Span exact)
                  |> ignore

                  GridShortestPath.solveSettlingOnceInto (
                      rows,
                      cols,
                      neighbourhood,
                      ReadOnlySpan nonNegative,
                      Span state
                  )
                  |> ignore

                  Expect.equal state exact "costs >= 0: the same path as solveInto"

              Expect.isGreaterThan withNegative 1000 "most trials had negative costs"
          }
          test "settling once: argument errors" {
              let state = Array.zeroCreate 4

              TestUtil.throwsNaming "costs" (fun () ->
                  GridShortestPath.solveSettlingOnceInto (
                      2,
                      2,
                      Four,
                      ReadOnlySpan [| 1.0; nan; 1.0; 1.0 |],
                      Span state
                  )
                  |> ignore)

              TestUtil.throwsNaming "costs" (fun () ->
                  GridShortestPath.solveSettlingOnceInto (2, 2, Four, ReadOnlySpan [| 1.0; 1.0; 1.0 |], Span state)
                  |> ignore)

              TestUtil.throwsNaming "state" (fun () ->
                  GridShortestPath.solveSettlingOnceInto (
                      2,
                      2,
                      Four,
                      ReadOnlySpan(Array.zeroCreate 4),
                      Span(Array.zeroCreate 3)
                  )
                  |> ignore)
          } ]

// ----- alignment -----------------------------------------------------------------------------------------------------

let private alignmentObjective (n: int) (m: int) (gap: float) (s: float[]) (z: float[]) =
    dot s z - gap * float (n + m - 2 * ones z)

let private alignmentTests =
    testList
        "alignment"
        [ test "matches brute force over all alignments" {
              let rng = Random 8
              let feasible = Collections.Generic.Dictionary<int * int, float[][]>()

              for t in 0 .. instances - 1 do
                  let n, m = rng.Next(0, 4), rng.Next(0, 4)

                  let gap =
                      match t % 4 with
                      | 0 -> 0.0
                      | 1 -> 0.5
                      | 2 -> 1.0
                      | _ -> 2.0 * rng.NextDouble()

                  let s = randomScores rng (t % 2 = 0) -2 2 (n * m)

                  if not (feasible.ContainsKey((n, m))) then
                      feasible.[(n, m)] <- allBinary (n * m) |> Array.filter (Alignment.isAlignment n m)

                  let z = Alignment.solve n m gap s
                  Expect.isTrue (Alignment.isAlignment n m z) "feasible"

                  let best =
                      feasible.[(n, m)] |> Array.map (alignmentObjective n m gap s) |> Array.max

                  let got = alignmentObjective n m gap s z
                  Expect.floatClose Accuracy.veryHigh got best (sprintf "optimal n=%d m=%d gap=%g" n m gap)
                  let state = Array.zeroCreate (n * m)
                  let v = Alignment.solveInto (n, m, gap, ReadOnlySpan s, Span state)
                  Expect.equal state z "solve = solveInto"
                  Expect.floatClose Accuracy.veryHigh v got "returned value"
                  Expect.floatClose Accuracy.veryHigh (Alignment.value n m gap s) got "value"
                  Expect.equal (Alignment.solve n m gap s) z "deterministic"
          }
          test "number of alignments of 3x3 is the Delannoy-type count" {
              // Alignments of 3 and 3 positions = Σ_k C(3,k)² = 1 + 9 + 9 + 1 = 20.
              Expect.equal (allBinary 9 |> Array.filter (Alignment.isAlignment 3 3) |> Array.length) 20 "count"
          }
          test "isAlignment" {
              Expect.isTrue (Alignment.isAlignment 2 2 [| 1.0; 0.0; 0.0; 1.0 |]) "diagonal"
              Expect.isFalse (Alignment.isAlignment 2 2 [| 0.0; 1.0; 1.0; 0.0 |]) "crossing"
              Expect.isFalse (Alignment.isAlignment 2 2 [| 1.0; 1.0; 0.0; 0.0 |]) "one position twice"
              Expect.isFalse (Alignment.isAlignment 2 2 [| 1.0; 0.0; 1.0; 0.0 |]) "same column twice"
              Expect.isTrue (Alignment.isAlignment 2 2 [| 0.0; 0.0; 0.0; 0.0 |]) "empty"
              Expect.isFalse (Alignment.isAlignment 2 2 [| 0.5; 0.0; 0.0; 0.0 |]) "non-binary"
          }
          test "larger instances: value equals the objective of the traced-back state" {
              let rng = Random 9

              for _ in 0..49 do
                  let n, m = rng.Next(1, 30), rng.Next(1, 30)
                  let gap = rng.NextDouble()
                  let s = randomScores rng false -1 1 (n * m)
                  let z = Alignment.solve n m gap s
                  Expect.isTrue (Alignment.isAlignment n m z) "feasible"
                  Expect.floatClose Accuracy.high (alignmentObjective n m gap s z) (Alignment.value n m gap s) "value"
          }
          test "argument errors" {
              TestUtil.throwsNaming "scores" (fun () -> Alignment.solve 2 2 1.0 [| 1.0; nan; 0.0; 0.0 |])
              TestUtil.throwsNaming "scores" (fun () -> Alignment.solve 2 2 1.0 [| 1.0; 0.0; 0.0 |])
              TestUtil.throwsNaming "scores" (fun () -> Alignment.value 2 2 1.0 [| 1.0; 0.0; 0.0 |])
              TestUtil.throwsNaming "gap" (fun () -> Alignment.solve 2 2 -1.0 (Array.zeroCreate 4))
              TestUtil.throwsNaming "gap" (fun () -> Alignment.solve 2 2 nan (Array.zeroCreate 4))

              TestUtil.throwsNaming "state" (fun () ->
                  Alignment.solveInto (2, 2, 1.0, ReadOnlySpan(Array.zeroCreate 4), Span(Array.zeroCreate 5)))

              TestUtil.throwsNaming "state" (fun () -> Alignment.isAlignment 2 2 [| 1.0 |])
          } ]

// ----- matching ------------------------------------------------------------------------------------------------------

/// All injective maps from rows to cols, as indicator matrices.
let private allMatchings (rows: int) (cols: int) : float[][] =
    let result = ResizeArray()
    let used = Array.zeroCreate<bool> cols
    let assign = Array.zeroCreate<int> rows

    let rec go i =
        if i = rows then
            let z = Array.zeroCreate (rows * cols)

            for r in 0 .. rows - 1 do
                z.[r * cols + assign.[r]] <- 1.0

            result.Add z
        else
            for j in 0 .. cols - 1 do
                if not used.[j] then
                    used.[j] <- true
                    assign.[i] <- j
                    go (i + 1)
                    used.[j] <- false

    go 0
    result.ToArray()

let private matchingTests =
    testList
        "matching"
        [ test "matches brute force over all assignments" {
              let rng = Random 10

              for t in 0 .. instances - 1 do
                  let rows = rng.Next(1, 5)
                  let cols = rng.Next(rows, 6)
                  let c = randomScores rng (t % 2 = 0) -3 3 (rows * cols)
                  let z = Matching.solve rows cols c
                  Expect.isTrue (Matching.isMatching rows cols z) "feasible"
                  let best = allMatchings rows cols |> Array.map (dot c) |> Array.min
                  Expect.floatClose Accuracy.veryHigh (dot c z) best (sprintf "optimal %dx%d" rows cols)
                  let state = Array.zeroCreate (rows * cols)
                  let v = Matching.solveInto (rows, cols, ReadOnlySpan c, Span state)
                  Expect.equal state z "solve = solveInto"
                  Expect.floatClose Accuracy.veryHigh v (dot c z) "returned cost"
                  Expect.equal (Matching.solve rows cols c) z "deterministic"
          }
          test "larger instances: all brute-force-free checks" {
              let rng = Random 11

              for _ in 0..19 do
                  let rows = rng.Next(1, 40)
                  let cols = rng.Next(rows, 50)
                  let c = randomScores rng false -10 10 (rows * cols)
                  let z = Matching.solve rows cols c
                  Expect.isTrue (Matching.isMatching rows cols z) "feasible"
                  // Compare with 2-opt: no swap of two rows' columns, nor moving a row to a free column, improves.
                  let assign =
                      Array.init rows (fun i -> Array.findIndex (fun j -> z.[i * cols + j] = 1.0) [| 0 .. cols - 1 |])

                  let usedCols = Set.ofArray assign

                  for i in 0 .. rows - 1 do
                      for j in 0 .. cols - 1 do
                          if not (usedCols.Contains j) then
                              Expect.isGreaterThanOrEqual
                                  (c.[i * cols + j] + 1e-9)
                                  c.[i * cols + assign.[i]]
                                  "free column move"

                      for i2 in i + 1 .. rows - 1 do
                          let now = c.[i * cols + assign.[i]] + c.[i2 * cols + assign.[i2]]
                          let swapped = c.[i * cols + assign.[i2]] + c.[i2 * cols + assign.[i]]
                          Expect.isGreaterThanOrEqual (swapped + 1e-9) now "swap"
          }
          test "isMatching" {
              Expect.isTrue (Matching.isMatching 2 3 [| 0.0; 1.0; 0.0; 1.0; 0.0; 0.0 |]) "valid"
              Expect.isFalse (Matching.isMatching 2 3 [| 0.0; 1.0; 0.0; 0.0; 1.0; 0.0 |]) "shared column"
              Expect.isFalse (Matching.isMatching 2 3 [| 0.0; 1.0; 0.0; 0.0; 0.0; 0.0 |]) "unassigned row"
              Expect.isFalse (Matching.isMatching 2 3 [| 1.0; 1.0; 0.0; 0.0; 0.0; 1.0 |]) "row twice"
          }
          test "argument errors" {
              TestUtil.throwsNaming "costs" (fun () -> Matching.solve 2 2 [| 1.0; nan; 0.0; 0.0 |])
              TestUtil.throwsNaming "costs" (fun () -> Matching.solve 2 2 [| 1.0; 0.0; 0.0 |])
              TestUtil.throwsNaming "cols" (fun () -> Matching.solve 3 2 (Array.zeroCreate 6))

              TestUtil.throwsNaming "state" (fun () ->
                  Matching.solveInto (2, 2, ReadOnlySpan(Array.zeroCreate 4), Span(Array.zeroCreate 3)))
          } ]

// ----- spanning tree -------------------------------------------------------------------------------------------------

let private isConnected (nodes: int) (edges: (int * int)[]) =
    let parent = Array.init nodes id

    let rec find x =
        if parent.[x] = x then x else find parent.[x]

    for (a, b) in edges do
        let ra, rb = find a, find b

        if ra <> rb then
            parent.[ra] <- rb

    [ 0 .. nodes - 1 ] |> List.map find |> List.distinct |> List.length = 1

let private spanningTreeTests =
    testList
        "spanning tree"
        [ test "matches brute force over all edge subsets" {
              let rng = Random 12
              let mutable checkedCount = 0

              while checkedCount < instances do
                  let nodes = rng.Next(1, 6)
                  let e = rng.Next(0, 9)
                  let edges = Array.init e (fun _ -> rng.Next nodes, rng.Next nodes)
                  let w = randomScores rng (checkedCount % 2 = 0) -2 2 e

                  if isConnected nodes edges then
                      checkedCount <- checkedCount + 1
                      let z = SpanningTree.solve nodes edges w
                      Expect.isTrue (SpanningTree.isSpanningTree nodes edges z) "feasible"

                      let best =
                          allBinary e
                          |> Array.filter (SpanningTree.isSpanningTree nodes edges)
                          |> Array.map (dot w)
                          |> Array.min

                      Expect.floatClose Accuracy.veryHigh (dot w z) best "optimal"
                      let state = Array.zeroCreate e
                      let v = SpanningTree.solveInto (nodes, edges, ReadOnlySpan w, Span state)
                      Expect.equal state z "solve = solveInto"
                      Expect.floatClose Accuracy.veryHigh v (dot w z) "returned weight"
                      Expect.equal (SpanningTree.solve nodes edges w) z "deterministic"
                  else
                      TestUtil.throwsNaming "edges" (fun () -> SpanningTree.solve nodes edges w)
          }
          test "ties go to the lower edge index" {
              let edges = [| (0, 1); (1, 2); (0, 2) |]
              Expect.equal (SpanningTree.solve 3 edges [| 1.0; 1.0; 1.0 |]) [| 1.0; 1.0; 0.0 |] "first two"
              Expect.equal (SpanningTree.solve 3 edges [| 2.0; 1.0; 1.0 |]) [| 0.0; 1.0; 1.0 |] "cheapest two"
              Expect.equal (SpanningTree.solve 2 [| (0, 1); (1, 0) |] [| 1.0; 1.0 |]) [| 1.0; 0.0 |] "parallel edges"
          }
          test "isSpanningTree" {
              let edges = [| (0, 1); (1, 2); (0, 2); (2, 2) |]
              Expect.isTrue (SpanningTree.isSpanningTree 3 edges [| 1.0; 0.0; 1.0; 0.0 |]) "tree"
              Expect.isFalse (SpanningTree.isSpanningTree 3 edges [| 1.0; 0.0; 0.0; 0.0 |]) "too few"
              Expect.isFalse (SpanningTree.isSpanningTree 3 edges [| 1.0; 1.0; 1.0; 0.0 |]) "cycle"
              Expect.isFalse (SpanningTree.isSpanningTree 3 edges [| 1.0; 0.0; 0.0; 1.0 |]) "self-loop"
          }
          test "disconnected graph" {
              let f () =
                  SpanningTree.solve 4 [| (0, 1); (2, 3) |] [| 1.0; 1.0 |]

              TestUtil.throwsNaming "edges" f
              let e = Expect.throwsC (f >> ignore) id
              Expect.stringContains e.Message "not connected" "says why"
          }
          test "argument errors" {
              TestUtil.throwsNaming "weights" (fun () -> SpanningTree.solve 2 [| (0, 1) |] [| nan |])
              TestUtil.throwsNaming "weights" (fun () -> SpanningTree.solve 2 [| (0, 1) |] [| 1.0; 2.0 |])
              TestUtil.throwsNaming "edges" (fun () -> SpanningTree.solve 2 [| (0, 2) |] [| 1.0 |])

              TestUtil.throwsNaming "state" (fun () ->
                  SpanningTree.solveInto (2, [| (0, 1) |], ReadOnlySpan [| 1.0 |], Span(Array.zeroCreate 2)))
          } ]

// ----- knapsack ------------------------------------------------------------------------------------------------------

let private knapsackTests =
    testList
        "knapsack"
        [ test "matches brute force over all subsets" {
              let rng = Random 13

              for t in 0 .. instances - 1 do
                  let n = rng.Next(1, 9)
                  let weights = Array.init n (fun _ -> rng.Next(0, 6))
                  let capacity = rng.Next(0, 12)
                  let values = randomScores rng (t % 2 = 0) -2 4 n

                  let load (z: float[]) =
                      Array.fold2 (fun s (w: int) x -> s + float w * x) 0.0 weights z

                  let z = Knapsack.solve weights capacity values
                  Expect.isTrue (isBinary z) "binary"
                  Expect.isLessThanOrEqual (load z) (float capacity) "within capacity"

                  for i in 0 .. n - 1 do
                      if values.[i] <= 0.0 then
                          Expect.equal z.[i] 0.0 "items of value <= 0 are never chosen"

                  let best =
                      allBinary n
                      |> Array.filter (fun x -> load x <= float capacity)
                      |> Array.map (dot values)
                      |> Array.max

                  Expect.floatClose Accuracy.veryHigh (dot values z) best "optimal"
                  let state = Array.zeroCreate n
                  let v = Knapsack.solveInto (weights, capacity, ReadOnlySpan values, Span state)
                  Expect.equal state z "solve = solveInto"
                  Expect.floatClose Accuracy.veryHigh v (dot values z) "returned value"
                  Expect.equal (Knapsack.solve weights capacity values) z "deterministic"
          }
          test "argument errors" {
              TestUtil.throwsNaming "values" (fun () -> Knapsack.solve [| 1; 2 |] 3 [| 1.0; nan |])
              TestUtil.throwsNaming "values" (fun () -> Knapsack.solve [| 1; 2 |] 3 [| 1.0 |])
              TestUtil.throwsNaming "itemWeights" (fun () -> Knapsack.solve [| 1; -2 |] 3 [| 1.0; 1.0 |])
              TestUtil.throwsNaming "capacity" (fun () -> Knapsack.solve [| 1; 2 |] -1 [| 1.0; 1.0 |])

              TestUtil.throwsNaming "state" (fun () ->
                  Knapsack.solveInto ([| 1 |], 1, ReadOnlySpan [| 1.0 |], Span(Array.zeroCreate 2)))
          } ]

/// All solver tests.
[<Tests>]
let tests: Test =
    testList
        "solvers"
        [ argmaxTests
          topKTests
          gridTests
          alignmentTests
          matchingTests
          spanningTreeTests
          knapsackTests ]
