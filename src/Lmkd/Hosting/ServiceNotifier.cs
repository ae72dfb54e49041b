using System.Globalization;
using Microsoft.Extensions.Hosting.Systemd;

namespace Lmkd.Hosting;

/// <summary>
/// sd_notify for Lmkd: READY=1 once the monitors are armed, WATCHDOG=1 from the monitor loop's own
/// progress (so a stuck loop gets the service restarted), RELOADING=1 around a reload, STOPPING=1.
/// Microsoft.Extensions.Hosting.Systemd sends READY at host start and never pings the watchdog,
/// and only when it believes it runs under systemd; Lmkd uses its datagram sender directly so the
/// protocol also works under a test's NOTIFY_SOCKET.
/// </summary>
public sealed class ServiceNotifier
{
    private readonly Action<string>? _send;
    private long _lastPingMs = long.MinValue;
    /// <summary>No pings before READY=1: the loop runs a moment before the service declares itself ready.</summary>
    private volatile bool _ready;

    public ServiceNotifier() : this(SystemdSender(), WatchdogUsecFromEnvironment())
    {
    }

    /// <summary>For tests: where the datagrams go (null: nowhere) and the watchdog interval in microseconds.</summary>
    internal ServiceNotifier(Action<string>? send, long watchdogUsec)
    {
        _send = send;
        // Below 2 ms a half-interval ping would round to zero: treat as no watchdog rather than spin.
        WatchdogIntervalMs = watchdogUsec >= 2000 ? watchdogUsec / 1000 : 0;
    }

    private static Action<string>? SystemdSender()
    {
        var notifier = new SystemdNotifier();
        return notifier.IsEnabled ? state => notifier.Notify(new ServiceState(state)) : null;
    }

    private static long WatchdogUsecFromEnvironment()
    {
        // WATCHDOG_PID, when set, names the process systemd expects pings from.
        var watchdogPid = Environment.GetEnvironmentVariable("WATCHDOG_PID");
        bool forUs = string.IsNullOrEmpty(watchdogPid) || watchdogPid == Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        return forUs && long.TryParse(Environment.GetEnvironmentVariable("WATCHDOG_USEC"), NumberStyles.None, CultureInfo.InvariantCulture, out var usec) ? usec : 0;
    }

    public bool IsEnabled => _send is not null;
    /// <summary>The watchdog interval systemd asked for, or 0 when there is none.</summary>
    public long WatchdogIntervalMs { get; }
    /// <summary>Ping at half the interval, the usual margin.</summary>
    public long PingEveryMs => WatchdogIntervalMs / 2;

    public void Ready(string status)
    {
        Send($"READY=1\nSTATUS={status}\nMAINPID={Environment.ProcessId}");
        _ready = true;
    }
    public void Status(string status) => Send("STATUS=" + status);
    public void Stopping() => Send("STOPPING=1");
    public void Reloading()
    {
        // notify-reload wants the monotonic time with RELOADING=1.
        long usec = (long)(System.Diagnostics.Stopwatch.GetTimestamp() / (double)System.Diagnostics.Stopwatch.Frequency * 1_000_000);
        Send($"RELOADING=1\nMONOTONIC_USEC={usec}");
    }

    /// <summary>
    /// Called by the monitor loop on every iteration, and by nothing else: there is no timer, so a loop
    /// stuck anywhere (a read, a scan, a deadlock) stops the pings and systemd restarts the daemon.
    /// Pings when due, without allocating otherwise.
    /// </summary>
    /// <summary>
    /// How long the loop may sleep before the next ping is due. Sleeping a fixed half-interval after
    /// a wake-up that came just before a ping was due would stretch the gap towards a whole interval.
    /// </summary>
    public int MsUntilNextPing(long nowMs)
    {
        if (WatchdogIntervalMs == 0)
            return -1;
        if (_lastPingMs == long.MinValue)
            return (int)Math.Max(1, PingEveryMs);
        return (int)Math.Clamp(_lastPingMs + PingEveryMs - nowMs, 1, Math.Max(1, PingEveryMs));
    }

    public void PingIfDue(long nowMs)
    {
        if (WatchdogIntervalMs == 0 || !_ready || (_lastPingMs != long.MinValue && nowMs - _lastPingMs < PingEveryMs))
            return;
        _lastPingMs = nowMs;
        Send("WATCHDOG=1");
    }

    private void Send(string state) => _send?.Invoke(state);
}
