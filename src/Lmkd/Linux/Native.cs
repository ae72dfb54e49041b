using System.Runtime.InteropServices;

namespace Lmkd.Linux;

/// <summary>
/// The libc calls whose errno decides what Lmkd does (EINTR, EINVAL, ESRCH, EBADF, ENOSYS).
/// Tmds.LibC declares these without SetLastError, so errno read after them can be stale; these
/// declarations capture it. Each returns -1 on failure with the errno in
/// <see cref="Marshal.GetLastPInvokeError"/>; <see cref="Errno"/> reads it.
/// Other partial files add calls for their own area.
/// </summary>
internal static unsafe partial class Native
{
    private const string Libc = "libc";

    // x86_64 and the asm-generic table share these numbers (pidfd and mrelease came after the unification).
    public const long SYS_pidfd_send_signal = 424;
    public const long SYS_pidfd_open = 434;
    public const long SYS_process_mrelease = 448;

    public const int EPERM = 1, ENOENT = 2, ESRCH = 3, EINTR = 4, EBADF = 9, EAGAIN = 11, ENOMEM = 12,
        EACCES = 13, EFAULT = 14, EBUSY = 16, ENODEV = 19, EINVAL = 22, ENFILE = 23, EMFILE = 24, ENOSYS = 38, EOPNOTSUPP = 95;

    /// <summary>process_mrelease flag (not yet upstream): send SIGKILL to every sharer of the mm, then reap it.</summary>
    public const uint PROCESS_MRELEASE_REAP_KILL = 1u << 0;

    public const int O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_NONBLOCK = 0x800, O_CLOEXEC = 0x80000;

    public const short POLLIN = 0x1, POLLPRI = 0x2, POLLERR = 0x8, POLLHUP = 0x10, POLLNVAL = 0x20;

    public const int SIGKILL = 9, SIGTERM = 15;

    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short REvents;
    }

    public static int Errno => Marshal.GetLastPInvokeError();

    [LibraryImport(Libc, EntryPoint = "syscall", SetLastError = true)]
    public static partial long Syscall2(long number, long arg0, long arg1);

    [LibraryImport(Libc, EntryPoint = "syscall", SetLastError = true)]
    public static partial long Syscall4(long number, long arg0, long arg1, long arg2, long arg3);

    [LibraryImport(Libc, EntryPoint = "poll", SetLastError = true)]
    public static partial int Poll(PollFd* fds, nuint count, int timeoutMs);

    [LibraryImport(Libc, EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags);

    [LibraryImport(Libc, EntryPoint = "read", SetLastError = true)]
    public static partial nint Read(int fd, byte* buffer, nuint count);

    [LibraryImport(Libc, EntryPoint = "pread", SetLastError = true)]
    public static partial nint PRead(int fd, byte* buffer, nuint count, long offset);

    [LibraryImport(Libc, EntryPoint = "write", SetLastError = true)]
    public static partial nint Write(int fd, byte* buffer, nuint count);

    [LibraryImport(Libc, EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);
}
