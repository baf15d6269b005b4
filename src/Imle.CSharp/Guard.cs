using System;

namespace Imle.CSharp;

/// Null checks that name the C# parameter. Ranges are checked once, by the F# library, whose messages use the same
/// parameter names; the façade checks only what C# adds (null references).
internal static class Guard
{
    internal static T NotNull<T>(T? value, string name) where T : class =>
        value ?? throw new ArgumentNullException(name, $"{name} must not be null.");

    internal static T[] Array<T>(T[]? value, string name) =>
        value ?? throw new ArgumentNullException(name, $"{name} must not be null.");
}
