namespace Imle.Torch

open TorchSharp

/// libtorch's intra-op (OpenMP) threads around Imle's own sequences of many small CPU operations.
///
/// Each libtorch operation above its grain size (32,768 elements) runs as an OpenMP parallel region that ends in a
/// barrier. On a machine whose cores are also busy with other work, one of the region's threads is often descheduled,
/// and every region then waits for it: a sampler that issues hundreds of regions (Sum-of-Gamma noise: about 20 per
/// block of 2^18 Gamma draws) slowed 10–30× that way, while the same work on one intra-op thread slowed as the machine
/// did. Where the parallel part is small anyway (the Gamma sampler's time is mostly libtorch's serial generator), Imle
/// runs such sequences on one intra-op thread and restores the caller's setting afterwards.
[<RequireQualifiedAccess>]
module internal IntraOp =

    /// Runs `f` with libtorch's intra-op threads set to 1 when `device` is the CPU (restoring the previous count after
    /// it, also on an exception); on other devices runs `f` as it is.
    let serialOnCpu (device: torch.Device) (f: unit -> 'T) : 'T =
        if device.``type`` <> DeviceType.CPU then
            f ()
        else
            let before = torch.get_num_threads ()

            if before <= 1 then
                f ()
            else
                torch.set_num_threads 1

                try
                    f ()
                finally
                    torch.set_num_threads before
