using System.Globalization;
using System.Text;

namespace Lmkd.Hosting;

/// <summary>
/// sd_notify for Lmkd: READY=1 once the monitors are armed, WATCHDOG=1 from the monitor loop's own
/// progress (so a stuck loop gets the service restarted), RELOADING=1 around a reload, STOPPING=1.
/// Datagrams go through one kept, non-blocking socket (<see cref="SdNotifySocket"/>): the ping from
/// the real-time monitor thread is a single send that never blocks and allocates nothing.
/// </summary>
public sealed class ServiceNotifier : IDisposable
{
    private static ReadOnlySpan<byte> WatchdogDatagram => "WATCHDOG=1"u8;
    private const string WatchdogMessage = "WATCHDOG=1";

    private readonly SdNotifySocket? _socket;
    /// <summary>Tests only: where the messages go instead of a socket.</summary>
    private readonly Action<string>? _tap;
    private long _lastPingMs = long.MinValue;
    /// <summary>No pings before READY=1: the loop runs a moment before the service declares itself ready.</summary>
    private volatile bool _ready;
    /// <summary>Why the loop stopped the pings on purpose, or null while it pings.</summary>
    private string? _suppressedBecause;
    /// <summary>The last STATUS text, restored when the pings resume.</summary>
    private volatile string _status = "";

    public ServiceNotifier() : this(SdNotifySocket.FromEnvironment(), null, WatchdogUsecFromEnvironment())
    {
    }

    /// <summary>For tests: where the messages go (null: nowhere) and the watchdog interval in microseconds.</summary>
    internal ServiceNotifier(Action<string>? send, long watchdogUsec) : this(null, send, watchdogUsec)
    {
    }

    private ServiceNotifier(SdNotifySocket? socket, Action<string>? tap, long watchdogUsec)
    {
        _socket = socket;
        _tap = tap;
        // Below 2 ms a half-interval ping would round to zero: treat as no watchdog rather than spin.
        WatchdogIntervalMs = watchdogUsec >= 2000 ? watchdogUsec / 1000 : 0;
    }

    /// <summary>For tests: a notifier speaking through <paramref name="socket"/> (which it then owns).</summary>
    internal static ServiceNotifier ForSocket(SdNotifySocket? socket, long watchdogUsec) => new(socket, null, watchdogUsec);

    private static long WatchdogUsecFromEnvironment()
    {
        // WATCHDOG_PID, when set, names the process systemd expects pings from.
        var watchdogPid = Environment.GetEnvironmentVariable("WATCHDOG_PID");
        bool forUs = string.IsNullOrEmpty(watchdogPid) || watchdogPid == Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        return forUs && long.TryParse(Environment.GetEnvironmentVariable("WATCHDOG_USEC"), NumberStyles.None, CultureInfo.InvariantCulture, out var usec) ? usec : 0;
    }

    public bool IsEnabled => _socket is not null || _tap is not null;
    /// <summary>The socket in use (its counters feed the metrics), or null.</summary>
    public SdNotifySocket? Socket => _socket;
    /// <summary>The watchdog interval systemd asked for, or 0 when there is none.</summary>
    public long WatchdogIntervalMs { get; }
    /// <summary>Ping at half the interval, the usual margin.</summary>
    public long PingEveryMs => WatchdogIntervalMs / 2;
    /// <summary>Why the pings are stopped on purpose (<see cref="SuppressWatchdog"/>), or null.</summary>
    public string? WatchdogSuppressedBecause => Volatile.Read(ref _suppressedBecause);

    public void Ready(string status)
    {
        _status = status;
        Send($"READY=1\nSTATUS={status}\nMAINPID={Environment.ProcessId}");
        _ready = true;
    }

    public void Status(string status)
    {
        _status = status;
        Send("STATUS=" + status);
    }

    public void Stopping() => Send("STOPPING=1");

    public void Reloading()
    {
        // notify-reload wants the monotonic time with RELOADING=1.
        long usec = (long)(System.Diagnostics.Stopwatch.GetTimestamp() / (double)System.Diagnostics.Stopwatch.Frequency * 1_000_000);
        Send($"RELOADING=1\nMONOTONIC_USEC={usec}");
    }

    /// <summary>
    /// How long the loop may sleep before the next ping is due. Sleeping a fixed half-interval after
    /// a wake-up that came just before a ping was due would stretch the gap towards a whole interval.
    /// </summary>
    public int MsUntilNextPing(long nowMs)
    {
        if (WatchdogIntervalMs == 0)
            return -1;
        long last = Volatile.Read(ref _lastPingMs);
        if (last == long.MinValue)
            return (int)Math.Max(1, PingEveryMs);
        return (int)Math.Clamp(last + PingEveryMs - nowMs, 1, Math.Max(1, PingEveryMs));
    }

    /// <summary>
    /// Called by the monitor loop on every iteration, and by nothing else: there is no timer, so a loop
    /// stuck anywhere (a read, a scan, a deadlock) stops the pings and systemd restarts the daemon.
    /// Pings when due with one non-blocking send, allocating nothing. A ping the socket drops (systemd
    /// not reading, or gone) is not retried: the next one is due half an interval later.
    /// </summary>
    public void PingIfDue(long nowMs)
    {
        long last = Volatile.Read(ref _lastPingMs);
        if (WatchdogIntervalMs == 0 || !_ready || Volatile.Read(ref _suppressedBecause) is not null
            || (last != long.MinValue && nowMs - last < PingEveryMs))
            return;
        if (_socket is not null)
        {
            // Another thread mid-send: ping at the next iteration rather than wait for it (MsUntilNextPing is then 1).
            if (_socket.Send(WatchdogDatagram, mayWait: false) == NotifySendResult.Busy)
                return;
        }
        else
        {
            _tap?.Invoke(WatchdogMessage);
        }
        Volatile.Write(ref _lastPingMs, nowMs);
    }

    /// <summary>
    /// Stops the pings on purpose, for a loop that still runs but can no longer do its job (it is
    /// blind: it cannot read the memory state): systemd then restarts Lmkd after WatchdogSec rather
    /// than trust a daemon that only pretends to watch. STATUS says why (a non-blocking send, which may
    /// wait for another thread's send to finish, unlike the ping). Idempotent per reason.
    /// </summary>
    public void SuppressWatchdog(string why)
    {
        ArgumentException.ThrowIfNullOrEmpty(why);
        string? before = Interlocked.Exchange(ref _suppressedBecause, why);
        if (before != why)
            Send("STATUS=watchdog pings stopped: " + why);
    }

    /// <summary>Pings again, the first at the loop's next iteration, and restores the last STATUS.</summary>
    public void ResumeWatchdog()
    {
        if (Interlocked.Exchange(ref _suppressedBecause, null) is null)
            return;
        Volatile.Write(ref _lastPingMs, long.MinValue);
        Send("STATUS=" + _status);
    }

    private void Send(string message)
    {
        if (_socket is not null)
            _socket.Send(Encoding.UTF8.GetBytes(message), mayWait: true);
        else
            _tap?.Invoke(message);
    }

    public void Dispose() => _socket?.Dispose();
}
