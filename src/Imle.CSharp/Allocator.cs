namespace Imle.CSharp;

/// <summary>The C library's allocator under libtorch's CPU tensors. On glibc (most Linux distributions) a block larger
/// than malloc's mmap threshold is mapped fresh on every allocation and unmapped when freed, so each training step pays
/// a page fault for every 4 KiB page of its large activations; <see cref="KeepFreedMemory"/> makes glibc keep freed
/// memory for reuse instead. It changes no result; the process's resident memory stays at its peak. It works fully for
/// allocations on the program's first thread (run the training loop in <c>Main</c>); other threads' arenas are still
/// shrunk by whole sub-heaps.</summary>
public static class Allocator
{
    /// <summary>The same setting for a process started from outside: the value of the environment variable
    /// <c>GLIBC_TUNABLES</c>.</summary>
    public const string GlibcTunables = Imle.Torch.Allocator.glibcTunables;

    /// <summary>Makes glibc serve every block from its heap and keep freed memory for reuse. Call it once at the start
    /// of a program, before the first training step; calling it again does nothing more.</summary>
    /// <returns>True when glibc accepted the settings (now or earlier); false, changing nothing, where the C library is
    /// not glibc (macOS, Windows, musl-based Linux).</returns>
    public static bool KeepFreedMemory() => Imle.Torch.Allocator.keepFreedMemory();

    /// <summary>Whether <see cref="KeepFreedMemory"/> has taken effect in this process.</summary>
    public static bool IsKeepingFreedMemory => Imle.Torch.Allocator.isKeepingFreedMemory();
}
