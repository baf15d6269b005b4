using System;
using System.Collections.Generic;
using System.Linq;
using Imle.CSharp;

namespace Imle.CSharp.OrTools;

/// <summary>A linear program (continuous variables, solved by GLOP) or mixed-integer linear program (some integer
/// variables, solved by SCIP) whose objective is linear in the weights: the oracle optimises ⟨x, w⟩ over the first
/// <see cref="Size"/> variables (the state) subject to bounds, integrality flags and linear constraints. As an
/// <see cref="ImleProblem"/> (<see cref="ToProblem"/>) its states are real vectors, and SPO+, the perturbed optimizers,
/// Fenchel–Young losses, blackbox and I-MLE work on it unchanged. Immutable: every <c>With…</c>/<c>Add…</c> method
/// returns a new program.</summary>
public sealed class LinearProgram
{
    private readonly Imle.OrTools.LinearModel model;

    private LinearProgram(Imle.OrTools.LinearModel model) => this.model = model;

    /// <summary>A program with one continuous variable per state entry in [lower, upper] and no constraints.</summary>
    /// <param name="shape">The state's shape, every dimension ≥ 1.</param>
    /// <param name="sense">Whether the oracle maximises or minimises ⟨x, w⟩.</param>
    /// <param name="lower">The lower bound of every state variable (may be −∞).</param>
    /// <param name="upper">The upper bound (may be +∞), ≥ lower.</param>
    /// <returns>The program.</returns>
    /// <exception cref="ArgumentException">The shape or a bound is invalid (the message says which).</exception>
    public static LinearProgram Create(int[] shape, OptimizationSense sense, double lower = 0.0, double upper = double.PositiveInfinity)
    {
        if (shape is null) throw new ArgumentNullException(nameof(shape), "shape must not be null.");
        return new(Imle.OrTools.Lp.model(shape, Problems.Convert(sense), lower, upper));
    }

    /// <summary>Shortest source–sink path as an LP over arc flows in [0, 1] with flow conservation (PyEPO's shortest-path
    /// model); on a DAG its vertex optima are paths.</summary>
    /// <param name="nodes">Nodes, ≥ 2.</param>
    /// <param name="arcs">The arcs (the state is the flow on them, in this order).</param>
    /// <param name="source">The source node.</param>
    /// <param name="sink">The sink node, ≠ source.</param>
    /// <returns>The program.</returns>
    public static LinearProgram Flow(int nodes, IReadOnlyList<Arc> arcs, int source, int sink)
    {
        if (arcs is null) throw new ArgumentNullException(nameof(arcs), "arcs must not be null.");
        return new(Imle.OrTools.Lp.flowModel(nodes, arcs.Select(a => Tuple.Create(a.From, a.To)).ToArray(), source, sink));
    }

    /// <summary>"GLOP" for an LP, "SCIP" for a program with integer variables.</summary>
    public string Backend => Imle.OrTools.Lp.backendFor(model);

    /// <summary>The state's shape.</summary>
    public IReadOnlyList<int> Shape => Array.AsReadOnly((int[])model.Shape.Clone());

    /// <summary>The number of state variables (the product of <see cref="Shape"/>).</summary>
    public int Size => model.Size;

    /// <summary>All variables, state and auxiliary.</summary>
    public int Variables => model.Variables.Length;

    /// <summary>The number of linear constraints.</summary>
    public int ConstraintCount => model.Constraints.Length;

    /// <summary>Sets the bounds of one variable.</summary>
    /// <param name="index">A variable index in [0, <see cref="Variables"/>).</param>
    /// <param name="lower">The lower bound (may be −∞).</param>
    /// <param name="upper">The upper bound (may be +∞), ≥ lower.</param>
    /// <returns>The new program.</returns>
    public LinearProgram WithBounds(int index, double lower, double upper) => new(Imle.OrTools.Lp.withBounds(index, lower, upper, model));

    /// <summary>Makes the listed variables integer (a MILP).</summary>
    /// <param name="indices">Variable indices in [0, <see cref="Variables"/>).</param>
    /// <returns>The new program.</returns>
    public LinearProgram WithIntegers(params int[] indices) => new(Imle.OrTools.Lp.withIntegers(indices, model));

    /// <summary>Appends auxiliary variables (zero weight, not part of the state).</summary>
    /// <param name="count">How many, ≥ 0.</param>
    /// <param name="lower">Their lower bound.</param>
    /// <param name="upper">Their upper bound.</param>
    /// <param name="integer">Whether they are integer.</param>
    /// <returns>The new program.</returns>
    public LinearProgram WithAuxiliary(int count, double lower = 0.0, double upper = double.PositiveInfinity, bool integer = false) =>
        new(Imle.OrTools.Lp.withAuxiliary(count, lower, upper, integer, model));

    /// <summary>Adds <c>lower ≤ Σ_j coefficients[j]·x[indices[j]] ≤ upper</c>; use ±∞ for a one-sided constraint.</summary>
    /// <param name="indices">Distinct variable indices in [0, <see cref="Variables"/>).</param>
    /// <param name="coefficients">One finite coefficient per index.</param>
    /// <param name="lower">The lower bound (may be −∞).</param>
    /// <param name="upper">The upper bound (may be +∞), ≥ lower.</param>
    /// <returns>The new program.</returns>
    /// <exception cref="ArgumentException">An index, coefficient or bound is invalid (the message says which).</exception>
    public LinearProgram AddConstraint(int[] indices, double[] coefficients, double lower, double upper)
    {
        if (indices is null) throw new ArgumentNullException(nameof(indices), "indices must not be null.");
        if (coefficients is null) throw new ArgumentNullException(nameof(coefficients), "coefficients must not be null.");
        if (indices.Length != coefficients.Length)
            throw new ArgumentException($"coefficients must have one entry per index ({indices.Length}); got {coefficients.Length}.", nameof(coefficients));
        return new(Imle.OrTools.Lp.addConstraint(indices.Zip(coefficients, (i, a) => Tuple.Create(i, a)).ToArray(), lower, upper, model));
    }

    /// <summary>The optimal state for the weights (a vertex for an LP); safe to call from many threads.</summary>
    /// <param name="weights">One finite weight per state variable.</param>
    /// <returns>The state.</returns>
    /// <exception cref="ArgumentException">The weights have the wrong length or a NaN/∞ entry.</exception>
    /// <exception cref="InvalidOperationException">The program is infeasible, or unbounded for these weights (the
    /// message says which).</exception>
    public double[] Solve(double[] weights) => Imle.OrTools.Lp.solve(model, weights);

    /// <summary>Whether a state is feasible (within 1e-6).</summary>
    /// <param name="state">A state of <see cref="Size"/> entries.</param>
    /// <returns>True if feasible.</returns>
    public bool IsFeasible(double[] state) => Imle.OrTools.Lp.isFeasible(model, state);

    /// <summary>The program as an Imle problem with real states.</summary>
    /// <param name="name">A non-empty name.</param>
    /// <returns>The problem.</returns>
    public ImleProblem ToProblem(string name) => new(Imle.OrTools.Lp.problem(name, model));

    /// <inheritdoc />
    public override string ToString() =>
        $"LinearProgram(shape [{string.Join(", ", model.Shape)}], {Variables} variables, {ConstraintCount} constraints, {Backend})";
}
