/// The Scalar-lifetime rule, checked on compiled IL.
///
/// TorchSharp's `Scalar` owns a native object and has a finaliser. An operation such as `Tensor.mul(Scalar)` reads the
/// Scalar's handle and passes it to libtorch without keeping the managed object alive; a temporary Scalar (the result of
/// an implicit `float → Scalar` conversion, or of `ToScalar()` passed straight into a call) can therefore be collected,
/// and its native object freed and reused, while libtorch still reads it. The symptoms are "Unknown scalar type", wrong
/// values and segmentation faults under garbage-collection pressure (reproduced by the Scalar stress test).
///
/// The rule: (1) no implicit conversion to `Scalar` or `Tensor` (`op_Implicit`) in Imle's assemblies; (2) every
/// `ToScalar()` result is stored in a local that the same method disposes (F#'s `use`, C#'s `using`) — the Dispose call
/// after the operation keeps the Scalar reachable until the operation has returned — or in a static field (alive for the
/// process); (3) no call to a TorchSharp method that does (1) or (2) itself (`Tensor * double`, `a + b`, `add_(x)`, …).
///
/// Checked on the IL rather than the source because the F# compiler inserts implicit conversions silently (type-directed
/// conversions at method calls and operators) and the source cannot show where it did.
module Imle.Tests.ScalarLifetime

open System
open System.Collections.Generic
open System.IO
open System.Reflection.Emit

/// One violation of the rule: the method (type and name) and what it does.
type Violation = { Method: string; Problem: string }

let private oneByte = Dictionary<int, OpCode>()
let private twoByte = Dictionary<int, OpCode>()

do
    for f in typeof<OpCodes>.GetFields(Reflection.BindingFlags.Public ||| Reflection.BindingFlags.Static) do
        match f.GetValue null with
        | :? OpCode as op ->
            let v = int (uint16 op.Value)

            if op.Size = 1 then
                oneByte.[v] <- op
            else
                twoByte.[v &&& 0xFF] <- op
        | _ -> ()

/// One decoded instruction: opcode, operand (token, local index or 0) .
type private Instruction = { Op: OpCode; Operand: int64 }

let private decode (il: byte[]) : Instruction list =
    let result = List<Instruction>()
    let mutable i = 0

    while i < il.Length do
        let op =
            if il.[i] = 0xFEuy then
                i <- i + 2
                twoByte.[int il.[i - 1]]
            else
                i <- i + 1
                oneByte.[int il.[i - 1]]

        let operand, size =
            match op.OperandType with
            | OperandType.InlineNone -> 0L, 0
            | OperandType.ShortInlineBrTarget
            | OperandType.ShortInlineI
            | OperandType.ShortInlineVar -> int64 il.[i], 1
            | OperandType.InlineVar -> int64 (BitConverter.ToUInt16(il, i)), 2
            | OperandType.InlineI8
            | OperandType.InlineR -> 0L, 8
            | OperandType.InlineSwitch -> 0L, 4 + 4 * BitConverter.ToInt32(il, i)
            | _ -> int64 (BitConverter.ToInt32(il, i)), 4

        i <- i + size
        result.Add { Op = op; Operand = operand }

    List.ofSeq result

/// The local index an instruction stores to or loads from, if it is a stloc / ldloc form.
let private storeIndex (ins: Instruction) =
    match ins.Op.Name with
    | "stloc.0" -> Some 0L
    | "stloc.1" -> Some 1L
    | "stloc.2" -> Some 2L
    | "stloc.3" -> Some 3L
    | "stloc.s"
    | "stloc" -> Some ins.Operand
    | _ -> None

let private loadIndex (ins: Instruction) =
    match ins.Op.Name with
    | "ldloc.0" -> Some 0L
    | "ldloc.1" -> Some 1L
    | "ldloc.2" -> Some 2L
    | "ldloc.3" -> Some 3L
    | "ldloc.s"
    | "ldloc" -> Some ins.Operand
    | _ -> None

let private isCall (ins: Instruction) =
    ins.Op.Name = "call" || ins.Op.Name = "callvirt" || ins.Op.Name = "newobj"

let private flags =
    Reflection.BindingFlags.DeclaredOnly
    ||| Reflection.BindingFlags.Public
    ||| Reflection.BindingFlags.NonPublic
    ||| Reflection.BindingFlags.Static
    ||| Reflection.BindingFlags.Instance

/// Every method and constructor with a body, of every type (closures and nested types included).
let private methodsOf (assembly: Reflection.Assembly) : Reflection.MethodBase seq =
    let types =
        try
            assembly.GetTypes()
        with :? Reflection.ReflectionTypeLoadException as e ->
            e.Types |> Array.filter (isNull >> not)

    seq {
        for t in types do
            for m in t.GetMethods flags do
                yield m :> Reflection.MethodBase

            for c in t.GetConstructors flags do
                yield c :> Reflection.MethodBase
    }

/// The call targets of a method body, in order, with the decoded instructions (None where a token does not resolve).
let private body (m: Reflection.MethodBase) : Instruction[] * (Reflection.MethodBase option)[] =
    let il =
        try
            (match m.GetMethodBody() with
             | null -> null
             | b -> b.GetILAsByteArray())
        with _ ->
            null

    if isNull il then
        [||], [||]
    else
        let ins = decode il |> Array.ofList

        let typeArgs =
            if m.DeclaringType <> null && m.DeclaringType.IsGenericType then
                m.DeclaringType.GetGenericArguments()
            else
                null

        let methodArgs = if m.IsGenericMethod then m.GetGenericArguments() else null

        let targets =
            ins
            |> Array.map (fun i ->
                if isCall i then
                    try
                        Some(m.Module.ResolveMethod(int i.Operand, typeArgs, methodArgs))
                    with _ ->
                        None
                else
                    None)

        ins, targets

let private key (m: Reflection.MethodBase) =
    let m =
        match m with
        | :? Reflection.MethodInfo as mi when mi.IsGenericMethod ->
            mi.GetGenericMethodDefinition() :> Reflection.MethodBase
        | _ -> m

    m.Module.ModuleVersionId, m.MetadataToken

let private describe (m: Reflection.MethodBase) =
    let ps =
        m.GetParameters()
        |> Array.map (fun p -> p.ParameterType.Name)
        |> String.concat ", "

    sprintf "%s.%s(%s)" (if isNull m.DeclaringType then "?" else m.DeclaringType.Name) m.Name ps

/// Whether a call target converts to a native type implicitly (Scalar or Tensor `op_Implicit`).
let private isNativeImplicit (m: Reflection.MethodBase) =
    m.Name = "op_Implicit"
    && not (isNull m.DeclaringType)
    && (m.DeclaringType.FullName = "TorchSharp.Scalar"
        || m.DeclaringType.FullName = "TorchSharp.torch+Tensor")

let private isToScalar (m: Reflection.MethodBase) =
    m.Name = "ToScalar"
    && not (isNull m.DeclaringType)
    && m.DeclaringType.FullName = "TorchSharp.ScalarExtensionMethods"

/// The problems of one method body: implicit native conversions, `ToScalar()` results that are not kept in a local the
/// method disposes, and calls to methods in `unsafeCallees` (methods that do either themselves).
let private problemsOf
    (tensorsToo: bool)
    (unsafeCallees: Collections.Generic.HashSet<Guid * int>)
    (m: Reflection.MethodBase)
    : string list =
    let ins, targets = body m

    [ for i in 0 .. ins.Length - 1 do
          match targets.[i] with
          | Some t when isNativeImplicit t ->
              if tensorsToo || t.DeclaringType.FullName = "TorchSharp.Scalar" then
                  yield sprintf "implicit conversion to %s" t.DeclaringType.Name
          | Some t when isToScalar t ->
              match (if i + 1 < ins.Length then storeIndex ins.[i + 1] else None) with
              | None when i + 1 < ins.Length && ins.[i + 1].Op.Name = "stsfld" -> () // a static field: alive for the process
              | None -> yield "ToScalar() result used as a temporary (not kept in a disposed local)"
              | Some local ->
                  // `use` disposes in a finally block, either directly (ldloc N; callvirt Dispose) or, as F# compiles it,
                  // through a copy (ldloc N; isinst IDisposable; stloc M; …; ldloc M; callvirt Dispose).
                  let isDispose j =
                      match targets.[j] with
                      | Some d -> d.Name = "Dispose"
                      | None -> false

                  let rec disposed (local: int64) (depth: int) =
                      seq { 0 .. ins.Length - 3 }
                      |> Seq.exists (fun j ->
                          loadIndex ins.[j] = Some local
                          && (isDispose (j + 1)
                              || (depth = 0
                                  && ins.[j + 1].Op.Name = "isinst"
                                  && (match storeIndex ins.[j + 2] with
                                      | Some copy -> disposed copy 1
                                      | None -> false))))

                  if not (disposed local 0) then
                      yield sprintf "ToScalar() stored in local %d, which this method never disposes" local
          | Some t when unsafeCallees.Contains(key t) ->
              yield sprintf "calls %s, which converts a number to a temporary Scalar inside TorchSharp" (describe t)
          | _ -> () ]

/// The TorchSharp methods that create a temporary Scalar (implicit conversion, or an undisposed `ToScalar()`) and pass
/// it on, directly or through other such methods: e.g. `Tensor * double`, `Tensor + Tensor` (an implicit alpha = 1).
/// Implicit conversions to Tensor do not count here: inside TorchSharp they build return values (e.g. `eq(null)` returns
/// `false` as a tensor), which the caller owns.
let unsafeTorchSharpMethods: Lazy<Collections.Generic.HashSet<Guid * int>> =
    lazy
        (let assembly = typeof<TorchSharp.Scalar>.Assembly
         let all = methodsOf assembly |> Array.ofSeq
         let calls = all |> Array.map (fun m -> m, snd (body m))
         let result = Collections.Generic.HashSet<Guid * int>()

         for m in all do
             if
                 not (List.isEmpty (problemsOf false result m))
                 && not (isNativeImplicit m)
                 && not (isToScalar m)
             then
                 result.Add(key m) |> ignore
         // Close over TorchSharp's own call graph.
         let mutable changed = true

         while changed do
             changed <- false

             for (m, targets) in calls do
                 if
                     not (result.Contains(key m))
                     && not (isNativeImplicit m)
                     && not (isToScalar m)
                     && targets
                        |> Array.exists (function
                            | Some t -> result.Contains(key t)
                            | None -> false)
                 then
                     result.Add(key m) |> ignore
                     changed <- true

         result)

/// Checks every method body of `assembly` against the rule; returns the violations.
let scan (assembly: Reflection.Assembly) : Violation list =
    let unsafeCallees = unsafeTorchSharpMethods.Force()

    [ for m in methodsOf assembly do
          for problem in problemsOf true unsafeCallees m do
              yield
                  { Method =
                      (if isNull m.DeclaringType then
                           ""
                       else
                           m.DeclaringType.Namespace + ".")
                      + describe m
                    Problem = problem } ]
