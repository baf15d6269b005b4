namespace Imle

open System
open Imle.Solvers

/// Whether the MAP oracle maximises ⟨z, θ⟩ over scores θ, or minimises ⟨z, c⟩ over costs c (then θ = −c, Example 3).
type Sense =
    /// The weights are scores θ; MAP(θ) = argmax_{z ∈ C} ⟨z, θ⟩.
    | Maximise
    /// The weights are costs c; MAP(c) = argmin_{z ∈ C} ⟨z, c⟩, i.e. the exponential family has θ = −c.
    | Minimise

/// A MAP oracle over spans: weights in (the problem's own sense), the state written into the second span. Used to
/// solve batch rows in place over tensor memory without per-row managed copies.
type SpanSolver = delegate of weights: ReadOnlySpan<float> * state: Span<float> -> unit

/// What a grid shortest-path problem does with negative vertex costs (Dijkstra needs costs ≥ 0, and perturbed costs
/// can fall below 0).
type NegativeCosts =
    /// Clamp each negative cost to 0 (blackbox-backprop's convention; the default).
    | ClampToZero
    /// Subtract the map's minimum cost from every cell so that the minimum is 0 (tf-imle's Warcraft code does this to a
    /// noiseless target). This adds the same constant to every cell, so it favours paths through fewer cells.
    | ShiftToZero
    /// Pass negative costs unchanged to Dijkstra, which settles each cell when it first leaves the queue and never
    /// reopens it (blackbox-backprop's and tf-imle's `dijkstra`, which the authors' Warcraft code runs on noisy costs).
    /// Where every cost is >= 0 this is the shortest path; with negative costs it is a path that need not be the
    /// cheapest (the cheapest simple path is NP-hard once two negative cells touch). Host solver only.
    | Unchanged

/// Which ready-made family a problem is; lets a backend pick a device-native solver (e.g. top-k on the tensor's device).
type ProblemKind =
    /// One-hot states (Example 1).
    | CategoricalKind
    /// k-subsets (Example 2).
    | KSubsetKind of k: int
    /// Grid shortest paths with vertex costs.
    | GridPathKind
    /// Grid shortest paths with vertex costs that tensor backends solve with tensor operations on the weights' device
    /// (batched min-plus relaxations), with this negative-cost policy and neighbourhood; the pure oracle is Dijkstra.
    | GridPathTensorKind of negativeCosts: NegativeCosts * neighbourhood: Neighbourhood
    /// Global sequence alignment.
    | AlignmentKind
    /// Bipartite matching.
    | MatchingKind
    /// Spanning trees.
    | SpanningTreeKind
    /// 0/1 knapsack.
    | KnapsackKind
    /// A user's MAP function (or an ILP).
    | UserDefined
    /// Shortest source–sink paths in a DAG with signed arc costs (arc indicator).
    | DagPathKind
    /// Travelling-salesperson tours (edge indicator).
    | TourKind

/// A constrained exponential family p(z; θ) ∝ exp(⟨z, θ⟩/τ) over a set C of binary states (paper Eq. 3),
/// given by its MAP oracle. States and weights are flat arrays of `Size` entries laid out row-major in `Shape`.
///
/// The representation is private so that a problem cannot say one thing and do another: the `Kind` tag (which lets a
/// backend use a device-native solver, e.g. top-k for k-subsets) always describes the oracle in `Solve`. Build
/// problems with the `Problem` module's constructors; `Problem.withSolver` replaces the oracle and makes the problem
/// user-defined, so both backends then call the new oracle.
type Problem =
    private
        { name: string
          shape: int[]
          sense: Sense
          solve: float[] -> float[]
          solveSpan: SpanSolver option
          kind: ProblemKind
          enumerate: (unit -> float[][]) option
          isFeasible: (float[] -> bool) option
          realStates: bool }

    /// A short name for messages and reports.
    member this.Name = this.name
    /// The shape of one state (and of the weights), e.g. [| m |] or [| rows; cols |].
    member this.Shape = Array.copy this.shape
    /// Whether the oracle maximises scores or minimises costs.
    member this.Sense = this.sense
    /// The MAP oracle in the problem's own sense: weights in, a state in C out (unchecked; `Problem.solve` checks).
    member this.Solve = this.solve
    /// The same oracle over spans, where the solver has one (ready-made problems do); None for array-only solvers.
    member this.SolveSpan = this.solveSpan
    /// Which family this is; always consistent with `Solve`.
    member this.Kind = this.kind
    /// The whole state space C, where it is small enough to list (exact quantities, score function).
    member this.Enumerate = this.enumerate
    /// Membership in C, used to validate the output of user solvers; None accepts any binary state.
    member this.IsFeasible = this.isFeasible
    /// The number of entries of a state (product of `Shape`).
    member this.Size = Array.fold (*) 1 this.shape
    /// Whether states are real vectors (solutions of a linear program with continuous variables, see
    /// `Problem.withRealStates`) rather than binary ones; false for every ready-made problem.
    member this.RealStates = this.realStates

    /// With another name.
    member this.WithName(name: string) =
        Validate.nonBlank "name" name
        { this with name = name }

    /// With another MAP oracle (weights in the problem's sense → state): the problem becomes user-defined, so every
    /// backend calls this oracle (and checks its output against the feasibility test, which is kept).
    member this.WithSolver(solve: float[] -> float[]) =
        if obj.ReferenceEquals(solve, null) then
            nullArg "solve"

        { this with
            solve = solve
            solveSpan = None
            kind = UserDefined }
