/// TorchSharp's native library on Linux systems whose libstdc++ is older than the one it was built for (Debian 12).
///
/// TorchSharp 0.107's libLibTorchSharp.so requires the symbol version GLIBCXX_3.4.32; Debian 12's libstdc++ stops at
/// 3.4.30, so the dynamic loader refuses the library. The only symbol behind that version is an unused marker, so marking
/// that one requirement weak (VER_FLG_WEAK on its Vernaux entry) makes the library load. Projects that build get this
/// from the MSBuild step the Imle.FSharp package carries (buildTransitive/Imle.FSharp.targets), which patches the copy in
/// the output folder. Scripts (`dotnet fsi` with `#r "nuget: Imle.FSharp"`) build nothing: they call `Native.ensure ()`
/// once, before the first TorchSharp call. See docs/notes/native-fix.md.
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

/// Writes the patched copy of `original` into the cache (once per distinct original) and returns its path.
let private patchedCopy (original: string) (image: byte[]) =
    let hash =
        Convert.ToHexString(SHA256.HashData image).Substring(0, 16).ToLowerInvariant()

    let dir = Path.Combine(cacheFolder (), hash)
    let target = Path.Combine(dir, nativeName)

    if
        not (
            File.Exists target
            && not (requiresVersion GlibcxxVersion (File.ReadAllBytes target))
        )
    then
        Directory.CreateDirectory dir |> ignore
        let patched = Array.copy image
        weakenVersion GlibcxxVersion patched |> ignore
        // A new file moved into place: a concurrent reader never sees half a library.
        let tmp =
            Path.Combine(dir, sprintf "%s.%s.tmp" nativeName (Guid.NewGuid().ToString "N"))

        File.WriteAllBytes(tmp, patched)
        File.Move(tmp, target, true)
        File.WriteAllText(Path.Combine(dir, "source.txt"), original + Environment.NewLine)

    target

let private gate = obj ()
let mutable private outcome: string option = None

/// What `ensure` did in this process (None before the first call): "not Linux", "loaded as shipped", "loaded the
/// patched copy <path>", or why it could not help (TorchSharp then reports its own error at its first call).
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

    if tryLoadByName "LibTorchSharp" then
        "loaded as shipped"
    elif not libtorch then
        "libtorch was not found (reference a native package such as libtorch-cpu-linux-x64); nothing patched"
    else
        let needing =
            candidates torchAssembly
            |> List.map (fun path -> path, File.ReadAllBytes path)
            |> List.filter (fun (_, image) -> requiresVersion GlibcxxVersion image)

        match needing with
        | [] -> sprintf "%s did not load, and no copy found requires %s; nothing patched" nativeName GlibcxxVersion
        | (original, image) :: _ ->
            let patched = patchedCopy original image

            let handle =
                try
                    NativeLibrary.Load patched
                with e ->
                    raise (
                        InvalidOperationException(
                            sprintf
                                "Imle.Torch.Native.ensure: the patched copy %s of %s did not load either: %s"
                                patched
                                original
                                e.Message,
                            e
                        )
                    )

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
                // A resolver is already set for TorchSharp: the loader still matches the loaded copy by its soname.
                ()

            sprintf "loaded the patched copy %s" patched

/// Makes TorchSharp's native library loadable in this process; call it once before the first TorchSharp call in a
/// script (`dotnet fsi` with `#r "nuget: Imle.FSharp"` and `#r "nuget: libtorch-cpu-linux-x64"`). On Linux, when
/// libLibTorchSharp.so does not load as shipped and requires GLIBCXX_3.4.32 non-weakly (Debian 12), it writes a copy
/// with that one requirement marked weak into `cacheFolder ()` (the NuGet cache is never modified), loads it and points
/// TorchSharp at it. Elsewhere, or when the library loads as it is, it does nothing. Safe to call more than once.
/// Applications that build do not need it: the Imle.FSharp package patches their output folder at build time.
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
