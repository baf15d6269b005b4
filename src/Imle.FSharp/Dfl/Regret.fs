namespace Imle.Dfl

open System
open Imle

/// Regret of decisions made from predicted costs (Elmachtoub and Grigas's "SPO loss"; PyEPO's `pyepo/metric/regret.py`).
///
/// Sense, stated once: for a Minimise problem with true costs c and predicted costs ĉ, regret(ĉ, c) =
/// cᵀw*(ĉ) − z*(c); for a Maximise problem (values), z*(c) − cᵀw*(ĉ). Either way regret ≥ 0, and 0 when w*(ĉ) is
/// optimal for c. Predictions are in the problem's own sense (predicted costs, or predicted values).
[<RequireQualifiedAccess>]
module Regret =

    /// The regret of the decision `decision` (a state) under true costs c with optimal value z*(c), in the problem's
    /// sense (see the module comment).
    let ofDecision (problem: Problem) (trueCosts: float[]) (trueObjective: float) (decision: float[]) : float =
        if isNull (box problem) then
            nullArg "problem"

        Validate.length "trueCosts" problem.Size trueCosts
        Validate.length "decision" problem.Size decision
        Validate.finite "trueObjective" trueObjective
        let value = Problem.objective trueCosts decision

        match problem.Sense with
        | Minimise -> value - trueObjective
        | Maximise -> trueObjective - value

    /// The regret of acting on predicted costs ĉ: solves w*(ĉ) and returns `ofDecision`.
    let regret (problem: Problem) (predicted: float[]) (trueCosts: float[]) (trueObjective: float) : float =
        if isNull (box problem) then
            nullArg "problem"

        Validate.length "predicted" problem.Size predicted
        ofDecision problem trueCosts trueObjective (Problem.solve problem predicted)

    /// The regret of every instance of a dataset for predictions [n][m] (one row per instance, solved in parallel).
    let perInstance (dataset: DflDataset) (predictions: float[][]) : float[] =
        if isNull (box dataset) then
            nullArg "dataset"

        Validate.length "predictions" dataset.Count predictions

        let decisions =
            try
                DflDataset.solveAll dataset.Problem predictions
            with :? ArgumentException as e when e.ParamName = "weights" ->
                invalidArg "predictions" e.Message

        let costs = dataset.Costs
        let objectives = dataset.Objectives
        Array.init dataset.Count (fun i -> ofDecision dataset.Problem costs.[i] objectives.[i] decisions.[i])

    /// PyEPO's normalised regret: Σ_i regret_i / Σ_i |z*(c_i)|, over a dataset and predictions [n][m]. (PyEPO adds
    /// 1e-7 to the denominator; here a dataset whose optimal values are all 0 raises InvalidOperationException instead.)
    let normalised (dataset: DflDataset) (predictions: float[][]) : float =
        let regrets = perInstance dataset predictions
        let denominator = dataset.Objectives |> Array.sumBy abs

        if denominator = 0.0 then
            invalidOp "normalised regret is undefined: every optimal value z*(c_i) of the dataset is 0."

        Array.sum regrets / denominator

    /// Unambiguous regret (PyEPO's `pyepo/metric/unambregret.py`): the regret of the *worst* decision among the states
    /// that tie as optimal for the predicted costs ĉ, so that a prediction cannot score well through lucky
    /// tie-breaking (ĉ = 0 makes every state optimal: its unambiguous regret is the worst regret in C). Computed with
    /// the problem's own oracle by a lexicographic perturbation: w*(ĉ − ε·c) is, among the ĉ-optimal states, one that
    /// is worst for c (largest cost when minimising, smallest value when maximising), exactly when ε·max |cᵀ(w − w')|
    /// over states w, w' is below the smallest nonzero gap between ĉ-objectives of two states. `epsilon` > 0 is that
    /// ε, relative to max|ĉ| / max|c| (1e-7 suits predictions of order 1 with ties that are exact). Always ≥ `regret`
    /// when the condition holds.
    let unambiguous
        (problem: Problem)
        (epsilon: float)
        (predicted: float[])
        (trueCosts: float[])
        (trueObjective: float)
        : float =
        if isNull (box problem) then
            nullArg "problem"

        Validate.positive "epsilon" epsilon
        Validate.length "predicted" problem.Size predicted
        Validate.allFinite "predicted" predicted
        Validate.length "trueCosts" problem.Size trueCosts
        Validate.allFinite "trueCosts" trueCosts
        let scaleHat = predicted |> Array.fold (fun m x -> max m (abs x)) 0.0
        let scaleTrue = trueCosts |> Array.fold (fun m x -> max m (abs x)) 0.0

        let eps =
            if scaleTrue = 0.0 then
                0.0
            else
                epsilon * (if scaleHat = 0.0 then 1.0 else scaleHat) / scaleTrue

        let tieBroken = Array.map2 (fun p c -> p - eps * c) predicted trueCosts
        ofDecision problem trueCosts trueObjective (Problem.solve problem tieBroken)

    /// Normalised unambiguous regret over a dataset: Σ_i unambiguous_i / Σ_i |z*(c_i)| (see `unambiguous`).
    let normalisedUnambiguous (epsilon: float) (dataset: DflDataset) (predictions: float[][]) : float =
        if isNull (box dataset) then
            nullArg "dataset"

        Validate.positive "epsilon" epsilon
        Validate.length "predictions" dataset.Count predictions
        let costs = dataset.Costs
        let objectives = dataset.Objectives
        let denominator = objectives |> Array.sumBy abs

        if denominator = 0.0 then
            invalidOp "normalised regret is undefined: every optimal value z*(c_i) of the dataset is 0."

        let regrets =
            Array.Parallel.init dataset.Count (fun i ->
                if isNull predictions.[i] then
                    invalidArg "predictions" (sprintf "predictions[%d] is null." i)

                unambiguous dataset.Problem epsilon predictions.[i] costs.[i] objectives.[i])

        Array.sum regrets / denominator
