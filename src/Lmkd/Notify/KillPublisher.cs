using System.Collections.Concurrent;
using Lmkd.Configuration;
using Lmkd.Daemon;
using Microsoft.Extensions.Logging;
using Tmds.DBus.Protocol;

namespace Lmkd.Notify;

/// <summary>
/// Publishes finished kills on the D-Bus system bus from its own thread. The monitor thread only
/// enqueues (<see cref="TryPublish"/>: a few atomic operations, never a wait); a bounded queue holds
/// kills while the bus is slow or gone, and drops (counting) beyond that. A bus absent at start or
/// lost later is logged once per outage and retried with backoff; killing never waits for it.
/// </summary>
public sealed class KillPublisher : IDisposable
{
    public const int DefaultCapacity = 64;
    /// <summary>The D-Bus specification's system bus, when DBUS_SYSTEM_BUS_ADDRESS is not set.</summary>
    public const string DefaultSystemBusAddress = "unix:path=/var/run/dbus/system_bus_socket";

    private readonly ConcurrentQueue<FinishedKill> _queue = new();
    private readonly SemaphoreSlim _wake = new(0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Thread _thread;
    private readonly string _address;
    private readonly int _capacity;
    private readonly LmkdMetrics _metrics;
    private readonly ILogger _log;
    private readonly int _minBackoffMs, _maxBackoffMs, _replyTimeoutMs;
    private volatile NotifyOptions _options;
    /// <summary>Set by the connection's own completion, so a connection closed and replaced meanwhile never counts.</summary>
    private volatile DBusConnection? _lostConnection;
    private int _queued;

    // Publisher thread only.
    private DBusConnection? _bus;
    private bool _outageLogged;
    private RateLimiter _desktop;
    private int _desktopNotShown;

    /// <param name="replyTimeoutMs">How long a connect, or the bus's acknowledgement of a send, may take before the bus counts as slow.</param>
    public KillPublisher(NotifyOptions options, string address, LmkdMetrics metrics, ILogger log,
        int capacity = DefaultCapacity, int minBackoffMs = 1000, int maxBackoffMs = 60_000, int replyTimeoutMs = 5000)
    {
        _options = options;
        _address = address;
        _metrics = metrics;
        _log = log;
        _capacity = capacity;
        _minBackoffMs = minBackoffMs;
        _maxBackoffMs = maxBackoffMs;
        _replyTimeoutMs = replyTimeoutMs;
        _desktop = new RateLimiter(options.DesktopBurst, options.DesktopIntervalMs);
        // Created by the host's thread, not the monitor's: it must not inherit a real-time priority.
        _thread = new Thread(Run) { Name = "lmkd-notify", IsBackground = true };
        _thread.Start();
    }

    /// <summary>$DBUS_SYSTEM_BUS_ADDRESS when set, else the standard system bus socket.</summary>
    public static string SystemBusAddress() =>
        Environment.GetEnvironmentVariable("DBUS_SYSTEM_BUS_ADDRESS") is { Length: > 0 } address ? address : DefaultSystemBusAddress;

    /// <summary>Kills waiting to be sent.</summary>
    public int Queued => Volatile.Read(ref _queued);

    /// <summary>
    /// Hands a kill over for publishing; returns at once. False when notifications are off, or the
    /// queue is full (counted as dropped).
    /// </summary>
    public bool TryPublish(FinishedKill kill)
    {
        if (!_options.Enabled || _stop.IsCancellationRequested)
            return false;
        if (Interlocked.Increment(ref _queued) > _capacity)
        {
            Interlocked.Decrement(ref _queued);
            _metrics.NotificationDropped("queue_full");
            return false;
        }
        _queue.Enqueue(kill);
        try
        {
            _wake.Release();
        }
        catch (ObjectDisposedException)
        {
            // Shutting down: the kill was logged; nobody will send it.
        }
        return true;
    }

    /// <summary>New options after a reload; the publisher thread applies them.</summary>
    public void Update(NotifyOptions options)
    {
        _options = options;
        _wake.Release();
    }

    private void Run()
    {
        long nextAttemptMs = 0;
        int backoffMs = _minBackoffMs;
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var options = _options;
                if (_desktop.Burst != options.DesktopBurst || _desktop.IntervalMs != options.DesktopIntervalMs)
                    _desktop = new RateLimiter(options.DesktopBurst, options.DesktopIntervalMs);
                long now = Environment.TickCount64;
                if (_bus is not null && (IsLost || !options.Enabled))
                {
                    Drop(options.Enabled ? "the connection was closed" : null);
                    nextAttemptMs = now + backoffMs;
                }
                if (options.Enabled && _bus is null && now >= nextAttemptMs)
                {
                    if (TryConnect())
                        backoffMs = _minBackoffMs;
                    else
                    {
                        nextAttemptMs = now + backoffMs;
                        backoffMs = Math.Min(backoffMs * 2, _maxBackoffMs);
                    }
                }
                if (!options.Enabled)
                    DiscardQueued();

                if (_bus is null || _queue.IsEmpty)
                {
                    // Wait for a kill, a lost connection, new options, or the next connection attempt.
                    int timeout = _bus is null && options.Enabled ? (int)Math.Clamp(nextAttemptMs - Environment.TickCount64, 1, int.MaxValue) : Timeout.Infinite;
                    _wake.Wait(timeout, _stop.Token);
                    continue;
                }
                while (_bus is not null && !IsLost && _queue.TryPeek(out var kill))
                {
                    if (!Send(kill, options))
                    {
                        nextAttemptMs = Environment.TickCount64 + backoffMs;
                        backoffMs = Math.Min(backoffMs * 2, _maxBackoffMs);
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception e)
        {
            // Never expected; the daemon goes on killing without notifications, and says why.
            _log.LogError(e, "Kill notifications stopped: the publisher thread failed");
        }
        finally
        {
            Drop(null);
        }
    }

    private bool IsLost => _bus is not null && ReferenceEquals(_lostConnection, _bus);

    private bool TryConnect()
    {
        var bus = new DBusConnection(_address);
        try
        {
            var connect = bus.ConnectAsync().AsTask();
            if (!connect.Wait(_replyTimeoutMs, _stop.Token))
                throw new TimeoutException($"no answer within {_replyTimeoutMs} ms");
            _bus = bus;
            _ = bus.DisconnectedAsync().ContinueWith(_ =>
            {
                _lostConnection = bus;
                try { _wake.Release(); }
                catch (ObjectDisposedException) { }
            }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            _metrics.BusConnected(true);
            _log.LogInformation("Kill notifications on the D-Bus system bus at {BusAddress} as {UniqueName} ({Interface}.{Member}{Desktop})",
                _address, bus.UniqueName, KillSignals.Interface, KillSignals.Member,
                _options.Desktop ? ", and desktop notifications" : "");
            _outageLogged = false;
            return true;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            bus.Dispose();
            _metrics.NotificationError("connect");
            string error = Unwrap(e).Message;
            if (!_outageLogged)
            {
                _outageLogged = true;
                _log.LogWarning("Kill notifications: the D-Bus system bus at {BusAddress} is unavailable ({Error}); retrying with backoff up to {MaxBackoffS} s, and killing goes on",
                    _address, error, _maxBackoffMs / 1000);
            }
            else
                _log.LogDebug("Kill notifications: the D-Bus system bus at {BusAddress} is still unavailable ({Error})", _address, error);
            return false;
        }
    }

    /// <summary>
    /// Sends the kill's signals, then waits for the bus to answer a call sent after them: messages
    /// are ordered, so the answer means the bus has read the signals. Without it a slow bus would
    /// pile them up unseen in the connection's own unbounded buffer.
    /// </summary>
    private bool Send(FinishedKill kill, NotifyOptions options)
    {
        var bus = _bus!;
        try
        {
            bool sent;
            using (var writer = bus.GetMessageWriter())
                sent = bus.TrySendMessage(KillSignals.ProcessKilled(writer, kill));
            if (!sent)
            {
                // Not connected any more: the kill stays queued for the next connection.
                Drop("the connection was closed");
                return false;
            }
            _queue.TryDequeue(out _);
            Interlocked.Decrement(ref _queued);
            bool desktop = false;
            if (options.Desktop)
            {
                if (_desktop.TryTake(Environment.TickCount64))
                {
                    using var writer = bus.GetMessageWriter();
                    desktop = bus.TrySendMessage(KillSignals.Desktop(writer, KillSignals.DesktopSummary, KillSignals.DesktopBody(kill, _desktopNotShown)));
                    if (desktop)
                        _desktopNotShown = 0;
                }
                else
                {
                    _desktopNotShown++;
                    _metrics.NotificationDropped("rate_limited");
                }
            }
            var ack = Acknowledge(bus);
            if (!ack.Wait(_replyTimeoutMs, _stop.Token))
                throw new TimeoutException($"the bus did not acknowledge kill {kill.KillId} within {_replyTimeoutMs} ms");
            ack.GetAwaiter().GetResult();
            _metrics.NotificationPublished("kill");
            if (desktop)
                _metrics.NotificationPublished("desktop");
            return true;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _metrics.NotificationError("send");
            Drop(Unwrap(e).Message);
            return false;
        }
    }

    /// <summary>org.freedesktop.DBus.GetId: cheap, and allowed to everyone by the system bus's default policy.</summary>
    private static Task<string> Acknowledge(DBusConnection bus)
    {
        using var writer = bus.GetMessageWriter();
        writer.WriteMethodCallHeader("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "GetId", null, MessageFlags.None);
        return bus.CallMethodAsync(writer.CreateMessage(), static (m, _) => m.GetBodyReader().ReadString(), null);
    }

    /// <summary>Closes the connection; <paramref name="why"/> (a lost bus) is logged once per outage.</summary>
    private void Drop(string? why)
    {
        if (_bus is null)
            return;
        _bus.Dispose();
        _bus = null;
        _metrics.BusConnected(false);
        if (why is not null && !_outageLogged)
        {
            _outageLogged = true;
            _log.LogWarning("Kill notifications: lost the D-Bus system bus at {BusAddress} ({Error}); {Queued} waiting, retrying with backoff, and killing goes on",
                _address, why, Queued);
        }
    }

    private void DiscardQueued()
    {
        while (_queue.TryDequeue(out _))
            Interlocked.Decrement(ref _queued);
    }

    private static Exception Unwrap(Exception e) => e is AggregateException { InnerException: { } inner } ? Unwrap(inner) : e;

    /// <summary>Bounded: the stop of the daemon must take under a second, bus or no bus.</summary>
    public void Dispose()
    {
        _stop.Cancel();
        _thread.Join(TimeSpan.FromMilliseconds(300));
    }
}
