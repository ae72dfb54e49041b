using System.Diagnostics;
using System.Text;
using Lmkd.Linux;
using Lmkd.Policies;

namespace Lmkd.Pressure;

/// <summary>Tuning of a <see cref="PsiMonitor"/>; the defaults suit production.</summary>
public sealed record PsiMonitorOptions
{
    /// <summary>Skip the triggers and sample (tests, or kernels whose triggers misbehave).</summary>
    public bool ForceSampling { get; init; }
    /// <summary>Sampling interval while the stall grows.</summary>
    public int SampleMinIntervalMs { get; init; } = 10;
    /// <summary>Sampling interval reached when idle (doubling from the minimum).</summary>
    public int SampleMaxIntervalMs { get; init; } = 1000;
}

/// <summary>A level as armed: the stall and window actually in force (widened ones differ from the config).</summary>
public readonly record struct ArmedLevel(PsiLevelConfig Config, long StallUs, long WindowUs)
{
    public bool Widened => WindowUs != Config.WindowMs * 1000L;
}

/// <summary>Opens and writes one PSI trigger; the seam that lets tests drive the EINVAL fallbacks.</summary>
internal interface IPsiTriggerOpener
{
    /// <summary>Returns the armed fd, or -1 with <paramref name="errno"/> set (nothing left open).</summary>
    int Open(string path, ReadOnlySpan<byte> triggerWithNul, out int errno);
}

internal sealed unsafe class KernelTriggerOpener : IPsiTriggerOpener
{
    public static readonly KernelTriggerOpener Instance = new();

    public int Open(string path, ReadOnlySpan<byte> triggerWithNul, out int errno)
    {
        int fd = Native.Open(path, Native.O_RDWR | Native.O_NONBLOCK | Native.O_CLOEXEC);
        if (fd < 0)
        {
            errno = Native.Errno;
            return -1;
        }
        nint written;
        fixed (byte* p = triggerWithNul)
        {
            do
                written = Native.Write(fd, p, (nuint)triggerWithNul.Length);
            while (written < 0 && Native.Errno == Native.EINTR);
        }
        if (written < 0)
        {
            errno = Native.Errno;
            Native.Close(fd);
            return -1;
        }
        errno = 0;
        return fd;
    }
}

/// <summary>
/// Watches one PSI pressure file (/proc/pressure/memory or a cgroup v2 memory.pressure) for the configured
/// levels. <see cref="Arm"/> installs kernel triggers, widening windows to whole multiples of 2 s where the
/// kernel demands it (no CAP_SYS_RESOURCE), or falls back to sampling total= when triggers are refused.
/// <see cref="Wait"/> and <see cref="ReadSnapshot"/> do not allocate; use them from one thread.
/// <para>
/// A trigger fires at most once per window while the pressure lasts, so after a wake-up the caller should
/// follow the memory state with short <see cref="Wait"/> timeouts (polling) instead of waiting for more events.
/// Without CAP_SYS_RESOURCE the kernel evaluates triggers only in its 2 s averaging work, so a wake-up can lag
/// the stall by up to 2 s (measured here: ~2.04 s from the start of a thrashing workload).
/// </para>
/// </summary>
public sealed unsafe class PsiMonitor : IDisposable
{
    private const int MaxLevels = 32; // one bit each in WaitResult.FiredMask

    private readonly IPsiTriggerOpener _opener;
    private readonly PsiMonitorOptions _options;
    private readonly PsiLevelConfig[] _configs;
    private readonly byte[] _buffer = new byte[512]; // a pressure file is ~110 bytes
    private ArmedLevel[] _armed = [];
    private int[] _triggerFds = [];
    private StallWindow[] _windows = [];
    private AdaptiveInterval _interval;
    private long _nextSampleUs;
    private int _readFd = -1;
    private bool _gone, _disposed;

    public PsiMonitor(string path, IReadOnlyList<PsiLevelConfig> levels, PsiMonitorOptions? options = null)
        : this(path, levels, options, KernelTriggerOpener.Instance)
    {
    }

    internal PsiMonitor(string path, IReadOnlyList<PsiLevelConfig> levels, PsiMonitorOptions? options,
        IPsiTriggerOpener opener)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (levels.Count is 0 or > MaxLevels)
            throw new ArgumentException($"need 1..{MaxLevels} PSI levels", nameof(levels));
        foreach (var level in levels)
            level.Validate();
        Path = path;
        _configs = [.. levels];
        _options = options ?? new PsiMonitorOptions();
        _interval = new AdaptiveInterval(_options.SampleMinIntervalMs, _options.SampleMaxIntervalMs);
        _opener = opener;
    }

    public string Path { get; }
    public TriggerMode Mode { get; private set; }
    /// <summary>The levels as armed, in configuration order (the bit order of <see cref="WaitResult.FiredMask"/>).</summary>
    public IReadOnlyList<ArmedLevel> Levels => _armed;
    /// <summary>Why triggers were not used (errno of the refusal), 0 in trigger modes or when forced to sample.</summary>
    public int FallbackErrno { get; private set; }
    /// <summary>One line for the startup log: file, mode, and each level's stall/window in force.</summary>
    public string Description { get; private set; } = "not armed";

    /// <summary>
    /// Arms the levels. Throws <see cref="IOException"/> only when the file cannot even be read (then neither
    /// triggers nor sampling can work).
    /// </summary>
    public void Arm()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (Mode != TriggerMode.None)
            throw new InvalidOperationException("already armed");

        _readFd = Native.Open(Path, Native.O_RDONLY | Native.O_CLOEXEC);
        if (_readFd < 0)
            throw new IOException($"cannot open {Path}: errno {Native.Errno}");

        if (_options.ForceSampling || !TryArmTriggers())
            ArmSampling();
        Description = Describe();
    }

    private bool TryArmTriggers()
    {
        var fds = new int[_configs.Length];
        var armed = new ArmedLevel[_configs.Length];
        Array.Fill(fds, -1);
        Span<byte> text = stackalloc byte[PsiTrigger.MaxLength];
        bool widened = false;

        for (int i = 0; i < _configs.Length; i++)
        {
            var c = _configs[i];
            long stall = c.StallMs * 1000L, window = c.WindowMs * 1000L;
            int fd = _opener.Open(Path, text[..PsiTrigger.Format(c.Kind, stall, window, text)], out int errno);
            if (fd < 0 && errno == Native.EINVAL)
            {
                // Without CAP_SYS_RESOURCE only whole multiples of 2 s are accepted: try the nearest one.
                var (ws, ww) = PsiTrigger.Widen(stall, window);
                if (ww != window)
                {
                    fd = _opener.Open(Path, text[..PsiTrigger.Format(c.Kind, ws, ww, text)], out errno);
                    (stall, window) = (ws, ww);
                    widened |= fd >= 0;
                }
            }
            if (fd < 0)
            {
                // Any other refusal (EOPNOTSUPP, EPERM, EACCES, a read-only file...) means no triggers at all.
                FallbackErrno = errno;
                foreach (int open in fds)
                    if (open >= 0)
                        Native.Close(open);
                return false;
            }
            fds[i] = fd;
            armed[i] = new ArmedLevel(c, stall, window);
        }

        _triggerFds = fds;
        _armed = armed;
        Mode = widened ? TriggerMode.WidenedTrigger : TriggerMode.Trigger;
        return true;
    }

    private void ArmSampling()
    {
        // Sampling is not bound by the kernel's window rules: the configured numbers apply as they are.
        _armed = new ArmedLevel[_configs.Length];
        _windows = new StallWindow[_configs.Length];
        for (int i = 0; i < _configs.Length; i++)
        {
            var c = _configs[i];
            _armed[i] = new ArmedLevel(c, c.StallMs * 1000L, c.WindowMs * 1000L);
            _windows[i] = new StallWindow(c.StallMs * 1000L, c.WindowMs * 1000L);
        }
        _nextSampleUs = 0;
        Mode = TriggerMode.Sampling;
    }

    private string Describe()
    {
        var sb = new StringBuilder();
        sb.Append("PSI ").Append(Path).Append(": ");
        sb.Append(Mode switch
        {
            TriggerMode.Trigger => "kernel triggers",
            TriggerMode.WidenedTrigger => "kernel triggers, windows widened to whole multiples of 2 s (no CAP_SYS_RESOURCE)",
            _ => _options.ForceSampling
                ? $"sampling total= (forced), every {_interval.MinMs}..{_interval.MaxMs} ms"
                : $"sampling total= (triggers refused: errno {FallbackErrno}), every {_interval.MinMs}..{_interval.MaxMs} ms",
        });
        foreach (var a in _armed)
        {
            sb.Append("; ").Append(a.Config.Name).Append(" (").Append(a.Config.Effective).Append(") ").Append(a.Config.Kind == PsiKind.Full ? "full " : "some ")
              .Append(a.StallUs / 1000.0).Append("ms/").Append(a.WindowUs / 1000.0).Append("ms");
            if (a.Widened)
                sb.Append(" (configured ").Append(a.Config.StallMs).Append("ms/").Append(a.Config.WindowMs).Append("ms)");
        }
        return sb.ToString();
    }

    /// <summary>
    /// Blocks until a level fires, <paramref name="wakeFd"/> becomes readable, <paramref name="memoryFd"/>
    /// reports <paramref name="memoryEvents"/>, the watched cgroup goes away, or <paramref name="timeoutMs"/>
    /// passes (negative: no timeout). Does not allocate.
    /// </summary>
    public WaitResult Wait(int timeoutMs, int wakeFd = -1, int memoryFd = -1, short memoryEvents = 0)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (Mode == TriggerMode.None)
            throw new InvalidOperationException("Arm() first");
        if (_gone)
            return WaitResult.ScopeGone;
        return Mode == TriggerMode.Sampling ? WaitSampling(timeoutMs, wakeFd, memoryFd, memoryEvents) : WaitTriggers(timeoutMs, wakeFd, memoryFd, memoryEvents);
    }

    private WaitResult WaitTriggers(int timeoutMs, int wakeFd, int memoryFd, short memoryEvents)
    {
        int n = _triggerFds.Length;
        Native.PollFd* fds = stackalloc Native.PollFd[n + 2];
        for (int i = 0; i < n; i++)
            fds[i] = new Native.PollFd { Fd = _triggerFds[i], Events = Native.POLLPRI };
        int count = n;
        int wakeAt = -1, memoryAt = -1;
        if (wakeFd >= 0)
            fds[wakeAt = count++] = new Native.PollFd { Fd = wakeFd, Events = Native.POLLIN };
        if (memoryFd >= 0)
            fds[memoryAt = count++] = new Native.PollFd { Fd = memoryFd, Events = memoryEvents };

        long start = MonotonicClock.NowMs;
        int rc;
        while ((rc = Native.Poll(fds, (nuint)count, Remaining(start, timeoutMs))) < 0)
        {
            int errno = Native.Errno;
            if (errno != Native.EINTR)
                return WaitResult.Failed(errno);
            for (int i = 0; i < count; i++)
                fds[i].REvents = 0;
        }
        if (rc == 0)
            return WaitResult.Timeout;

        uint mask = 0;
        PressureLevel highest = PressureLevel.None;
        for (int i = 0; i < n; i++)
        {
            short ev = fds[i].REvents;
            if ((ev & (Native.POLLERR | Native.POLLNVAL | Native.POLLHUP)) != 0)
            {
                // A removed cgroup reports POLLERR|POLLPRI forever: check before calling it an event.
                int errno = ProbeRead();
                if (errno == Native.ENODEV)
                {
                    _gone = true;
                    return WaitResult.ScopeGone;
                }
                return WaitResult.Failed(errno);
            }
            if ((ev & Native.POLLPRI) != 0)
            {
                mask |= 1u << i;
                var level = _armed[i].Config.Effective;
                if (level > highest)
                    highest = level;
            }
        }
        if (mask != 0)
            return new WaitResult(WaitStatus.Fired, highest, mask, 0);
        if (wakeAt >= 0 && (fds[wakeAt].REvents & Native.POLLIN) != 0)
            return WaitResult.Woken;
        if (wakeAt >= 0 && fds[wakeAt].REvents != 0)
            return WaitResult.Failed(0); // the wake fd itself is broken (POLLERR/POLLNVAL)
        // memory.events reports POLLPRI|POLLERR on a change: any event on it is a wake-up.
        if (memoryAt >= 0 && fds[memoryAt].REvents != 0)
            return WaitResult.MemoryEvent;
        return WaitResult.Timeout;
    }

    private WaitResult WaitSampling(int timeoutMs, int wakeFd, int memoryFd, short memoryEvents)
    {
        Native.PollFd* wait = stackalloc Native.PollFd[2];
        long start = MonotonicClock.NowMs;
        while (true)
        {
            long now = NowUs();
            if (now >= _nextSampleUs)
            {
                if (!TryRead(out var snapshot, out int errno))
                {
                    if (errno == Native.ENODEV)
                    {
                        _gone = true;
                        return WaitResult.ScopeGone;
                    }
                    return WaitResult.Failed(errno);
                }
                uint mask = 0;
                bool growing = false;
                PressureLevel highest = PressureLevel.None;
                for (int i = 0; i < _windows.Length; i++)
                {
                    if (_windows[i].Add(now, PsiParser.Total(snapshot, _armed[i].Config.Kind)))
                    {
                        mask |= 1u << i;
                        var level = _armed[i].Config.Effective;
                        if (level > highest)
                            highest = level;
                    }
                    growing |= _windows[i].Growing;
                }
                _nextSampleUs = now + _interval.Update(growing) * 1000L;
                if (mask != 0)
                    return new WaitResult(WaitStatus.Fired, highest, mask, 0);
            }

            int remaining = Remaining(start, timeoutMs);
            if (remaining == 0)
                return WaitResult.Timeout;
            long untilSample = Math.Max(0, (_nextSampleUs - NowUs() + 999) / 1000);
            int sleepMs = remaining < 0 ? (int)untilSample : (int)Math.Min(untilSample, remaining);

            // Sleep in poll so the wake fd and the memory events still interrupt us.
            uint count = 0;
            int wakeAt = -1, memoryAt = -1;
            if (wakeFd >= 0)
                wait[wakeAt = (int)count++] = new Native.PollFd { Fd = wakeFd, Events = Native.POLLIN };
            if (memoryFd >= 0)
                wait[memoryAt = (int)count++] = new Native.PollFd { Fd = memoryFd, Events = memoryEvents };
            int rc = Native.Poll(count > 0 ? wait : null, count, sleepMs);
            if (rc < 0 && Native.Errno is var pollErrno && pollErrno != Native.EINTR)
                return WaitResult.Failed(pollErrno);
            if (rc > 0)
            {
                if (wakeAt >= 0 && wait[wakeAt].REvents != 0)
                    return (wait[wakeAt].REvents & Native.POLLIN) != 0 ? WaitResult.Woken : WaitResult.Failed(0);
                return WaitResult.MemoryEvent;
            }
        }
    }

    /// <summary>Re-reads the file (pread into the reused buffer, no allocation). Throws when the read fails.</summary>
    public PsiSnapshot ReadSnapshot()
    {
        if (!TryReadSnapshot(out var snapshot, out int errno))
            throw new IOException($"cannot read {Path}: {(errno == 0 ? "unparsable content" : $"errno {errno}")}");
        return snapshot;
    }

    /// <summary>Like <see cref="ReadSnapshot"/>; errno 0 with false means the content did not parse.</summary>
    public bool TryReadSnapshot(out PsiSnapshot snapshot, out int errno)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_readFd < 0)
            throw new InvalidOperationException("Arm() first");
        return TryRead(out snapshot, out errno);
    }

    private bool TryRead(out PsiSnapshot snapshot, out int errno)
    {
        snapshot = default;
        nint n;
        fixed (byte* p = _buffer)
        {
            do
                n = Native.PRead(_readFd, p, (nuint)_buffer.Length, 0);
            while (n < 0 && Native.Errno == Native.EINTR);
        }
        if (n < 0)
        {
            errno = Native.Errno;
            return false;
        }
        errno = 0;
        return PsiParser.TryParse(_buffer.AsSpan(0, (int)n), out snapshot);
    }

    // The errno of a read of the watched file (0 if the read works).
    private int ProbeRead()
    {
        TryRead(out _, out int errno);
        return errno;
    }

    private static int Remaining(long start, int timeoutMs)
    {
        if (timeoutMs < 0)
            return -1;
        long left = timeoutMs - (MonotonicClock.NowMs - start);
        return left <= 0 ? 0 : (int)left;
    }

    private static long NowUs() => (long)((Int128)Stopwatch.GetTimestamp() * 1_000_000 / Stopwatch.Frequency);

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        foreach (int fd in _triggerFds)
            Native.Close(fd);
        _triggerFds = [];
        if (_readFd >= 0)
            Native.Close(_readFd);
        _readFd = -1;
    }
}
