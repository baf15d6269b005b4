/// TorchSharp's native library, made safe and loadable: the runtime half of what
/// buildTransitive/Imle.FSharp.targets does at build time (see docs/notes/native-fix.md).
///
/// 1. Imle's guard library (native/guard, shipped as runtimes/linux-x64/native/libImleTorchSharpGuard.so) goes in
///    front of TorchSharp's libLibTorchSharp.so: it exports every function of the original and calls it inside
///    try/catch, so a libtorch error becomes a .NET exception instead of std::terminate, and it defers the free of
///    TorchSharp's Scalars.
/// 2. TorchSharp 0.107's library requires the symbol version GLIBCXX_3.4.32, which older libstdc++ (Debian 12: 3.4.30)
///    lacks; the only symbol behind it is an unused marker, so that one requirement is marked weak (VER_FLG_WEAK).
///
/// Projects that build get both from the MSBuild step in the Imle.FSharp package, which installs them in the output
/// folder. Scripts (`dotnet fsi` with `#r "nuget: Imle.FSharp"`) build nothing: they call `Native.ensure ()` once,
/// before the first TorchSharp call.
module Imle.Torch.Native

open System
open System.IO
open System.Runtime.InteropServices
open System.Security.Cryptography
open System.Text

/// The symbol version TorchSharp 0.107's native library requires and Debian 12's libstdc++ lacks.
[<Literal>]
let GlibcxxVersion = "GLIBCXX_3.4.32"

let private sectionTypeVerneed = 0x6ffffffeu
let private verFlagWeak = 0x2us

/// Walks the SHT_GNU_verneed records of a little-endian ELF64 image and visits the offset of the flags of every Vernaux
/// entry named `versionName` that is not weak yet. Returns the offsets visited (empty for anything that is not such an
/// image, or whose records point outside it).
let private nonWeakRequirements (versionName: string) (image: byte[]) : int list =
    let inside (offset: int64) (length: int64) =
        offset >= 0L && length >= 0L && offset + length <= int64 image.Length

    let u16 (at: int64) =
        if inside at 2L then
            Some(BitConverter.ToUInt16(image, int at))
        else
            None

    let u32 (at: int64) =
        if inside at 4L then
            Some(BitConverter.ToUInt32(image, int at))
        else
            None

    let i64 (at: int64) =
        if inside at 8L then
            Some(BitConverter.ToInt64(image, int at))
        else
            None

    let cString (at: int64) =
        if not (inside at 1L) then
            None
        else
            let stop = Array.IndexOf(image, 0uy, int at)

            if stop < 0 then
                None
            else
                Some(Encoding.ASCII.GetString(image, int at, stop - int at))

    let isElf64Le =
        image.Length >= 64
        && image.[0] = 0x7fuy
        && image.[1] = byte 'E'
        && image.[2] = byte 'L'
        && image.[3] = byte 'F'
        && image.[4] = 2uy
        && image.[5] = 1uy

    if not isElf64Le then
        []
    else
        let found = Collections.Generic.List<int>()

        match i64 0x28L, u16 0x3AL, u16 0x3CL with
        | Some shoff, Some shentsize, Some shnum when shentsize >= 0x40us ->
            for s in 0 .. int shnum - 1 do
                let sh = shoff + int64 s * int64 shentsize

                match u32 (sh + 4L), i64 (sh + 0x18L), u32 (sh + 0x28L) with
                | Some kind, Some recordsAt, Some link when kind = sectionTypeVerneed ->
                    match i64 (shoff + int64 link * int64 shentsize + 0x18L) with
                    | Some strings ->
                        // Verneed: vn_version u16, vn_cnt u16, vn_file u32, vn_aux u32, vn_next u32.
                        // Vernaux: vna_hash u32, vna_flags u16, vna_other u16, vna_name u32, vna_next u32.
                        let mutable vn = recordsAt
                        let mutable more = true
                        let mutable guard = 0

                        while more && guard < 100000 do
                            guard <- guard + 1

                            match u16 (vn + 2L), u32 (vn + 8L), u32 (vn + 12L) with
                            | Some count, Some aux, Some next ->
                                let mutable va = vn + int64 aux
                                let mutable a = 0

                                while a < int count do
                                    match u16 (va + 4L), u32 (va + 8L), u32 (va + 12L) with
                                    | Some flags, Some nameAt, Some vnext ->
                                        if
                                            cString (strings + int64 nameAt) = Some versionName
                                            && flags &&& verFlagWeak = 0us
                                        then
                                            found.Add(int (va + 4L))

                                        if vnext = 0u then
                                            a <- int count
                                        else
                                            va <- va + int64 vnext

                                        a <- a + 1
                                    | _ -> a <- int count

                                if next = 0u then more <- false else vn <- vn + int64 next
                            | _ -> more <- false
                    | None -> ()
                | _ -> ()
        | _ -> ()

        List.ofSeq found

let private checkVersionName (versionName: string) =
    if String.IsNullOrWhiteSpace versionName then
        invalidArg "versionName" "The symbol version name must be a non-empty string such as \"GLIBCXX_3.4.32\"."

/// True when `image` (the bytes of a shared library) is a little-endian ELF64 file that still requires the symbol
/// version `versionName` (e.g. "GLIBCXX_3.4.32") non-weakly. Anything else (another format, no such requirement, a
/// requirement already weak) gives false.
let requiresVersion (versionName: string) (image: byte[]) : bool =
    checkVersionName versionName

    if isNull image then
        nullArg "image"

    not (List.isEmpty (nonWeakRequirements versionName image))

/// Marks every non-weak requirement of the symbol version `versionName` in `image` weak (sets VER_FLG_WEAK = 0x2 in the
/// flags of its Vernaux entry), in place; nothing else changes. Returns whether a byte changed. The same edit as the
/// MSBuild step in buildTransitive/Imle.FSharp.targets (a test checks both give identical bytes on TorchSharp's library).
let weakenVersion (versionName: string) (image: byte[]) : bool =
    checkVersionName versionName

    if isNull image then
        nullArg "image"

    let offsets = nonWeakRequirements versionName image

    for at in offsets do
        let flags = BitConverter.ToUInt16(image, at) ||| verFlagWeak
        image.[at] <- byte (flags &&& 0xffus)
        image.[at + 1] <- byte (flags >>> 8)

    not offsets.IsEmpty

/// The folder that holds patched copies: $IMLE_NATIVE_CACHE, else $XDG_CACHE_HOME/imle/native, else
/// ~/.cache/imle/native. Each copy lives in a subfolder named after a hash of the original file.
let cacheFolder () : string =
    let fromEnv name =
        match Environment.GetEnvironmentVariable name with
        | null
        | "" -> None
        | v -> Some v

    match fromEnv "IMLE_NATIVE_CACHE" with
    | Some dir -> dir
    | None ->
        let cacheHome =
            fromEnv "XDG_CACHE_HOME"
            |> Option.defaultWith (fun () ->
                Path.Combine(Environment.GetFolderPath Environment.SpecialFolder.UserProfile, ".cache"))

        Path.Combine(cacheHome, "imle", "native")

let private nativeName = "libLibTorchSharp.so"

/// Where TorchSharp's native library may be, for an application (its output folder) and for a script (the package
/// folder TorchSharp.dll was loaded from: lib/<tfm>/../../runtimes/<rid>/native).
let private candidates (torchAssembly: Reflection.Assembly) =
    let rid =
        match RuntimeInformation.ProcessArchitecture with
        | Architecture.Arm64 -> "linux-arm64"
        | _ -> "linux-x64"

    let torchDir =
        match torchAssembly.Location with
        | null
        | "" -> AppContext.BaseDirectory
        | location -> Path.GetDirectoryName location

    [ Path.Combine(torchDir, "..", "..", "runtimes", rid, "native", nativeName)
      Path.Combine(torchDir, "runtimes", rid, "native", nativeName)
      Path.Combine(torchDir, nativeName)
      Path.Combine(AppContext.BaseDirectory, "runtimes", rid, "native", nativeName)
      Path.Combine(AppContext.BaseDirectory, nativeName) ]
    |> List.map Path.GetFullPath
    |> List.distinct
    |> List.filter File.Exists

/// The libtorch version TorchSharp 0.107 is built against (its package description asks for it).
let private expectedLibtorch = "2.10.0"

/// Folders that hold libtorch's own native libraries (libc10.so and libtorch_cpu.so), most likely first: beside
/// TorchSharp's native library or in the application's folder (an application), then the libtorch-*-<rid> packages of
/// the NuGet packages folder ($NUGET_PACKAGES or ~/.nuget/packages; a script's `#r "nuget: libtorch-…"`), version
/// `expectedLibtorch` first, then the newest. Loading libtorch by full path from here, not by name, matters: a system
/// libtorch (Debian's python3-torch installs libc10.so 1.13 on the default search path) would otherwise be found first,
/// and LibTorchSharp would then bind to it by soname and fail with undefined symbols.
let private libtorchFolders (torchAssembly: Reflection.Assembly) =
    let rid =
        match RuntimeInformation.ProcessArchitecture with
        | Architecture.Arm64 -> "linux-arm64"
        | _ -> "linux-x64"

    let local =
        (candidates torchAssembly |> List.map Path.GetDirectoryName)
        @ [ AppContext.BaseDirectory
            Path.Combine(AppContext.BaseDirectory, "runtimes", rid, "native") ]

    let packagesRoot =
        match Environment.GetEnvironmentVariable "NUGET_PACKAGES" with
        | null
        | "" -> Path.Combine(Environment.GetFolderPath Environment.SpecialFolder.UserProfile, ".nuget", "packages")
        | root -> root

    let packaged =
        if Directory.Exists packagesRoot then
            Directory.GetDirectories(packagesRoot, "libtorch-*")
            |> Array.filter (fun d -> Path.GetFileName(d).EndsWith("-" + rid, StringComparison.OrdinalIgnoreCase))
            |> Array.collect Directory.GetDirectories
            |> Array.sortBy (fun v ->
                let name = Path.GetFileName v

                let version =
                    match Version.TryParse name with
                    | true, parsed -> parsed
                    | _ -> Version()

                (if name = expectedLibtorch then 0 else 1), -version.Major, -version.Minor, -version.Build)
            |> Array.map (fun v -> Path.Combine(v, "runtimes", rid, "native"))
            |> List.ofArray
        else
            []

    local @ packaged
    |> List.map Path.GetFullPath
    |> List.distinct
    |> List.filter (fun d ->
        File.Exists(Path.Combine(d, "libc10.so"))
        && File.Exists(Path.Combine(d, "libtorch_cpu.so")))

/// The file name Imle's TorchSharp guard library has in its package (runtimes/linux-x64/native) and in an application's
/// output folder before the build installs it as libLibTorchSharp.so (see docs/notes/native-fix.md).
[<Literal>]
let GuardFileName = "libImleTorchSharpGuard.so"

/// The name TorchSharp's original library gets beside the guard, which loads it from its own folder by this name.
[<Literal>]
let OriginalFileName = "libLibTorchSharp.real.so"

/// True when `image` (the bytes of a shared library) is Imle's TorchSharp guard library (it exports ImleGuard_status).
let isGuard (image: byte[]) : bool =
    if isNull image then
        nullArg "image"

    let marker = Encoding.ASCII.GetBytes "ImleGuard_status\000"
    image.AsSpan().IndexOf(ReadOnlySpan marker) >= 0

/// Where the guard may be: the Imle.FSharp package (lib/<tfm>/../../runtimes/linux-x64/native) or the application
/// folder.
let private guardCandidates () =
    let imleDir =
        match Reflection.Assembly.GetExecutingAssembly().Location with
        | null
        | "" -> AppContext.BaseDirectory
        | location -> Path.GetDirectoryName location

    [ Path.Combine(imleDir, "..", "..", "runtimes", "linux-x64", "native", GuardFileName)
      Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", GuardFileName)
      Path.Combine(AppContext.BaseDirectory, GuardFileName) ]
    |> List.map Path.GetFullPath
    |> List.distinct
    |> List.filter File.Exists

/// Writes `bytes` to `target` unless it already holds them (a new file moved into place: a concurrent reader never sees
/// half a library).
let private writeOnce (target: string) (bytes: byte[]) =
    if not (File.Exists target && File.ReadAllBytes target = bytes) then
        let tmp =
            Path.Combine(
                Path.GetDirectoryName target,
                sprintf "%s.%s.tmp" (Path.GetFileName target) (Guid.NewGuid().ToString "N")
            )

        File.WriteAllBytes(tmp, bytes)
        File.Move(tmp, target, true)

/// Sets up `cacheFolder ()/<hash>/` with `image` (TorchSharp's original, GLIBCXX_3.4.32 weakened where required) and,
/// when `guard` is given, the guard under the original's name with the original renamed beside it. Returns the path to
/// load.
let private cachedCopy (original: string) (image: byte[]) (guard: byte[] option) =
    let patched = Array.copy image
    weakenVersion GlibcxxVersion patched |> ignore

    let hash =
        let all = Array.append patched (defaultArg guard [||])
        Convert.ToHexString(SHA256.HashData all).Substring(0, 16).ToLowerInvariant()

    let dir = Path.Combine(cacheFolder (), hash)
    Directory.CreateDirectory dir |> ignore
    let target = Path.Combine(dir, nativeName)

    match guard with
    | Some guardImage ->
        writeOnce (Path.Combine(dir, OriginalFileName)) patched
        writeOnce target guardImage
    | None -> writeOnce target patched

    File.WriteAllText(Path.Combine(dir, "source.txt"), original + Environment.NewLine)
    target

[<UnmanagedFunctionPointer(CallingConvention.Cdecl)>]
type private StatusFunction = delegate of unit -> nativeint

/// Loads `path` by full path; for a guard, checks that it found and loaded the original beside it.
let private loadChecked (path: string) =
    let handle =
        try
            NativeLibrary.Load path
        with e ->
            raise (InvalidOperationException(sprintf "Imle.Torch.Native.ensure: %s did not load: %s" path e.Message, e))

    match NativeLibrary.TryGetExport(handle, "ImleGuard_status") with
    | true, status ->
        let text =
            Marshal.PtrToStringAnsi(Marshal.GetDelegateForFunctionPointer<StatusFunction>(status).Invoke())

        if text <> "ok" then
            raise (
                InvalidOperationException(
                    sprintf
                        "Imle.Torch.Native.ensure: the TorchSharp guard %s could not load the original: %s"
                        path
                        text
                )
            )
    | _ -> ()

    handle

let private gate = obj ()
let mutable private outcome: string option = None

/// What `ensure` did in this process (None before the first call): "not Linux", "loaded the guard <path>", "loaded as
/// shipped" (no guard for this machine, and TorchSharp's library loads as it is), "loaded the patched copy <path>", or
/// why it could not help (TorchSharp then reports its own error at its first call).
let lastOutcome () : string option = lock gate (fun () -> outcome)

let private run () =
    let torchAssembly = typeof<TorchSharp.torch>.Assembly
    let noSearchPath = Nullable<DllImportSearchPath>()

    let tryLoadByName (name: string) =
        let ok, _ = NativeLibrary.TryLoad(name, torchAssembly, noSearchPath)
        ok

    // libtorch first, by full path from its package or application folder (see libtorchFolders), by name only when no
    // such folder exists: once loaded, the loader resolves LibTorchSharp's libtorch*.so dependencies by their sonames
    // wherever its copy lives.
    let libtorch =
        match libtorchFolders torchAssembly with
        | folder :: _ ->
            [ "libc10.so"; "libtorch_cpu.so"; "libtorch.so" ]
            |> List.map (fun file -> Path.Combine(folder, file))
            |> List.filter File.Exists
            |> List.forall (fun path -> fst (NativeLibrary.TryLoad path))
        | [] -> [ "torch_cpu"; "torch"; "c10" ] |> List.map tryLoadByName |> List.forall id

    let point (handle: nativeint) =
        // TorchSharp's P/Invokes of "LibTorchSharp" go to this handle; if a resolver is already set, the loader still
        // matches the loaded library by its soname (libLibTorchSharp.so, which the guard carries too).
        try
            NativeLibrary.SetDllImportResolver(
                torchAssembly,
                DllImportResolver(fun name _ _ ->
                    if name = "LibTorchSharp" || name = nativeName || name = "libLibTorchSharp" then
                        handle
                    else
                        IntPtr.Zero)
            )
        with :? InvalidOperationException ->
            ()

    let found =
        candidates torchAssembly |> List.map (fun path -> path, File.ReadAllBytes path)

    let guard =
        if RuntimeInformation.ProcessArchitecture = Architecture.X64 then
            guardCandidates () |> List.tryHead |> Option.map File.ReadAllBytes
        else
            None

    match found |> List.tryFind (snd >> isGuard), found |> List.tryFind (snd >> isGuard >> not), guard with
    | Some(installed, _), _, _ ->
        // An application whose build installed the guard (the original sits beside it).
        point (loadChecked installed)
        sprintf "loaded the guard %s" installed
    | None, Some(original, image), Some guardImage when libtorch ->
        let path = cachedCopy original image (Some guardImage)
        point (loadChecked path)
        sprintf "loaded the guard %s" path
    | _ when tryLoadByName "LibTorchSharp" -> "loaded as shipped"
    | _ when not libtorch ->
        "libtorch was not found (reference a native package such as libtorch-cpu-linux-x64); nothing patched"
    | _ ->
        match found |> List.filter (fun (_, image) -> requiresVersion GlibcxxVersion image) with
        | [] -> sprintf "%s did not load, and no copy found requires %s; nothing patched" nativeName GlibcxxVersion
        | (original, image) :: _ ->
            let path = cachedCopy original image None
            point (loadChecked path)
            sprintf "loaded the patched copy %s" path

/// Sets up TorchSharp's native library in this process; call it once before the first TorchSharp call in a script
/// (`dotnet fsi` with `#r "nuget: Imle.FSharp"` and `#r "nuget: libtorch-cpu-linux-x64"`). On x86-64 Linux it puts
/// Imle's guard in front of TorchSharp's library (a copy of both in `cacheFolder ()`, the original's GLIBCXX_3.4.32
/// requirement marked weak; the NuGet cache is never modified), loads it and points TorchSharp at it: every libtorch
/// error then becomes a .NET exception instead of ending the process, and the free of TorchSharp's Scalars is deferred
/// (by a second, or until 262,144 wait) so that a call in flight does not read a freed one. Where there is no guard
/// (another architecture) it only makes the library loadable (the weakened copy, when the library does not load as
/// shipped).
/// Safe to call more than once. Applications that build do not need it: the Imle.FSharp package installs the guard in
/// their output folder at build time.
let ensure () : unit =
    lock gate (fun () ->
        if outcome.IsNone then
            outcome <-
                Some(
                    if not (RuntimeInformation.IsOSPlatform OSPlatform.Linux) then
                        "not Linux"
                    else
                        run ()
                ))
