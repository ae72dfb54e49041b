using Lmkd.Policies;

namespace Lmkd.Policies.Tests;

public enum Swap { None, Ok, Low }

/// <summary>One evaluation half a second after a primed baseline, and what it must decide.</summary>
public sealed record ReasonCase(
    string Name, PressureLevel Level, long Free, long ThrashPct, Swap Swap, bool Direct,
    KillReason Reason, int MinAdj, KillPolicyOptions? Options = null)
{
    public override string ToString() => Name;
}

public class KillPolicyTests
{
    // Watermarks and free-memory figures that land in each band.
    internal static readonly Watermarks Wm = new(MinKb: 1000, LowKb: 2000, HighKb: 3000);
    internal const long FreeBelowMin = 500, FreeBelowLow = 1500, FreeBelowHigh = 2500, FreeOk = 100_000;
    // base + 1 = 100,000 kB, so every 1,000 kB refaulted is 1 % thrashing.
    internal const long BaseLru = 99_999;
    internal const long Refault0 = 5_000_000;
    internal const long SwapTotal = 1_000_000, Anon = 500_000;

    private static readonly PsiSnapshot Psi = new(0, 0, 0, 0);

    /// <summary>Refault counter showing <paramref name="pct"/> % thrashing over a window that began at <paramref name="from"/>.
    /// The extra 1 kB is activity that does not change the integer percentage.</summary>
    internal static long Thrash(long pct, long from = Refault0) => from + pct * 1000 + 1;

    internal static MemorySnapshot Mem(long free = FreeOk, long refault = Refault0, long fileLru = BaseLru,
        Swap swap = Swap.None, long pgDirect = -1, long pgKswapd = -1) => new()
        {
            TotalKb = 4_000_000,
            FreeKb = free,
            AvailableKb = free,
            SwapTotalKb = swap == Swap.None ? 0 : SwapTotal,
            // Ok: 50 % free and 50 % utilisation (500,000 used of 500,000 anon + used). Low: 5 % free.
            SwapFreeKb = swap switch { Swap.Ok => 500_000, Swap.Low => 50_000, _ => 0 },
            AnonKb = Anon,
            ShmemKb = 0,
            FileLruKb = fileLru,
            // A kernel that reports activations, every refault activated: Android's thrashing figures.
            // Streams (refaults without activations) and cgroup v1 (no activations) have tests of their own.
            RefaultFileKb = refault,
            ActivateFileKb = refault,
            PgscanDirect = pgDirect,
            PgscanKswapd = pgKswapd,
            Watermarks = Wm,
        };

    internal static KillDecision Eval(KillPolicy p, long nowMs, PressureLevel level, MemorySnapshot m) =>
        p.Evaluate(nowMs, level, in m, in Psi, inPsiWindow: true);

    /// <summary>A policy that has seen a quiet baseline at t=0: thrashing window open at Refault0 over BaseLru.</summary>
    internal static KillPolicy Primed(KillPolicyOptions? options = null)
    {
        var p = new KillPolicy(options ?? KillPolicyOptions.Default);
        var d = Eval(p, 0, PressureLevel.None, Mem());
        Assert.Equal(KillReason.None, d.Reason);
        return p;
    }

    private static readonly KillPolicyOptions SwapUtil40 = new() { SwapUtilMaxPct = 40 };

    public static TheoryData<ReasonCase> ReasonCases => new()
    {
        // NotResponding: a critical (full stall) event, whatever memory looks like.
        new("critical event, healthy memory", PressureLevel.Critical, FreeOk, 0, Swap.None, false, KillReason.NotResponding, 0),
        // LowSwapAndThrashing: swap low and thrashing above the configured limit.
        new("swap low + thrashing 150, wmark ok", PressureLevel.Medium, FreeOk, 150, Swap.Low, false, KillReason.LowSwapAndThrashing, 201),
        new("swap low + thrashing 150, below min", PressureLevel.Medium, FreeBelowMin, 150, Swap.Low, false, KillReason.LowSwapAndThrashing, 0),
        new("swap low + thrashing 200 = critical", PressureLevel.Medium, FreeOk, 200, Swap.Low, false, KillReason.LowSwapAndThrashing, 0),
        new("swap low + thrashing 199 < critical", PressureLevel.Medium, FreeOk, 199, Swap.Low, false, KillReason.LowSwapAndThrashing, 201),
        new("swap low + thrashing exactly at limit", PressureLevel.Medium, FreeOk, 100, Swap.Low, false, KillReason.None, 0),
        // LowMemAndSwap: swap low and min or low watermark breached.
        new("swap low + below low", PressureLevel.Medium, FreeBelowLow, 0, Swap.Low, false, KillReason.LowMemAndSwap, 201),
        new("swap low + below min", PressureLevel.Medium, FreeBelowMin, 0, Swap.Low, false, KillReason.LowMemAndSwap, 0),
        new("swap low + below high only", PressureLevel.Medium, FreeBelowHigh, 0, Swap.Low, false, KillReason.None, 0),
        // LowMemAndSwapUtil: memory low while swap is not, but much anon is already swapped.
        new("swap util 50 > 40, below low", PressureLevel.Medium, FreeBelowLow, 0, Swap.Ok, false, KillReason.LowMemAndSwapUtil, 0, SwapUtil40),
        new("swap util 50 > 40, below min", PressureLevel.Medium, FreeBelowMin, 0, Swap.Ok, false, KillReason.LowMemAndSwapUtil, 0, SwapUtil40),
        new("swap util 50 > 40, below high only", PressureLevel.Medium, FreeBelowHigh, 0, Swap.Ok, false, KillReason.None, 0, SwapUtil40),
        new("swap util 50 = max 50", PressureLevel.Medium, FreeBelowLow, 0, Swap.Ok, false, KillReason.None, 0, new() { SwapUtilMaxPct = 50 }),
        new("swap util reason off at 100", PressureLevel.Medium, FreeBelowLow, 0, Swap.Ok, false, KillReason.None, 0),
        // LowMemAndThrashing: min or low watermark breached and thrashing above the current limit.
        new("below low + thrashing 150", PressureLevel.Medium, FreeBelowLow, 150, Swap.None, false, KillReason.LowMemAndThrashing, 201),
        new("below low + thrashing 200 = critical", PressureLevel.Medium, FreeBelowLow, 200, Swap.None, false, KillReason.LowMemAndThrashing, 0),
        new("below min + thrashing 150", PressureLevel.Medium, FreeBelowMin, 150, Swap.None, false, KillReason.LowMemAndThrashing, 201),
        new("below low + thrashing at limit", PressureLevel.Medium, FreeBelowLow, 100, Swap.None, false, KillReason.None, 0),
        new("below high + thrashing 150", PressureLevel.Medium, FreeBelowHigh, 150, Swap.None, false, KillReason.None, 0),
        // DirectReclAndThrashing: direct reclaim and thrashing above the current limit.
        new("direct reclaim + thrashing 150", PressureLevel.Medium, FreeOk, 150, Swap.None, true, KillReason.DirectReclAndThrashing, 201),
        new("direct reclaim + thrashing 250", PressureLevel.Medium, FreeOk, 250, Swap.None, true, KillReason.DirectReclAndThrashing, 0),
        new("direct reclaim + thrashing 50", PressureLevel.Medium, FreeOk, 50, Swap.None, true, KillReason.None, 0),
        new("thrashing 150 without direct reclaim", PressureLevel.Medium, FreeOk, 150, Swap.None, false, KillReason.None, 0),
        // LowMem: min watermark breached and nothing else; floor clamped to at least 201.
        new("below min alone", PressureLevel.Medium, FreeBelowMin, 0, Swap.None, false, KillReason.LowMem, 701),
        new("below min on a follow-up poll", PressureLevel.None, FreeBelowMin, 0, Swap.None, false, KillReason.LowMem, 701),
        new("below min, floor 900", PressureLevel.Medium, FreeBelowMin, 0, Swap.None, false, KillReason.LowMem, 900, new() { LowMemMinScoreAdj = 900 }),
        new("below min, floor 100 clamped", PressureLevel.Medium, FreeBelowMin, 0, Swap.None, false, KillReason.LowMem, 201, new() { LowMemMinScoreAdj = 100 }),
        // Swap that can still take pages is what free pages under min are reclaimed into: no LOW_MEM.
        new("below min, swap with room", PressureLevel.Medium, FreeBelowMin, 0, Swap.Ok, false, KillReason.None, 0),
        new("below min, swap low", PressureLevel.Medium, FreeBelowMin, 0, Swap.Low, false, KillReason.LowMemAndSwap, 0),
        new("below low alone", PressureLevel.Medium, FreeBelowLow, 0, Swap.None, false, KillReason.None, 0),
        // A PSI event alone, with healthy memory, kills nothing.
        new("medium event, healthy memory", PressureLevel.Medium, FreeOk, 50, Swap.Ok, false, KillReason.None, 0),
        new("medium event, direct reclaim, no thrashing", PressureLevel.Medium, FreeBelowHigh, 0, Swap.Ok, true, KillReason.None, 0),
        // Order: the first matching reason wins.
        new("critical beats swap-low thrashing", PressureLevel.Critical, FreeBelowMin, 300, Swap.Low, true, KillReason.NotResponding, 0),
        new("low swap thrashing beats low mem + swap", PressureLevel.Medium, FreeBelowLow, 150, Swap.Low, true, KillReason.LowSwapAndThrashing, 201),
        new("low mem + swap beats swap util", PressureLevel.Medium, FreeBelowLow, 0, Swap.Low, false, KillReason.LowMemAndSwap, 201, SwapUtil40),
        new("swap util beats low mem thrashing", PressureLevel.Medium, FreeBelowLow, 150, Swap.Ok, true, KillReason.LowMemAndSwapUtil, 0, SwapUtil40),
        new("low mem thrashing beats direct thrashing", PressureLevel.Medium, FreeBelowLow, 150, Swap.None, true, KillReason.LowMemAndThrashing, 201),
        new("thrashing reason beats plain low mem", PressureLevel.Medium, FreeBelowMin, 120, Swap.None, true, KillReason.LowMemAndThrashing, 201),
    };

    [Theory]
    [MemberData(nameof(ReasonCases))]
    public void DecidesReasonAndMinAdj(ReasonCase c)
    {
        var p = Primed(c.Options);
        var m = Mem(c.Free, Thrash(c.ThrashPct), swap: c.Swap, pgDirect: c.Direct ? 1 : -1);

        var d = Eval(p, 500, c.Level, m);

        Assert.Equal(c.Reason, d.Reason);
        Assert.Equal(c.MinAdj, d.MinScoreAdj);
        Assert.Equal(c.Reason != KillReason.None, d.ShouldKill);
        // The figures that led there travel with the decision.
        Assert.Equal(c.ThrashPct, d.ThrashingPct);
        Assert.Equal(100, d.ThrashingLimitPct);
        Assert.Equal(KillPolicy.ClassifyWatermark(c.Free, Wm), d.Watermark);
        Assert.Equal(c.Direct ? ReclaimState.Direct : ReclaimState.None, d.Reclaim);
        Assert.Equal(c.Swap == Swap.Low, d.SwapIsLow);
        Assert.Equal(c.Swap switch { Swap.Ok => 50, Swap.Low => 65, _ => 0 }, d.SwapUtilPct);
    }

    // ---- PressureAfterKill ------------------------------------------------------------------

    [Fact]
    public void PressureAfterKillOnlyOnTheEvaluationAfterAKill()
    {
        var p = Primed(new KillPolicyOptions { PressureAfterKillMinScoreAdj = 300 });

        var first = Eval(p, 100, PressureLevel.Medium, Mem(FreeBelowMin, Thrash(0)));
        Assert.Equal((KillReason.LowMem, 701), (first.Reason, first.MinScoreAdj));
        p.OnKillResult(first, killed: true);

        var afterKill = Eval(p, 110, PressureLevel.None, Mem(FreeBelowMin, Thrash(1)));
        Assert.Equal((KillReason.PressureAfterKill, 300), (afterKill.Reason, afterKill.MinScoreAdj));

        // No kill reported since: back to the ordinary reason.
        var later = Eval(p, 120, PressureLevel.None, Mem(FreeBelowMin, Thrash(2)));
        Assert.Equal((KillReason.LowMem, 701), (later.Reason, later.MinScoreAdj));
    }

    [Fact]
    public void PressureAfterKillNeedsTheMinWatermarkBreached()
    {
        var p = Primed();
        var d = Eval(p, 100, PressureLevel.Medium, Mem(FreeBelowMin, Thrash(0)));
        p.OnKillResult(d, killed: true);
        Assert.Equal(KillReason.None, Eval(p, 110, PressureLevel.None, Mem(FreeBelowLow, Thrash(1))).Reason);
    }

    [Fact]
    public void PressureAfterKillBeatsCritical()
    {
        var p = Primed();
        var d = Eval(p, 100, PressureLevel.Medium, Mem(FreeBelowMin, Thrash(0)));
        p.OnKillResult(d, killed: true);
        Assert.Equal(KillReason.PressureAfterKill, Eval(p, 110, PressureLevel.Critical, Mem(FreeBelowMin, Thrash(1))).Reason);
    }

    [Fact]
    public void AFailedKillDoesNotCountAsAKill()
    {
        var p = Primed();
        var d = Eval(p, 100, PressureLevel.Medium, Mem(FreeBelowMin, Thrash(0)));
        p.OnKillResult(d, killed: false);
        Assert.Equal(KillReason.LowMem, Eval(p, 110, PressureLevel.None, Mem(FreeBelowMin, Thrash(1))).Reason);
    }

    // ---- activity detection -----------------------------------------------------------------

    [Fact]
    public void NoRefaultAndNoScanningBailsOutEvenBelowMin()
    {
        var p = Primed();
        var d = Eval(p, 100, PressureLevel.Medium, Mem(FreeBelowMin, Refault0, pgDirect: -1, pgKswapd: -1));
        Assert.Equal(KillReason.None, d.Reason);
        Assert.Equal(ReclaimState.None, d.Reclaim);
        Assert.Equal(WatermarkLevel.BelowMin, d.Watermark); // still reported
        Assert.Equal(0, d.ThrashingPct);
        Assert.True(d.KeepPolling); // the event itself keeps the episode going
    }

    [Fact]
    public void NoActivityStillReachesNotRespondingOnACriticalEvent()
    {
        var p = Primed();
        var d = Eval(p, 100, PressureLevel.Critical, Mem(FreeOk, Refault0));
        Assert.Equal((KillReason.NotResponding, 0), (d.Reason, d.MinScoreAdj));
    }

    [Fact]
    public void ScanCountersDetectReclaimAndUnreportedCountersNeverChange()
    {
        var p = Primed();
        // Counters compare with the previous evaluation; the same value twice is no reclaim.
        Assert.Equal(ReclaimState.Kswapd, Eval(p, 100, PressureLevel.None, Mem(pgDirect: 0, pgKswapd: 10)).Reclaim);
        Assert.Equal(ReclaimState.Direct, Eval(p, 200, PressureLevel.None, Mem(pgDirect: 5, pgKswapd: 20)).Reclaim);
        // Direct updated kswapd's baseline too, so 20 again is no change: nothing happening.
        var idle = Eval(p, 300, PressureLevel.None, Mem(FreeBelowMin, pgDirect: 5, pgKswapd: 20));
        Assert.Equal((ReclaimState.None, KillReason.None), (idle.Reclaim, idle.Reason));
        // -1 (not reported) is not a change either, even after real values.
        var unreported = Eval(p, 400, PressureLevel.None, Mem(FreeBelowMin, pgDirect: -1, pgKswapd: -1));
        Assert.Equal((ReclaimState.None, KillReason.None), (unreported.Reclaim, unreported.Reason));
        // And the baseline survived the -1: 20 is still no change, 21 is.
        Assert.Equal(ReclaimState.None, Eval(p, 500, PressureLevel.None, Mem(pgDirect: 5, pgKswapd: 20)).Reclaim);
        Assert.Equal(ReclaimState.Kswapd, Eval(p, 600, PressureLevel.None, Mem(pgDirect: 5, pgKswapd: 21)).Reclaim);
    }

    [Fact]
    public void FirstEvaluationComparesScanCountersWithZeroAsLmkdDoes()
    {
        var p = new KillPolicy(KillPolicyOptions.Default);
        var d = Eval(p, 5_000_000, PressureLevel.Medium, Mem(pgDirect: 1234, pgKswapd: 99));
        Assert.Equal(ReclaimState.Direct, d.Reclaim);
        Assert.Equal(0, d.ThrashingPct); // but no bogus thrashing against a zero baseline
        Assert.Equal(KillReason.None, d.Reason);
    }

    // ---- thrashing windows ------------------------------------------------------------------

    [Theory]
    // Inside the window: the growth so far.
    [InlineData(500, 150, 150)]
    [InlineData(1000, 150, 150)]      // exactly one interval is still inside
    // One window crossed: growth at or above the limit is kept whole (no victim was found)...
    [InlineData(1001, 200, 200)]
    [InlineData(1999, 100, 100)]
    // ...below the limit it is halved.
    [InlineData(1001, 99, 49)]
    [InlineData(1500, 60, 30)]
    // Several windows: halved once per window whatever its size.
    [InlineData(2000, 200, 50)]
    [InlineData(3500, 200, 25)]
    [InlineData(70_000, 100_000, 0)]  // more windows than bits: gone
    public void ThrashingAcrossResetWindows(long atMs, long growthPct, long expected)
    {
        var p = Primed();
        var d = Eval(p, atMs, PressureLevel.Medium, Mem(FreeOk, Thrash(growthPct)));
        Assert.Equal(expected, d.ThrashingPct);
    }

    [Fact]
    public void CarriedGrowthAddsToTheNextWindow()
    {
        var p = Primed();
        var reset = Eval(p, 1500, PressureLevel.Medium, Mem(FreeOk, Thrash(60)));
        Assert.Equal(30, reset.ThrashingPct);

        // The new window starts at the refault counter and file LRU seen at the reset.
        long windowStart = Thrash(60);
        var d = Eval(p, 1800, PressureLevel.Medium, Mem(FreeOk, windowStart + 20_000, fileLru: 49_999));
        Assert.Equal(20 + 30, d.ThrashingPct);

        // A cache half the size makes the same refaults count double in the window after that.
        var next = Eval(p, 2600, PressureLevel.Medium, Mem(FreeOk, windowStart + 20_000 + 1, fileLru: 49_999));
        Assert.Equal(10, next.ThrashingPct); // the 20 % just ended, below the limit, halved
        var d2 = Eval(p, 2700, PressureLevel.Medium, Mem(FreeOk, windowStart + 20_001 + 10_000, fileLru: 49_999));
        Assert.Equal(20 + 10, d2.ThrashingPct);
    }

    [Fact]
    public void ThrashingLimitIsCutAfterAThrashingKillAndRestoredAfterTheInterval()
    {
        var p = Primed();

        var d1 = Eval(p, 100, PressureLevel.Medium, Mem(FreeBelowLow, Thrash(150)));
        Assert.Equal((KillReason.LowMemAndThrashing, 100L), (d1.Reason, d1.ThrashingLimitPct));
        p.OnKillResult(d1, killed: true);

        // The kill restarted the window at t=200 from the counter seen then; 95 % now exceeds the cut limit of 90.
        long start = Thrash(151);
        var d2 = Eval(p, 200, PressureLevel.Medium, Mem(FreeBelowLow, start));
        Assert.Equal((KillReason.None, 0L, 90L), (d2.Reason, d2.ThrashingPct, d2.ThrashingLimitPct));
        var d3 = Eval(p, 300, PressureLevel.Medium, Mem(FreeBelowLow, Thrash(95, start)));
        Assert.Equal((KillReason.LowMemAndThrashing, 95L, 90L), (d3.Reason, d3.ThrashingPct, d3.ThrashingLimitPct));
        p.OnKillResult(d3, killed: true);

        // Second cut: 90 -> 81 (integer arithmetic as lmkd).
        long start2 = Thrash(96, start);
        Eval(p, 400, PressureLevel.None, Mem(FreeOk, start2));
        var d4 = Eval(p, 500, PressureLevel.Medium, Mem(FreeOk, Thrash(85, start2), pgDirect: 7));
        Assert.Equal((KillReason.DirectReclAndThrashing, 81L), (d4.Reason, d4.ThrashingLimitPct));
        p.OnKillResult(d4, killed: true);   // direct-reclaim thrashing cuts too: 81 -> 72

        long start3 = Thrash(86, start2);
        Assert.Equal(72, Eval(p, 600, PressureLevel.None, Mem(FreeOk, start3)).ThrashingLimitPct);

        // More than one interval after the window began (t=600): the configured limit is back.
        var restored = Eval(p, 1601, PressureLevel.None, Mem(FreeOk, start3 + 1));
        Assert.Equal(100, restored.ThrashingLimitPct);
    }

    [Theory]
    [InlineData(KillReason.LowMem, true)]
    [InlineData(KillReason.LowSwapAndThrashing, true)]   // lmkd cuts only for the two low-mem/direct thrashing reasons
    [InlineData(KillReason.LowMemAndThrashing, false)]    // not killed: no cut
    public void OtherOutcomesDoNotCutTheLimit(KillReason reason, bool killed)
    {
        var p = Primed();
        p.OnKillResult(new KillDecision { Reason = reason }, killed);
        Assert.Equal(100, Eval(p, 100, PressureLevel.Medium, Mem(FreeOk, Thrash(1))).ThrashingLimitPct);
    }

    [Fact]
    public void DecayOptionSetsTheCut()
    {
        var p = Primed(new KillPolicyOptions { ThrashingLimitDecayPct = 50 });
        var d = Eval(p, 100, PressureLevel.Medium, Mem(FreeBelowLow, Thrash(150)));
        p.OnKillResult(d, killed: true);
        Assert.Equal(50, Eval(p, 200, PressureLevel.None, Mem(FreeOk, Thrash(151))).ThrashingLimitPct);
    }

    // ---- check_filecache ----------------------------------------------------------------------

    [Fact]
    public void FilecacheIsWatchedAfterThrashingUntilItRecovers()
    {
        var p = Primed(new KillPolicyOptions { FilecacheMinKb = 50_000 });

        // Before any thrashing kill reason, a small cache alone is no reason.
        Assert.Equal(KillReason.None, Eval(p, 100, PressureLevel.Medium, Mem(FreeOk, Thrash(10), fileLru: 10_000)).Reason);

        // A thrashing reason arms the check.
        var thrash = Eval(p, 200, PressureLevel.Medium, Mem(FreeBelowLow, Thrash(150)));
        Assert.Equal(KillReason.LowMemAndThrashing, thrash.Reason);

        // Memory fine again, but the cache is still small: keep killing background work.
        var low = Eval(p, 300, PressureLevel.None, Mem(FreeOk, Thrash(151), fileLru: 40_000));
        Assert.Equal((KillReason.LowFilecacheAfterThrashing, 201), (low.Reason, low.MinScoreAdj));

        // The cache recovered: the check disarms...
        Assert.Equal(KillReason.None, Eval(p, 400, PressureLevel.None, Mem(FreeOk, Thrash(152), fileLru: 60_000)).Reason);
        // ...so a small cache later is not a reason any more.
        Assert.Equal(KillReason.None, Eval(p, 500, PressureLevel.None, Mem(FreeOk, Thrash(153), fileLru: 10_000)).Reason);
    }

    [Fact]
    public void FilecacheCheckIsArmedByEachThrashingReason()
    {
        foreach (var (mem, reason) in new[]
        {
            (Mem(FreeOk, Thrash(150), swap: Swap.Low), KillReason.LowSwapAndThrashing),
            (Mem(FreeBelowLow, Thrash(150)), KillReason.LowMemAndThrashing),
            (Mem(FreeOk, Thrash(150), pgDirect: 3), KillReason.DirectReclAndThrashing),
        })
        {
            var p = Primed(new KillPolicyOptions { FilecacheMinKb = 50_000 });
            Assert.Equal(reason, Eval(p, 100, PressureLevel.Medium, mem).Reason);
            Assert.Equal(KillReason.LowFilecacheAfterThrashing,
                Eval(p, 200, PressureLevel.None, Mem(FreeOk, Thrash(151), fileLru: 100)).Reason);
        }
    }

    [Fact]
    public void LowMemStillAppliesWhenTheFilecacheCheckDisarms()
    {
        var p = Primed(new KillPolicyOptions { FilecacheMinKb = 50_000 });
        Eval(p, 100, PressureLevel.Medium, Mem(FreeBelowLow, Thrash(150)));
        // Three windows later the 150 % has decayed to 18 %; the cache is large, free memory below min.
        var d = Eval(p, 3200, PressureLevel.None, Mem(FreeBelowMin, Thrash(150) + 1, fileLru: 90_000));
        Assert.Equal((KillReason.LowMem, 701, 18L), (d.Reason, d.MinScoreAdj, d.ThrashingPct));
        // The check did disarm: a small cache afterwards is no reason.
        Assert.Equal(KillReason.None, Eval(p, 3300, PressureLevel.None, Mem(FreeOk, Thrash(150) + 2, fileLru: 100)).Reason);
    }

    // ---- polling ------------------------------------------------------------------------------

    public static TheoryData<string, PressureLevel, MemorySnapshot, bool, int> PollingCases => new()
    {
        { "quiet follow-up poll stops", PressureLevel.None, Mem(FreeOk, Thrash(1)), false, 70 },
        { "an event keeps polling", PressureLevel.Medium, Mem(FreeOk, Thrash(1)), true, 70 },
        { "a critical event keeps polling", PressureLevel.Critical, Mem(FreeOk, Thrash(1)), true, 7 },
        { "direct reclaim keeps polling", PressureLevel.None, Mem(FreeOk, Thrash(1), pgDirect: 9), true, 70 },
        { "kswapd alone does not", PressureLevel.None, Mem(FreeOk, Thrash(1), pgKswapd: 9), false, 70 },
        // As lmkd: a swap or watermark figure alone is no reason to poll (a server's old swap is often
        // over 90 % used, and kswapd cycles through the low watermark): the interval stays short with low swap.
        { "low swap alone does not keep polling", PressureLevel.None, Mem(FreeOk, Thrash(1), swap: Swap.Low), false, 7 },
        { "below the low watermark alone does not", PressureLevel.None, Mem(FreeBelowLow, Refault0), false, 70 },
        { "below the high watermark only does not", PressureLevel.None, Mem(FreeBelowHigh, Refault0), false, 70 },
        { "swap nearing its low mark does not", PressureLevel.None, Mem(FreeOk, Refault0, swap: Swap.Ok) with { SwapFreeKb = 150_000 }, false, 70 },
        { "swap well above it does not", PressureLevel.None, Mem(FreeOk, Refault0, swap: Swap.Ok), false, 70 },
        { "a kill keeps polling, fast", PressureLevel.None, Mem(FreeBelowMin, Thrash(1)), true, 7 },
        { "bail-out on an event keeps polling", PressureLevel.Medium, Mem(FreeOk, Refault0), true, 70 },
        { "bail-out on a poll stops", PressureLevel.None, Mem(FreeOk, Refault0), false, 70 },
        { "bail-out with low swap does not keep polling", PressureLevel.None, Mem(FreeOk, Refault0, swap: Swap.Low), false, 7 },
    };

    [Theory]
    [MemberData(nameof(PollingCases))]
    public void PollingRules(string why, PressureLevel level, MemorySnapshot m, bool keepPolling, int intervalMs)
    {
        Assert.True(why.Length > 0);
        var p = Primed(new KillPolicyOptions { PollShortMs = 7, PollLongMs = 70 });
        var d = Eval(p, 100, level, m);
        Assert.Equal((keepPolling, intervalMs), (d.KeepPolling, d.PollIntervalMs));
    }

    // ---- healthy hosts: Android's reasons only where Android runs them ----------------------------

    // A 6 GiB server (the guest, Debian 6.1): the kernel's summed watermarks 66/82/99 MB, the
    // page cache full, kswapd dipping free memory under the low mark, a disk swap 90 % full of an idle
    // process's pages (the normal state after weeks of uptime), 70 % of memory available.
    private static MemorySnapshot Server6G(long freeKb) => new()
    {
        TotalKb = 6_291_456, FreeKb = freeKb, AvailableKb = 4_446_472, HeadroomKb = 4_446_472,
        SwapTotalKb = 2_097_152, SwapFreeKb = 200_000, AnonKb = 1_200_000,
        FileLruKb = 4_500_000, InactiveFileKb = 3_000_000, RefaultFileKb = Refault0, ActivateFileKb = Refault0,
        PgscanKswapd = 1_000, PgscanDirect = 0,
        Watermarks = new(67_584, 83_968, 101_376),
    };

    // A 64 GiB host's watermarks as the kernel reserves them (tests/Lmkd.Tests/ProcFs/Fixtures/zoneinfo-big/zoneinfo-64g,
    // capped: 286/351/415 MiB); uncapped, as Android lmkd sums them, min was 523 MiB.
    private static MemorySnapshot Host64G(long freeKb, long swapFreeKb) => new()
    {
        TotalKb = 65_536 * 1024, FreeKb = freeKb, AvailableKb = 50_000_000, HeadroomKb = 50_000_000,
        SwapTotalKb = 8_388_608, SwapFreeKb = swapFreeKb, AnonKb = 12_000_000,
        FileLruKb = 45_000_000, InactiveFileKb = 30_000_000, RefaultFileKb = Refault0, ActivateFileKb = Refault0,
        PgscanKswapd = 1_000, PgscanDirect = 0,
        Watermarks = new(73_426 * 4, 89_926 * 4, 106_426 * 4),
    };

    public static TheoryData<string, MemorySnapshot, PressureLevel, bool, KillReason, int> HealthyHostCases => new()
    {
        // name, memory, PSI level, in a PSI polling window -> reason, min adj
        { "6 GiB server, below low, swap 90 % used, a headroom sample", Server6G(80_000), PressureLevel.None, false, KillReason.None, 0 },
        { "6 GiB server, below min, swap 90 % used, a headroom sample", Server6G(60_000), PressureLevel.None, false, KillReason.None, 0 },
        { "64 GiB host at kswapd's wake point (below low), old swap 95 % used, no PSI", Host64G(340 * 1024, 400_000), PressureLevel.None, false, KillReason.None, 0 },
        // Above the kernel's min, below Android's uncapped sum: in a PSI window, not "below min" (no LOW_MEM).
        { "64 GiB host at 400 MiB free, PSI event, swap with room", Host64G(400 * 1024, 4_000_000), PressureLevel.Medium, true, KillReason.None, 0 },
        // A PSI event (a stream's reclaim stalls for a moment) with swap low and free pages under a
        // watermark, while 55-75 % of memory is available: the page cache makes up for the free
        // pages, so memory is not low (measured in the healthy-server VM: 5 such kills before).
        { "64 GiB host below low, swap low, PSI event, 75 % available", Host64G(340 * 1024, 400_000), PressureLevel.Medium, true, KillReason.None, 0 },
        { "6 GiB server below min, swap low, in the window after an event, 70 % available", Server6G(60_000), PressureLevel.None, true, KillReason.None, 0 },
        // Where memory is low (headroom under the first level, 8 %), Android's reasons run as on Android.
        { "6 GiB server below min, swap low, PSI event, 4.8 % available", Server6G(60_000) with { HeadroomKb = 300_000, AvailableKb = 300_000 }, PressureLevel.Medium, true, KillReason.LowMemAndSwap, 0 },
        { "64 GiB host below low, swap low, PSI event, 5 % available", Host64G(340 * 1024, 400_000) with { HeadroomKb = 3_300_000, AvailableKb = 3_300_000 }, PressureLevel.Medium, true, KillReason.LowMemAndSwap, 201 },
    };

    [Theory]
    [MemberData(nameof(HealthyHostCases))]
    public void Healthy_hosts_see_Android_s_reasons_only_in_a_PSI_window(string name, MemorySnapshot m, PressureLevel level, bool inPsiWindow, KillReason reason, int minAdj)
    {
        _ = name;
        var p = new KillPolicy(KillPolicyOptions.Default);
        var quiet = m with { FreeKb = m.Watermarks.HighKb * 2 };
        p.Evaluate(0, PressureLevel.None, in quiet, in Psi, inPsiWindow: false);
        // kswapd at work since the baseline, as on a host whose page cache fills its memory.
        var now = m with { PgscanKswapd = m.PgscanKswapd + 500 };
        var d = p.Evaluate(500, level, in now, in Psi, inPsiWindow);
        Assert.Equal((reason, minAdj), (d.Reason, d.Reason == KillReason.None ? 0 : d.MinScoreAdj));
        if (level == PressureLevel.None && !inPsiWindow)
            Assert.False(d.KeepPolling, "a headroom sample on a healthy host must not start polling");
    }

    // ---- options ------------------------------------------------------------------------------

    [Fact]
    public void UpdateOptionsKeepsState()
    {
        var p = Primed(new KillPolicyOptions { FilecacheMinKb = 50_000 });
        var d = Eval(p, 100, PressureLevel.Medium, Mem(FreeBelowLow, Thrash(150)));
        p.OnKillResult(d, killed: true);   // limit 100 -> 90, kill pending, filecache armed

        var reloaded = new KillPolicyOptions { FilecacheMinKb = 50_000, PollShortMs = 3, PressureAfterKillMinScoreAdj = 100 };
        p.UpdateOptions(reloaded);
        Assert.Equal(reloaded, p.Options);

        // The kill is still remembered (PressureAfterKill, with the new floor) and the cut limit kept.
        var after = Eval(p, 200, PressureLevel.None, Mem(FreeBelowMin, Thrash(151)));
        Assert.Equal((KillReason.PressureAfterKill, 100, 90L, 3), (after.Reason, after.MinScoreAdj, after.ThrashingLimitPct, after.PollIntervalMs));
        // The filecache check is still armed.
        Assert.Equal(KillReason.LowFilecacheAfterThrashing,
            Eval(p, 300, PressureLevel.None, Mem(FreeOk, Thrash(152), fileLru: 100)).Reason);
    }

    [Fact]
    public void InvalidOptionsAreRefusedAndTheOldOnesKept()
    {
        var p = new KillPolicy(KillPolicyOptions.Default);
        var ex = Assert.Throws<ArgumentException>(() => p.UpdateOptions(new KillPolicyOptions { PollLongMs = 0 }));
        Assert.Contains(nameof(KillPolicyOptions.PollLongMs), ex.Message);
        Assert.Equal(KillPolicyOptions.Default, p.Options);
        Assert.Throws<ArgumentException>(() => new KillPolicy(new KillPolicyOptions { SwapUtilMaxPct = 101 }));
    }

    [Fact]
    public void EvaluateDoesNotAllocate()
    {
        var p = Primed(new KillPolicyOptions { SwapUtilMaxPct = 40, FilecacheMinKb = 10 });
        var mems = new[]
        {
            Mem(FreeBelowMin, Thrash(5)), Mem(FreeBelowLow, Thrash(300), swap: Swap.Low),
            Mem(FreeOk, Thrash(300), pgDirect: 1), Mem(FreeOk, Refault0),
        };
        for (int i = 0; i < 200; i++) // warm up: tiering and statics are not the steady state
            Eval(p, i, (PressureLevel)(i % 3), mems[i % mems.Length]);

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10_000; i++)
        {
            var d = Eval(p, 1000 + i * 7, (PressureLevel)(i % 3), mems[i % mems.Length]);
            p.OnKillResult(d, killed: (i & 1) == 0);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Theory]
    [InlineData(0, WatermarkLevel.BelowMin)]
    [InlineData(999, WatermarkLevel.BelowMin)]
    [InlineData(1000, WatermarkLevel.BelowLow)]
    [InlineData(1999, WatermarkLevel.BelowLow)]
    [InlineData(2000, WatermarkLevel.BelowHigh)]
    [InlineData(2999, WatermarkLevel.BelowHigh)]
    [InlineData(3000, WatermarkLevel.None)]
    public void ClassifiesWatermarks(long freeKb, WatermarkLevel expected) =>
        Assert.Equal(expected, KillPolicy.ClassifyWatermark(freeKb, Wm));

    [Fact]
    public void UnknownWatermarksNeverCountAsBreached() =>
        Assert.Equal(WatermarkLevel.None, KillPolicy.ClassifyWatermark(0, new Watermarks(0, 0, 0)));
}
