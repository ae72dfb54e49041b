using System.Diagnostics;
using System.Globalization;
using Lmkd.Configuration;
using Lmkd.Daemon;
using Lmkd.Notify;
using Lmkd.Tests.Observability;
using Microsoft.Extensions.Logging;

namespace Lmkd.Tests.Notify;

/// <summary>The publisher against a real dbus-daemon (the distribution's system bus policy): what goes on the wire, and what happens when the bus is slow, absent or lost.</summary>
public sealed class KillPublisherTests
{
    internal static FinishedKill Kill(long id, bool dryRun = false) => new()
    {
        KillId = id, DryRun = dryRun, Pid = 4000 + (int)id, Comm = "hog (a) b", Uid = 1000, Cgroup = "/user.slice/app.scope", Exe = "/usr/bin/hog",
        OomScoreAdj = 900, RssAnonBytes = 300L << 20, RssFileBytes = 20L << 20, RssShmemBytes = 1L << 20, SwapBytes = 5L << 20,
        Reason = "LOW_MEM_AND_THRASHING", MinScoreAdj = 201, ReapMode = "kill-then-reap", ReapResult = "ESRCH", Scope = "/user.slice",
        Time = new DateTimeOffset(2026, 5, 20, 10, 0, 0, TimeSpan.Zero).AddTicks(id * 10),
    };

    internal static double Value(LmkdMetrics m, string sample)
    {
        var line = ObservabilityFiles.Expose(m).Split('\n').Single(l => l.StartsWith(sample + " ", StringComparison.Ordinal));
        return double.Parse(line[(sample.Length + 1)..], CultureInfo.InvariantCulture);
    }

    private static KillPublisher Publisher(PrivateBus bus, LmkdMetrics metrics, ILogger log, NotifyOptions? options = null,
        int capacity = KillPublisher.DefaultCapacity, int replyTimeoutMs = 3000) =>
        new(options ?? new NotifyOptions(), bus.Address, metrics, log, capacity, minBackoffMs: 100, maxBackoffMs: 400, replyTimeoutMs: replyTimeoutMs);

    private static bool WaitUntil(Func<bool> condition, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while (!condition() && sw.Elapsed < timeout)
            Thread.Sleep(20);
        return condition();
    }

    [ToolFact(Tools.DbusDaemon, Tools.SystemBusConfig)]
    public void A_kill_is_broadcast_from_the_connection_s_unique_name_with_every_documented_argument()
    {
        using var bus = PrivateBus.Create();
        using var recorder = SignalRecorder.Start(bus.Address);
        var metrics = new LmkdMetrics();
        var log = new CollectingLogger();
        using var publisher = Publisher(bus, metrics, log);
        Assert.True(WaitUntil(() => Value(metrics, "lmkd_notifications_bus_connected") == 1, TimeSpan.FromSeconds(10)), string.Join('\n', log.Entries));

        var kill = Kill(7);
        Assert.True(publisher.TryPublish(kill));
        Assert.True(recorder.WaitFor(r => !r.Kills.IsEmpty && !r.Desktop.IsEmpty, TimeSpan.FromSeconds(10)));

        var s = Assert.Single(recorder.Kills);
        // No well-known name: a broadcast from ":1.N", which the system bus's default policy allows.
        Assert.StartsWith(":", s.Sender);
        Assert.Equal(("/org/lmkd/Lmkd1", "tbusussitttttsissst" + "a{sv}"), (s.Path, s.Signature));
        Assert.Equal(7UL, s.KillId);
        Assert.False(s.DryRun);
        Assert.Equal((4007u, "hog (a) b", 1000u), (s.Pid, s.Comm, s.Uid));
        Assert.Equal(("/user.slice/app.scope", "/usr/bin/hog", 900), (s.Cgroup, s.Exe, s.OomScoreAdj));
        Assert.Equal((321UL << 20, 300UL << 20, 20UL << 20, 1UL << 20, 5UL << 20), (s.RssBytes, s.RssAnonBytes, s.RssFileBytes, s.RssShmemBytes, s.SwapBytes));
        Assert.Equal(("LOW_MEM_AND_THRASHING", 201, "kill-then-reap", "ESRCH", "/user.slice"), (s.Reason, s.MinScoreAdj, s.ReapMode, s.ReapResult, s.Scope));
        Assert.Equal((ulong)new DateTimeOffset(2026, 5, 20, 10, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds() * 1000 + 7, s.TimeUsec);
        Assert.Equal(0, s.ExtraCount);

        var d = Assert.Single(recorder.Desktop);
        Assert.Equal(s.Sender, d.Sender);
        Assert.Equal(("/", "ss", "Lmkd: low memory"), (d.Path, d.Signature, d.Summary));
        Assert.Equal("Killed process 4007 (hog (a) b) of uid 1000, 326 MiB", d.Body);
        Assert.True(WaitUntil(() => Value(metrics, "lmkd_notifications_published_total{signal=\"desktop\"}") == 1, TimeSpan.FromSeconds(5)));
        Assert.Equal(1, Value(metrics, "lmkd_notifications_published_total{signal=\"kill\"}"));
        Assert.Equal(0, Value(metrics, "lmkd_notifications_errors_total{op=\"connect\"}"));
        Assert.Empty(log.At(LogLevel.Warning));
    }

    /// <summary>systembus-notify matches interface and member and reads two strings: ours must read as earlyoom's does.</summary>
    [ToolFact(Tools.DbusDaemon, Tools.DbusSend, Tools.SystemBusConfig)]
    public void The_desktop_signal_has_the_shape_of_the_one_earlyoom_sends_with_dbus_send_and_a_dry_run_says_would_kill()
    {
        using var bus = PrivateBus.Create();
        using var recorder = SignalRecorder.Start(bus.Address);
        // earlyoom -n, word for word, on this bus.
        var psi = new ProcessStartInfo(Tools.Find(Tools.DbusSend)!) { ArgumentList = { "--system", "/", "net.nuetzlich.SystemNotifications.Notify", "string:earlyoom", "string:Low memory! Killing process 1 x" } };
        psi.Environment["DBUS_SYSTEM_BUS_ADDRESS"] = bus.Address;
        using (var send = Process.Start(psi)!)
            Assert.True(send.WaitForExit(10_000) && send.ExitCode == 0);
        Assert.True(recorder.WaitFor(r => r.Desktop.Count == 1, TimeSpan.FromSeconds(10)));

        var metrics = new LmkdMetrics();
        using var publisher = Publisher(bus, metrics, new CollectingLogger());
        Assert.True(publisher.TryPublish(Kill(3, dryRun: true)));
        Assert.True(recorder.WaitFor(r => r.Desktop.Count == 2 && r.Kills.Count == 1, TimeSpan.FromSeconds(10)));

        var (earlyoom, ours) = (recorder.Desktop.First(), recorder.Desktop.Last());
        Assert.Equal((earlyoom.Path, earlyoom.Signature), (ours.Path, ours.Signature));
        Assert.Equal("Would kill process 4003 (hog (a) b) of uid 1000, 326 MiB (dry run: nothing was killed)", ours.Body);
        Assert.True(Assert.Single(recorder.Kills).DryRun);
    }

    [ToolFact(Tools.DbusDaemon, Tools.SystemBusConfig)]
    public void Desktop_notifications_are_rate_limited_every_kill_still_gets_its_signal_and_the_next_notification_counts_those_not_shown()
    {
        using var bus = PrivateBus.Create();
        using var recorder = SignalRecorder.Start(bus.Address);
        var metrics = new LmkdMetrics();
        using var publisher = Publisher(bus, metrics, new CollectingLogger(), new NotifyOptions { DesktopBurst = 2, DesktopIntervalMs = 1500 });

        for (int i = 1; i <= 5; i++)
            Assert.True(publisher.TryPublish(Kill(i)));
        Assert.True(recorder.WaitFor(r => r.Kills.Count == 5, TimeSpan.FromSeconds(10)));
        Thread.Sleep(200);
        Assert.Equal(2, recorder.Desktop.Count);
        Assert.Equal(3, Value(metrics, "lmkd_notifications_dropped_total{why=\"rate_limited\"}"));

        Thread.Sleep(1500);
        Assert.True(publisher.TryPublish(Kill(6)));
        Assert.True(recorder.WaitFor(r => r.Desktop.Count == 3, TimeSpan.FromSeconds(10)));
        Assert.Equal("Killed process 4006 (hog (a) b) of uid 1000, 326 MiB; 3 more kills since the last notification", recorder.Desktop.Last().Body);
        Assert.Equal(Enumerable.Range(1, 6).Select(i => (ulong)i), recorder.Kills.Select(k => k.KillId));
    }

    [ToolFact(Tools.DbusDaemon, Tools.SystemBusConfig)]
    public void A_bus_that_stops_reading_fills_the_bounded_queue_drops_are_counted_the_caller_never_waits_and_the_queue_drains_once_it_reads_again()
    {
        using var bus = PrivateBus.Create();
        var metrics = new LmkdMetrics();
        var log = new CollectingLogger();
        const int capacity = 4;
        using var publisher = Publisher(bus, metrics, log, capacity: capacity, replyTimeoutMs: 500);
        Assert.True(WaitUntil(() => Value(metrics, "lmkd_notifications_bus_connected") == 1, TimeSpan.FromSeconds(10)));

        // A loaded machine may have made the first connection attempt miss its 500 ms: count from here.
        int warningsBefore = log.At(LogLevel.Warning).Count();
        bus.Pause();
        var accepted = new List<long>();
        var slowest = TimeSpan.Zero;
        for (int i = 1; i <= 20; i++)
        {
            var sw = Stopwatch.StartNew();
            if (publisher.TryPublish(Kill(i)))
                accepted.Add(i);
            slowest = sw.Elapsed > slowest ? sw.Elapsed : slowest;
            Thread.Sleep(5);
        }
        // The publisher thread has at most one kill in flight; the queue holds the rest, up to its bound.
        Assert.InRange(accepted.Count, capacity, capacity + 1);
        Assert.Equal(20 - accepted.Count, Value(metrics, "lmkd_notifications_dropped_total{why=\"queue_full\"}"));
        // Waiting on the bus would take the 500 ms reply timeout at least; the margin is for a loaded machine's scheduling.
        Assert.True(slowest < TimeSpan.FromMilliseconds(250), $"TryPublish took {slowest.TotalMilliseconds:F2} ms");
        // The unacknowledged send fails after the reply timeout; reconnecting to a bus that does not answer fails too.
        Assert.True(WaitUntil(() => Value(metrics, "lmkd_notifications_errors_total{op=\"send\"}") >= 1 && Value(metrics, "lmkd_notifications_errors_total{op=\"connect\"}") >= 1,
            TimeSpan.FromSeconds(10)), string.Join('\n', log.Entries));
        Assert.Equal(0, Value(metrics, "lmkd_notifications_bus_connected"));
        Assert.True(publisher.Queued <= capacity);

        bus.Resume();
        Assert.True(WaitUntil(() => publisher.Queued == 0 && Value(metrics, "lmkd_notifications_bus_connected") == 1, TimeSpan.FromSeconds(15)), string.Join('\n', log.Entries));
        // Everything held in the queue is published; the one in flight when the bus stopped was counted as an error.
        Assert.True(WaitUntil(() => Value(metrics, "lmkd_notifications_published_total{signal=\"kill\"}") == accepted.Count - 1, TimeSpan.FromSeconds(10)),
            $"published {Value(metrics, "lmkd_notifications_published_total{signal=\"kill\"}")} of {accepted.Count - 1} queued");
        // One outage, one warning, however many attempts it took.
        Assert.Equal(warningsBefore + 1, log.At(LogLevel.Warning).Count());
    }

    [ToolFact(Tools.DbusDaemon, Tools.SystemBusConfig)]
    public void A_bus_absent_at_start_and_one_lost_later_are_each_logged_once_retried_with_backoff_and_the_kills_held_meanwhile_delivered()
    {
        using var bus = PrivateBus.Create(start: false);
        var metrics = new LmkdMetrics();
        var log = new CollectingLogger();
        using var publisher = Publisher(bus, metrics, log);
        Assert.True(publisher.TryPublish(Kill(1)));
        // Backoff 100, 200, 400, 400... ms: several attempts in 1.5 s, one warning.
        Thread.Sleep(1500);
        Assert.InRange(Value(metrics, "lmkd_notifications_errors_total{op=\"connect\"}"), 2, 10);
        Assert.Single(log.At(LogLevel.Warning), w => w.Contains("unavailable", StringComparison.Ordinal));
        Assert.Equal(1, publisher.Queued);

        bus.Start();
        Assert.True(WaitUntil(() => Value(metrics, "lmkd_notifications_published_total{signal=\"kill\"}") == 1, TimeSpan.FromSeconds(10)), string.Join('\n', log.Entries));
        using (var recorder = SignalRecorder.Start(bus.Address))
        {
            Assert.True(publisher.TryPublish(Kill(2)));
            Assert.True(recorder.WaitFor(r => r.Kills.Any(k => k.KillId == 2), TimeSpan.FromSeconds(10)));
        }

        // The bus goes away and comes back at the same address (a restart of dbus): logged once, reconnected.
        bus.Stop();
        Assert.True(WaitUntil(() => Value(metrics, "lmkd_notifications_bus_connected") == 0, TimeSpan.FromSeconds(10)));
        Assert.True(publisher.TryPublish(Kill(3)));
        Thread.Sleep(1000);
        bus.Start();
        Assert.True(WaitUntil(() => Value(metrics, "lmkd_notifications_published_total{signal=\"kill\"}") == 3, TimeSpan.FromSeconds(10)), string.Join('\n', log.Entries));
        var warnings = log.At(LogLevel.Warning).ToList();
        Assert.Equal(2, warnings.Count);
        Assert.Contains("lost", warnings[1], StringComparison.Ordinal);
        Assert.Equal(2, log.At(LogLevel.Information).Count(i => i.StartsWith("Kill notifications on the D-Bus system bus", StringComparison.Ordinal)));
    }

    [ToolFact(Tools.DbusDaemon, Tools.SystemBusConfig)]
    public void Turned_off_it_never_connects_and_a_reload_turns_it_on()
    {
        using var bus = PrivateBus.Create();
        var metrics = new LmkdMetrics();
        using var publisher = Publisher(bus, metrics, new CollectingLogger(), new NotifyOptions { Enabled = false });
        Thread.Sleep(300);
        Assert.False(publisher.TryPublish(Kill(1)));
        Assert.Equal(0, Value(metrics, "lmkd_notifications_bus_connected"));

        publisher.Update(new NotifyOptions());
        Assert.True(WaitUntil(() => Value(metrics, "lmkd_notifications_bus_connected") == 1, TimeSpan.FromSeconds(10)));
        Assert.True(publisher.TryPublish(Kill(2)));
        Assert.True(WaitUntil(() => Value(metrics, "lmkd_notifications_published_total{signal=\"kill\"}") == 1, TimeSpan.FromSeconds(10)));
    }
}
