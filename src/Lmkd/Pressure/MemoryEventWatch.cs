using System.Globalization;
using System.Text;
using Lmkd.Linux;

namespace Lmkd.Pressure;

/// <summary>
/// A wake-up from the kernel when a cgroup's memory moves, beside the PSI triggers and the headroom
/// samples; never a verdict of its own (a wake-up only samples headroom at once).
/// <list type="bullet">
/// <item>cgroup v2: <c>memory.events</c>, pollable (POLLPRI when a counter changes). Its <c>max</c>
/// counts the moments the cgroup already hit its limit: milliseconds before a swapless OOM, so it
/// only ever adds a wake-up to the adaptive reads.</item>
/// <item>cgroup v1: a <c>memory.usage_in_bytes</c> threshold registered through
/// <c>cgroup.event_control</c> with an eventfd: the kernel signals it when usage crosses the
/// threshold. While usage is below it, headroom is at least limit - threshold, so the headroom watch
/// may sleep its longest interval (<see cref="AllowsSlowSampling"/>).
/// The kernel refuses thresholds on PREEMPT_RT (EOPNOTSUPP): then the adaptive reads alone watch.</item>
/// </list>
/// </summary>
public sealed unsafe class MemoryEventWatch : IDisposable
{
    private int _fd;
    private readonly bool _eventFd;
    private readonly string? _usagePath;
    private readonly string? _controlPath;
    private readonly byte[] _drain = new byte[256];

    private MemoryEventWatch(int fd, bool eventFd, string description, long thresholdBytes, long limitBytes, string? usagePath, string? controlPath)
    {
        _fd = fd;
        _eventFd = eventFd;
        Description = description;
        ThresholdBytes = thresholdBytes;
        LimitBytes = limitBytes;
        _usagePath = usagePath;
        _controlPath = controlPath;
    }

    /// <summary>The fd to poll, and the events that mean "memory moved".</summary>
    public int Fd => _fd;
    public short Events => _eventFd ? Native.POLLIN : Native.POLLPRI;

    /// <summary>One line for the startup log.</summary>
    public string Description { get; }

    /// <summary>v1: the usage threshold registered (bytes); 0 for v2's memory.events.</summary>
    public long ThresholdBytes { get; private set; }
    /// <summary>v1: the limit the threshold was computed for.</summary>
    public long LimitBytes { get; private set; }

    /// <summary>
    /// v2 memory.events of <paramref name="v2Directory"/>, or, on v1, a usage threshold at
    /// <paramref name="headroomPct"/> percent of <paramref name="limitBytes"/> below the limit.
    /// Null (with <paramref name="why"/>) when neither can be had: the adaptive reads alone watch.
    /// </summary>
    public static MemoryEventWatch? Open(string? v2Directory, string? v1MemoryDirectory, long limitBytes, double headroomPct, out string why)
    {
        if (v1MemoryDirectory is null)
        {
            if (v2Directory is null)
            {
                why = "no cgroup";
                return null;
            }
            string events = Path.Combine(v2Directory, "memory.events");
            int fd = Native.Open(events, Native.O_RDONLY | Native.O_CLOEXEC);
            if (fd < 0)
            {
                why = $"{events}: errno {Native.Errno}";
                return null;
            }
            why = "";
            var watch = new MemoryEventWatch(fd, eventFd: false, $"{events} (POLLPRI)", 0, limitBytes, null, null);
            watch.Drain(); // a first read arms the notification
            return watch;
        }
        if (limitBytes <= 0 || limitBytes == long.MaxValue)
        {
            why = "no memory limit: no usage threshold to register";
            return null;
        }
        string usage = Path.Combine(v1MemoryDirectory, "memory.usage_in_bytes");
        string control = Path.Combine(v1MemoryDirectory, "cgroup.event_control");
        long threshold = Threshold(limitBytes, headroomPct);
        int efd = Register(usage, control, threshold, out why);
        if (efd < 0)
            return null;
        return new MemoryEventWatch(efd, eventFd: true, $"{usage} threshold {threshold >> 20} MiB of {limitBytes >> 20} MiB (eventfd)", threshold, limitBytes, usage, control);
    }

    private static long Threshold(long limitBytes, double headroomPct) => (long)(limitBytes * (1 - headroomPct / 100.0));

    /// <summary>
    /// v1: usage is below the threshold, and the limit is the one it was set for, so headroom is at
    /// least limit - threshold and the kernel will say when usage crosses it.
    /// </summary>
    public bool AllowsSlowSampling(long usageBytes, long limitBytes) =>
        _eventFd && _fd >= 0 && limitBytes == LimitBytes && usageBytes < ThresholdBytes;

    /// <summary>v1: the limit changed: register a threshold for the new one (closing the eventfd drops the old one).</summary>
    public void Rearm(long limitBytes, double headroomPct)
    {
        if (!_eventFd || _usagePath is null || _controlPath is null || limitBytes == LimitBytes || limitBytes <= 0 || limitBytes == long.MaxValue)
            return;
        long threshold = Threshold(limitBytes, headroomPct);
        int efd = Register(_usagePath, _controlPath, threshold, out _);
        int old = _fd;
        _fd = efd;
        (ThresholdBytes, LimitBytes) = efd >= 0 ? (threshold, limitBytes) : (0, 0);
        if (old >= 0)
            Native.Close(old);
    }

    /// <summary>Clears the wake-up: reads the eventfd's counter, or re-reads memory.events (which re-arms POLLPRI).</summary>
    public void Drain()
    {
        if (_fd < 0)
            return;
        fixed (byte* p = _drain)
        {
            if (_eventFd)
                Native.Read(_fd, p, sizeof(ulong));
            else
                Native.PRead(_fd, p, (nuint)_drain.Length, 0);
        }
    }

    // "<eventfd> <fd of memory.usage_in_bytes> <threshold>" written to cgroup.event_control.
    private static int Register(string usagePath, string controlPath, long threshold, out string why)
    {
        int efd = Native.EventFd(0, Native.EFD_CLOEXEC | Native.EFD_NONBLOCK);
        if (efd < 0)
        {
            why = $"eventfd: errno {Native.Errno}";
            return -1;
        }
        int usageFd = Native.Open(usagePath, Native.O_RDONLY | Native.O_CLOEXEC);
        int controlFd = usageFd < 0 ? -1 : Native.Open(controlPath, Native.O_WRONLY | Native.O_CLOEXEC);
        int errno = usageFd < 0 || controlFd < 0 ? Native.Errno : 0;
        if (errno == 0)
        {
            var line = Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{efd} {usageFd} {threshold}"));
            fixed (byte* p = line)
                if (Native.Write(controlFd, p, (nuint)line.Length) < 0)
                    errno = Native.Errno;
        }
        if (controlFd >= 0)
            Native.Close(controlFd);
        // The registration holds its own reference to the usage file: our fd may go.
        if (usageFd >= 0)
            Native.Close(usageFd);
        if (errno != 0)
        {
            Native.Close(efd);
            why = $"{controlPath}: {(errno == Native.EOPNOTSUPP ? "EOPNOTSUPP (a PREEMPT_RT kernel refuses usage thresholds)" : $"errno {errno}")}";
            return -1;
        }
        why = "";
        return efd;
    }

    public void Dispose()
    {
        int fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0)
            Native.Close(fd);
    }
}
