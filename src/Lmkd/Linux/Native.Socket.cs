using System.Runtime.InteropServices;

namespace Lmkd.Linux;

// libc calls for the sd_notify datagram socket.
internal static unsafe partial class Native
{
    public const int AF_UNIX = 1, SOCK_DGRAM = 2, SOCK_NONBLOCK = 0x800, SOCK_CLOEXEC = 0x80000;
    public const int MSG_DONTWAIT = 0x40, MSG_NOSIGNAL = 0x4000;
    public const int EPIPE = 32, ENOBUFS = 105, ENOTCONN = 107, ECONNREFUSED = 111;

    /// <summary>sizeof(struct sockaddr_un): sa_family_t then 108 bytes of sun_path.</summary>
    public const int SockaddrUnSize = 110;
    /// <summary>offsetof(struct sockaddr_un, sun_path).</summary>
    public const int SunPathOffset = 2;

    [LibraryImport(Libc, EntryPoint = "socket", SetLastError = true)]
    public static partial int Socket(int domain, int type, int protocol);

    [LibraryImport(Libc, EntryPoint = "connect", SetLastError = true)]
    public static partial int Connect(int fd, byte* address, uint addressLength);

    [LibraryImport(Libc, EntryPoint = "send", SetLastError = true)]
    public static partial nint Send(int fd, byte* buffer, nuint length, int flags);
}
