using System;
using System.Collections.Generic;
using System.Linq;
using Imle.CSharp;

namespace Imle.CSharp.OrTools;

/// <summary>A linear program (continuous variables, solved by GLOP), mixed-integer linear program (some integer
/// variables, solved by SCIP) or integer linear program over binary variables (Example 3 of the I-MLE paper) whose
/// objective is linear in the weights: the oracle optimises ⟨x, w⟩ over the first <see cref="Size"/> variables (the
/// state, row-major in <see cref="Shape"/>) subject to bounds, integrality flags and linear constraints; any further
/// variables are auxiliary (zero weight, not returned). As an <see cref="Problem"/> (<see cref="ToProblem"/>) it
/// works with every estimator, layer and loss. Start from <see cref="Create"/> (continuous variables),
/// <see cref="CreateBinary"/> (binary variables) or a ready-made model (<see cref="Flow"/>, <see cref="KSubset"/>,
/// <see cref="Assignment"/>, <see cref="GridPath"/>). Immutable: every <c>With…</c>/<c>Add…</c> method returns a new
/// program. Arguments are checked by the F# core (<c>Imle.OrTools.Lp</c>, <c>Imle.OrTools.Ilp</c>); its messages name
/// the parameters as spelled here.</summary>
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
    public static LinearProgram Create(int[] shape, OptimizationSense sense, double lower = 0.0, double upper = double.PositiveInfinity) =>
        new(Imle.OrTools.Lp.model(shape, Problems.Convert(sense), lower, upper));

    /// <summary>A program with one binary variable per state entry and no constraints yet (an ILP).</summary>
    /// <param name="shape">The state's shape, every dimension ≥ 1.</param>
    /// <param name="sense">Whether the oracle maximises scores or minimises costs.</param>
    /// <returns>The program.</returns>
    /// <exception cref="ArgumentException">The shape is empty or has a dimension &lt; 1.</exception>
    public static LinearProgram CreateBinary(int[] shape, OptimizationSense sense) =>
        new(Imle.OrTools.Ilp.model(shape, Problems.Convert(sense)));

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

    /// <summary>k-subsets of m items as a binary program: Σ z = k, maximising scores.</summary>
    /// <param name="m">Items, ≥ 1.</param>
    /// <param name="k">The subset size, in [0, m].</param>
    /// <returns>The program.</returns>
    public static LinearProgram KSubset(int m, int k) => new(Imle.OrTools.Ilp.kSubsetModel(m, k));

    /// <summary>Minimum-cost assignment of every row to a distinct column (cols ≥ rows) as a binary program, minimising
    /// costs.</summary>
    /// <param name="rows">Rows, ≥ 1.</param>
    /// <param name="cols">Columns, ≥ rows.</param>
    /// <returns>The program.</returns>
    public static LinearProgram Assignment(int rows, int cols) => new(Imle.OrTools.Ilp.assignmentModel(rows, cols));

    /// <summary>The cheapest path with vertex costs from the top-left to the bottom-right cell of a grid, as a flow ILP
    /// with one auxiliary binary variable per directed edge; equal to Dijkstra's cost for non-negative costs.</summary>
    /// <param name="rows">Rows, ≥ 1.</param>
    /// <param name="cols">Columns, ≥ 1.</param>
    /// <param name="neighbourhood">The allowed moves.</param>
    /// <returns>The program.</returns>
    public static LinearProgram GridPath(int rows, int cols, GridNeighbourhood neighbourhood = GridNeighbourhood.Eight) =>
        new(Imle.OrTools.Ilp.gridPathModel(rows, cols, Problems.Convert(neighbourhood)));

    /// <summary>The OR-Tools solver used on this machine for programs with integer variables ("SCIP" where
    /// available).</summary>
    public static string MipBackend => Imle.OrTools.Lp.mipBackend.Value;

    /// <summary>The one feasibility tolerance of <see cref="IsFeasible"/> and of the check of every solution: a value
    /// may exceed a bound b by this times (1 + |b|).</summary>
    public static double FeasibilityTolerance => Imle.OrTools.Lp.feasibilityTolerance;

    /// <summary>"GLOP" for an LP, <see cref="MipBackend"/> for a program with integer variables.</summary>
    public string Backend => Imle.OrTools.Lp.backendFor(model);

    /// <summary>The state's shape.</summary>
    public IReadOnlyList<int> Shape => Array.AsReadOnly((int[])model.Shape.Clone());

    /// <summary>The number of state variables (the product of <see cref="Shape"/>).</summary>
    public int Size => model.Size;

    /// <summary>All variables, state and auxiliary.</summary>
    public int Variables => model.Variables.Length;

    /// <summary>Whether the oracle maximises scores or minimises costs.</summary>
    public OptimizationSense Sense => model.Sense.IsMaximise ? OptimizationSense.Maximise : OptimizationSense.Minimise;

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

    /// <summary>Appends auxiliary variables (zero weight, not part of the state) with indices <see cref="Variables"/>
    /// .. <see cref="Variables"/> + count − 1 of this program; binary ones are <c>WithAuxiliary(count, 0, 1, true)</c>.</summary>
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
    /// <param name="lower">The lower bound (may be −∞, not NaN or +∞).</param>
    /// <param name="upper">The upper bound (may be +∞, not NaN or −∞), ≥ lower.</param>
    /// <returns>The new program.</returns>
    /// <exception cref="ArgumentException">An index, coefficient or bound is invalid (the message says which).</exception>
    public LinearProgram AddConstraint(int[] indices, double[] coefficients, double lower, double upper)
    {
        if (indices is null) throw new ArgumentNullException(nameof(indices), "indices must not be null.");
        if (coefficients is null) throw new ArgumentNullException(nameof(coefficients), "coefficients must not be null.");
        // Type mapping: the F# core takes (index, coefficient) pairs, so one coefficient per index is this mapping's rule.
        if (indices.Length != coefficients.Length)
            throw new ArgumentException($"coefficients must have one entry per index ({indices.Length}); got {coefficients.Length}.", nameof(coefficients));
        return new(Imle.OrTools.Lp.addConstraint(indices.Zip(coefficients, (i, a) => Tuple.Create(i, a)).ToArray(), lower, upper, model));
    }

    /// <summary>Adds Σ_{i ∈ indices} x_i = k.</summary>
    /// <param name="indices">Distinct variable indices.</param>
    /// <param name="k">The count, ≥ 0.</param>
    /// <returns>The new program.</returns>
    public LinearProgram ExactlyK(int[] indices, int k) => new(Imle.OrTools.Ilp.exactlyK(indices, k, model));

    /// <summary>Adds Σ_{i ∈ indices} x_i ≤ k.</summary>
    /// <param name="indices">Distinct variable indices.</param>
    /// <param name="k">The bound, ≥ 0.</param>
    /// <returns>The new program.</returns>
    public LinearProgram AtMost(int[] indices, int k) => new(Imle.OrTools.Ilp.atMost(indices, k, model));

    /// <summary>Adds Σ_{i ∈ indices} x_i ≥ k.</summary>
    /// <param name="indices">Distinct variable indices.</param>
    /// <param name="k">The bound, ≥ 0.</param>
    /// <returns>The new program.</returns>
    public LinearProgram AtLeast(int[] indices, int k) => new(Imle.OrTools.Ilp.atLeast(indices, k, model));

    /// <summary>The optimal state for the weights (a vertex for an LP; exact, relative gap 0, with integer variables);
    /// safe to call from many threads.</summary>
    /// <param name="weights">One finite weight per state variable.</param>
    /// <returns>The state.</returns>
    /// <exception cref="ArgumentException">The weights have the wrong length or a NaN/∞ entry.</exception>
    /// <exception cref="InvalidOperationException">The program is infeasible, or unbounded for these weights (the
    /// message says which).</exception>
    public double[] Solve(double[] weights) => Imle.OrTools.Lp.solve(model, weights);

    /// <summary>Whether a state is feasible within <see cref="FeasibilityTolerance"/> (with auxiliary variables: whether
    /// some completion of them is).</summary>
    /// <param name="state">A state of <see cref="Size"/> entries.</param>
    /// <returns>True if feasible.</returns>
    public bool IsFeasible(double[] state) => Imle.OrTools.Lp.isFeasible(model, state);

    /// <summary>The program as an Imle problem, usable with every estimator, layer and solver entry point; the problem
    /// checks the solver's output against the program. Its states are binary when every state variable is binary,
    /// real vectors otherwise.</summary>
    /// <param name="name">A non-empty name for messages and reports.</param>
    /// <returns>The problem.</returns>
    public Problem ToProblem(string name) => new(Imle.OrTools.Lp.problem(name, model));

    /// <inheritdoc />
    public override string ToString() =>
        $"LinearProgram(shape [{string.Join(", ", model.Shape)}], {Variables} variables, {ConstraintCount} constraints, {Sense}, {Backend})";
}
