using System;
using System.Collections.Generic;
using System.Linq;
using Imle.CSharp;

namespace Imle.CSharp.OrTools;

/// <summary>An integer linear program over binary variables z ∈ {0, 1}^Variables (Example 3 of the I-MLE paper), whose
/// MAP oracle optimises ⟨z, w⟩ subject to linear constraints, exactly, with Google OR-Tools (SCIP where available).
/// The first <see cref="Size"/> variables are the state, row-major in <see cref="Shape"/>; any further ones are
/// auxiliary (zero weight, not returned). Immutable: every <c>With…</c>/<c>Add…</c> method returns a new program.
/// Start from <see cref="Create"/> or a ready-made model (<see cref="KSubset"/>, <see cref="Assignment"/>,
/// <see cref="GridPath"/>), then turn it into a problem with <see cref="ToProblem"/>.</summary>
public sealed class IntegerLinearProgram
{
    private readonly Imle.OrTools.IlpModel model;

    private IntegerLinearProgram(Imle.OrTools.IlpModel model) => this.model = model;

    /// <summary>A program with one binary variable per state entry and no constraints yet.</summary>
    /// <param name="shape">The state's shape, every dimension ≥ 1.</param>
    /// <param name="sense">Whether the oracle maximises scores or minimises costs.</param>
    /// <returns>The program.</returns>
    /// <exception cref="ArgumentException">The shape is empty or has a dimension &lt; 1.</exception>
    public static IntegerLinearProgram Create(int[] shape, OptimizationSense sense)
    {
        if (shape is null) throw new ArgumentNullException(nameof(shape), "shape must not be null.");
        return new(Imle.OrTools.Ilp.model(shape, Problems.Convert(sense)));
    }

    /// <summary>k-subsets of m items: Σ z = k, maximising scores.</summary>
    /// <param name="m">Items, ≥ 1.</param>
    /// <param name="k">The subset size, in [0, m].</param>
    /// <returns>The program.</returns>
    public static IntegerLinearProgram KSubset(int m, int k) => new(Imle.OrTools.Ilp.kSubsetModel(m, k));

    /// <summary>Minimum-cost assignment of every row to a distinct column (cols ≥ rows), minimising costs.</summary>
    /// <param name="rows">Rows, ≥ 1.</param>
    /// <param name="cols">Columns, ≥ rows.</param>
    /// <returns>The program.</returns>
    public static IntegerLinearProgram Assignment(int rows, int cols) => new(Imle.OrTools.Ilp.assignmentModel(rows, cols));

    /// <summary>The cheapest path with vertex costs from the top-left to the bottom-right cell of a grid, as a flow ILP
    /// with one auxiliary variable per directed edge; equal to Dijkstra's cost for non-negative costs.</summary>
    /// <param name="rows">Rows, ≥ 1.</param>
    /// <param name="cols">Columns, ≥ 1.</param>
    /// <param name="neighbourhood">The allowed moves.</param>
    /// <returns>The program.</returns>
    public static IntegerLinearProgram GridPath(int rows, int cols, GridNeighbourhood neighbourhood = GridNeighbourhood.Eight) =>
        new(Imle.OrTools.Ilp.gridPathModel(rows, cols, Problems.Convert(neighbourhood)));

    /// <summary>The OR-Tools solver used on this machine ("SCIP" where available).</summary>
    public static string Backend => Imle.OrTools.Ilp.backend.Value;

    /// <summary>The state's shape.</summary>
    public IReadOnlyList<int> Shape => Array.AsReadOnly((int[])model.Shape.Clone());

    /// <summary>The number of state variables (the product of <see cref="Shape"/>).</summary>
    public int Size => model.Size;

    /// <summary>All binary variables, state and auxiliary.</summary>
    public int Variables => model.Variables;

    /// <summary>Whether the oracle maximises scores or minimises costs.</summary>
    public OptimizationSense Sense => model.Sense.IsMaximise ? OptimizationSense.Maximise : OptimizationSense.Minimise;

    /// <summary>The number of linear constraints.</summary>
    public int ConstraintCount => model.Constraints.Length;

    /// <summary>Adds <paramref name="count"/> auxiliary binary variables after the existing ones (indices
    /// <see cref="Variables"/> .. <see cref="Variables"/> + count − 1 of this program).</summary>
    /// <param name="count">How many, ≥ 0.</param>
    /// <returns>The new program.</returns>
    public IntegerLinearProgram WithAuxiliary(int count) => new(Imle.OrTools.Ilp.withAuxiliary(count, model));

    /// <summary>Adds <c>lower ≤ Σ_j coefficients[j]·z[indices[j]] ≤ upper</c>; use ±∞ for a one-sided constraint.</summary>
    /// <param name="indices">Distinct variable indices in [0, <see cref="Variables"/>).</param>
    /// <param name="coefficients">One finite coefficient per index.</param>
    /// <param name="lower">The lower bound (may be −∞, not NaN or +∞).</param>
    /// <param name="upper">The upper bound (may be +∞, not NaN or −∞), ≥ lower.</param>
    /// <returns>The new program.</returns>
    /// <exception cref="ArgumentException">An index, coefficient or bound is invalid (the message says which).</exception>
    public IntegerLinearProgram AddConstraint(int[] indices, double[] coefficients, double lower, double upper)
    {
        if (indices is null) throw new ArgumentNullException(nameof(indices), "indices must not be null.");
        if (coefficients is null) throw new ArgumentNullException(nameof(coefficients), "coefficients must not be null.");
        if (indices.Length != coefficients.Length)
            throw new ArgumentException($"coefficients must have one entry per index ({indices.Length}); got {coefficients.Length}.", nameof(coefficients));
        var pairs = indices.Zip(coefficients, (i, a) => Tuple.Create(i, a)).ToArray();
        return new(Imle.OrTools.Ilp.addConstraint(pairs, lower, upper, model));
    }

    /// <summary>Adds Σ_{i ∈ indices} z_i = k.</summary>
    /// <param name="indices">Distinct variable indices.</param>
    /// <param name="k">The count, in [0, indices.Length].</param>
    /// <returns>The new program.</returns>
    public IntegerLinearProgram ExactlyK(int[] indices, int k) => new(Imle.OrTools.Ilp.exactlyK(indices, k, model));

    /// <summary>Adds Σ_{i ∈ indices} z_i ≤ k.</summary>
    /// <param name="indices">Distinct variable indices.</param>
    /// <param name="k">The bound, ≥ 0.</param>
    /// <returns>The new program.</returns>
    public IntegerLinearProgram AtMost(int[] indices, int k) => new(Imle.OrTools.Ilp.atMost(indices, k, model));

    /// <summary>Adds Σ_{i ∈ indices} z_i ≥ k.</summary>
    /// <param name="indices">Distinct variable indices.</param>
    /// <param name="k">The bound, in [0, indices.Length].</param>
    /// <returns>The new program.</returns>
    public IntegerLinearProgram AtLeast(int[] indices, int k) => new(Imle.OrTools.Ilp.atLeast(indices, k, model));

    /// <summary>The MAP state: a binary state maximising (or minimising) ⟨z, weights⟩ under the constraints, solved
    /// exactly; safe to call from many threads.</summary>
    /// <param name="weights">One finite weight per state variable (<see cref="Size"/>).</param>
    /// <returns>The state.</returns>
    /// <exception cref="ArgumentException">The weights have the wrong length or a NaN/∞ entry.</exception>
    /// <exception cref="InvalidOperationException">The program is infeasible or the solve failed.</exception>
    public double[] Solve(double[] weights) => Imle.OrTools.Ilp.solve(model, weights);

    /// <summary>Whether a binary state lies in the feasible set (with auxiliary variables: whether some completion of them
    /// satisfies the constraints).</summary>
    /// <param name="state">A state of <see cref="Size"/> entries.</param>
    /// <returns>True if feasible.</returns>
    public bool IsFeasible(double[] state) => Imle.OrTools.Ilp.isFeasible(model, state);

    /// <summary>The program as an Imle problem, usable with every estimator, layer and solver entry point; the problem
    /// checks the solver's output against the constraints.</summary>
    /// <param name="name">A non-empty name for messages and reports.</param>
    /// <returns>The problem.</returns>
    public ImleProblem ToProblem(string name) => new(Imle.OrTools.Ilp.problem(name, model));

    /// <inheritdoc />
    public override string ToString() =>
        $"IntegerLinearProgram(shape [{string.Join(", ", model.Shape)}], {Variables} variables, {ConstraintCount} constraints, {Sense})";
}
