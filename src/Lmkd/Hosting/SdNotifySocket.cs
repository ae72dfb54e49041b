using System.Text;
using Lmkd.Linux;

namespace Lmkd.Hosting;

/// <summary>What became of one datagram.</summary>
public enum NotifySendResult
{
    Sent,
    /// <summary>The receiver's queue is full (systemd is not reading): this datagram is dropped, the next one goes.</summary>
    WouldBlock,
    /// <summary>No socket to send to (refused, or gone): dropped; the next send reconnects by address.</summary>
    Unreachable,
    /// <summary>Another thread is sending or reconnecting and the caller may not wait (the monitor thread's ping).</summary>
    Busy,
}

/// <summary>
/// The AF_UNIX datagram socket to $NOTIFY_SOCKET, created and connected once and kept: a ping is one
/// non-blocking send of a constant, with no allocation and no socket or connect of its own
/// (Microsoft.Extensions.Hosting.Systemd's SystemdNotifier creates and connects a socket per message).
/// A peer that went away (systemd re-executed: ECONNREFUSED; its socket file gone: ENOENT) is
/// reconnected by address at the next send. Addresses are paths, or '@' for the abstract namespace.
/// </summary>
public sealed unsafe class SdNotifySocket : IDisposable
{
    private readonly byte[] _address = new byte[Native.SockaddrUnSize];
    private readonly uint _addressLength;
    // Guards _fd: a reconnect closes it, and a send on a closed number could reach whatever reused it.
    private readonly object _gate = new();
    private int _fd = -1;
    private bool _disposed;
    private long _sent, _wouldBlock, _unreachable, _connects;

    private SdNotifySocket(string address, ReadOnlySpan<byte> sunPath, bool isAbstract)
    {
        Address = address;
        _address[0] = Native.AF_UNIX; // sa_family_t, little-endian
        sunPath.CopyTo(_address.AsSpan(Native.SunPathOffset + (isAbstract ? 1 : 0)));
        // A path is NUL-terminated (the array is zeroed); an abstract name is exactly its bytes after the leading NUL.
        _addressLength = (uint)(Native.SunPathOffset + 1 + sunPath.Length);
    }

    /// <summary>The socket named by $NOTIFY_SOCKET, or null when it is unset or not an AF_UNIX address.</summary>
    public static SdNotifySocket? FromEnvironment() => Create(Environment.GetEnvironmentVariable("NOTIFY_SOCKET"));

    /// <summary>
    /// A socket for <paramref name="address"/> ("/run/systemd/notify", or "@name" in the abstract
    /// namespace), not yet connected; null for anything else (e.g. systemd's "vsock:" addresses) or a
    /// name longer than sun_path holds.
    /// </summary>
    public static SdNotifySocket? Create(string? address)
    {
        if (string.IsNullOrEmpty(address) || address[0] is not ('/' or '@'))
            return null;
        bool isAbstract = address[0] == '@';
        byte[] name = Encoding.UTF8.GetBytes(isAbstract ? address[1..] : address);
        // sun_path is 108 bytes: a path needs its NUL, an abstract name its leading NUL.
        if (name.Length + 1 > Native.SockaddrUnSize - Native.SunPathOffset || name.Length == 0)
            return null;
        return new SdNotifySocket(address, name, isAbstract);
    }

    public string Address { get; }
    public long Sent => Interlocked.Read(ref _sent);
    /// <summary>Datagrams dropped because the receiver's queue was full.</summary>
    public long WouldBlock => Interlocked.Read(ref _wouldBlock);
    /// <summary>Datagrams dropped because no receiver could be reached.</summary>
    public long Unreachable => Interlocked.Read(ref _unreachable);
    /// <summary>Successful connects: 1 in steady state, one more after each reconnect.</summary>
    public long Connects => Interlocked.Read(ref _connects);

    /// <summary>
    /// Sends one datagram without blocking in the kernel. <paramref name="mayWait"/> false (the
    /// monitor thread) also never waits for another thread's send: the answer is then Busy.
    /// </summary>
    public NotifySendResult Send(ReadOnlySpan<byte> datagram, bool mayWait)
    {
        bool taken = false;
        try
        {
            if (mayWait)
                Monitor.Enter(_gate, ref taken);
            else
                Monitor.TryEnter(_gate, ref taken);
            return taken ? SendLocked(datagram) : NotifySendResult.Busy;
        }
        finally
        {
            if (taken)
                Monitor.Exit(_gate);
        }
    }

    private NotifySendResult SendLocked(ReadOnlySpan<byte> datagram)
    {
        // Two rounds: the kept connection, then one reconnect if the peer was gone.
        for (int round = 0; round < 2; round++)
        {
            if (_fd < 0 && (_disposed || !Connect()))
                break;
            int errno = SendOnce(datagram);
            if (errno == 0)
            {
                Interlocked.Increment(ref _sent);
                return NotifySendResult.Sent;
            }
            if (errno is Native.EAGAIN or Native.ENOBUFS)
            {
                Interlocked.Increment(ref _wouldBlock);
                return NotifySendResult.WouldBlock;
            }
            // ECONNREFUSED (the receiving socket was closed), ENOTCONN, EPIPE, ...: connect afresh by address.
            CloseFd();
        }
        Interlocked.Increment(ref _unreachable);
        return NotifySendResult.Unreachable;
    }

    private int SendOnce(ReadOnlySpan<byte> datagram)
    {
        fixed (byte* p = datagram)
        {
            while (true)
            {
                if (Native.Send(_fd, p, (nuint)datagram.Length, Native.MSG_DONTWAIT | Native.MSG_NOSIGNAL) >= 0)
                    return 0;
                int errno = Native.Errno;
                if (errno != Native.EINTR)
                    return errno;
            }
        }
    }

    private bool Connect()
    {
        int fd = Native.Socket(Native.AF_UNIX, Native.SOCK_DGRAM | Native.SOCK_NONBLOCK | Native.SOCK_CLOEXEC, 0);
        if (fd < 0)
            return false;
        int rc;
        fixed (byte* a = _address)
            rc = Native.Connect(fd, a, _addressLength);
        if (rc != 0)
        {
            Native.Close(fd);
            return false;
        }
        _fd = fd;
        Interlocked.Increment(ref _connects);
        return true;
    }

    private void CloseFd()
    {
        if (_fd >= 0)
            Native.Close(_fd);
        _fd = -1;
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            CloseFd();
        }
    }
}
