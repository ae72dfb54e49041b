using Lmkd.Linux;

namespace Lmkd.Pressure;

/// <summary>
/// A non-blocking eventfd: another thread calls <see cref="Signal"/> to wake the monitor out of
/// <see cref="PsiMonitor.Wait"/> (shutdown, reload). It stays readable until <see cref="Drain"/>.
/// </summary>
public sealed unsafe class EventFd : IDisposable
{
    private int _fd;

    public EventFd()
    {
        _fd = Native.EventFd(0, Native.EFD_CLOEXEC | Native.EFD_NONBLOCK);
        if (_fd < 0)
            throw new IOException($"eventfd failed: errno {Native.Errno}");
    }

    public int Fd => _fd;

    /// <summary>Adds 1 to the counter; safe from any thread. A full counter (EAGAIN) is already signalled.</summary>
    public void Signal()
    {
        ulong one = 1;
        while (Native.Write(_fd, (byte*)&one, sizeof(ulong)) < 0)
        {
            int errno = Native.Errno;
            if (errno == Native.EINTR)
                continue;
            if (errno == Native.EAGAIN)
                return;
            throw new IOException($"eventfd write failed: errno {errno}");
        }
    }

    /// <summary>Resets the counter; returns whether it had been signalled.</summary>
    public bool Drain()
    {
        ulong value;
        while (Native.Read(_fd, (byte*)&value, sizeof(ulong)) < 0)
        {
            int errno = Native.Errno;
            if (errno == Native.EINTR)
                continue;
            if (errno == Native.EAGAIN)
                return false;
            throw new IOException($"eventfd read failed: errno {errno}");
        }
        return true;
    }

    public void Dispose()
    {
        int fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0)
            Native.Close(fd);
    }
}
