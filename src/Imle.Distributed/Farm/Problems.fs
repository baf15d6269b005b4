namespace Imle.Distributed

open System
open Imle
open Imle.Solvers

/// The problems a farm solves by name: a catalog maps a spec such as "grid-shortest-path:12:12" (a name, then fields
/// separated by ':') to a `Problem`. Worker and client resolve the same spec with the same catalog, so a farmed solve
/// equals a local one and the client can check each returned state. A catalog is a value: start from
/// `FarmProblems.builtIn` and `Add` your own entries (a benchmark's job type, a MILP), then give the same catalog to
/// `SolverWorker.Start` and `SolverFarmOptions.Catalog`.
[<Sealed>]
type FarmCatalog private (entries: Map<string, string * Func<string[], FarmCatalog, Problem>>) =

    static let validName (name: string) =
        not (String.IsNullOrEmpty name)
        && name.Length <= 64
        && name
           |> Seq.forall (fun c -> (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c = '-')

    /// A catalog with no entries.
    static member Empty = FarmCatalog(Map.empty)

    /// The names it resolves, in order.
    member _.Names: string list = entries |> Map.toList |> List.map fst

    /// The allowed spec forms, for messages (e.g. "k-subset:M:K, categorical:M").
    member _.Usage: string =
        String.Join(", ", entries |> Map.toSeq |> Seq.map (fun (_, (usage, _)) -> usage))

    /// This catalog with one more entry: specs "NAME:FIELD:…" are built by `build` from the fields after the name (the
    /// catalog is passed too, so that an entry can wrap another spec). `name` must be 1 to 64 characters of a–z, 0–9
    /// and '-', and new; `usage` shows the spec's form in messages (e.g. "my-milp:N"). `build` raises
    /// ArgumentException for bad fields.
    member _.Add(name: string, usage: string, build: Func<string[], FarmCatalog, Problem>) : FarmCatalog =
        if not (validName name) then
            invalidArg "name" (sprintf "name must be 1 to 64 characters of a-z, 0-9 and '-'; got '%s'." name)

        if entries.ContainsKey name then
            invalidArg "name" (sprintf "The catalog already has an entry '%s'." name)

        if String.IsNullOrWhiteSpace usage then
            invalidArg "usage" "usage must show the spec's form, e.g. 'my-milp:N'."

        if isNull build then
            nullArg "build"

        FarmCatalog(entries.Add(name, (usage, build)))

    /// The problem named by `spec`; ArgumentException naming the allowed forms for an unknown or malformed spec, or for
    /// a problem larger than `FarmLimits.MaxWeights` entries.
    member this.Resolve(spec: string) : Problem =
        if String.IsNullOrWhiteSpace spec then
            invalidArg "spec" (sprintf "spec must be a problem name; allowed: %s." this.Usage)

        if spec.Length > FarmLimits.MaxNameBytes then
            invalidArg
                "spec"
                (sprintf "spec has %d characters; at most %d are allowed." spec.Length FarmLimits.MaxNameBytes)

        let parts = spec.Trim().Split(':')

        match entries.TryFind(parts.[0].ToLowerInvariant()) with
        | None -> invalidArg "spec" (sprintf "Unknown problem spec '%s'. Allowed: %s." spec this.Usage)
        | Some(_, build) ->
            let problem = build.Invoke(parts.[1..], this)

            if isNull (box problem) then
                invalidOp (sprintf "The catalog entry '%s' built no problem for '%s'." parts.[0] spec)

            if problem.Size > FarmLimits.MaxWeights then
                invalidArg
                    "spec"
                    (sprintf
                        "Problem spec '%s' has %d entries; a farm job carries at most %d."
                        spec
                        problem.Size
                        FarmLimits.MaxWeights)

            problem

/// The built-in catalog and helpers for catalog entries.
[<RequireQualifiedAccess>]
module FarmProblems =

    /// A spec field as an integer in [lo, hi]; ArgumentException naming the field otherwise.
    let intField (field: string) (lo: int) (hi: int) (value: string) : int =
        match Int32.TryParse value with
        | true, v when v >= lo && v <= hi -> v
        | _ -> invalidArg "spec" (sprintf "%s must be an integer in [%d, %d]; got '%s'." field lo hi value)

    let private bad (usage: string) (fields: string[]) =
        invalidArg "spec" (sprintf "Malformed fields '%s'; expected %s." (String.Join(":", fields)) usage)

    let private gridUsage = "grid-shortest-path:ROWS:COLS[:4|8[:clamp|shift|unchanged]]"

    let private grid (fields: string[]) (_: FarmCatalog) =
        if fields.Length < 2 || fields.Length > 4 then
            bad gridUsage fields

        let rows = intField "ROWS" 1 FarmLimits.MaxWeights fields.[0]
        let cols = intField "COLS" 1 FarmLimits.MaxWeights fields.[1]

        if int64 rows * int64 cols > int64 FarmLimits.MaxWeights then
            invalidArg "spec" (sprintf "ROWS × COLS must be at most %d; got %d × %d." FarmLimits.MaxWeights rows cols)

        let neighbourhood =
            if fields.Length < 3 then
                Eight
            else
                match fields.[2] with
                | "4" -> Four
                | "8" -> Eight
                | _ -> bad gridUsage fields

        let negative =
            if fields.Length < 4 then
                ClampToZero
            else
                match fields.[3].ToLowerInvariant() with
                | "clamp" -> ClampToZero
                | "shift" -> ShiftToZero
                | "unchanged" -> Unchanged
                | _ -> bad gridUsage fields

        Problem.gridShortestPathWith negative rows cols neighbourhood

    let private kSubset (fields: string[]) (_: FarmCatalog) =
        if fields.Length <> 2 then
            bad "k-subset:M:K" fields

        let m = intField "M" 1 FarmLimits.MaxWeights fields.[0]
        Problem.kSubset m (intField "K" 1 m fields.[1])

    let private categorical (fields: string[]) (_: FarmCatalog) =
        if fields.Length <> 1 then
            bad "categorical:M" fields

        Problem.categorical (intField "M" 1 FarmLimits.MaxWeights fields.[0])

    /// The built-in problems: `grid-shortest-path:ROWS:COLS[:4|8[:clamp|shift|unchanged]]` (Warcraft maps; default 8
    /// neighbours, clamp negatives), `k-subset:M:K` and `categorical:M`.
    let builtIn: FarmCatalog =
        FarmCatalog.Empty
            .Add("grid-shortest-path", gridUsage, Func<_, _, _>(grid))
            .Add("k-subset", "k-subset:M:K", Func<_, _, _>(kSubset))
            .Add("categorical", "categorical:M", Func<_, _, _>(categorical))

    /// The built-in problem named by `spec` (see `builtIn`); ArgumentException naming the allowed forms otherwise.
    let resolve (spec: string) : Problem = builtIn.Resolve spec
