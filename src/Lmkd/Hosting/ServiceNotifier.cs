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
    private readonly SystemdNotifier _notifier = new();
    private long _lastPingMs;

    public ServiceNotifier()
    {
        // WATCHDOG_PID, when set, names the process systemd expects pings from.
        var watchdogPid = Environment.GetEnvironmentVariable("WATCHDOG_PID");
        bool forUs = string.IsNullOrEmpty(watchdogPid) || watchdogPid == Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        if (forUs && long.TryParse(Environment.GetEnvironmentVariable("WATCHDOG_USEC"), out var usec) && usec > 0)
            WatchdogIntervalMs = usec / 1000;
    }

    public bool IsEnabled => _notifier.IsEnabled;
    /// <summary>The watchdog interval systemd asked for, or 0 when there is none.</summary>
    public long WatchdogIntervalMs { get; }
    /// <summary>Ping at half the interval, the usual margin.</summary>
    public long PingEveryMs => WatchdogIntervalMs / 2;

    public void Ready(string status) => Send($"READY=1\nSTATUS={status}\nMAINPID={Environment.ProcessId}");
    public void Status(string status) => Send("STATUS=" + status);
    public void Stopping() => Send("STOPPING=1");
    public void Reloading()
    {
        // notify-reload wants the monotonic time with RELOADING=1.
        long usec = (long)(System.Diagnostics.Stopwatch.GetTimestamp() / (double)System.Diagnostics.Stopwatch.Frequency * 1_000_000);
        Send($"RELOADING=1\nMONOTONIC_USEC={usec}");
    }

    /// <summary>Called by the monitor loop on every iteration: pings when due, without allocating otherwise.</summary>
    public void PingIfDue(long nowMs)
    {
        if (WatchdogIntervalMs == 0 || nowMs - _lastPingMs < PingEveryMs)
            return;
        _lastPingMs = nowMs;
        Send("WATCHDOG=1");
    }

    private void Send(string state)
    {
        if (_notifier.IsEnabled)
            _notifier.Notify(new ServiceState(state));
    }
}
