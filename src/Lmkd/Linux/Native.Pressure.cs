using System.Runtime.InteropServices;

namespace Lmkd.Linux;

// libc calls used by the pressure monitor only.
internal static unsafe partial class Native
{
    public const int EFD_CLOEXEC = 0x80000, EFD_NONBLOCK = 0x800;

    [LibraryImport(Libc, EntryPoint = "eventfd", SetLastError = true)]
    public static partial int EventFd(uint initval, int flags);
}
