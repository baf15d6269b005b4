using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading.Tasks;
using Microsoft.FSharp.Collections;
using Microsoft.FSharp.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Imle.CSharp.Distributed;

/// <summary>Data-parallel training over MPI (Open MPI or MPICH, started by <c>mpirun</c>/<c>mpiexec</c>): every rank
/// trains the same model on its own shard, and <see cref="AverageGradients"/> averages the parameter gradients over the
/// ranks in place on tensor memory after <c>Training.Backward</c>, so the ranks take identical steps. Without a launcher
/// this process is rank 0 of 1 and every call is the identity, so the same program runs as one process.</summary>
public sealed class DataParallelTraining
{
    private readonly Imle.Distributed.DataParallel dp;

    /// <summary>Initialises MPI on first use (from the launcher's environment) and joins the world communicator.</summary>
    /// <exception cref="DllNotFoundException">A launcher started this process but libmpi could not be loaded.</exception>
    public DataParallelTraining() => dp = new Imle.Distributed.DataParallel();

    /// <summary>This process's rank, 0 .. <see cref="Size"/> − 1.</summary>
    public int Rank => dp.Rank;

    /// <summary>The number of ranks.</summary>
    public int Size => dp.Size;

    /// <summary>Whether this is rank 0 (which logs and writes checkpoints).</summary>
    public bool IsRoot => dp.IsRoot;

    /// <summary>"OpenMpi", "Mpich" or "SingleProcess".</summary>
    public string Backend => dp.Communicator.Backend.ToString();

    /// <summary>This rank's contiguous block of the indices 0 .. count − 1 (the blocks of all ranks partition them).</summary>
    /// <param name="count">The data set's size, ≥ 0.</param>
    /// <returns>The indices of this rank's shard.</returns>
    public int[] Shard(int count) => dp.Shard(count);

    /// <summary>Averages every trainable parameter's gradient over the ranks, in place (one flattened buffer, one
    /// MPI_Allreduce on its native memory). Call it on every rank after the backward pass, before the optimizer step.</summary>
    /// <param name="model">The model.</param>
    public void AverageGradients(nn.Module model) => dp.AverageGradients(Guard.NotNull(model, nameof(model)));

    /// <summary>Copies rank 0's parameters and floating-point buffers to every rank. Collective.</summary>
    /// <param name="model">The model.</param>
    public void BroadcastParameters(nn.Module model) => dp.BroadcastParameters(Guard.NotNull(model, nameof(model)));

    /// <summary>Copies rank 0's floating-point buffers (batch-norm statistics) to every rank. Collective.</summary>
    /// <param name="model">The model.</param>
    public void SyncBuffers(nn.Module model) => dp.SyncBuffers(Guard.NotNull(model, nameof(model)));

    /// <summary>Whether every rank's model is bit for bit the same as rank 0's. Collective.</summary>
    /// <param name="model">The model.</param>
    /// <returns>True when all ranks hold identical parameters and buffers.</returns>
    public bool AreIdentical(nn.Module model) => dp.AreIdentical(Guard.NotNull(model, nameof(model)));

    /// <summary>Raises <see cref="InvalidOperationException"/> on every rank when the ranks' models differ. Collective.</summary>
    /// <param name="model">The model.</param>
    public void CheckIdentical(nn.Module model) => dp.CheckIdentical(Guard.NotNull(model, nameof(model)));

    /// <summary>Ends the whole MPI job with <paramref name="code"/> (MPI_Abort), e.g. when this rank failed, so that
    /// the other ranks do not wait for it forever. A rank whose process exits with a non-zero code aborts the job by
    /// itself.</summary>
    /// <param name="code">The exit code.</param>
    public void Abort(int code) => dp.Communicator.Abort(code);

    /// <summary>Writes a line to standard output on rank 0 only.</summary>
    /// <param name="line">The text.</param>
    public void Log(string line) => dp.Log(line);

    /// <summary>Saves a checkpoint with the optimizer's state on rank 0, then waits at a barrier. Collective.</summary>
    /// <param name="path">The file (visible to every rank for <see cref="TryResume"/>).</param>
    /// <param name="model">The model.</param>
    /// <param name="optimizer">The optimizer.</param>
    /// <param name="state">The experiment state.</param>
    public void SaveCheckpoint(string path, nn.Module model, optim.Optimizer optimizer, CheckpointState state) =>
        dp.SaveCheckpoint(path, Guard.NotNull(model, nameof(model)), Guard.NotNull(optimizer, nameof(optimizer)),
            Guard.NotNull(state, nameof(state)).ToFSharp());

    /// <summary>Resumes from the checkpoint at <paramref name="path"/> when rank 0 sees one: every rank loads it and the
    /// ranks are checked to be identical. Collective.</summary>
    /// <param name="path">The checkpoint file.</param>
    /// <param name="model">The model.</param>
    /// <param name="optimizer">The optimizer.</param>
    /// <returns>The saved state, or null when there is no checkpoint yet (nothing changes then).</returns>
    public CheckpointState? TryResume(string path, nn.Module model, optim.Optimizer optimizer)
    {
        var state = dp.TryResume(path, Guard.NotNull(model, nameof(model)), Guard.NotNull(optimizer, nameof(optimizer)));
        return state is null ? null : CheckpointState.FromFSharp(state.Value);
    }
}

/// <summary>How a client reaches a solver farm and farms jobs out.</summary>
public sealed class SolverFarmSettings
{
    /// <summary>The actor system's name, the same on every node (default "imle-farm").</summary>
    public string SystemName { get; set; } = "imle-farm";

    /// <summary>The host name or IP address this node listens on (default 127.0.0.1).</summary>
    public string Host { get; set; } = "127.0.0.1";

    /// <summary>This node's TCP port; 0 picks a free one.</summary>
    public int Port { get; set; }

    /// <summary>Seed node addresses ("akka.ssl.tcp://imle-farm@HOST:PORT" with TLS, "akka.tcp://…" without); empty:
    /// this node starts the cluster.</summary>
    public IList<string> Seeds { get; } = new List<string>();

    /// <summary>This node's certificate (a .pfx with its key, or a PEM file); null: no TLS, which is allowed on
    /// loopback only unless <see cref="Insecure"/> is set.</summary>
    public string? CertificatePath { get; set; }

    /// <summary>The PEM private key of a PEM <see cref="CertificatePath"/>; null for a PFX.</summary>
    public string? KeyPath { get; set; }

    /// <summary>The PFX's (or encrypted PEM key's) password; null for none.</summary>
    public string? CertificatePassword { get; set; }

    /// <summary>The cluster CA's certificate that every peer's certificate must chain to (mutual TLS).</summary>
    public string? CaCertificatePath { get; set; }

    /// <summary>SHA-1 thumbprints of the only peer certificates accepted; empty: any the CA signed.</summary>
    public IList<string> PinnedThumbprints { get; } = new List<string>();

    /// <summary>Allow plain TCP (no TLS, no authentication) on an address other than loopback.</summary>
    public bool Insecure { get; set; }

    /// <summary>Jobs in flight per worker at most (back-pressure), ≥ 1.</summary>
    public int MaxInFlightPerWorker { get; set; } = 4;

    /// <summary>How long one delivery waits for an answer before the job is sent again.</summary>
    public TimeSpan AskTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Deliveries per job at most, ≥ 1.</summary>
    public int MaxAttempts { get; set; } = 5;

    /// <summary>How long a job waits for a reachable worker before the farm gives up (or solves locally).</summary>
    public TimeSpan WorkerDeadline { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Solve on this machine when no worker is reachable in time, or every delivery of a job failed.</summary>
    public bool FallbackToLocal { get; set; }

    internal Imle.Distributed.FarmNodeOptions Node()
    {
        var tls = CertificatePath is null
            ? FSharpOption<Imle.Distributed.FarmTls>.None
            : FSharpOption<Imle.Distributed.FarmTls>.Some(new Imle.Distributed.FarmTls(
                CertificatePath, KeyPath ?? "", CertificatePassword ?? "", CaCertificatePath ?? "",
                ListModule.OfSeq(PinnedThumbprints)));
        return new(SystemName, Host, Port, ListModule.OfSeq(Seeds), tls, Insecure);
    }

    internal Imle.Distributed.SolverFarmOptions ToFSharp() =>
        new(Node(), MaxInFlightPerWorker, AskTimeout, MaxAttempts, WorkerDeadline, FallbackToLocal,
            Imle.Distributed.FarmProblems.builtIn);
}

/// <summary>A farm client's counters.</summary>
/// <param name="Completed">Jobs completed, each counted once.</param>
/// <param name="Attempts">Deliveries sent (first ones and retries).</param>
/// <param name="Retries">Deliveries after a timeout or a lost worker.</param>
/// <param name="LocalFallbacks">Jobs solved on this machine.</param>
/// <param name="Rejected">Answers whose state did not fit the problem (each one's worker is no longer used).</param>
public sealed record SolverFarmCounters(long Completed, long Attempts, long Retries, long LocalFallbacks, long Rejected);

/// <summary>A client of a solver farm (an Akka.NET cluster of <see cref="SolverFarmWorker"/> nodes): solves batches
/// of MAP jobs with at-least-once delivery (job ids, timeouts, retries on another worker, one answer kept per job) and
/// bounded jobs in flight per worker. Problems are named by specs such as "grid-shortest-path:12:12".</summary>
public sealed class SolverFarmClient : IDisposable
{
    private readonly Imle.Distributed.SolverFarm farm;

    /// <summary>Joins the farm.</summary>
    /// <param name="settings">The settings.</param>
    /// <exception cref="ArgumentException">A setting is out of range (the message names it).</exception>
    public SolverFarmClient(SolverFarmSettings settings) =>
        farm = Imle.Distributed.SolverFarm.Connect(Guard.NotNull(settings, nameof(settings)).ToFSharp());

    /// <summary>This node's address (a seed for workers when this client started the cluster).</summary>
    public string Address => farm.Address;

    /// <summary>The number of reachable workers.</summary>
    public int Workers => farm.Workers;

    /// <summary>Jobs completed, deliveries, retries and local fallbacks so far.</summary>
    public SolverFarmCounters Stats
    {
        get
        {
            var s = farm.Stats;
            return new SolverFarmCounters(s.Completed, s.Attempts, s.Retries, s.LocalFallbacks, s.Rejected);
        }
    }

    /// <summary>Waits until at least <paramref name="count"/> workers are reachable.</summary>
    /// <param name="count">Workers, ≥ 0.</param>
    /// <param name="timeout">How long to wait.</param>
    /// <returns>False when that did not happen in time.</returns>
    public bool WaitForWorkers(int count, TimeSpan timeout) => farm.WaitForWorkers(count, timeout);

    /// <summary>Solves every row on the farm; the states come back in order, each exactly once.</summary>
    /// <param name="spec">The problem's name, e.g. "grid-shortest-path:12:12".</param>
    /// <param name="weights">One weight vector per job, each of the problem's size.</param>
    /// <returns>The states.</returns>
    /// <exception cref="Imle.Distributed.SolverFarmUnavailableException">No worker was reachable within the deadline.</exception>
    public double[][] SolveBatch(string spec, double[][] weights) => farm.SolveBatch(spec, weights);

    /// <summary><see cref="SolveBatch"/>, asynchronously.</summary>
    /// <param name="spec">The problem's name.</param>
    /// <param name="weights">One weight vector per job.</param>
    /// <returns>The states.</returns>
    public Task<double[][]> SolveBatchAsync(string spec, double[][] weights) => farm.SolveBatchAsync(spec, weights);

    /// <summary>The problem named <paramref name="spec"/> with its MAP oracle on the farm, for layers and
    /// <c>Discrete.Solve</c> (each row is one job).</summary>
    /// <param name="spec">The problem's name.</param>
    /// <returns>The farmed problem.</returns>
    public Problem Problem(string spec) => new(farm.Problem(spec));

    /// <summary>Leaves the cluster.</summary>
    public void Dispose() => farm.Dispose();
}

/// <summary>A solver worker node (role "solver") for the built-in problem specs.</summary>
public sealed class SolverFarmWorker : IDisposable
{
    private readonly Imle.Distributed.SolverWorker worker;

    /// <summary>Starts a worker and joins the farm through the seeds in <paramref name="settings"/>.</summary>
    /// <param name="settings">Node settings (system name, host, port, seeds); the client-only settings are ignored.</param>
    /// <param name="parallelism">Jobs solved at once, ≥ 1.</param>
    public SolverFarmWorker(SolverFarmSettings settings, int parallelism) =>
        worker = Imle.Distributed.SolverWorker.Start(Guard.NotNull(settings, nameof(settings)).Node(), parallelism);

    /// <summary>This node's address.</summary>
    public string Address => worker.Address;

    /// <summary>Leaves the cluster and stops.</summary>
    public void Dispose() => worker.Dispose();
}
