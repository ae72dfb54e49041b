using System.Runtime.InteropServices;
using System.Text;

namespace Lmkd.Tests.Hosting;

/// <summary>
/// A socket file as a daemon killed by SIGKILL leaves it: bound, then closed, the file still there.
/// Not made with System.Net.Sockets, whose Dispose deletes the file it bound.
/// </summary>
internal static unsafe partial class StaleSocket
{
    private const int AfUnix = 1, SockStream = 1;

    [LibraryImport("libc", EntryPoint = "socket", SetLastError = true)]
    private static partial int Socket(int domain, int type, int protocol);

    [LibraryImport("libc", EntryPoint = "bind", SetLastError = true)]
    private static partial int Bind(int fd, byte* address, int length);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);

    public static void Create(string path)
    {
        var name = Encoding.UTF8.GetBytes(path);
        var address = new byte[2 + 108]; // struct sockaddr_un: sa_family_t, then sun_path[108]
        address[0] = AfUnix;
        name.CopyTo(address, 2);
        int fd = Socket(AfUnix, SockStream, 0);
        Assert.True(fd >= 0, $"socket: errno {Marshal.GetLastPInvokeError()}");
        try
        {
            fixed (byte* a = address)
                Assert.True(Bind(fd, a, 2 + name.Length + 1) == 0, $"bind {path}: errno {Marshal.GetLastPInvokeError()}");
        }
        finally
        {
            Close(fd);
        }
    }
}
