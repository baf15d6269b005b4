using System;
using System.IO;
using System.Linq;
using Imle.CSharp;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Imle.CSharp.Tests;

public class CheckpointTests
{
    private static string TempFile() => Path.Combine(Path.GetTempPath(), "imle-cs-ckpt-" + Guid.NewGuid().ToString("N") + ".ckpt");

    private static nn.Module<Tensor, Tensor> Model(long seed)
    {
        torch.manual_seed(seed);
        return nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3));
    }

    private static void Train(nn.Module<Tensor, Tensor> model, optim.Optimizer optimizer, int steps)
    {
        var x = torch.linspace(-1, 1, 32).reshape(8, 4);
        for (int i = 0; i < steps; i++)
        {
            using var scope = torch.NewDisposeScope();
            optimizer.zero_grad();
            var loss = model.forward(x).pow(2).mean();
            loss.backward();
            optimizer.step();
        }
    }

    /// <summary>Saving with the optimizer and loading into fresh objects continues the same trajectory bit for bit, and
    /// the experiment state (generators, adaptive λ, settings, NaN metrics) round-trips.</summary>
    [Fact]
    public void SaveAndLoadResumeTheSameTrajectory()
    {
        var path = TempFile();
        try
        {
            var model = Model(1);
            var optimizer = optim.Adam(model.parameters(), lr: 0.01);
            Train(model, optimizer, 5);
            var generator = new Generator(42);
            var adaptive = DiscreteLayers.Create(Problems.KSubset(6, 2), Estimators.Imle(kappa: 2).WithTarget(Targets.Adaptive(initialBeta: 0.5)));
            var state = new CheckpointState { Step = 5, Epoch = 1, Seed = 42 };
            state.Generators["noise"] = Checkpoints.CaptureGenerator(generator);
            state.AdaptiveLambdas["layer"] = Checkpoints.CaptureAdaptive(adaptive);
            state.Settings["optimizer"] = "adam";
            state.Metrics["loss"] = double.NaN;
            Checkpoints.Save(path, model, state, optimizer);
            var expectedDraw = torch.rand(3, generator: generator).data<float>().ToArray();
            Train(model, optimizer, 5);
            var expected = model.parameters().Select(p => p.data<float>().ToArray()).ToArray();

            var resumed = Model(2);
            var resumedOptimizer = optim.Adam(resumed.parameters(), lr: 0.01);
            var loaded = Checkpoints.Load(path, resumed, resumedOptimizer);
            var generator2 = new Generator(7);
            Checkpoints.RestoreGenerator(loaded.Generators["noise"], generator2);
            var adaptive2 = DiscreteLayers.Create(Problems.KSubset(6, 2), Estimators.Imle(kappa: 2).WithTarget(Targets.Adaptive(initialBeta: 3.0)));
            Checkpoints.RestoreAdaptive(loaded.AdaptiveLambdas["layer"], adaptive2);
            Train(resumed, resumedOptimizer, 5);

            Assert.Equal(expected, resumed.parameters().Select(p => p.data<float>().ToArray()).ToArray());
            Assert.Equal(expectedDraw, torch.rand(3, generator: generator2).data<float>().ToArray());
            Assert.Equal(0.5, adaptive2.AdaptiveBeta);
            Assert.Equal((5L, 1, 42L), (loaded.Step, loaded.Epoch, loaded.Seed));
            Assert.Equal("adam", loaded.Settings["optimizer"]);
            Assert.True(double.IsNaN(loaded.Metrics["loss"]));

            var summary = Checkpoints.Read(path);
            Assert.Equal(4, summary.Entries.Count);
            Assert.Equal(new long[] { 6, 4 }, summary.Entries[0].Shape);
            Assert.NotNull(summary.OptimizerType);
        }
        finally { File.Delete(path); }
    }

    /// <summary>Missing, corrupt and mismatched files and bad arguments give typed errors; a failed load changes nothing.</summary>
    [Fact]
    public void BadFilesAndArgumentsGiveClearErrors()
    {
        var path = TempFile();
        try
        {
            var model = Model(1);
            Assert.Throws<FileNotFoundException>(() => Checkpoints.Load(path, model));
            Assert.Throws<ArgumentException>(() => Checkpoints.Load(" ", model));
            Assert.Throws<ArgumentNullException>(() => Checkpoints.Save(path, model, null!));
            Assert.Throws<ArgumentException>(() => Checkpoints.CaptureAdaptive(DiscreteLayers.Create(Problems.KSubset(6, 2), Estimators.Imle(kappa: 2, lambda: 1.0))));

            Checkpoints.Save(path, model, new CheckpointState());
            var other = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3));
            var before = other.parameters().Select(p => p.data<float>().ToArray()).ToArray();
            var mismatch = Assert.Throws<ArgumentException>(() => Checkpoints.Load(path, other));
            Assert.Contains(path, mismatch.Message);
            Assert.Equal(before, other.parameters().Select(p => p.data<float>().ToArray()).ToArray());

            var bytes = File.ReadAllBytes(path);
            bytes[bytes.Length / 2] ^= 0xFF;
            File.WriteAllBytes(path, bytes);
            Assert.Throws<InvalidDataException>(() => Checkpoints.Load(path, model));
        }
        finally { File.Delete(path); }
    }
}

public class ExactTensorTests
{
    /// <summary>exp(log p) over all 6 states of 2-subsets of 4 sums to 1, and a minimisation problem's weights are costs.</summary>
    [Fact]
    public void LogProbabilitiesAreNormalised()
    {
        var problem = Problems.KSubset(4, 2);
        var all = new[] { new double[] { 1, 1, 0, 0 }, new double[] { 1, 0, 1, 0 }, new double[] { 1, 0, 0, 1 },
                          new double[] { 0, 1, 1, 0 }, new double[] { 0, 1, 0, 1 }, new double[] { 0, 0, 1, 1 } };
        var states = torch.tensor(all.SelectMany(s => s).ToArray()).reshape(6, 4);
        var weights = torch.tensor(new double[] { 0.3, -1.2, 2.0, 0.5 }).reshape(1, 4).expand(6, 4);
        var logp = ExactTensors.LogProbability(problem, weights, states, tau: 0.7);
        Assert.Equal(new long[] { 6 }, logp.shape);
        Assert.Equal(1.0, logp.exp().sum().ToDouble(), 10);

        var grid = Problems.GridShortestPath(2, 2);
        var costs = torch.tensor(new double[] { 1, 2, 3, 1 }).reshape(1, 2, 2);
        var cheap = torch.tensor(new double[] { 1, 1, 0, 1 }).reshape(1, 2, 2);
        var dear = torch.tensor(new double[] { 1, 0, 1, 1 }).reshape(1, 2, 2);
        Assert.True(ExactTensors.LogProbability(grid, costs, cheap).ToDouble() > ExactTensors.LogProbability(grid, costs, dear).ToDouble());
    }

    /// <summary>Samples are k-hot, shaped [B, S, m] and determined by the generator's seed.</summary>
    [Fact]
    public void SamplesAreValidAndSeeded()
    {
        var problem = Problems.KSubset(5, 2);
        var weights = torch.randn(3, 5, dtype: ScalarType.Float64);
        var a = ExactTensors.Sample(problem, weights, 4, new Generator(9));
        var b = ExactTensors.Sample(problem, weights, 4, new Generator(9));
        Assert.Equal(new long[] { 3, 4, 5 }, a.shape);
        Assert.True(a.sum(2).eq(2.0).all().ToBoolean());
        Assert.Equal(a.data<double>().ToArray(), b.data<double>().ToArray());
    }

    /// <summary>Bad shapes, values and parameters are refused with the offending parameter named.</summary>
    [Fact]
    public void BadInputIsRefused()
    {
        var problem = Problems.KSubset(4, 2);
        var weights = torch.zeros(2, 4);
        Assert.Equal("states", Assert.Throws<ArgumentException>(() => ExactTensors.LogProbability(problem, weights, torch.zeros(2, 3))).ParamName);
        Assert.Equal("weights", Assert.Throws<ArgumentException>(() => ExactTensors.LogProbability(problem, torch.zeros(2, 5), torch.zeros(2, 5))).ParamName);
        var nan = torch.tensor(new float[] { 0, float.NaN, 0, 0 }).reshape(1, 4);
        Assert.Equal("weights", Assert.Throws<ArgumentException>(() => ExactTensors.Sample(problem, nan, 1, new Generator(1))).ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => ExactTensors.Sample(problem, weights, 0, new Generator(1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => ExactTensors.LogProbability(problem, weights, weights, tau: 0.0));
        Assert.Equal("weights", Assert.Throws<ArgumentException>(() => ExactTensors.LogProbability(problem, torch.zeros(new long[] { 2, 4 }, ScalarType.Int64), torch.zeros(2, 4))).ParamName);
    }
}
