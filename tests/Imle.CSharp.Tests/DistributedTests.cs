using System;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Sockets;
using Imle.CSharp;
using Imle.CSharp.Distributed;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Imle.CSharp.Tests;

public class DistributedTests
{
    private static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        var port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    /// <summary>Without mpirun the helper is rank 0 of 1: averaging changes nothing, a checkpoint resumes.</summary>
    [Fact]
    public void DataParallelRunsAsOneProcess()
    {
        var dp = new DataParallelTraining();
        Assert.Equal("SingleProcess", dp.Backend);
        Assert.Equal((0, 1), (dp.Rank, dp.Size));
        Assert.Equal(Enumerable.Range(0, 5).ToArray(), dp.Shard(5));

        torch.random.manual_seed(3);
        var model = nn.Linear(4, 1);
        var optimizer = optim.SGD(model.parameters(), 0.1);
        var x = torch.randn(8, 4);
        var y = torch.randn(8, 1);
        var loss = nn.functional.mse_loss(model.forward(x), y);
        Training.Backward(loss);
        var before = model.weight!.grad!.data<float>().ToArray();
        dp.AverageGradients(model);
        Assert.Equal(before, model.weight!.grad!.data<float>().ToArray());
        optimizer.step();
        dp.CheckIdentical(model);

        var path = Path.Combine(Path.GetTempPath(), $"imle-dp-{Guid.NewGuid():N}.ckpt");
        try
        {
            Assert.Null(dp.TryResume(path, model, optimizer));
            dp.SaveCheckpoint(path, model, optimizer, new CheckpointState { Step = 7 });
            var state = dp.TryResume(path, model, optimizer);
            Assert.NotNull(state);
            Assert.Equal(7, state!.Step);
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>A client and a worker in this process: the farm's states are the local ones, also through a farmed
    /// problem in Discrete.Solve; with no worker the client fails with a clear error after its deadline.</summary>
    [Fact]
    public void SolverFarmMatchesLocalSolving()
    {
        var settings = new SolverFarmSettings { Port = FreePort(), WorkerDeadline = TimeSpan.FromSeconds(60) };
        using var client = new SolverFarmClient(settings);
        var workerSettings = new SolverFarmSettings();
        workerSettings.Seeds.Add(client.Address);
        using var worker = new SolverFarmWorker(workerSettings, 2);
        Assert.True(client.WaitForWorkers(1, TimeSpan.FromSeconds(60)));

        var random = new Random(5);
        var weights = Enumerable.Range(0, 12).Select(_ => Enumerable.Range(0, 36).Select(_ => 0.1 + random.NextDouble()).ToArray()).ToArray();
        var local = Problems.GridShortestPath(6, 6);
        var states = client.SolveBatch("grid-shortest-path:6:6", weights);
        for (int i = 0; i < weights.Length; i++) Assert.Equal(local.Solve(weights[i]), states[i]);
        Assert.Equal(12, client.Stats.Completed);

        var t = torch.tensor(weights.SelectMany(w => w).ToArray(), new long[] { 12, 6, 6 }, dtype: ScalarType.Float64);
        var farmed = Discrete.Solve(client.Problem("grid-shortest-path:6:6"), t, parallelism: 4);
        Assert.Equal(Discrete.Solve(local, t).data<double>().ToArray(), farmed.data<double>().ToArray());
    }

    /// <summary>No worker: the farm says so within its deadline.</summary>
    [Fact]
    public void SolverFarmWithoutWorkersFailsClearly()
    {
        var settings = new SolverFarmSettings { Port = FreePort(), WorkerDeadline = TimeSpan.FromSeconds(1) };
        using var client = new SolverFarmClient(settings);
        var e = Assert.Throws<Imle.Distributed.SolverFarmUnavailableException>(() =>
            client.SolveBatch("categorical:3", new[] { new[] { 1.0, 2.0, 3.0 } }));
        Assert.Contains("No solver worker", e.Message);
        Assert.Throws<ArgumentException>(() => new SolverFarmClient(new SolverFarmSettings { MaxAttempts = 0 }));
    }
}
