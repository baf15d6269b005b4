namespace Imle.CSharp;

/// <summary>What a discrete layer or call returns when its estimator draws S samples.</summary>
public enum SampleOutput
{
    /// <summary>The mean over the S samples, shaped like the weights.</summary>
    Mean,
    /// <summary>All samples, [..batch, S, ...shape] (I-MLE; the other estimators return the mean).</summary>
    AllSamples,
}

/// <summary>What a discrete layer does in eval mode.</summary>
public enum EvalBehaviour
{
    /// <summary>The MAP state without noise.</summary>
    Map,
    /// <summary>The same noisy sampling as in training.</summary>
    Sample,
}

/// Conversions of the façade's option enums to the F# core's values.
internal static class Options
{
    internal static Imle.Torch.SampleOutput Output(SampleOutput output) =>
        output == SampleOutput.AllSamples ? Imle.Torch.SampleOutput.AllSamples : Imle.Torch.SampleOutput.MeanOfSamples;
}
