namespace Imle.CSharp;

/// <summary>Perturbation distributions for perturb-and-MAP, as C# factory methods.</summary>
public static class Noises
{
    /// <summary>No perturbation (δ₀).</summary>
    public static Imle.Noise Zero => Imle.Noise.Zero;

    /// <summary>Gumbel(0, τ) noise.</summary>
    /// <param name="tau">The scale τ; must be finite and &gt; 0.</param>
    public static Imle.Noise Gumbel(double tau = 1.0) => Imle.NoiseModule.validate(Imle.Noise.NewGumbel(tau));

    /// <summary>Sum-of-Gamma noise SoG(κ, τ, s) of Eq. 13.</summary>
    /// <param name="kappa">κ ≥ 1, typically the subset size k.</param>
    /// <param name="tau">The temperature τ &gt; 0.</param>
    /// <param name="terms">The number of Gamma terms s ≥ 1.</param>
    public static Imle.Noise SumOfGamma(double kappa, double tau = 1.0, int terms = 10) =>
        Imle.NoiseModule.validate(Imle.Noise.NewSumOfGamma(kappa, tau, terms));
}
