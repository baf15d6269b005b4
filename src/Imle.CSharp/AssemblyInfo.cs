using System.Runtime.CompilerServices;

// The OR-Tools façade (a separate package, so that Imle.CSharp does not pull in OR-Tools) wraps its problems in
// Problem, whose constructor is internal.
[assembly: InternalsVisibleTo("Imle.CSharp.OrTools")]
[assembly: InternalsVisibleTo("Imle.CSharp.Distributed")]
