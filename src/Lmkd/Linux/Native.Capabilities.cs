using System.Runtime.InteropServices;

namespace Lmkd.Linux;

/// <summary>
/// prctl and capget/capset for <see cref="ThreadCapabilities"/>. Both act on the calling thread only
/// (Linux keeps credentials per thread), which is what lets one thread start programs without
/// Lmkd's capabilities while the others keep them.
/// </summary>
internal static unsafe partial class Native
{
    public const int PR_CAP_AMBIENT = 47;
    public const nuint PR_CAP_AMBIENT_RAISE = 2, PR_CAP_AMBIENT_CLEAR_ALL = 4;
    /// <summary>_LINUX_CAPABILITY_VERSION_3: two 32-bit words per set.</summary>
    public const uint LINUX_CAPABILITY_VERSION_3 = 0x20080522;

    [StructLayout(LayoutKind.Sequential)]
    public struct CapHeader
    {
        public uint Version;
        /// <summary>0: the calling thread.</summary>
        public int Pid;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct CapData
    {
        public uint Effective;
        public uint Permitted;
        public uint Inheritable;
    }

    // glibc's prctl is variadic; these arguments are all integers in registers, which is what it reads.
    [LibraryImport(Libc, EntryPoint = "prctl", SetLastError = true)]
    public static partial int Prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);

    /// <summary><paramref name="data"/> points to two <see cref="CapData"/> (capabilities 0-31 and 32-63).</summary>
    [LibraryImport(Libc, EntryPoint = "capget", SetLastError = true)]
    public static partial int CapGet(CapHeader* header, CapData* data);

    [LibraryImport(Libc, EntryPoint = "capset", SetLastError = true)]
    public static partial int CapSet(CapHeader* header, CapData* data);
}
