using System;
using Imle.CSharp;

namespace Imle.CSharp.OrTools;

/// <summary>The symmetric travelling-salesperson problem beyond Held–Karp's 13 cities: an exact ILP (degree constraints
/// and subtour-elimination cuts added until the optimum is one tour) solved by OR-Tools (SCIP). Costs and states are
/// indexed by the edges (i, j), i &lt; j, in lexicographic order, as <see cref="Dfl.TourEdges"/>.</summary>
public static class TravellingSalesperson
{
    /// <summary>The most cities accepted.</summary>
    public static int MaxCities => Imle.OrTools.Tsp.maxCities;

    /// <summary>The TSP on <paramref name="cities"/> cities as an Imle problem (minimises the tour's cost).</summary>
    /// <param name="cities">Cities, in [3, <see cref="MaxCities"/>].</param>
    /// <returns>The problem.</returns>
    /// <exception cref="ArgumentException"><paramref name="cities"/> is out of range.</exception>
    public static Problem Problem(int cities) => new(Imle.OrTools.Tsp.problem(cities));

    /// <summary>Whether a state is the edge indicator of one tour through all cities.</summary>
    /// <param name="cities">Cities, in [3, <see cref="MaxCities"/>].</param>
    /// <param name="state">An edge indicator.</param>
    /// <returns>True for a single Hamiltonian cycle.</returns>
    public static bool IsTour(int cities, double[] state) => Imle.OrTools.Tsp.isTour(cities, state);
}
