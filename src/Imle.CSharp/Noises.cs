using System;
using Microsoft.FSharp.Core;
using TorchSharp;

namespace Imle.CSharp;

/// <summary>A perturbation distribution ρ(ε) for perturb-and-MAP. Create one with <see cref="Noises"/>.</summary>
public sealed class ImleNoise
{
    internal readonly Imle.Noise Value;

    internal ImleNoise(Imle.Noise value) => Value = value;

    /// <summary>A short human-readable description, e.g. "SoG(κ=5, τ=1, s=10)".</summary>
    public string Description => Imle.NoiseModule.describe(Value);

    /// <summary>Whether this is Normal or Gumbel noise (the two kinds perturbed optimizers accept).</summary>
    public bool IsNormalOrGumbel => Value.IsNormal || Value.IsGumbel;

    /// <inheritdoc />
    public override string ToString() => Description;
}

/// <summary>Perturbation distributions for perturb-and-MAP (paper Sec. 3.2), and samplers over them.</summary>
public static class Noises
{
    /// <summary>No perturbation (δ₀): ε = 0.</summary>
    public static ImleNoise Zero { get; } = new(Imle.Noise.Zero);

    /// <summary>Gumbel(0, τ) noise, i.i.d. per coordinate.</summary>
    /// <param name="tau">The scale τ; finite and &gt; 0.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="tau"/> is not finite and &gt; 0.</exception>
    public static ImleNoise Gumbel(double tau = 1.0) =>
        new(Imle.NoiseModule.validate(Imle.Noise.NewGumbel(tau)));

    /// <summary>Normal(0, σ²) noise, i.i.d. per coordinate (perturbed optimizers).</summary>
    /// <param name="sigma">The standard deviation σ; finite and &gt; 0.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="sigma"/> is not finite and &gt; 0.</exception>
    public static ImleNoise Normal(double sigma = 1.0) =>
        new(Imle.NoiseModule.validate(Imle.Noise.NewNormal(sigma)));

    /// <summary>Sum-of-Gamma noise SoG(κ, τ, s) exactly as Eq. 13 of the paper; the sum of κ draws approaches Gumbel(0, τ).</summary>
    /// <param name="kappa">κ ≥ 1, typically the subset size k.</param>
    /// <param name="tau">The temperature τ &gt; 0.</param>
    /// <param name="terms">The number of Gamma terms s ≥ 1.</param>
    /// <exception cref="ArgumentOutOfRangeException">A parameter is outside its range.</exception>
    public static ImleNoise SumOfGamma(double kappa, double tau = 1.0, int terms = 10) =>
        new(Imle.NoiseModule.validate(Imle.Noise.NewSumOfGamma(kappa, tau, terms)));

    /// <summary>Sum-of-Gamma noise with a finite-s correction (exact mean, a Normal draw standing in for the omitted
    /// terms); closer to Gumbel at small s than Eq. 13 as written. Not part of the paper.</summary>
    /// <param name="kappa">κ ≥ 1, typically the subset size k.</param>
    /// <param name="tau">The temperature τ &gt; 0.</param>
    /// <param name="terms">The number of Gamma terms s ≥ 1.</param>
    /// <exception cref="ArgumentOutOfRangeException">A parameter is outside its range.</exception>
    public static ImleNoise SumOfGammaCorrected(double kappa, double tau = 1.0, int terms = 10) =>
        new(Imle.NoiseModule.validate(Imle.Noise.NewSumOfGammaCorrected(kappa, tau, terms)));

    /// <summary>A user's per-coordinate sampler. It must draw only from the <see cref="Random"/> it is given (so the same
    /// seed gives the same bits) and return finite values.</summary>
    /// <param name="name">A non-empty name, used in descriptions and error messages.</param>
    /// <param name="sample">The sampler: one draw per call.</param>
    /// <exception cref="ArgumentException"><paramref name="name"/> is empty.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="sample"/> is null.</exception>
    public static ImleNoise Custom(string name, Func<Random, double> sample)
    {
        Guard.NotNull(sample, nameof(sample));
        return new(Imle.NoiseModule.validate(Imle.Noise.NewCustom(name, FuncConvert.FromFunc(sample))));
    }

    /// <summary><paramref name="count"/> i.i.d. draws of the noise from <paramref name="random"/>.</summary>
    /// <param name="noise">The distribution.</param>
    /// <param name="random">The generator to draw from.</param>
    /// <param name="count">The number of draws, ≥ 0.</param>
    /// <returns>A new array of draws.</returns>
    public static double[] Sample(ImleNoise noise, Random random, int count)
    {
        Guard.NotNull(noise, nameof(noise));
        Guard.NotNull(random, nameof(random));
        return Imle.NoiseModule.sample(noise.Value, random, count);
    }

    /// <summary>i.i.d. draws of the noise as a tensor of the given shape, dtype and device, drawn from
    /// <paramref name="generator"/> only (the global generator is never used).</summary>
    /// <param name="noise">The distribution.</param>
    /// <param name="generator">The TorchSharp generator to draw from.</param>
    /// <param name="shape">The shape of the result.</param>
    /// <param name="dtype">A floating-point dtype (default float32).</param>
    /// <param name="device">The device (default CPU).</param>
    /// <returns>A new tensor of draws.</returns>
    public static torch.Tensor SampleTensor(ImleNoise noise, torch.Generator generator, long[] shape,
        torch.ScalarType dtype = torch.ScalarType.Float32, torch.Device? device = null)
    {
        Guard.NotNull(noise, nameof(noise));
        Guard.NotNull(generator, nameof(generator));
        return Imle.Torch.TensorNoise.sample(noise.Value, generator, shape, dtype, device ?? torch.CPU);
    }
}
