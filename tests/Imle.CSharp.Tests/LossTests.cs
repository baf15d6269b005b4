using System;
using Imle.CSharp;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Imle.CSharp.Tests;

/// <summary>The losses' <see cref="LossReduction"/>: Mean (the default), Sum and PerSample.</summary>
public class LossTests
{
    // Three states of 2×2 entries differing from the target in 1, 2 and 4 entries.
    private static Tensor Target() => torch.tensor(new[] { 1.0, 0.0, 0.0, 1.0 }).reshape(1, 2, 2).expand(3, 2, 2).contiguous();

    private static Tensor States() =>
        torch.tensor(new[] { 1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0 }).reshape(3, 2, 2);

    [Fact]
    public void HammingReducesAsAsked()
    {
        using var scope = torch.NewDisposeScope();
        var z = States();
        var y = Target();
        Assert.Equal(7.0 / 3.0, Losses.Hamming(z, y).ToDouble(), 12);
        Assert.Equal(7.0 / 3.0, Losses.Hamming(z, y, LossReduction.Mean).ToDouble(), 12);
        Assert.Equal(7.0, Losses.Hamming(z, y, LossReduction.Sum).ToDouble(), 12);
        var perSample = Losses.Hamming(z, y, LossReduction.PerSample);
        Assert.Equal(new long[] { 3 }, perSample.shape);
        Assert.Equal(new[] { 1.0, 2.0, 4.0 }, perSample.data<double>().ToArray());
    }

    [Fact]
    public void RegretReducesAsAsked()
    {
        using var scope = torch.NewDisposeScope();
        var z = States();
        var y = Target();
        var c = torch.tensor(new[] { 1.0, 2.0, 3.0, 4.0 }).reshape(1, 2, 2).expand(3, 2, 2).contiguous();
        Assert.Equal(1.0, Losses.Regret(z, c, y).ToDouble(), 12);
        Assert.Equal(3.0, Losses.Regret(z, c, y, LossReduction.Sum).ToDouble(), 12);
        Assert.Equal(new[] { 2.0, 1.0, 0.0 }, Losses.Regret(z, c, y, LossReduction.PerSample).data<double>().ToArray());
    }

    [Fact]
    public void SumKeepsTheGradientPerEntry()
    {
        using var scope = torch.NewDisposeScope();
        var z = States().requires_grad_(true);
        var y = Target();
        Training.Backward(Losses.Hamming(z, y, LossReduction.Sum));
        // dL/dz = 1 − 2y, whatever the batch size.
        Assert.Equal(new[] { -1.0, 1.0, 1.0, -1.0 }, z.grad!.reshape(3, 4)[0].data<double>().ToArray());
    }

    [Fact]
    public void AnUndefinedReductionIsRefused()
    {
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Losses.Hamming(States(), Target(), (LossReduction)7));
        Assert.Equal("reduction", e.ParamName);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => Losses.Regret(States(), Target(), Target(), (LossReduction)(-1)));
        Assert.Equal("reduction", e.ParamName);
    }
}
