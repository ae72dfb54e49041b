using System.Runtime.InteropServices;

namespace Lmkd.Linux;

/// <summary>
/// Calls used by the /proc and cgroup readers. Paths are NUL-terminated UTF-8 byte pointers so the
/// per-process reads (openat on a pid directory fd) build their paths on the stack, not the heap.
/// </summary>
internal static unsafe partial class Native
{
    public const int ENOTDIR = 20;

    /// <summary>linux_dirent64: d_ino (8), d_off (8), d_reclen (2), d_type (1), d_name. Kernel ABI, same on every arch.</summary>
    public const int DirentRecLenOffset = 16, DirentNameOffset = 19;

    [LibraryImport(Libc, EntryPoint = "open", SetLastError = true)]
    public static partial int Open(byte* path, int flags);

    [LibraryImport(Libc, EntryPoint = "openat", SetLastError = true)]
    public static partial int OpenAt(int dirFd, byte* path, int flags);

    [LibraryImport(Libc, EntryPoint = "readlinkat", SetLastError = true)]
    public static partial nint ReadLinkAt(int dirFd, byte* path, byte* buffer, nuint size);

    // glibc >= 2.30 exports the wrapper; it avoids per-arch syscall numbers.
    [LibraryImport(Libc, EntryPoint = "getdents64", SetLastError = true)]
    public static partial nint GetDents64(int fd, byte* buffer, nuint count);

    [LibraryImport(Libc, EntryPoint = "lseek", SetLastError = true)]
    public static partial long LSeek(int fd, long offset, int whence);
}
