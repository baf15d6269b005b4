namespace Imle

open System

/// Non-negative least squares, min_{x ≥ 0} ‖A·x − b‖², by the active-set method of Lawson & Hanson ("Solving Least
/// Squares Problems", 1974, ch. 23), each subproblem solved by Householder QR. It projects a vector onto the cone
/// spanned by the columns of A (‖b − A·x‖ is the distance to the cone), which is what CaVE (Tang & Khalil 2024) needs:
/// the cone of the binding constraints' normals at the optimal solution.
[<RequireQualifiedAccess>]
module Nnls =

    /// The solution x ≥ 0 and the residual norm ‖A·x − b‖.
    type Solution =
        {
            /// The minimiser (one entry per column of A).
            X: float[]
            /// ‖A·x − b‖ at the minimiser.
            ResidualNorm: float
        }

    /// Unconstrained least squares on the columns `cols` of A by Householder QR: argmin_s ‖A_cols·s − b‖. Returns
    /// None when those columns are numerically rank-deficient.
    let private leastSquares (a: float[,]) (cols: int[]) (b: float[]) : float[] option =
        let m = Array2D.length1 a
        let n = cols.Length
        let r = Array2D.init m n (fun i j -> a.[i, cols.[j]])
        let y = Array.copy b

        let scale =
            cols
            |> Array.sumBy (fun c -> Seq.init m (fun i -> abs a.[i, c]) |> Seq.max)
            |> max 1e-300

        let mutable ok = n <= m

        let mutable j = 0

        while ok && j < n do
            let norm = sqrt (Seq.sum (seq { for i in j .. m - 1 -> r.[i, j] * r.[i, j] }))

            if norm <= 1e-12 * scale then
                ok <- false
            else
                let alpha = if r.[j, j] > 0.0 then -norm else norm

                let v =
                    Array.init m (fun i ->
                        if i < j then 0.0
                        elif i = j then r.[j, j] - alpha
                        else r.[i, j])

                let vv = Array.sumBy (fun x -> x * x) v

                if vv > 0.0 then
                    for c in j .. n - 1 do
                        let dot = Seq.sum (seq { for i in j .. m - 1 -> v.[i] * r.[i, c] })

                        for i in j .. m - 1 do
                            r.[i, c] <- r.[i, c] - 2.0 * v.[i] * dot / vv

                    let dot = Seq.sum (seq { for i in j .. m - 1 -> v.[i] * y.[i] })

                    for i in j .. m - 1 do
                        y.[i] <- y.[i] - 2.0 * v.[i] * dot / vv

                j <- j + 1

        if not ok then
            None
        else
            let s = Array.zeroCreate n

            for i in n - 1 .. -1 .. 0 do
                let mutable acc = y.[i]

                for c in i + 1 .. n - 1 do
                    acc <- acc - r.[i, c] * s.[c]

                s.[i] <- acc / r.[i, i]

            Some s

    let private residual (a: float[,]) (x: float[]) (b: float[]) =
        Array.init b.Length (fun i ->
            let mutable acc = -b.[i]

            for j in 0 .. x.Length - 1 do
                acc <- acc + a.[i, j] * x.[j]

            acc)

    /// Solves min_{x ≥ 0} ‖A·x − b‖² for A (m × n) and b (length m). Raises ArgumentException naming `a` (null, empty,
    /// non-finite) or `b` (null, wrong length, non-finite), and InvalidOperationException if the active set does not
    /// settle within 3n + 10 outer iterations (the textbook bound; it has not been seen to happen).
    let solve (a: float[,]) (b: float[]) : Solution =
        if isNull a then
            nullArg "a"

        Validate.notNull "b" b
        let m, n = Array2D.length1 a, Array2D.length2 a

        if m = 0 || n = 0 then
            invalidArg "a" (sprintf "a must have at least one row and one column; got %d × %d." m n)

        if a |> Seq.cast<float> |> Seq.exists (Validate.isFinite >> not) then
            invalidArg "a" "a must contain only finite numbers."

        Validate.length "b" m b
        Validate.allFinite "b" b
        let bNorm = b |> Array.sumBy abs
        let tolerance = 1e-12 * max 1.0 bNorm * float (max m n)
        let x = Array.zeroCreate n
        let passive = Array.zeroCreate n

        let gradient () =
            let r = residual a x b
            Array.init n (fun j -> -(Seq.sum (seq { for i in 0 .. m - 1 -> a.[i, j] * r.[i] })))

        let mutable w = gradient ()
        let mutable iterations = 0

        let candidate () =
            let mutable best = -1

            for j in 0 .. n - 1 do
                if not passive.[j] && w.[j] > tolerance && (best < 0 || w.[j] > w.[best]) then
                    best <- j

            best

        let mutable next = candidate ()

        while next >= 0 do
            iterations <- iterations + 1

            if iterations > 3 * n + 10 then
                raise (InvalidOperationException "Nnls.solve: the active set did not settle within 3n + 10 iterations.")

            passive.[next] <- true
            let mutable inner = true

            while inner do
                let cols = Array.init n id |> Array.filter (fun j -> passive.[j])

                match leastSquares a cols b with
                | None ->
                    // The new column is dependent on the passive ones: drop it and stop adding it.
                    passive.[next] <- false
                    w.[next] <- 0.0
                    inner <- false
                | Some s ->
                    if s |> Array.forall (fun v -> v > 0.0) then
                        Array.iteri (fun i c -> x.[c] <- s.[i]) cols
                        inner <- false
                    else
                        // Step from x towards s until the first passive coordinate reaches 0; it leaves the set.
                        let mutable alpha = 1.0

                        cols
                        |> Array.iteri (fun i c ->
                            if s.[i] <= 0.0 then
                                alpha <- min alpha (x.[c] / (x.[c] - s.[i])))

                        cols |> Array.iteri (fun i c -> x.[c] <- x.[c] + alpha * (s.[i] - x.[c]))

                        for c in cols do
                            if x.[c] <= tolerance then
                                x.[c] <- 0.0
                                passive.[c] <- false

                        if not (Array.exists id passive) then
                            inner <- false

            w <- gradient ()
            next <- candidate ()

        let r = residual a x b

        { X = x
          ResidualNorm = sqrt (Array.sumBy (fun v -> v * v) r) }
