using Lmkd.Daemon;
using Microsoft.Extensions.Logging;

namespace Lmkd.Tests.Daemon;

/// <summary>
/// The monitor loop under injected faults (issue 10: "never a silent daemon"): unparsable memory
/// state, a victim that vanished before its pidfd, reapers that never come back. Each time it must
/// kill nothing by mistake, keep watching, and stop the watchdog pings only when it truly cannot
/// watch or kill, so systemd restarts it.
/// </summary>
public sealed class MonitorLoopFaultTests
{
    private static readonly TimeSpan Soon = TimeSpan.FromSeconds(10);

    [Fact]
    public void A_headroom_fill_kills_the_highest_adj_process_and_nothing_else()
    {
        using var w = new LoopWorld((201, 1000, 50), (202, 900, 200), (203, 0, 300));
        w.StartFalling(mibPerSec: 400);
        Assert.True(LoopWorld.WaitUntil(() => w.SignalledPids().Length > 0, Soon), "no kill while headroom ran out at 400 MiB/s");
        Assert.Equal(201, w.SignalledPids()[0]);
        Assert.Null(w.Loop.FatalError);
    }

    [Fact]
    public void Unparsable_memory_state_is_counted_kills_nothing_and_the_loop_watches_on()
    {
        using var w = new LoopWorld((301, 1000, 50));
        w.Garble(true);
        w.StartFalling(mibPerSec: 400); // what the garbage hides
        Assert.True(LoopWorld.WaitUntil(() => w.FaultCount("memory") >= 3, Soon), "unparsable meminfo was not counted as a fault");
        Thread.Sleep(500);
        Assert.Empty(w.SignalledPids());
        Assert.Contains(w.Log.At(LogLevel.Error), m => m.Contains("meminfo", StringComparison.Ordinal) && m.Contains("keeps watching", StringComparison.Ordinal));
        Assert.False(w.Loop.WatchdogSuppressed, "a few seconds of faults are no reason to stop the watchdog");

        // The state is readable again: the fill that went on meanwhile is judged, and killed.
        w.Garble(false);
        Assert.True(LoopWorld.WaitUntil(() => w.SignalledPids().Length > 0, Soon), "the loop did not watch on after the fault");
        Assert.Equal([301], w.SignalledPids());
        Assert.Null(w.Loop.FatalError);
    }

    [Fact]
    public void A_loop_blind_for_longer_than_its_bound_stops_the_watchdog_pings_and_resumes_them_once_it_sees()
    {
        using var w = new LoopWorld((401, 1000, 50));
        Assert.True(LoopWorld.WaitUntil(() => w.Messages().Contains("WATCHDOG=1"), Soon), "the loop never pinged the watchdog");
        w.Garble(true);
        Assert.True(LoopWorld.WaitUntil(() => w.Loop.WatchdogSuppressed, TimeSpan.FromMilliseconds(MonitorLoop.BlindBoundMs + 5000)),
            "the loop stayed blind past its bound and kept pinging the watchdog");
        // The flag is set just before the STATUS goes out, on the monitor thread.
        Assert.True(LoopWorld.WaitUntil(() => w.Messages().Any(m => m.StartsWith("STATUS=watchdog pings stopped: blind", StringComparison.Ordinal)), Soon),
            $"no STATUS saying why the pings stopped: {string.Join(" | ", w.Messages())}");
        int pings = w.Messages().Count(m => m == "WATCHDOG=1");
        Thread.Sleep(1500); // three ping intervals of 500 ms
        Assert.Equal(pings, w.Messages().Count(m => m == "WATCHDOG=1"));
        Assert.Empty(w.SignalledPids());

        w.Garble(false);
        Assert.True(LoopWorld.WaitUntil(() => !w.Loop.WatchdogSuppressed && w.Messages().Count(m => m == "WATCHDOG=1") > pings, Soon),
            "the pings did not resume once the memory state was readable");
    }

    [Fact]
    public void A_victim_gone_before_its_pidfd_is_passed_over_for_the_next()
    {
        using var w = new LoopWorld((501, 1000, 50), (502, 1000, 40));
        // 501 exits between the scan and the kill: its directory goes, and pidfd_open says ESRCH.
        w.Kernel.DuringOpen = pid =>
        {
            if (pid != 501)
                return null;
            w.RemoveProcess(501);
            return Lmkd.Linux.SysResult.Failure(3);
        };
        w.StartFalling(mibPerSec: 400);
        Assert.True(LoopWorld.WaitUntil(() => w.SignalledPids().Length > 0, Soon), "no kill after the first victim vanished");
        Assert.Equal(502, w.SignalledPids()[0]);
        Assert.Null(w.Loop.FatalError);
    }

    [Fact]
    public void Reapers_that_never_return_are_abandoned_to_spares_and_past_them_the_watchdog_pings_stop()
    {
        using var stuck = new ManualResetEventSlim();
        using var w = new LoopWorld((601, 1000, 30), (602, 1000, 20), (603, 1000, 10), (604, 1000, 5));
        w.Kernel.DuringMrelease = _ => stuck.Wait(); // process_mrelease(fd, 0) blocks: a reap with no end
        w.KeepFalling = true;
        try
        {
            // Slow enough that memory is still falling when a stuck kill is abandoned (at a floor it
            // would be full but steady, which gets no kill).
            w.StartFalling(mibPerSec: 100);
            // Each kill is abandoned after Kill:TimeoutMs + 2 s; a spare reaper takes the next, twice.
            Assert.True(LoopWorld.WaitUntil(() => w.SignalledPids().Length >= 3, TimeSpan.FromSeconds(40)),
                $"kills after stuck reaps: [{string.Join(", ", w.SignalledPids())}]; a stuck reaper stopped the killing. Log:\n{string.Join("\n", w.Log.Entries.Select(e => e.Message).TakeLast(30))}");
            Assert.Equal([601, 602, 603], w.SignalledPids().Take(3));
            Assert.True(LoopWorld.WaitUntil(() => w.Loop.WatchdogSuppressed, TimeSpan.FromSeconds(15)),
                "out of spare reapers, the loop kept pinging the watchdog");
            Assert.True(LoopWorld.WaitUntil(() => w.Messages().Any(m => m.StartsWith("STATUS=watchdog pings stopped", StringComparison.Ordinal)), Soon),
                $"no STATUS saying why the pings stopped: {string.Join(" | ", w.Messages())}");
            Assert.True(w.Metric("lmkd_reapers_abandoned_total") >= 3, $"abandoned reapers counted: {w.Metric("lmkd_reapers_abandoned_total")}");
            Assert.Null(w.Loop.FatalError);
        }
        finally
        {
            stuck.Set();
        }
    }
}
