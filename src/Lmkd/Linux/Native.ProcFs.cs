using System.Runtime.InteropServices;

namespace Lmkd.Linux;

/// <summary>
/// Calls used by the /proc and cgroup readers. Paths are NUL-terminated UTF-8 byte pointers so the
/// per-process reads (openat on a pid directory fd) build their paths on the stack, not the heap.
/// </summary>
internal static unsafe partial class Native
{
    public const int ENOTDIR = 20;

    public const int AT_FDCWD = -100;

    /// <summary>linux_dirent64: d_ino (8), d_off (8), d_reclen (2), d_type (1), d_name. Kernel ABI, same on every arch.</summary>
    public const int DirentRecLenOffset = 16, DirentTypeOffset = 18, DirentNameOffset = 19;

    public const byte DT_DIR = 4;

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

internal static unsafe partial class Native
{
    /// <summary>statx flags: sync nothing with a remote or FUSE server (inode numbers and birth times do not change); follow symlinks.</summary>
    public const int AT_STATX_DONT_SYNC = 0x4000, AT_SYMLINK_NOFOLLOW = 0x100;
    public const uint STATX_TYPE = 0x1, STATX_NLINK = 0x4, STATX_INO = 0x100, STATX_BTIME = 0x800;
    public const ushort S_IFMT = 0xF000, S_IFSOCK = 0xC000;

    /// <summary>struct statx, the fields Lmkd reads (kernel ABI, the same on every architecture; 256 bytes).</summary>
    [StructLayout(LayoutKind.Explicit, Size = 256)]
    public struct Statx
    {
        [FieldOffset(0)] public uint Mask;
        [FieldOffset(16)] public uint NLink;
        [FieldOffset(28)] public ushort Mode;
        [FieldOffset(32)] public ulong Ino;
        [FieldOffset(80)] public long BirthTimeSec;
        [FieldOffset(88)] public uint BirthTimeNsec;
        [FieldOffset(136)] public uint DevMajor;
        [FieldOffset(140)] public uint DevMinor;
    }

    // glibc >= 2.28 exports the wrapper.
    [LibraryImport(Libc, EntryPoint = "statx", SetLastError = true)]
    public static partial int StatX(int dirFd, byte* path, int flags, uint mask, Statx* buffer);
}

internal static unsafe partial class Native
{
    public const int CLOCK_BOOTTIME = 7;

    /// <summary>USER_HZ: the unit of /proc/&lt;pid&gt;/stat's start time. 100 on every architecture Linux has (the ABI fixes it).</summary>
    public const long ClockTicksPerSecond = 100;

    [LibraryImport(Libc, EntryPoint = "clock_gettime", SetLastError = true)]
    public static partial int ClockGetTime(int clock, long* timespec);

    /// <summary>Time since boot, suspend included, in the clock ticks of /proc/&lt;pid&gt;/stat's start time (truncated as the kernel truncates it).</summary>
    public static ulong BootTimeTicks()
    {
        long* ts = stackalloc long[2];
        if (ClockGetTime(CLOCK_BOOTTIME, ts) != 0)
            return 0;
        return (ulong)(ts[0] * ClockTicksPerSecond + ts[1] / (1_000_000_000 / ClockTicksPerSecond));
    }
}
