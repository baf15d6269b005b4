namespace Imle.Distributed

#nowarn "9" // MPI reads and writes tensor memory through native pointers.

open System
open System.Runtime.CompilerServices
open System.Runtime.InteropServices
open Microsoft.FSharp.NativeInterop
open TorchSharp

/// Which MPI implementation a process talks to; chosen from the launcher's environment (see `Mpi.detectBackend`).
type MpiBackend =
    /// Open MPI (launched by its `mpirun`/`mpiexec`: OMPI_COMM_WORLD_SIZE is set). Handles are the addresses of the
    /// library's global objects (`ompi_mpi_comm_world`, …), read at run time.
    | OpenMpi
    /// MPICH or a derivative (launched by Hydra's `mpiexec`: PMI_SIZE is set). Handles are MPICH's integer constants.
    | Mpich
    /// No launcher: this process is rank 0 of 1 and every collective is the identity.
    | SingleProcess

/// P/Invoke entry points of libmpi. Both implementations export the same names; only the handle types differ
/// (pointers for Open MPI, 32-bit integers for MPICH), hence two sets. "imle-mpi" is mapped to the library that
/// `Mpi.init` loaded by a DllImport resolver.
module internal MpiNative =
    [<Literal>]
    let Lib = "imle-mpi"

    [<DllImport(Lib)>]
    extern int MPI_Init(nativeint argc, nativeint argv)

    [<DllImport(Lib)>]
    extern int MPI_Initialized(int& flag)

    [<DllImport(Lib)>]
    extern int MPI_Finalized(int& flag)

    [<DllImport(Lib)>]
    extern int MPI_Finalize()

    module Ompi =
        [<DllImport(Lib)>]
        extern int MPI_Comm_rank(nativeint comm, int& rank)

        [<DllImport(Lib)>]
        extern int MPI_Comm_size(nativeint comm, int& size)

        [<DllImport(Lib)>]
        extern int MPI_Allreduce(
            nativeint send,
            nativeint recv,
            int count,
            nativeint dtype,
            nativeint op,
            nativeint comm
        )

        [<DllImport(Lib)>]
        extern int MPI_Bcast(nativeint buffer, int count, nativeint dtype, int root, nativeint comm)

        [<DllImport(Lib)>]
        extern int MPI_Barrier(nativeint comm)

        [<DllImport(Lib)>]
        extern int MPI_Abort(nativeint comm, int code)

    module Mpich =
        [<DllImport(Lib)>]
        extern int MPI_Comm_rank(int comm, int& rank)

        [<DllImport(Lib)>]
        extern int MPI_Comm_size(int comm, int& size)

        [<DllImport(Lib)>]
        extern int MPI_Allreduce(nativeint send, nativeint recv, int count, int dtype, int op, int comm)

        [<DllImport(Lib)>]
        extern int MPI_Bcast(nativeint buffer, int count, int dtype, int root, int comm)

        [<DllImport(Lib)>]
        extern int MPI_Barrier(int comm)

        [<DllImport(Lib)>]
        extern int MPI_Abort(int comm, int code)

    [<DllImport("libc", EntryPoint = "dlopen")>]
    extern nativeint dlopen(string file, int mode)

/// The element types MPI moves here.
type internal MpiType =
    | Float32
    | Float64

/// The reduction operations used here.
type internal MpiOp =
    | Sum
    | Max

/// The world communicator of this process: its rank and size and the collectives data-parallel training needs, on
/// tensor memory in place (no managed copies). Obtain it with `Mpi.init`; disposing it finalizes MPI (once per process;
/// it is also finalized at process exit). Every rank must call the same collectives in the same order.
[<AllowNullLiteral>]
type Communicator internal (backend: MpiBackend, rank: int, size: int, library: string, handles: Map<string, nativeint>)
    =
    let mutable finalized = false

    let check (what: string) (code: int) =
        if code <> 0 then
            raise (
                InvalidOperationException(
                    sprintf "%s failed with MPI error code %d (rank %d of %d)." what code rank size
                )
            )

    let live () =
        if finalized then
            raise (
                ObjectDisposedException(
                    "Communicator",
                    "MPI has been finalized in this process; it cannot be used again."
                )
            )

    let dtypeOf (t: MpiType) =
        match t with
        | Float32 -> "ompi_mpi_float", 0x4c00040a
        | Float64 -> "ompi_mpi_double", 0x4c00080b

    let opOf (op: MpiOp) =
        match op with
        | Sum -> "ompi_mpi_op_sum", 0x58000003
        | Max -> "ompi_mpi_op_max", 0x58000001

    let inPlace =
        match backend with
        | OpenMpi -> 1n
        | _ -> -1n

    /// The largest element count one MPI call takes (its count is a C int).
    let chunk = int64 Int32.MaxValue

    /// Runs `call at n` over `count` elements at `address` in pieces of at most `chunk` elements (MPI counts are C
    /// ints); nothing in a single process.
    member private _.Chunked (address: nativeint, count: int64, dtype: MpiType) (call: nativeint -> int -> unit) =
        live ()

        if backend <> SingleProcess then
            let width = if dtype = Float32 then 4L else 8L
            let mutable offset = 0L

            while offset < count do
                let n = int (min chunk (count - offset))
                call (address + nativeint (offset * width)) n
                offset <- offset + int64 n

    /// Sum (or max) over all ranks of `count` elements at `address`, in place.
    member internal this.Reduce(address: nativeint, count: int64, dtype: MpiType, op: MpiOp) =
        this.Chunked (address, count, dtype) (fun at n ->
            match backend with
            | OpenMpi ->
                MpiNative.Ompi.MPI_Allreduce(
                    inPlace,
                    at,
                    n,
                    handles.[fst (dtypeOf dtype)],
                    handles.[fst (opOf op)],
                    handles.["ompi_mpi_comm_world"]
                )
                |> check "MPI_Allreduce"
            | _ ->
                MpiNative.Mpich.MPI_Allreduce(inPlace, at, n, snd (dtypeOf dtype), snd (opOf op), 0x44000000)
                |> check "MPI_Allreduce")

    /// Broadcast of `count` elements at `address` from `root` to all ranks, in place.
    member internal this.Bcast(address: nativeint, count: int64, dtype: MpiType, root: int) =
        this.Chunked (address, count, dtype) (fun at n ->
            match backend with
            | OpenMpi ->
                MpiNative.Ompi.MPI_Bcast(at, n, handles.[fst (dtypeOf dtype)], root, handles.["ompi_mpi_comm_world"])
                |> check "MPI_Bcast"
            | _ ->
                MpiNative.Mpich.MPI_Bcast(at, n, snd (dtypeOf dtype), root, 0x44000000)
                |> check "MPI_Bcast")

    /// The address of the first element of a contiguous CPU tensor (its memory is native and does not move).
    static member internal AddressOf(t: torch.Tensor) : nativeint =
        let bytes = t.bytes
        let first = &MemoryMarshal.GetReference(bytes)
        NativePtr.toNativeInt (NativePtr.ofVoidPtr<byte>(Unsafe.AsPointer(&first)))

    static member internal CheckTensor (name: string) (t: torch.Tensor) : MpiType =
        if isNull t then
            nullArg name

        if t.device_type <> DeviceType.CPU then
            invalidArg name (sprintf "%s must be a CPU tensor; got one on %O." name t.device)

        if not (t.is_contiguous ()) then
            invalidArg name (sprintf "%s must be contiguous (call .contiguous() first)." name)

        match t.dtype with
        | torch.ScalarType.Float32 -> Float32
        | torch.ScalarType.Float64 -> Float64
        | other -> invalidArg name (sprintf "%s must be float32 or float64; got %O." name other)

    /// The MPI implementation in use (SingleProcess without a launcher).
    member _.Backend = backend
    /// This process's rank, 0 .. Size − 1.
    member _.Rank = rank
    /// The number of processes.
    member _.Size = size
    /// Whether this is rank 0 (the one that logs and writes checkpoints).
    member _.IsRoot = (rank = 0)
    /// The MPI library loaded (empty for SingleProcess).
    member _.Library = library

    /// Waits until every rank has reached this call.
    member _.Barrier() =
        live ()

        match backend with
        | SingleProcess -> ()
        | OpenMpi ->
            MpiNative.Ompi.MPI_Barrier(handles.["ompi_mpi_comm_world"])
            |> check "MPI_Barrier"
        | Mpich -> MpiNative.Mpich.MPI_Barrier(0x44000000) |> check "MPI_Barrier"

    /// `op` over all ranks of every entry of `values`, in place (pinned while MPI reads and writes it).
    member private this.ReduceArray(values: float[], op: MpiOp) : unit =
        if isNull values then
            nullArg "values"

        let pin = GCHandle.Alloc(values, GCHandleType.Pinned)

        try
            this.Reduce(pin.AddrOfPinnedObject(), int64 values.Length, Float64, op)
        finally
            pin.Free()

    /// Replaces every entry of `tensor` by its sum over all ranks, in place on the tensor's own memory (no copy).
    /// The tensor must be a contiguous CPU tensor of dtype float32 or float64 with the same number of entries on every
    /// rank; ArgumentException otherwise (a count mismatch between ranks cannot be detected and is undefined in MPI).
    member this.AllreduceSum(tensor: torch.Tensor) : unit =
        let dtype = Communicator.CheckTensor "tensor" tensor
        this.Reduce(Communicator.AddressOf tensor, tensor.numel (), dtype, Sum)

    /// Replaces every entry of `values` by its sum over all ranks, in place (a pinned managed array; for small vectors
    /// such as counters or checksums).
    member this.AllreduceSum(values: float[]) : unit = this.ReduceArray(values, Sum)

    /// Replaces every entry of `values` by its maximum over all ranks, in place.
    member this.AllreduceMax(values: float[]) : unit = this.ReduceArray(values, Max)

    /// Copies `tensor` of rank `root` into `tensor` of every other rank, in place. The tensor must be a contiguous
    /// CPU float32/float64 tensor with the same number of entries on every rank; `root` in [0, Size).
    member this.Broadcast(tensor: torch.Tensor, root: int) : unit =
        let dtype = Communicator.CheckTensor "tensor" tensor

        if root < 0 || root >= size then
            invalidArg "root" (sprintf "root must be a rank in [0, %d); got %d." size root)

        this.Bcast(Communicator.AddressOf tensor, tensor.numel (), dtype, root)

    /// Ends the whole MPI job at once with `code` (MPI_Abort): for a rank that fails, so that the other ranks do not wait
    /// for it forever in a collective. Without a launcher, exits this process with `code`.
    member _.Abort(code: int) : unit =
        finalized <- true

        match backend with
        | SingleProcess -> exit code
        | OpenMpi -> MpiNative.Ompi.MPI_Abort(handles.["ompi_mpi_comm_world"], code) |> ignore
        | Mpich -> MpiNative.Mpich.MPI_Abort(0x44000000, code) |> ignore

    /// Finalizes MPI (collective: every rank must call it). Idempotent.
    member _.Shutdown() =
        if not finalized then
            finalized <- true

            if backend <> SingleProcess then
                let mutable done' = 0
                MpiNative.MPI_Finalized(&done') |> ignore

                if done' = 0 then
                    MpiNative.MPI_Finalize() |> ignore

    interface IDisposable with
        member this.Dispose() = this.Shutdown()

/// Starting MPI: backend detection, library loading, the world communicator.
[<RequireQualifiedAccess>]
module Mpi =

    let private has (name: string) =
        not (String.IsNullOrEmpty(Environment.GetEnvironmentVariable name))

    /// The backend for this process: IMLE_MPI=openmpi|mpich|none if set; otherwise Open MPI when its launcher set
    /// OMPI_COMM_WORLD_SIZE, MPICH when Hydra set PMI_SIZE (or PMI_RANK), and SingleProcess when no launcher started
    /// this process.
    let detectBackend () : MpiBackend =
        match Environment.GetEnvironmentVariable "IMLE_MPI" with
        | null
        | "" ->
            if has "OMPI_COMM_WORLD_SIZE" then OpenMpi
            elif has "PMI_SIZE" || has "PMI_RANK" then Mpich
            else SingleProcess
        | v ->
            match v.Trim().ToLowerInvariant() with
            | "openmpi" -> OpenMpi
            | "mpich" -> Mpich
            | "none" -> SingleProcess
            | _ -> invalidArg "IMLE_MPI" (sprintf "IMLE_MPI must be openmpi, mpich or none; got '%s'." v)

    let private candidates (backend: MpiBackend) =
        match Environment.GetEnvironmentVariable "IMLE_MPI_LIBRARY" with
        | null
        | "" ->
            match backend with
            | OpenMpi -> [ "libmpi.so.40"; "libmpi.so" ]
            | _ -> [ "libmpich.so.12"; "libmpi.so.12"; "libmpich.so"; "libmpi.so" ]
        | path -> [ path ]

    let private sync = obj ()
    let mutable private world: Communicator = null

    let private load (backend: MpiBackend) =
        let tried = candidates backend

        let found =
            tried
            |> List.tryPick (fun name ->
                // RTLD_NOW | RTLD_GLOBAL: Open MPI's plug-ins resolve symbols of libmpi, which must then be global.
                let h =
                    try
                        MpiNative.dlopen (name, 0x102)
                    with _ ->
                        0n

                match NativeLibrary.TryLoad name with
                | true, handle when h <> 0n || handle <> 0n -> Some(name, handle)
                | _ -> None)

        match found with
        | Some found -> found
        | None ->
            raise (
                DllNotFoundException(
                    sprintf
                        "The %A launcher started this process, but no MPI library could be loaded (tried %s). Install the MPI runtime (Debian/Ubuntu: apt-get install openmpi-bin, or mpich) or set IMLE_MPI_LIBRARY to the path of libmpi."
                        backend
                        (String.Join(", ", tried))
                )
            )

    let private start () =
        let backend = detectBackend ()

        match backend with
        | SingleProcess -> new Communicator(SingleProcess, 0, 1, "", Map.empty)
        | OpenMpi
        | Mpich ->
            let name, handle = load backend

            NativeLibrary.SetDllImportResolver(
                typeof<Communicator>.Assembly,
                DllImportResolver(fun lib _ _ -> if lib = MpiNative.Lib then handle else 0n)
            )

            let handles =
                match backend with
                | OpenMpi ->
                    [ "ompi_mpi_comm_world"
                      "ompi_mpi_float"
                      "ompi_mpi_double"
                      "ompi_mpi_op_sum"
                      "ompi_mpi_op_max" ]
                    |> List.map (fun s ->
                        match NativeLibrary.TryGetExport(handle, s) with
                        | true, a -> s, a
                        | _ ->
                            raise (
                                EntryPointNotFoundException(
                                    sprintf
                                        "%s does not export %s: it is not Open MPI (set IMLE_MPI=mpich for MPICH)."
                                        name
                                        s
                                )
                            ))
                    |> Map.ofList
                | _ -> Map.empty

            let mutable initialized = 0
            MpiNative.MPI_Initialized(&initialized) |> ignore

            if initialized = 0 then
                let code = MpiNative.MPI_Init(0n, 0n)

                if code <> 0 then
                    raise (InvalidOperationException(sprintf "MPI_Init failed with MPI error code %d." code))

            let mutable rank = 0
            let mutable size = 0

            match backend with
            | OpenMpi ->
                MpiNative.Ompi.MPI_Comm_rank(handles.["ompi_mpi_comm_world"], &rank) |> ignore
                MpiNative.Ompi.MPI_Comm_size(handles.["ompi_mpi_comm_world"], &size) |> ignore
            | _ ->
                MpiNative.Mpich.MPI_Comm_rank(0x44000000, &rank) |> ignore
                MpiNative.Mpich.MPI_Comm_size(0x44000000, &size) |> ignore

            let comm = new Communicator(backend, rank, size, name, handles)
            // A rank that exits without MPI_Finalize makes the launcher report an error: finalize at exit too. A rank
            // that exits with an error code aborts the job instead: MPI_Finalize would wait for ranks that wait for it.
            AppDomain.CurrentDomain.ProcessExit.Add(fun _ ->
                if Environment.ExitCode <> 0 then
                    comm.Abort Environment.ExitCode
                else
                    comm.Shutdown())

            comm

    /// The world communicator: initialises MPI on the first call (from the launcher's environment, see
    /// `detectBackend`; rank 0 of 1 without a launcher) and returns the same communicator afterwards. Raises
    /// DllNotFoundException naming the libraries tried when a launcher started the process but libmpi cannot be
    /// loaded, ObjectDisposedException if MPI was already finalized in this process.
    let init () : Communicator =
        lock sync (fun () ->
            if isNull world then
                world <- start ()

            world)

    /// Whether an MPI launcher (mpirun/mpiexec) started this process.
    let launched () : bool = detectBackend () <> SingleProcess
