using System;
using Microsoft.FSharp.Core;

namespace Imle.CSharp;

/// <summary>The target distribution q(z; θ') that I-MLE builds in the backward pass. Create one with <see cref="Targets"/>.</summary>
public sealed class ImleTarget
{
    internal readonly Imle.Target Value;

    internal ImleTarget(Imle.Target value) => Value = value;

    /// <summary>A short description for reports.</summary>
    public string Description => Imle.TargetModule.describe(Value);

    /// <summary>λ of a PID target; null for the other targets.</summary>
    public double? Lambda => Value is Imle.Target.Pid pid ? pid.lambda : null;

    /// <inheritdoc />
    public override string ToString() => Description;
}

/// <summary>I-MLE target distributions.</summary>
public static class Targets
{
    /// <summary>Perturb-and-implicit-differentiation (Eq. 10): θ' = θ − λ·dL/dz.</summary>
    /// <param name="lambda">λ &gt; 0.</param>
    /// <returns>The target.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="lambda"/> is not finite and &gt; 0.</exception>
    public static ImleTarget Pid(double lambda) => new(Imle.TargetModule.validate(Imle.Target.NewPid(lambda)));

    /// <summary>The combinatorial-optimisation target (Eq. 14): θ'ᵢ = θᵢ where (dL/dz)ᵢ = 0, −(dL/dz)ᵢ otherwise.</summary>
    public static ImleTarget CombOpt { get; } = new(Imle.Target.CombOpt);

    /// <summary>PID with λ = β·‖θ‖/‖dL/dz‖ chosen at every backward pass by the adaptive rule of AIMLE
    /// (torch-adaptive-imle's defaults). The target is a value: each layer built from it keeps its own β
    /// (<see cref="DiscreteLayer.AdaptiveBeta"/>).</summary>
    /// <param name="initialBeta">β₀ ≥ 0.</param>
    /// <param name="targetNonZero">The target number of non-zero gradient entries per sample, &gt; 0.</param>
    /// <param name="betaStep">The step by which β moves, &gt; 0.</param>
    /// <param name="decay">The moving-average decay, in [0, 1).</param>
    /// <param name="initialAverage">The moving average before the first backward pass, ≥ 0.</param>
    /// <returns>The target.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A setting is out of its range.</exception>
    public static ImleTarget Adaptive(double initialBeta = 1.0, double targetNonZero = 1.0, double betaStep = 1e-4,
        double decay = 0.9, double initialAverage = 1.0)
    {
        var settings = new Imle.AdaptiveLambda(initialBeta, targetNonZero, betaStep, decay, initialAverage);
        return new(Imle.Target.NewAdaptive(Imle.AdaptiveLambdaModule.validate(settings)));
    }

    /// <summary>Your own target: (θ, dL/dz) → θ'.</summary>
    /// <param name="name">A non-empty name.</param>
    /// <param name="build">Builds θ' from the scores θ and the gradient dL/dz (arrays of equal length).</param>
    /// <returns>The target.</returns>
    public static ImleTarget Custom(string name, Func<double[], double[], double[]> build)
    {
        Guard.NotNull(build, nameof(build));
        return new(Imle.TargetModule.validate(Imle.Target.NewCustomTarget(name, FuncConvert.FromFunc(build))));
    }
}

/// <summary>The projection applied to dL/dz by the identity estimator (Sahoo et al., ICLR 2023).</summary>
public enum IdentityProjection
{
    /// <summary>Pass dL/dz through unchanged.</summary>
    None,
    /// <summary>Subtract the mean of dL/dz (for solutions of fixed size, e.g. k-subsets).</summary>
    MeanCentre,
    /// <summary>Subtract the mean and divide by the standard deviation.</summary>
    Standardise,
}

/// <summary>A gradient estimator for a discrete layer: a forward pass that returns MAP states (or their mean) and a
/// backward pass that maps dL/dz to dL/dθ. Create one with <see cref="Estimators"/>.</summary>
public class GradientEstimator
{
    internal readonly Imle.Estimator Value;

    private protected GradientEstimator(Imle.Estimator value) => Value = value;

    internal static GradientEstimator Of(Imle.Estimator value) => new(Imle.EstimatorModule.validate(value));

    /// <summary>A short description for reports, e.g. "I-MLE[SoG(κ=5, τ=1, s=10), PID(λ=2), S=10]".</summary>
    public string Description => Imle.EstimatorModule.describe(Value);

    /// <inheritdoc />
    public override string ToString() => Description;
}

/// <summary>The I-MLE estimator (Eq. 9, Algorithm 1) as an immutable fluent builder: every <c>With…</c> returns a new
/// estimator.</summary>
public sealed class ImleEstimator : GradientEstimator
{
    private readonly Imle.ImleOptions options;
    private readonly ImleNoise noise;
    private readonly ImleTarget target;

    // The F# core validates the options (ranges, and that the symmetric variant needs a PID or adaptive target): the
    // rules live there once; the façade maps types.
    internal ImleEstimator(Imle.ImleOptions options, ImleNoise noise, ImleTarget target)
        : base(Imle.EstimatorModule.validate(Imle.Estimator.NewImle(options)))
    {
        this.options = options;
        this.noise = noise;
        this.target = target;
    }

    /// <summary>The perturbation used for the forward and the target sample (the same ε).</summary>
    public ImleNoise Noise => noise;

    /// <summary>The target distribution.</summary>
    public ImleTarget Target => target;

    /// <summary>The number of samples S.</summary>
    public int Samples => options.Samples;

    /// <summary>Whether the central-difference (symmetric) variant is on.</summary>
    public bool IsSymmetric => options.Symmetric;

    /// <summary>Whether the estimate is divided by λ (Eq. 12; the default) or not (Algorithm 1 as written).</summary>
    public bool IsDividedByLambda => options.Scaling.IsDivideByLambda;

    /// <summary>The multiplier of ε in the forward pass.</summary>
    public double InputTemperature => options.InputTemperature;

    /// <summary>The multiplier of ε in the backward pass.</summary>
    public double TargetTemperature => options.TargetTemperature;

    /// <summary>With S samples (the layer returns their mean).</summary>
    /// <param name="samples">S ≥ 1.</param>
    /// <returns>The new estimator.</returns>
    public ImleEstimator WithSamples(int samples) =>
        new(options.WithSamples(samples), noise, target);

    /// <summary>With another perturbation.</summary>
    /// <param name="noise">The noise; see <see cref="Noises"/>.</param>
    /// <returns>The new estimator.</returns>
    public ImleEstimator WithNoise(ImleNoise noise) =>
        new(options.WithNoise(Guard.NotNull(noise, nameof(noise)).Value), noise, target);

    /// <summary>With another target distribution.</summary>
    /// <param name="target">The target; see <see cref="Targets"/>.</param>
    /// <returns>The new estimator.</returns>
    /// <exception cref="ArgumentException">The estimator is symmetric and the target is neither PID nor adaptive.</exception>
    public ImleEstimator WithTarget(ImleTarget target) =>
        new(options.WithTarget(Guard.NotNull(target, nameof(target)).Value), noise, target);

    /// <summary>With the PID target θ' = θ − λ·dL/dz for the given λ.</summary>
    /// <param name="lambda">λ &gt; 0.</param>
    /// <returns>The new estimator.</returns>
    public ImleEstimator WithLambda(double lambda) => WithTarget(Targets.Pid(lambda));

    /// <summary>With the given input (forward) and target (backward) temperatures.</summary>
    /// <param name="inputTemperature">The multiplier of ε in the forward pass, &gt; 0.</param>
    /// <param name="targetTemperature">The multiplier of ε in the backward pass, &gt;= 0 (0: a noiseless target).</param>
    /// <returns>The new estimator.</returns>
    public ImleEstimator WithTemperatures(double inputTemperature, double targetTemperature) =>
        new(options.WithTemperatures(inputTemperature, targetTemperature), noise, target);

    /// <summary>The central-difference variant (MAP(θ + λ·dL/dz + ε) − MAP(θ − λ·dL/dz + ε)) / 2.</summary>
    /// <param name="symmetric">Whether to switch it on (default) or off.</param>
    /// <returns>The new estimator.</returns>
    /// <exception cref="ArgumentException">The target is neither PID nor adaptive.</exception>
    public ImleEstimator Symmetric(bool symmetric = true) => new(options.WithSymmetric(symmetric), noise, target);

    /// <summary>Returns z − z' without dividing by λ (Algorithm 1 as written; λ folded into the learning rate).</summary>
    /// <param name="unscaled">Whether to leave the estimate unscaled (default) or divide by λ.</param>
    /// <returns>The new estimator.</returns>
    public ImleEstimator Unscaled(bool unscaled = true) =>
        new(options.WithScaling(unscaled ? Imle.Scaling.Unscaled : Imle.Scaling.DivideByLambda), noise, target);
}

/// <summary>The gradient estimators for discrete layers.</summary>
public static class Estimators
{
    /// <summary>Implicit MLE with Sum-of-Gamma noise SoG(κ, 1, 10), the PID target with λ, one sample, divided by λ.
    /// Refine it fluently: <c>Estimators.Imle(kappa: 5, lambda: 2).WithSamples(10).Symmetric()</c>.</summary>
    /// <param name="kappa">κ ≥ 1 of the noise: the subset size k for k-subsets, 1 otherwise.</param>
    /// <param name="lambda">λ &gt; 0 of the PID target.</param>
    /// <returns>The estimator.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="kappa"/> &lt; 1 or <paramref name="lambda"/> ≤ 0.</exception>
    public static ImleEstimator Imle(double kappa = 1.0, double lambda = 10.0)
    {
        var options = global::Imle.ImleOptions.Create(kappa, lambda);
        return new ImleEstimator(options, new ImleNoise(options.Noise), new ImleTarget(options.Target));
    }

    /// <summary>Blackbox differentiation (Pogančić et al. 2020): z = MAP(w), backward through MAP(θ − λ·dL/dz).</summary>
    /// <param name="lambda">λ &gt; 0.</param>
    /// <returns>The estimator.</returns>
    public static GradientEstimator Blackbox(double lambda) =>
        GradientEstimator.Of(global::Imle.Estimator.NewBlackbox(lambda));

    /// <summary>Identity with projection (Sahoo et al. 2023): dL/dθ = P(dL/dz), optional noise in the forward pass.</summary>
    /// <param name="projection">The projection P.</param>
    /// <param name="noise">Forward noise (default none).</param>
    /// <returns>The estimator.</returns>
    public static GradientEstimator Identity(IdentityProjection projection = IdentityProjection.MeanCentre, ImleNoise? noise = null)
    {
        var p = projection switch
        {
            IdentityProjection.None => global::Imle.Projection.NoProjection,
            IdentityProjection.MeanCentre => global::Imle.Projection.MeanCentre,
            IdentityProjection.Standardise => global::Imle.Projection.Standardise,
            _ => throw new ArgumentOutOfRangeException(nameof(projection), projection, "Unknown projection."),
        };
        return GradientEstimator.Of(global::Imle.Estimator.NewIdentity(p, (noise ?? Noises.Zero).Value));
    }

    /// <summary>Straight-through: z = MAP(θ + ε), dL/dθ = dL/dz.</summary>
    /// <param name="noise">Forward noise (default none).</param>
    /// <returns>The estimator.</returns>
    public static GradientEstimator StraightThrough(ImleNoise? noise = null) =>
        GradientEstimator.Of(global::Imle.Estimator.NewStraightThrough((noise ?? Noises.Zero).Value));

    /// <summary>Perturbed optimizers (Berthet et al. 2020): the mean of S perturbed MAP states, with Normal or Gumbel noise.</summary>
    /// <param name="noise">Normal or Gumbel noise (default Normal(σ = 1)).</param>
    /// <param name="samples">S ≥ 1 (≥ 2 with the control variate).</param>
    /// <param name="controlVariate">Whether the backward pass subtracts a leave-one-out baseline (PyEPO's and
    /// InferOpt's variance_reduction): the same forward value and mean gradient, a lower variance.</param>
    /// <returns>The estimator.</returns>
    /// <exception cref="ArgumentException"><paramref name="noise"/> is neither Normal nor Gumbel.</exception>
    public static GradientEstimator Perturbed(ImleNoise? noise = null, int samples = 10, bool controlVariate = false) =>
        GradientEstimator.Of(global::Imle.Estimator.NewPerturbed(
            PerturbedOptions(global::Imle.Perturbation.NewAdditive((noise ?? Noises.Normal()).Value), samples, controlVariate)));

    /// <summary>The perturbed optimizer with multiplicative noise w ⊙ exp(σZ − σ²/2) (Dalle et al. 2022; PyEPO's
    /// DPOMul): signs kept, so a solver that needs costs of one sign keeps getting them. Weights must be non-zero.</summary>
    /// <param name="sigma">σ &gt; 0.</param>
    /// <param name="samples">S ≥ 1 (≥ 2 with the control variate).</param>
    /// <param name="controlVariate">Whether the backward pass subtracts a leave-one-out baseline.</param>
    /// <returns>The estimator.</returns>
    public static GradientEstimator MultiplicativePerturbed(double sigma = 1.0, int samples = 10, bool controlVariate = false) =>
        GradientEstimator.Of(global::Imle.Estimator.NewPerturbed(
            PerturbedOptions(global::Imle.Perturbation.NewMultiplicative(sigma), samples, controlVariate)));

    internal static global::Imle.PerturbedOptions PerturbedOptions(global::Imle.Perturbation perturbation, int samples, bool controlVariate) =>
        new(perturbation, samples, controlVariate ? global::Imle.ControlVariate.LeaveOneOut : global::Imle.ControlVariate.NoControlVariate);

    /// <summary>The score-function (REINFORCE) estimator with exact samples; needs an enumerable problem or a k-subset.</summary>
    /// <param name="samples">S ≥ 1.</param>
    /// <returns>The estimator.</returns>
    public static GradientEstimator ScoreFunction(int samples = 10) =>
        GradientEstimator.Of(global::Imle.Estimator.NewScoreFunction(samples));

    /// <summary>Gumbel-softmax (Jang et al. 2017) for categorical problems.</summary>
    /// <param name="tau">The temperature τ &gt; 0.</param>
    /// <returns>The estimator.</returns>
    public static GradientEstimator GumbelSoftmax(double tau = 1.0) =>
        GradientEstimator.Of(global::Imle.Estimator.NewGumbelSoftmax(tau));

    /// <summary>A relaxed top-k (SoftSub, Xie and Ermon 2019) for k-subset problems.</summary>
    /// <param name="tau">The temperature τ &gt; 0.</param>
    /// <returns>The estimator.</returns>
    public static GradientEstimator RelaxedTopK(double tau = 1.0) =>
        GradientEstimator.Of(global::Imle.Estimator.NewRelaxedTopK(tau));

    /// <summary>Interpolation (Vlastelica et al. 2020), the original name of blackbox differentiation: the same
    /// estimator as <see cref="Blackbox"/>.</summary>
    /// <param name="lambda">λ &gt; 0.</param>
    /// <returns>The blackbox estimator.</returns>
    public static GradientEstimator Interpolation(double lambda) => Blackbox(lambda);

    /// <summary>SIMPLE (Ahmed et al., ICLR 2023) for k-subset problems: forward an exact draw z ~ p(z; θ) ∝
    /// exp(⟨z, θ⟩/τ), backward through the exact marginals' Jacobian.</summary>
    /// <param name="tau">The temperature τ &gt; 0.</param>
    /// <returns>The estimator.</returns>
    public static GradientEstimator Simple(double tau = 1.0) =>
        GradientEstimator.Of(global::Imle.Estimator.NewSimple(tau));

    /// <summary>SFESS (Wijk et al., ICLR 2025) for k-subset problems: S exact draws, backward the score-function
    /// estimator with the exact score and a leave-one-out baseline (the layer returns the mean of the draws).</summary>
    /// <param name="tau">The temperature τ &gt; 0.</param>
    /// <param name="samples">S ≥ 2.</param>
    /// <returns>The estimator.</returns>
    public static GradientEstimator Sfess(double tau = 1.0, int samples = 10) =>
        GradientEstimator.Of(global::Imle.Estimator.NewSfess(tau, samples));

    /// <summary>ReinMax (Liu et al., NeurIPS 2023) for categorical problems: forward an exact one-hot draw, backward
    /// the second-order straight-through rule.</summary>
    /// <param name="tau">The temperature τ &gt; 0 of the backward pass.</param>
    /// <returns>The estimator.</returns>
    public static GradientEstimator ReinMax(double tau = 1.0) =>
        GradientEstimator.Of(global::Imle.Estimator.NewReinMax(tau));

    /// <summary>The categorical straight-through estimator: forward an exact one-hot draw D ~ softmax(θ), backward
    /// J(softmax(θ))·dL/dD.</summary>
    public static GradientEstimator SoftmaxStraightThrough { get; } =
        GradientEstimator.Of(global::Imle.Estimator.SoftmaxStraightThrough);

    /// <summary>The regularised Frank–Wolfe optimizer (PyEPO 2.2's RFWO): a deterministic smooth solution
    /// argmax over the convex hull of ⟨θ, μ⟩ − (λ/2)‖μ‖², differentiated on its active face; any problem.</summary>
    /// <param name="lambda">λ &gt; 0 (PyEPO's default 1).</param>
    /// <param name="maxIterations">Frank–Wolfe iterations, ≥ 1 (default 20).</param>
    /// <param name="tolerance">The Frank–Wolfe gap at which it stops, ≥ 0 (default 1e-6).</param>
    /// <returns>The estimator.</returns>
    public static GradientEstimator RegularizedFrankWolfe(double lambda = 1.0, int maxIterations = 20, double tolerance = 1e-6) =>
        GradientEstimator.Of(global::Imle.Estimator.NewRegularizedFrankWolfe(FrankWolfeOptions(lambda, maxIterations, tolerance)));

    internal static global::Imle.FrankWolfeOptions FrankWolfeOptions(double lambda, int maxIterations, double tolerance) =>
        new(lambda, maxIterations, tolerance);
}
