using System;
using System.Linq;
using Imle.CSharp;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

// Torch tests share libtorch's global state (the default generator used by module initialisation): run them one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Imle.CSharp.Tests;

public class TrainingTests
{
    /// <summary>Shuffled mini-batches cover every index once, have the asked size and repeat for the same seed.</summary>
    [Fact]
    public void ShuffledBatchesCoverEveryIndexOnce()
    {
        var batches = Training.ShuffledBatches(new Random(3), 10, 4);
        Assert.Equal(new[] { 4, 4, 2 }, batches.Select(b => b.Length).ToArray());
        Assert.Equal(Enumerable.Range(0, 10), batches.SelectMany(b => b).OrderBy(i => i));
        Assert.Equal(batches, Training.ShuffledBatches(new Random(3), 10, 4));
        Assert.ThrowsAny<ArgumentException>(() => Training.ShuffledBatches(new Random(3), 10, 0));
    }

    /// <summary>A linear model followed by an I-MLE 3-subset layer learns to pick the items a fixed teacher picks.</summary>
    [Fact]
    public void KSubsetLayerTrainingReducesTheLoss()
    {
        const int features = 8, m = 10, k = 3, batch = 64;
        torch.manual_seed(1);
        var teacher = torch.randn(features, m);
        var x = torch.randn(batch, features);
        var y = Discrete.Solve(Problems.KSubset(m, k), x.matmul(teacher));

        var model = nn.Sequential(nn.Linear(features, m), ImleLayers.KSubset(m, k, lambda: 10.0, samples: 5, seed: 7));
        var optimizer = optim.Adam(model.parameters(), lr: 0.05);
        var losses = new double[60];
        for (int step = 0; step < losses.Length; step++)
        {
            using var scope = torch.NewDisposeScope();
            optimizer.zero_grad();
            var loss = Losses.Hamming(model.forward(x), y);
            Training.Backward(loss);
            optimizer.step();
            losses[step] = loss.ToDouble();
        }

        double first = losses.Take(10).Average(), last = losses.Skip(50).Average();
        Assert.True(last < 0.6 * first, $"loss went from {first:F3} to {last:F3}");
    }

    /// <summary>In eval mode the layer returns the plain top-k state, without noise.</summary>
    [Fact]
    public void EvalModeReturnsTheMapState()
    {
        var layer = ImleLayers.KSubset(6, 2, seed: 3);
        layer.eval();
        var scores = torch.tensor(new double[] { 0.1, 5.0, -1.0, 4.0, 0.0, 2.0 }).reshape(1, 6);
        var z = layer.forward(scores).data<double>().ToArray();
        Assert.Equal(new double[] { 0, 1, 0, 1, 0, 0 }, z);
    }
}

public class CustomSolverTests
{
    private static double[] TopK(double[] w, int k)
    {
        var z = new double[w.Length];
        foreach (var i in Enumerable.Range(0, w.Length).OrderByDescending(i => w[i]).Take(k)) z[i] = 1.0;
        return z;
    }

    private static void TopKInto(ReadOnlySpan<double> w, Span<double> z, int k)
    {
        z.Clear();
        for (int round = 0; round < k; round++)
        {
            int best = -1;
            for (int i = 0; i < w.Length; i++)
                if (z[i] == 0.0 && (best < 0 || w[i] > w[best])) best = i;
            z[best] = 1.0;
        }
    }

    private static (double[] States, double[] Gradient) Run(Problem problem)
    {
        var layer = DiscreteLayers.Create(problem, Estimators.Imle(kappa: 3, lambda: 5).WithSamples(4), seed: 11);
        var w = torch.linspace(-1.0, 1.0, 20, dtype: ScalarType.Float64).reshape(2, 10).requires_grad_(true);
        var target = torch.zeros(2, 10, dtype: ScalarType.Float64);
        target[TensorIndex.Colon, TensorIndex.Slice(0, 3)] = torch.ones(2, 3, dtype: ScalarType.Float64);
        var z = layer.forward(w);
        Training.Backward(Losses.Hamming(z, target));
        return (z.detach().data<double>().ToArray(), w.grad!.data<double>().ToArray());
    }

    /// <summary>A user top-k as a Func and as a span solver gives the same states and gradients as the built-in k-subset.</summary>
    [Fact]
    public void FuncAndSpanSolversMatchTheBuiltInKSubset()
    {
        var builtIn = Run(Problems.KSubset(10, 3));
        var func = Run(Problems.FromFunction("my-top3", new[] { 10 }, w => TopK(w, 3)));
        var span = Run(Problems.FromSpanSolver("my-top3-span", new[] { 10 }, (w, z) => TopKInto(w, z, 3)));
        Assert.Equal(builtIn.States, func.States);
        Assert.Equal(builtIn.States, span.States);
        Assert.Equal(builtIn.Gradient, func.Gradient);
        Assert.Equal(builtIn.Gradient, span.Gradient);
        Assert.Contains(builtIn.Gradient, g => g != 0.0);
    }

    /// <summary>The façade's layer is the F# library's layer (one module, no wrapper inside), with the façade's types
    /// for its problem and estimator; a blank module name is refused by the F# check, named as the option is.</summary>
    [Fact]
    public void TheLayerIsOneModuleWithFacadeTypes()
    {
        var problem = Problems.KSubset(6, 2);
        var estimator = Estimators.Imle(kappa: 2, lambda: 3.0);
        var layer = DiscreteLayers.Create(problem, estimator, seed: 3, name: "picker");
        Assert.IsAssignableFrom<Imle.Torch.DiscreteLayer>(layer);
        Assert.Empty(layer.children());
        Assert.Equal("picker", layer.GetName());
        Assert.Same(problem, layer.Problem);
        Assert.Same(estimator, layer.Estimator);
        Assert.Equal("Name", Assert.ThrowsAny<ArgumentException>(() => DiscreteLayers.Create(problem, estimator, name: " ")).ParamName);
    }

    /// <summary>A user solver that returns a non-binary state is reported with the problem's name.</summary>
    [Fact]
    public void InvalidUserSolverOutputIsReported()
    {
        var problem = Problems.FromFunction("broken", new[] { 4 }, w => new double[] { 0.5, 0, 0, 0 });
        var layer = DiscreteLayers.Create(problem, Estimators.Blackbox(1.0));
        var e = Assert.Throws<InvalidOperationException>(() => layer.forward(torch.zeros(1, 4)));
        Assert.Contains("broken", e.Message);
    }

    /// <summary>A user solver for a minimisation problem trains through I-MLE: the learnt costs make the target path cheapest.</summary>
    [Fact]
    public void MinimisationUserSolverTrains()
    {
        // Pick the cheapest of 4 items (a one-hot argmin), written by the user.
        var problem = Problems.FromFunction("argmin", new[] { 4 }, c =>
        {
            var z = new double[4];
            z[Array.IndexOf(c, c.Min())] = 1.0;
            return z;
        }, OptimizationSense.Minimise);
        var costs = nn.Parameter(torch.zeros(1, 4, dtype: ScalarType.Float64));
        var target = torch.tensor(new double[] { 0, 0, 1, 0 }).reshape(1, 4);
        var layer = DiscreteLayers.Create(problem, Estimators.Imle(lambda: 1.0).WithNoise(Noises.Gumbel(0.5)), seed: 5);
        var optimizer = optim.SGD(new[] { costs }, 0.5);
        for (int step = 0; step < 30; step++)
        {
            optimizer.zero_grad();
            Training.Backward(Losses.Hamming(layer.forward(costs), target));
            optimizer.step();
        }
        Assert.Equal(new double[] { 0, 0, 1, 0 }, problem.Solve(costs.detach().data<double>().ToArray()));
    }
}

public class GradientCheckTests
{
    /// <summary>The score-function estimator is unbiased: its mean gradient points along the exact one.</summary>
    [Fact]
    public void ScoreFunctionAgreesWithTheExactGradient()
    {
        var problem = Problems.KSubset(5, 2);
        var weights = new[] { 0.5, -0.2, 0.1, 0.8, -0.6 };
        var loss = GradientCheck.SquaredDistance(new[] { 1.0, 0.0, 1.0, 0.0, 0.0 });
        var result = GradientCheck.Run(problem, Estimators.ScoreFunction(samples: 10), weights, loss, samples: 2000, seed: 3);
        Assert.True(result.Cosine > 0.9, $"cosine {result.Cosine:F3}");
        Assert.Equal(5, result.ExactGradient.Length);
        Assert.Equal(2000, result.Samples);
    }

    /// <summary>I-MLE's gradient points roughly along the exact one on the synthetic problem.</summary>
    [Fact]
    public void ImleGradientIsPositivelyAligned()
    {
        var problem = Problems.KSubset(5, 2);
        var weights = new[] { 0.5, -0.2, 0.1, 0.8, -0.6 };
        var loss = GradientCheck.SquaredDistance(new[] { 1.0, 0.0, 1.0, 0.0, 0.0 });
        var result = GradientCheck.Run(problem, Estimators.Imle(kappa: 2, lambda: 1), weights, loss, samples: 500, seed: 3);
        Assert.True(result.Cosine > 0.5, $"cosine {result.Cosine:F3}");
    }
}

public class ApiTests
{
    [Fact]
    public void FluentImleBuilderKeepsEverySetting()
    {
        var e = Estimators.Imle(kappa: 5, lambda: 2).WithSamples(10).Symmetric();
        Assert.Equal(10, e.Samples);
        Assert.True(e.IsSymmetric);
        Assert.Equal(2.0, e.Target.Lambda);
        Assert.Contains("symmetric", e.Description);
        var unscaled = e.Unscaled().WithTarget(Targets.Pid(3));
        Assert.False(unscaled.IsDividedByLambda);
        Assert.True(e.IsDividedByLambda); // the original is unchanged
        Assert.Throws<ArgumentException>(() => Estimators.Imle().WithTarget(Targets.CombOpt).Symmetric());
    }

    [Fact]
    public void ArraySolversAndExactQuantities()
    {
        Assert.Equal(new double[] { 0, 1, 0, 1 }, Solvers.TopK(new[] { 0.1, 0.9, 0.2, 0.8 }, 2));
        Assert.Equal(new double[] { 0, 1, 1, 0 }, Solvers.Matching(2, 2, new[] { 5.0, 1.0, 1.0, 5.0 }));
        Assert.Equal(new double[] { 1, 0, 1 }, Solvers.Knapsack(new[] { 2, 3, 1 }, 3, new[] { 2.0, 2.5, 1.0 }));
        var tree = Solvers.SpanningTree(3, new[] { new Edge(0, 1), new Edge(1, 2), new Edge(0, 2) }, new[] { 1.0, 1.0, 5.0 });
        Assert.Equal(new double[] { 1, 1, 0 }, tree);
        var theta = new[] { 0.3, -1.0, 2.0, 0.0, 0.5 };
        var dp = Exact.KSubsetMarginals(theta, 2);
        var enumerated = Exact.Marginals(Problems.KSubset(5, 2), theta);
        Assert.Equal(2.0, dp.Sum(), 9);
        for (int i = 0; i < 5; i++) Assert.Equal(enumerated[i], dp[i], 9);
        var path = Problems.GridShortestPath(3, 3, GridNeighbourhood.Four);
        Assert.Equal(OptimizationSense.Minimise, path.Sense);
        Assert.Equal(5.0, path.Solve(new double[9]).Sum()); // a shortest path of a 3×3 grid with 4 moves has 5 cells
    }

    [Fact]
    public void GridShortestPathTakesEachNegativeCostRule()
    {
        // A 2×3 map with negative costs on which the three rules pick three different paths.
        var costs = new[] { -2.0, -1.0, 1.0, -2.0, -2.0, 2.0 };
        var clamp = Problems.GridShortestPath(2, 3).Solve(costs);
        var shift = Problems.GridShortestPath(2, 3, GridNeighbourhood.Eight, NegativeCostRule.Shift).Solve(costs);
        var unchanged = Problems.GridShortestPath(2, 3, negativeCosts: NegativeCostRule.Unchanged).Solve(costs);
        Assert.Equal(new double[] { 1, 1, 0, 0, 0, 1 }, clamp);
        Assert.Equal(new double[] { 1, 0, 0, 0, 1, 1 }, shift);
        Assert.Equal(new double[] { 1, 1, 0, 1, 1, 1 }, unchanged);
        Assert.Equal(clamp, Problems.GridShortestPath(2, 3, negativeCosts: NegativeCostRule.Clamp).Solve(costs));
        Assert.Throws<ArgumentOutOfRangeException>(() => Problems.GridShortestPath(2, 3, negativeCosts: (NegativeCostRule)7));
    }

    [Fact]
    public void ReferenceEstimatorRuns()
    {
        var problem = Problems.KSubset(6, 2);
        var estimate = ReferenceEstimators.Estimate(problem, Estimators.Imle(kappa: 2, lambda: 1).WithSamples(3),
            new[] { 1.0, 0.5, 0.0, -0.5, 2.0, 0.1 }, z => z.Select(v => 2.0 * v).ToArray(), new Random(1));
        Assert.Equal(3, estimate.States.Length);
        Assert.Equal(6, estimate.Gradient.Length);
        Assert.Equal(4, Noises.Sample(Noises.SumOfGamma(2), new Random(1), 4).Length);
    }
}

public class ValidationTests
{
    [Fact]
    public void KGreaterThanMIsRejectedNamingK()
    {
        Assert.Equal("k", Assert.Throws<ArgumentOutOfRangeException>(() => ImleLayers.KSubset(5, 6)).ParamName);
        Assert.Equal("k", Assert.Throws<ArgumentOutOfRangeException>(() => Problems.KSubset(5, 6)).ParamName);
        Assert.Equal("k", Assert.Throws<ArgumentOutOfRangeException>(() => Solvers.TopK(new double[3], 4)).ParamName);
        Assert.Equal("m", Assert.Throws<ArgumentOutOfRangeException>(() => Problems.KSubset(0, 1)).ParamName);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-1.0)]
    [InlineData(double.NaN)]
    public void NonPositiveLambdaIsRejectedNamingLambda(double lambda)
    {
        Assert.Equal("lambda", Assert.Throws<ArgumentOutOfRangeException>(() => Estimators.Imle(lambda: lambda)).ParamName);
        Assert.Equal("lambda", Assert.Throws<ArgumentOutOfRangeException>(() => ImleLayers.KSubset(5, 2, lambda: lambda)).ParamName);
        Assert.Equal("lambda", Assert.Throws<ArgumentOutOfRangeException>(() => Estimators.Blackbox(lambda)).ParamName);
        Assert.Equal("lambda", Assert.Throws<ArgumentOutOfRangeException>(() => Targets.Pid(lambda)).ParamName);
        Assert.Equal("lambda", Assert.Throws<ArgumentOutOfRangeException>(() => Estimators.Imle().WithLambda(lambda)).ParamName);
    }

    [Fact]
    public void OtherParametersAreNamed()
    {
        Assert.Equal("samples", Assert.Throws<ArgumentOutOfRangeException>(() => Estimators.Imle().WithSamples(0)).ParamName);
        Assert.Equal("kappa", Assert.Throws<ArgumentOutOfRangeException>(() => Noises.SumOfGamma(0.5)).ParamName);
        Assert.Equal("terms", Assert.Throws<ArgumentOutOfRangeException>(() => Noises.SumOfGamma(2, terms: 0)).ParamName);
        Assert.Equal("tau", Assert.Throws<ArgumentOutOfRangeException>(() => Noises.Gumbel(0)).ParamName);
        Assert.Equal("noise", Assert.Throws<ArgumentException>(() => Estimators.Perturbed(Noises.SumOfGamma(2))).ParamName);
        Assert.Equal("weights", Assert.Throws<ArgumentException>(() => Problems.KSubset(4, 2).Solve(new double[3])).ParamName);
        Assert.Equal("solve", Assert.Throws<ArgumentNullException>(() => Problems.FromFunction("x", new[] { 2 }, null!)).ParamName);
        Assert.Equal("cols", Assert.Throws<ArgumentOutOfRangeException>(() => Problems.Matching(3, 2)).ParamName);
    }
}

public class ReadmeTests
{
    /// <summary>The README's C# snippet, verbatim between the markers, so the README stays true.</summary>
    [Fact]
    public void ReadmeSnippetTrains()
    {
        double first = double.NaN, last = double.NaN;
        // --- README snippet ---
        // A linear scorer followed by an I-MLE k-subset layer: scores [B, 10] -> 3-hot states [B, 10].
        var layer = ImleLayers.KSubset(m: 10, k: 3, lambda: 10.0, samples: 5, seed: 42);
        var model = nn.Sequential(nn.Linear(8, 10), layer);
        var optimizer = optim.Adam(model.parameters(), lr: 0.05);
        var x = torch.randn(128, 8);
        var y = Discrete.Solve(Problems.KSubset(10, 3), x.matmul(torch.randn(8, 10))); // target 3-subsets
        for (int step = 1; step <= 100; step++)
        {
            using var scope = torch.NewDisposeScope();
            optimizer.zero_grad();
            var loss = Losses.Hamming(model.forward(x), y);
            Training.Backward(loss); // loss.backward(), then surfaces errors from the discrete backward pass
            optimizer.step();
            if (step % 25 == 0) Console.WriteLine($"step {step}  loss {loss.ToDouble():F3}");
            // --- end of README snippet ---
            if (step == 1) first = loss.ToDouble();
            last = loss.ToDouble();
        }
        // Estimators and problems compose (README, continued):
        var symmetric = Estimators.Imle(kappa: 5, lambda: 2).WithSamples(10).Symmetric();
        var paths = DiscreteLayers.Create(Problems.GridShortestPath(12, 12), Estimators.Blackbox(20.0));
        Assert.True(last < first, $"loss {first:F3} -> {last:F3}");
        Assert.Equal(10, symmetric.Samples);
        Assert.Equal(144, paths.Problem.Size);
    }
}
