using System;

namespace Imle.CSharp;

/// Argument checks that name the C# parameter (the F# core's messages name its own parameters).
internal static class Guard
{
    internal static T NotNull<T>(T? value, string name) where T : class =>
        value ?? throw new ArgumentNullException(name, $"{name} must not be null.");

    internal static double Positive(double value, string name)
    {
        if (double.IsNaN(value) || double.IsInfinity(value) || value <= 0.0)
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be a finite number > 0; got {value}.");
        return value;
    }

    internal static double AtLeast(double value, double lower, string name)
    {
        if (double.IsNaN(value) || double.IsInfinity(value) || value < lower)
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be a finite number >= {lower}; got {value}.");
        return value;
    }

    internal static int AtLeast(int value, int lower, string name)
    {
        if (value < lower)
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be >= {lower}; got {value}.");
        return value;
    }

    internal static int InRange(int value, int lower, int upper, string name)
    {
        if (value < lower || value > upper)
            throw new ArgumentOutOfRangeException(name, value, $"{name} must lie in [{lower}, {upper}]; got {value}.");
        return value;
    }

    internal static T[] Array<T>(T[]? value, string name) =>
        value ?? throw new ArgumentNullException(name, $"{name} must not be null.");

    internal static double[] Length(double[]? value, int expected, string name)
    {
        var a = Array(value, name);
        if (a.Length != expected)
            throw new ArgumentException($"{name} must have length {expected}; got {a.Length}.", name);
        return a;
    }
}
