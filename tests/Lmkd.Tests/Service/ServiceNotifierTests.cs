using Lmkd.Hosting;

namespace Lmkd.Tests.Service;

/// <summary>
/// The watchdog is fed only by the monitor loop's calls to PingIfDue: these pin down that a loop that
/// stops calling (stuck) stops the pings, and that a running loop pings at half the interval.
/// </summary>
public sealed class ServiceNotifierTests
{
    private readonly List<string> _sent = [];

    [Fact]
    public void Pings_at_half_the_watchdog_interval_and_only_when_called()
    {
        var n = new ServiceNotifier(_sent.Add, watchdogUsec: 10_000_000);
        Assert.Equal(10_000, n.WatchdogIntervalMs);
        Assert.Equal(5_000, n.PingEveryMs);

        n.PingIfDue(500);              // not ready yet: no ping
        Assert.Empty(_sent);
        n.Ready("x");
        _sent.Clear();
        n.PingIfDue(1_000);            // the first call after READY pings at once
        n.PingIfDue(3_000);
        n.PingIfDue(5_999);
        Assert.Equal(["WATCHDOG=1"], _sent);
        n.PingIfDue(6_000);
        Assert.Equal(2, _sent.Count);

        // A stuck loop makes no calls: whatever the clock does, nothing is sent, and systemd's
        // 10 s watchdog fires. There is no timer or thread in the notifier that could ping for it.
        Thread.Sleep(50);
        Assert.Equal(2, _sent.Count);
        n.PingIfDue(60_000);           // the loop comes back: one ping, not a burst of the missed ones
        Assert.Equal(3, _sent.Count);
    }

    [Fact]
    public void The_loop_wait_never_exceeds_the_ping_interval()
    {
        // MonitorLoop bounds its poll() timeout by PingEveryMs; check the bound stays positive and below the interval.
        foreach (long usec in new long[] { 2_000, 3_000, 1_000_000, 10_000_000, 3_600_000_000 })
        {
            var n = new ServiceNotifier(null, usec);
            Assert.InRange(n.PingEveryMs, 1, n.WatchdogIntervalMs - 1);
        }
    }

    [Fact]
    public void The_loop_sleeps_only_until_the_next_ping_is_due()
    {
        // A wake-up just before a ping is due must not sleep a whole half-interval more: the gap
        // between pings would stretch towards the full watchdog interval, and systemd would kill us.
        var n = new ServiceNotifier(_sent.Add, watchdogUsec: 10_000_000);
        n.Ready("x");
        n.PingIfDue(1_000);
        Assert.Equal(5_000, n.MsUntilNextPing(1_000));
        Assert.Equal(1, n.MsUntilNextPing(5_999));
        Assert.Equal(1, n.MsUntilNextPing(9_000)); // overdue: wake at once
        Assert.Equal(-1, new ServiceNotifier(null, 0).MsUntilNextPing(0));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1_999)] // too small to ping at half of it: treated as no watchdog, not a spin
    public void No_watchdog_means_no_pings(long usec)
    {
        var n = new ServiceNotifier(_sent.Add, usec);
        Assert.Equal(0, n.WatchdogIntervalMs);
        n.Ready("x");
        _sent.Clear();
        for (long t = 0; t < 100_000; t += 1_000)
            n.PingIfDue(t);
        Assert.Empty(_sent);
    }

    [Fact]
    public void Ready_reloading_and_stopping_speak_sd_notify()
    {
        var n = new ServiceNotifier(_sent.Add, 0);
        n.Ready("watching x");
        n.Reloading();
        n.Stopping();
        Assert.Equal($"READY=1\nSTATUS=watching x\nMAINPID={Environment.ProcessId}", _sent[0]);
        var reloading = _sent[1].Split('\n');
        Assert.Equal("RELOADING=1", reloading[0]);
        // notify-reload wants CLOCK_MONOTONIC in microseconds: close to the kernel's own value.
        long usec = long.Parse(reloading[1]["MONOTONIC_USEC=".Length..], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(usec, Environment.TickCount64 * 1000 - 5_000_000, Environment.TickCount64 * 1000 + 5_000_000);
        Assert.Equal("STOPPING=1", _sent[2]);
    }

    [Fact]
    public void A_suppressed_watchdog_stops_the_pings_says_why_and_resumes_at_once()
    {
        var n = new ServiceNotifier(_sent.Add, watchdogUsec: 10_000_000);
        n.Ready("watching x");
        n.PingIfDue(1_000);
        _sent.Clear();

        n.SuppressWatchdog("cannot read /proc/meminfo for 5 s");
        n.SuppressWatchdog("cannot read /proc/meminfo for 5 s"); // the loop may say it every iteration: one STATUS
        Assert.Equal("cannot read /proc/meminfo for 5 s", n.WatchdogSuppressedBecause);
        for (long t = 1_000; t < 60_000; t += 100)
            n.PingIfDue(t);
        Assert.Equal(["STATUS=watchdog pings stopped: cannot read /proc/meminfo for 5 s"], _sent);

        // A new reason is said too.
        n.SuppressWatchdog("reaper wedged");
        Assert.Equal("STATUS=watchdog pings stopped: reaper wedged", _sent[^1]);
        _sent.Clear();

        n.ResumeWatchdog();
        Assert.Null(n.WatchdogSuppressedBecause);
        Assert.Equal(["STATUS=watching x"], _sent);
        n.PingIfDue(60_001); // at once, not half an interval after the last ping before the pause
        Assert.Equal("WATCHDOG=1", _sent[^1]);
        n.ResumeWatchdog(); // not suppressed: nothing to say
        Assert.Equal(2, _sent.Count);
    }

    [Fact]
    public void Without_a_sender_nothing_is_sent_and_nothing_fails()
    {
        var n = new ServiceNotifier(null, 1_000_000);
        Assert.False(n.IsEnabled);
        n.Ready("x");
        n.PingIfDue(0);
        n.Stopping();
    }
}
