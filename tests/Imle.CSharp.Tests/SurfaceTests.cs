using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using Xunit;

namespace Imle.CSharp.Tests;

/// <summary>The façade must be C#-shaped: no F# type (FSharpList, FSharpOption, FSharpFunc, Unit, …), no tuple and no
/// type of the F# core assembly may appear in any public signature of Imle.CSharp.dll.</summary>
public class SurfaceTests
{
    private static readonly Assembly Facade = typeof(Imle.CSharp.Problems).Assembly;
    private static readonly Assembly OrToolsFacade = typeof(Imle.CSharp.OrTools.LinearProgram).Assembly;
    private static readonly Assembly DistributedFacade = typeof(Imle.CSharp.Distributed.SolverFarmClient).Assembly;
    private static readonly Assembly[] Facades = { Facade, OrToolsFacade, DistributedFacade };
    private static readonly Assembly FSharpCore = typeof(Microsoft.FSharp.Core.Unit).Assembly;
    private static readonly Assembly ImleFSharp = typeof(Imle.Problem).Assembly;
    private static readonly Assembly ImleOrTools = typeof(Imle.OrTools.LinearModel).Assembly;
    private static readonly Assembly ImleDistributed = typeof(Imle.Distributed.SolverFarm).Assembly;

    private static IEnumerable<string> Offences(Type type, string where)
    {
        if (type.IsByRef || type.IsPointer || type.IsArray)
        {
            foreach (var o in Offences(type.GetElementType()!, where)) yield return o;
            yield break;
        }
        if (type.IsGenericParameter) yield break;
        var definition = type.IsGenericType ? type.GetGenericTypeDefinition() : type;
        if (definition.Assembly == FSharpCore)
            yield return $"{where}: {type} comes from FSharp.Core";
        else if (definition.Assembly == ImleFSharp || definition.Assembly == ImleOrTools || definition.Assembly == ImleDistributed)
            yield return $"{where}: {type} comes from {definition.Assembly.GetName().Name} (wrap it in a C# type)";
        else if (definition.FullName is { } name &&
                 (name.StartsWith("System.Tuple`") || name.StartsWith("System.ValueTuple`") || name.StartsWith("Microsoft.FSharp.")))
            yield return $"{where}: {type} is a tuple or F# type";
        if (type.IsGenericType)
            foreach (var argument in type.GetGenericArguments())
                foreach (var o in Offences(argument, where)) yield return o;
    }

    private static IEnumerable<string> AllOffences()
    {
        const BindingFlags flags = BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        foreach (var type in Facades.SelectMany(a => a.GetExportedTypes()))
        {
            if (type.BaseType is { } baseType)
                foreach (var o in Offences(baseType, $"{type} base type")) yield return o;
            foreach (var i in type.GetInterfaces())
                foreach (var o in Offences(i, $"{type} interface")) yield return o;
            foreach (var method in type.GetMethods(flags))
            {
                foreach (var o in Offences(method.ReturnType, $"{type}.{method.Name} return")) yield return o;
                foreach (var p in method.GetParameters())
                    foreach (var o in Offences(p.ParameterType, $"{type}.{method.Name}({p.Name})")) yield return o;
            }
            foreach (var ctor in type.GetConstructors(flags))
                foreach (var p in ctor.GetParameters())
                    foreach (var o in Offences(p.ParameterType, $"{type}..ctor({p.Name})")) yield return o;
            foreach (var property in type.GetProperties(flags))
                foreach (var o in Offences(property.PropertyType, $"{type}.{property.Name}")) yield return o;
            foreach (var field in type.GetFields(flags))
                foreach (var o in Offences(field.FieldType, $"{type}.{field.Name}")) yield return o;
            foreach (var e in type.GetEvents(flags))
                foreach (var o in Offences(e.EventHandlerType!, $"{type}.{e.Name}")) yield return o;
        }
    }

    [Fact]
    public void NoPublicSignatureExposesAnFSharpType()
    {
        var offences = AllOffences().Distinct().ToList();
        Assert.True(offences.Count == 0, "F# types in the C# surface:\n" + string.Join("\n", offences));
    }

    [Fact]
    public void TheCheckCatchesFSharpTypes()
    {
        // The checker itself must see an F# type where one is.
        Assert.NotEmpty(Offences(typeof(Func<Microsoft.FSharp.Collections.FSharpList<int>>), "probe"));
        Assert.NotEmpty(Offences(typeof(Imle.Noise), "probe"));
        Assert.NotEmpty(Offences(typeof(Imle.OrTools.LinearModel), "probe"));
        Assert.NotEmpty(Offences(typeof((int, int)[]), "probe"));
        Assert.Empty(Offences(typeof(Func<TorchSharp.torch.Tensor, double[]>), "probe"));
        Assert.All(Facades, a => Assert.NotEmpty(a.GetExportedTypes()));
    }

    [Fact]
    public void EveryPublicTypeLivesInItsFacadeNamespace()
    {
        foreach (var assembly in Facades)
            Assert.All(assembly.GetExportedTypes(), t => Assert.Equal(assembly.GetName().Name, t.Namespace));
    }
}
