using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.FSharp.Collections;
using Microsoft.FSharp.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Imle.CSharp;

/// <summary>The state of an adaptive-λ rule (AIMLE) in a checkpoint.</summary>
/// <param name="Beta">The current β ≥ 0.</param>
/// <param name="AverageNonZero">The moving average of non-zero gradient entries per sample.</param>
/// <param name="TargetNorm">The target number of non-zero gradient entries per sample.</param>
/// <param name="BetaStep">The β step.</param>
/// <param name="Decay">The moving-average decay.</param>
public sealed record AdaptiveLambdaSnapshot(double Beta, double AverageNonZero, double TargetNorm, double BetaStep, double Decay);

/// <summary>Experiment state saved next to a model's parameters: where training stands and what is needed to continue it
/// bit for bit (generator states, adaptive-λ rules), plus free-form settings and metrics.</summary>
public sealed class CheckpointState
{
    /// <summary>The number of optimisation steps taken.</summary>
    public long Step { get; set; }

    /// <summary>The current epoch.</summary>
    public int Epoch { get; set; }

    /// <summary>The experiment's seed (informational; exact generator states go in <see cref="Generators"/>).</summary>
    public long Seed { get; set; }

    /// <summary>Named generator states from <see cref="Checkpoints.CaptureGenerator"/>.</summary>
    public IDictionary<string, byte[]> Generators { get; } = new Dictionary<string, byte[]>();

    /// <summary>Named adaptive-λ states from <see cref="Checkpoints.CaptureAdaptive"/>.</summary>
    public IDictionary<string, AdaptiveLambdaSnapshot> AdaptiveLambdas { get; } = new Dictionary<string, AdaptiveLambdaSnapshot>();

    /// <summary>Free-form settings (optimizer, learning rate, λ, ...).</summary>
    public IDictionary<string, string> Settings { get; } = new Dictionary<string, string>();

    /// <summary>Named metrics; any double (NaN and ±∞ included) round-trips exactly.</summary>
    public IDictionary<string, double> Metrics { get; } = new Dictionary<string, double>();

    internal Imle.Torch.TrainingState ToFSharp()
    {
        static FSharpMap<string, T> Map<T>(IDictionary<string, T> d, string name)
        {
            foreach (var (key, value) in d)
            {
                if (key is null) throw new ArgumentException($"{name} has a null key.", name);
                if (value is null) throw new ArgumentException($"{name}[\"{key}\"] is null.", name);
            }
            return new FSharpMap<string, T>(d.Select(kv => Tuple.Create(kv.Key, kv.Value)));
        }
        var adaptive = AdaptiveLambdas.ToDictionary(kv => kv.Key, kv => kv.Value is null
            ? throw new ArgumentException($"AdaptiveLambdas[\"{kv.Key}\"] is null.", nameof(AdaptiveLambdas))
            : new Imle.Torch.AdaptiveLambdaState(kv.Value.Beta, kv.Value.AverageNonZero, kv.Value.TargetNorm, kv.Value.BetaStep, kv.Value.Decay));
        return new Imle.Torch.TrainingState(Step, Epoch, Seed, Map(Generators, nameof(Generators)), Map(adaptive, nameof(AdaptiveLambdas)),
            Map(Settings, nameof(Settings)), Map(Metrics, nameof(Metrics)));
    }

    internal static CheckpointState FromFSharp(Imle.Torch.TrainingState s)
    {
        var state = new CheckpointState { Step = s.Step, Epoch = s.Epoch, Seed = s.Seed };
        foreach (var kv in s.Generators) state.Generators[kv.Key] = kv.Value;
        foreach (var kv in s.AdaptiveLambdas)
            state.AdaptiveLambdas[kv.Key] = new AdaptiveLambdaSnapshot(kv.Value.Beta, kv.Value.AverageNonZero, kv.Value.TargetNorm, kv.Value.BetaStep, kv.Value.Decay);
        foreach (var kv in s.Settings) state.Settings[kv.Key] = kv.Value;
        foreach (var kv in s.Metrics) state.Metrics[kv.Key] = kv.Value;
        return state;
    }
}

/// <summary>One state-dict entry of a saved model.</summary>
/// <param name="Name">The parameter or buffer name.</param>
/// <param name="Shape">Its shape.</param>
/// <param name="DType">Its dtype, as TorchSharp names it.</param>
public sealed record CheckpointEntry(string Name, IReadOnlyList<long> Shape, string DType);

/// <summary>What a checkpoint file holds, read without loading it into a model.</summary>
/// <param name="Path">The file's path.</param>
/// <param name="Entries">The model's parameters and buffers, in order.</param>
/// <param name="OptimizerType">The optimizer's type name, or null when the file holds no optimizer state.</param>
/// <param name="State">The experiment state.</param>
public sealed record CheckpointSummary(string Path, IReadOnlyList<CheckpointEntry> Entries, string? OptimizerType, CheckpointState State);

/// <summary>Save and load trained models with their experiment state, one file per checkpoint (written atomically,
/// checksummed). Loading checks everything before it touches the model: a missing file raises
/// <see cref="System.IO.FileNotFoundException"/>, a truncated, corrupt or foreign file
/// <see cref="System.IO.InvalidDataException"/>, a checkpoint of another architecture or optimizer
/// <see cref="ArgumentException"/> listing what differs; a failed load changes nothing.</summary>
public static class Checkpoints
{
    /// <summary>Saves the model's parameters and buffers, the experiment state and, if given, the optimizer's state
    /// (for Adam: step counts and both moments, so that training resumes on the same trajectory).</summary>
    /// <param name="path">The file to write (replaced atomically if it exists).</param>
    /// <param name="model">The model.</param>
    /// <param name="state">The experiment state.</param>
    /// <param name="optimizer">The optimizer, or null to save none.</param>
    public static void Save(string path, nn.Module model, CheckpointState state, optim.Optimizer? optimizer = null)
    {
        Guard.NotNull(state, nameof(state));
        var fsState = state.ToFSharp();
        Imle.Torch.Checkpoint.save(path, model, OptionOf(optimizer), fsState);
    }

    /// <summary>Loads the parameters saved at <paramref name="path"/> into <paramref name="model"/> (and the optimizer's
    /// state into <paramref name="optimizer"/>, which the file must then hold) and returns the experiment state.</summary>
    /// <param name="path">The checkpoint file.</param>
    /// <param name="model">A model of the saved architecture.</param>
    /// <param name="optimizer">An optimizer of the saved type over parameters of the saved shapes, or null.</param>
    /// <returns>The saved experiment state.</returns>
    public static CheckpointState Load(string path, nn.Module model, optim.Optimizer? optimizer = null)
    {
        var state = Imle.Torch.Checkpoint.load(path, model, OptionOf(optimizer));
        return CheckpointState.FromFSharp(state);
    }

    private static FSharpOption<optim.Optimizer> OptionOf(optim.Optimizer? optimizer) =>
        optimizer is null ? FSharpOption<optim.Optimizer>.None : FSharpOption<optim.Optimizer>.Some(optimizer);

    /// <summary>Reads a checkpoint's description without loading it.</summary>
    /// <param name="path">The checkpoint file.</param>
    /// <returns>Its entries, optimizer type and experiment state.</returns>
    public static CheckpointSummary Read(string path)
    {
        var info = Imle.Torch.Checkpoint.read(path);
        var entries = info.Parameters.Select(p => new CheckpointEntry(p.Item1, Array.AsReadOnly(p.Item2), p.Item3)).ToArray();
        return new CheckpointSummary(info.Path, Array.AsReadOnly(entries), OptionModule.ToObj(info.OptimizerType),
            CheckpointState.FromFSharp(info.State));
    }

    /// <summary>The exact state of a generator, as bytes.</summary>
    /// <param name="generator">The generator.</param>
    /// <returns>Its state.</returns>
    public static byte[] CaptureGenerator(Generator generator) =>
        Imle.Torch.Checkpoint.captureGenerator(Guard.NotNull(generator, nameof(generator)));

    /// <summary>Restores a generator to a state from <see cref="CaptureGenerator"/>.</summary>
    /// <param name="state">The captured bytes.</param>
    /// <param name="generator">A generator of the same kind.</param>
    /// <exception cref="ArgumentException">The bytes are not a state of this kind of generator.</exception>
    public static void RestoreGenerator(byte[] state, Generator generator) =>
        Imle.Torch.Checkpoint.restoreGenerator(Guard.Array(state, nameof(state)), Guard.NotNull(generator, nameof(generator)));

    /// <summary>The state of a layer's adaptive-λ rule.</summary>
    /// <param name="layer">A layer whose estimator has an adaptive target (<see cref="Targets.Adaptive"/>).</param>
    /// <returns>Its β and moving average with its fixed settings.</returns>
    /// <exception cref="ArgumentException">The layer's estimator has no adaptive target.</exception>
    public static AdaptiveLambdaSnapshot CaptureAdaptive(DiscreteLayer layer)
    {
        var s = Imle.Torch.Checkpoint.captureAdaptive(AdaptiveCellOf(layer));
        return new AdaptiveLambdaSnapshot(s.Beta, s.AverageNonZero, s.TargetNorm, s.BetaStep, s.Decay);
    }

    /// <summary>Restores β and the moving average of a layer's adaptive-λ rule exactly.</summary>
    /// <param name="snapshot">A snapshot from <see cref="CaptureAdaptive"/>.</param>
    /// <param name="layer">A layer with an adaptive target of the same fixed settings (target, step, decay).</param>
    /// <exception cref="ArgumentException">The layer has no adaptive target or its fixed settings differ.</exception>
    public static void RestoreAdaptive(AdaptiveLambdaSnapshot snapshot, DiscreteLayer layer)
    {
        Guard.NotNull(snapshot, nameof(snapshot));
        var cell = AdaptiveCellOf(layer);
        Imle.Torch.Checkpoint.restoreAdaptive(
            new Imle.Torch.AdaptiveLambdaState(snapshot.Beta, snapshot.AverageNonZero, snapshot.TargetNorm, snapshot.BetaStep, snapshot.Decay), cell);
    }

    private static Imle.Torch.AdaptiveLambdaCell AdaptiveCellOf(DiscreteLayer layer) =>
        Guard.NotNull(layer, nameof(layer)).AdaptiveCell
        ?? throw new ArgumentException($"layer must use an adaptive target (Targets.Adaptive); its estimator is {layer.Estimator}.", nameof(layer));
}
