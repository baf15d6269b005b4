using System;
using System.IO;
using System.Runtime.InteropServices;
using Imle.CSharp;
using Xunit;

namespace Imle.CSharp.Tests;

public class AllocatorTests
{
    /// <summary>On glibc the setting is accepted and reported; elsewhere it is refused without changing anything.</summary>
    [Fact]
    public void KeepFreedMemoryIsAcceptedOnGlibc()
    {
        bool glibc = RuntimeInformation.IsOSPlatform(OSPlatform.Linux)
            && NativeLibrary.TryLoad("libc.so.6", out var libc)
            && NativeLibrary.TryGetExport(libc, "gnu_get_libc_version", out _);
        Assert.Equal(glibc, Allocator.KeepFreedMemory());
        Assert.Equal(glibc, Allocator.IsKeepingFreedMemory);
        Assert.Equal(glibc, Allocator.KeepFreedMemory());
        Assert.StartsWith("glibc.malloc.mmap_max=0", Allocator.GlibcTunables);
    }
}
