using Lmkd.Policies;

namespace Lmkd.Policies.Tests;

public class HeadroomTrendTests
{
    [Fact]
    public void Steady_or_shrinking_committed_memory_has_no_fill_rate()
    {
        var t = new HeadroomTrend();
        Assert.Equal(0, t.FillRateKbPerSec(0));
        t.Add(0, 10_000);
        Assert.Equal(0, t.FillRateKbPerSec(0)); // one sample is no rate
        t.Add(500, 10_000);
        Assert.Equal(0, t.FillRateKbPerSec(500));
        t.Add(1000, 5_000);
        Assert.Equal(0, t.FillRateKbPerSec(1000));
    }

    [Fact]
    public void The_long_window_measures_a_steady_fill()
    {
        var t = new HeadroomTrend();
        // 1,000 kB per 100 ms: 10,000 kB/s, over 1 s of samples.
        for (int ms = 0; ms <= 1500; ms += 100)
            t.Add(ms, 100_000 + ms * 10);
        Assert.Equal(10_000, t.FillRateKbPerSec(1500));
    }

    [Fact]
    public void An_allocator_that_keeps_going_is_seen_at_its_pace_within_half_a_second()
    {
        var t = new HeadroomTrend();
        for (int ms = 0; ms <= 1000; ms += 50)
            t.Add(ms, 100_000);
        // 20,000 kB/s from 1,000 ms on. After 250 ms the second's average says 5,000 kB/s...
        for (int ms = 1050; ms <= 1250; ms += 50)
            t.Add(ms, 100_000 + (ms - 1000) * 20);
        Assert.Equal(5_000, t.FillRateKbPerSec(1250));
        // ...after 500 ms two short windows agree: its pace.
        for (int ms = 1300; ms <= 1500; ms += 50)
            t.Add(ms, 100_000 + (ms - 1000) * 20);
        Assert.Equal(20_000, t.FillRateKbPerSec(1500));
    }

    [Fact]
    public void A_burst_that_stops_counts_at_its_average_over_the_second()
    {
        var t = new HeadroomTrend();
        for (int ms = 0; ms <= 1000; ms += 10)
            t.Add(ms, 100_000);
        // A process starting: 13,000 kB in 50 ms, then nothing.
        for (int ms = 1010; ms <= 1050; ms += 10)
            t.Add(ms, 100_000 + (ms - 1000) * 260);
        for (int ms = 1060; ms <= 1200; ms += 10)
            t.Add(ms, 113_000);
        Assert.Equal(13_000, t.FillRateKbPerSec(1200)); // not the 260,000 kB/s of its 50 ms
    }

    [Fact]
    public void Rises_over_too_short_a_span_are_not_a_rate()
    {
        var t = new HeadroomTrend();
        t.Add(0, 5_000);
        t.Add(HeadroomTrend.MinSpanMs - 1, 10_000);
        Assert.Equal(0, t.FillRateKbPerSec(HeadroomTrend.MinSpanMs - 1));
        t.Add(HeadroomTrend.MinSpanMs, 10_000);
        Assert.Equal(5_000 * 1000 / HeadroomTrend.ShortWindowMs, t.FillRateKbPerSec(HeadroomTrend.MinSpanMs));
    }

    [Fact]
    public void Without_history_a_burst_counts_as_if_over_the_short_window()
    {
        // Right after a reset (a kill): 27,000 kB in 50 ms is not 540,000 kB/s, but no more than
        // 108,000 kB/s: what came before the first sample counts as no rise.
        var t = new HeadroomTrend();
        t.Add(0, 100_000);
        t.Add(50, 127_000);
        Assert.Equal(108_000, t.FillRateKbPerSec(50));
        // Once 250 ms are covered, the rise is taken over its own span.
        t.Add(300, 152_000);
        Assert.Equal(52_000 * 1000 / 300, t.FillRateKbPerSec(300));
    }

    [Fact]
    public void A_second_sample_at_the_same_instant_replaces_the_first()
    {
        var t = new HeadroomTrend();
        t.Add(0, 8_000);
        t.Add(100, 9_000);
        t.Add(100, 10_000);
        Assert.Equal(2, t.Count);
        Assert.Equal(8_000, t.FillRateKbPerSec(100)); // 2,000 kB, taken over 250 ms
    }

    [Fact]
    public void Reset_forgets_and_the_ring_keeps_only_the_newest()
    {
        var t = new HeadroomTrend(capacity: 4);
        for (int ms = 0; ms < 1000; ms += 100)
            t.Add(ms, 100_000 + ms * 10);
        Assert.Equal(4, t.Count);
        Assert.Equal(10_000, t.FillRateKbPerSec(900)); // from the oldest kept sample (600 ms)
        t.Reset();
        Assert.Equal(0, t.Count);
        Assert.Equal(0, t.FillRateKbPerSec(1000));
        t.Add(1000, 50_000);
        t.Add(1300, 53_000);
        Assert.Equal(10_000, t.FillRateKbPerSec(1300));
    }
}

/// <summary>A headroom sample: where it is, how it got there, and what the watch must decide.</summary>
public sealed record HeadroomCase(
    string Name, double StartPct, double EndPct, int OverMs, HeadroomBasis Basis, int MinAdj,
    bool SwapLow = true, long UsableSwapKb = 0, int Efficiency = -1, double InactivePct = 0)
{
    public override string ToString() => Name;
}

public class HeadroomWatchTests
{
    // 1,000,000 kB of memory: 1 % is 10,000 kB. Levels 8/900, 5/600 (500 ms horizon), 2.5/0 (2 s); reserve 0.5 %.
    internal const long Total = 1_000_000;

    internal static MemorySnapshot At(double pct, double inactivePct = 0) => new()
    {
        TotalKb = Total,
        HeadroomKb = (long)(Total * pct / 100),
        FreeKb = (long)(Total * pct / 100),
        InactiveFileKb = (long)(Total * inactivePct / 100),
    };

    /// <summary>Headroom going from <paramref name="fromPct"/> to <paramref name="toPct"/> in even 10 ms steps over <paramref name="overMs"/>.</summary>
    internal static HeadroomJudgement Slide(HeadroomWatch w, double fromPct, double toPct, int overMs,
        bool swapLow = true, long usableSwapKb = 0, int efficiency = -1, double inactivePct = 0)
    {
        HeadroomJudgement j = default;
        int steps = Math.Max(1, overMs / 10);
        for (int i = 0; i <= steps; i++)
        {
            double pct = fromPct + (toPct - fromPct) * i / steps;
            var m = At(pct, inactivePct);
            j = w.Judge(i * 10, in m, usableSwapKb, swapLow, efficiency);
        }
        return j;
    }

    /// <summary>
    /// A cgroup scope whose parent starts to bind: the parent's committed memory includes its other
    /// children's, so the series jumps by the siblings' usage in one sample. That jump is no fill;
    /// an allocation that goes on after the switch is.
    /// </summary>
    [Theory]
    // name, committed before the switch, after, then per 100 ms after it -> kill after the switch?
    [InlineData("the parent binds: a sibling's 600 MiB appear in one sample", 100_000, 700_000, 0, false)]
    [InlineData("the parent binds while the scope fills 40 %/s", 100_000, 700_000, 40_000, true)]
    public void A_switch_of_the_binding_level_is_no_fill(string name, long committedBefore, long committedAfter, long growthPer100Ms, bool kills)
    {
        _ = name;
        var w = new HeadroomWatch(HeadroomOptions.Default);
        HeadroomJudgement j = default;
        // The scope's own level, 30 % headroom, steady for a second.
        for (int t = 0; t <= 1000; t += 100)
        {
            var m = At(30) with { CommittedKb = committedBefore, BindingLevel = 0 };
            j = w.Judge(t, in m, 0, true, -1);
        }
        Assert.Equal(KillReason.None, j.Reason);
        // The parent binds: 6 % headroom left there (below the 8 % and 5 % levels' reach for a fall).
        long committed = committedAfter;
        double pct = 6;
        for (int t = 1100; t <= 1600; t += 100)
        {
            var m = At(pct) with { CommittedKb = committed, BindingLevel = 1 };
            j = w.Judge(t, in m, 0, true, -1);
            if (j.Reason != KillReason.None)
                break;
            committed += growthPer100Ms;
            pct -= growthPer100Ms * 100.0 / Total;
        }
        Assert.Equal(kills, j.Reason != KillReason.None);
        if (!kills)
            Assert.Equal(0, j.FillRateKbPerSec);
    }

    public static TheoryData<HeadroomCase> Cases => new()
    {
        // Full but steady: no fill rate, no kill at any level.
        new("steady above every level", 20, 20, 2000, HeadroomBasis.None, 0),
        new("steady at 4 %", 4, 4, 2000, HeadroomBasis.None, 0),
        new("steady at 1 %, below the deepest level", 1, 1, 2000, HeadroomBasis.None, 0),
        // Falling, but above every level: nothing yet, however fast.
        new("falling fast above 8 %", 30, 10, 500, HeadroomBasis.None, 0),
        // Falling slowly below a level: out well beyond the horizon.
        new("7 % falling 1 %/s (6.5 s left)", 8, 7, 1000, HeadroomBasis.None, 0),
        // Below a level and out within its horizon (500 ms; 2 s at 2.5 %): that level's reach.
        new("7 % falling 14 %/s (464 ms left)", 14, 7, 500, HeadroomBasis.FillRate, 900),
        new("7 % falling 7 %/s (929 ms left)", 14, 7, 1000, HeadroomBasis.None, 0),
        new("4 % falling 8 %/s (437 ms left)", 8, 4, 500, HeadroomBasis.FillRate, 600),
        new("4 % falling 2 %/s (1.75 s left), above the 2.5 % level", 6, 4, 1000, HeadroomBasis.None, 0),
        new("2.4 % falling 2 %/s (950 ms left)", 4.4, 2.4, 1000, HeadroomBasis.FillRate, 0),
        new("2 % falling 0.5 %/s (3 s left)", 2.5, 2, 1000, HeadroomBasis.None, 0),
        new("1.4 % falling 2 %/s (450 ms left)", 2.4, 1.4, 500, HeadroomBasis.FillRate, 0),
        // Out within ImminentMs (250): the deepest reach at once, whatever the level.
        new("7 % falling 60 %/s (108 ms left)", 22, 7, 250, HeadroomBasis.Imminent, 0),
        // The same fall in 100 ms with no history before it: taken over 250 ms, not imminent, within the 8 % level's horizon.
        new("7 % after a 6 % burst of 100 ms (270 ms left)", 13, 7, 100, HeadroomBasis.FillRate, 900),
        // Swap that can still absorb anonymous pages: memory is not running out yet.
        new("falling fast, swap absorbs", 22, 7, 250, HeadroomBasis.None, 0, SwapLow: false, UsableSwapKb: 100_000),
        // Low swap is little usable swap: the room is the memory's and 5,000 kB more.
        new("falling fast, swap low", 22, 7, 250, HeadroomBasis.Imminent, 0, SwapLow: true, UsableSwapKb: 5_000),
        // Reclaim failing below the deepest level, with little cache left: kills without a fill rate.
        new("1 % steady, reclaim frees 5 % of its scan", 1, 1, 1000, HeadroomBasis.ReclaimFailing, 0, Efficiency: 5, InactivePct: 0.5),
        new("1 % steady, reclaim frees 50 %", 1, 1, 1000, HeadroomBasis.None, 0, Efficiency: 50, InactivePct: 0.5),
        new("1 % steady, reclaim failing but much cache", 1, 1, 1000, HeadroomBasis.None, 0, Efficiency: 5, InactivePct: 3),
        new("4 % steady, reclaim failing above the deepest level", 4, 4, 1000, HeadroomBasis.None, 0, Efficiency: 5, InactivePct: 0.5),
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Judges(HeadroomCase c)
    {
        var w = new HeadroomWatch(HeadroomOptions.Default);
        var j = Slide(w, c.StartPct, c.EndPct, c.OverMs, c.SwapLow, c.UsableSwapKb, c.Efficiency, c.InactivePct);
        Assert.Equal(c.Basis, j.Basis);
        Assert.Equal(c.Basis switch { HeadroomBasis.None => KillReason.None, HeadroomBasis.ReclaimFailing => KillReason.ReclaimFailing, _ => KillReason.LowHeadroom }, j.Reason);
        if (c.Basis != HeadroomBasis.None)
            Assert.Equal(c.MinAdj, j.MinScoreAdj);
    }

    [Fact]
    public void Reports_the_figures_it_judged_on()
    {
        var w = new HeadroomWatch(HeadroomOptions.Default);
        var j = Slide(w, 8, 4, 500);
        Assert.Equal(40_000, j.HeadroomKb);
        Assert.Equal(4.0, j.HeadroomPct, 3);
        Assert.Equal(5, j.LevelPct);
        Assert.Equal(80_000, j.FillRateKbPerSec);               // 40,000 kB in 500 ms
        Assert.Equal((40_000 - 5_000) * 1000 / 80_000, j.MsToExhaustion); // down to the 0.5 % reserve
        Assert.True(j.Concern);
    }

    [Fact]
    public void Headroom_that_shrinks_while_committed_memory_does_not_grow_has_no_fill_rate()
    {
        // A cgroup whose file cache moves to the active list: only inactive file counts as headroom,
        // so headroom falls, but nothing was allocated: no fill rate, and no headroom kill.
        var w = new HeadroomWatch(HeadroomOptions.Default);
        HeadroomJudgement j = default;
        for (int t = 0; t <= 500; t += 10)
        {
            var m = At(8 - 6.0 * t / 500) with { CommittedKb = 500_000 };
            j = w.Judge(t, in m, 0, swapLow: true, -1);
        }
        Assert.Equal(0, j.FillRateKbPerSec);
        Assert.Equal(KillReason.None, j.Reason);
    }

    /// <summary>
    /// zram filling: memory holds still near the watermarks while the hog's pages go to swap, so
    /// what falls is the usable swap. The room (headroom + usable swap) reaches the levels as the
    /// zram fills, and the fill is seen in the swap no longer usable.
    /// </summary>
    [Fact]
    public void While_memory_holds_still_and_swap_fills_the_room_falls_and_a_kill_comes_before_it_is_gone()
    {
        var w = new HeadroomWatch(HeadroomOptions.Default);
        HeadroomJudgement j = default;
        // 2 % of memory left throughout; 400,000 kB of usable zram falling 50,000 kB/s.
        for (int t = 0; t <= 10_000 && j.Reason == KillReason.None; t += 50)
        {
            long swapRoom = Math.Max(0, 400_000 - t * 50);
            var m = At(2) with { SwapTotalKb = 500_000 };
            j = w.Judge(t, in m, swapRoom, swapLow: swapRoom < 50_000, -1);
            if (swapRoom > 80_000)
                Assert.Equal(KillReason.None, j.Reason); // room above every level: no kill while swap can take pages
        }
        Assert.Equal(KillReason.LowHeadroom, j.Reason);
        Assert.True(j.RoomKb > Total / 200, $"the kill came only at {j.RoomKb} kB of room, past the reserve");
        Assert.InRange(j.FillRateKbPerSec, 40_000, 60_000);
    }

    [Fact]
    public void Concern_starts_before_the_first_level_when_headroom_falls_fast()
    {
        var w = new HeadroomWatch(HeadroomOptions.Default);
        Assert.False(Slide(w, 20, 20, 1000).Concern);
        // 12 % falling 20 %/s: out in ~575 ms, within 4 horizons, though above every level.
        Assert.True(Slide(new HeadroomWatch(HeadroomOptions.Default), 16, 12, 200).Concern);
        // Swap that absorbs counts as room: with ten times the memory's worth of it, no concern.
        Assert.False(Slide(new HeadroomWatch(HeadroomOptions.Default), 8, 4, 500, swapLow: false, usableSwapKb: 10_000_000).Concern);
    }

    [Theory]
    // Full but steady, below every level: nothing to rescan for, however long it stays full.
    [InlineData(4, 4, 2000, false)]
    [InlineData(1, 1, 2000, false)]
    // Falling 1 %/s from 30 %: out in ~29 s, beyond four of the longest horizon (2 s): no concern yet.
    [InlineData(30, 29, 1000, false)]
    // Falling 2 %/s at 10 %: out in ~4.8 s, within 8 s.
    [InlineData(12, 10, 1000, true)]
    public void Concern_is_a_fall_towards_exhaustion_not_being_full(double fromPct, double toPct, int overMs, bool concern)
    {
        var j = Slide(new HeadroomWatch(HeadroomOptions.Default), fromPct, toPct, overMs);
        Assert.Equal(concern, j.Concern);
    }

    [Theory]
    // Room above the 0.5 % reserve at the assumed 4 GiB/s (4,194,304 kB/s), clamped to 10..1000 ms.
    [InlineData(100_000_000, 50_000_000, 1000)] // a 100 GB server half free: 11.8 s, clamped
    [InlineData(1_000_000, 500_000, 118)]       // 495,000 kB of room: 118 ms
    [InlineData(1_000_000, 50_000, 10)]         // 45,000 kB: 10.7 ms
    [InlineData(1_000_000, 2_000, 10)]          // below the reserve: the floor
    public void Sampling_comes_sooner_the_closer_headroom_is_to_the_floor(long totalKb, long headroomKb, int expectedMs)
    {
        var w = new HeadroomWatch(HeadroomOptions.Default with { AssumedFillRateMibPerSec = 4096 });
        var m = new MemorySnapshot { TotalKb = totalKb, HeadroomKb = headroomKb };
        Assert.Equal(expectedMs, w.Judge(0, in m, 0, swapLow: true, -1).NextSampleMs);
    }

    [Fact]
    public void Free_swap_that_absorbs_counts_as_room_for_sampling()
    {
        var w = new HeadroomWatch(HeadroomOptions.Default);
        var m = At(1);
        Assert.Equal(10, w.Judge(0, in m, usableSwapKb: 0, swapLow: true, -1).NextSampleMs);
        Assert.Equal(1000, w.Judge(10, in m, usableSwapKb: 8_000_000, swapLow: false, -1).NextSampleMs);
    }

    [Fact]
    public void A_kill_resets_the_rate()
    {
        var w = new HeadroomWatch(HeadroomOptions.Default);
        Assert.Equal(HeadroomBasis.Imminent, Slide(w, 22, 7, 250).Basis);
        w.OnKill();
        // Right after a kill the first sample has no history: no rate, no kill, whatever it reads.
        var m = At(1);
        var j = w.Judge(1000, in m, 0, swapLow: true, -1);
        Assert.Equal(0, j.FillRateKbPerSec);
        Assert.Equal(KillReason.None, j.Reason);
    }

    [Fact]
    public void Off_or_unknown_headroom_judges_nothing_and_asks_for_no_samples()
    {
        var off = new HeadroomWatch(HeadroomOptions.Default with { Enabled = false });
        Assert.Equal(-1, Slide(off, 13, 7, 100).NextSampleMs);
        Assert.Equal(KillReason.None, Slide(off, 13, 7, 100).Reason);
        var unknown = new HeadroomWatch(HeadroomOptions.Default);
        var m = At(1) with { HeadroomKb = -1 };
        var j = unknown.Judge(0, in m, 0, true, -1);
        Assert.Equal(-1, j.NextSampleMs);
        Assert.Equal(KillReason.None, j.Reason);
    }

    [Fact]
    public void Levels_of_its_own()
    {
        var o = HeadroomOptions.Default with
        {
            Levels = [new() { HeadroomPct = 20, MinScoreAdj = 1000 }, new() { HeadroomPct = 10, MinScoreAdj = 500 }],
        };
        var j = Slide(new HeadroomWatch(o), 30, 15, 300); // 15 % falling 50 %/s
        Assert.Equal(HeadroomBasis.FillRate, j.Basis);
        Assert.Equal(1000, j.MinScoreAdj);
        Assert.Equal(20, j.LevelPct);
        j = Slide(new HeadroomWatch(o), 30, 8, 100); // imminent: the deepest configured level
        Assert.Equal(HeadroomBasis.Imminent, j.Basis);
        Assert.Equal(500, j.MinScoreAdj);
    }

    [Fact]
    public void A_level_with_a_longer_horizon_of_its_own_kills_a_slower_fill()
    {
        var o = HeadroomOptions.Default with
        {
            Levels = [new() { HeadroomPct = 20, MinScoreAdj = 900 }, new() { HeadroomPct = 10, MinScoreAdj = 0, HorizonMs = 3000 }],
        };
        // 15 % falling 10 %/s: out in 1.45 s. Below 20 % only, whose horizon is the 500 ms one: no kill.
        Assert.Equal(KillReason.None, Slide(new HeadroomWatch(o), 25, 15, 1000).Reason);
        // 9 % falling 10 %/s: out in 850 ms, past the 20 % level's horizon, within the 10 % level's.
        var j = Slide(new HeadroomWatch(o), 19, 9, 1000);
        Assert.Equal((HeadroomBasis.FillRate, 0, 10.0), (j.Basis, j.MinScoreAdj, j.LevelPct));
        // The other way round: a shallower level that looks further ahead than the deepest one
        // decides while the deepest one's horizon is not met.
        o = HeadroomOptions.Default with
        {
            Levels = [new() { HeadroomPct = 20, MinScoreAdj = 900, HorizonMs = 3000 }, new() { HeadroomPct = 10, MinScoreAdj = 0 }],
        };
        j = Slide(new HeadroomWatch(o), 19, 9, 1000);
        Assert.Equal((HeadroomBasis.FillRate, 900, 20.0), (j.Basis, j.MinScoreAdj, j.LevelPct));
    }
}

public class HeadroomOptionsTests
{
    [Fact]
    public void Defaults_are_valid_and_ordered() =>
        Assert.Empty(HeadroomOptions.Default.Validate());

    public static TheoryData<string, HeadroomOptions, string> Invalid => new()
    {
        { "pct 0", new() { Levels = [new() { HeadroomPct = 0, MinScoreAdj = 0 }] }, "Levels:0:HeadroomPct" },
        { "pct 100", new() { Levels = [new() { HeadroomPct = 100, MinScoreAdj = 0 }] }, "Levels:0:HeadroomPct" },
        { "adj -1000", new() { Levels = [new() { HeadroomPct = 5, MinScoreAdj = -1000 }] }, "Levels:0:MinScoreAdj" },
        { "adj 1001", new() { Levels = [new() { HeadroomPct = 5, MinScoreAdj = 1001 }] }, "Levels:0:MinScoreAdj" },
        { "two at one pct", new() { Levels = [new() { HeadroomPct = 5, MinScoreAdj = 900 }, new() { HeadroomPct = 5, MinScoreAdj = 0 }] }, "Levels" },
        { "less headroom, shallower", new() { Levels = [new() { HeadroomPct = 5, MinScoreAdj = 0 }, new() { HeadroomPct = 2, MinScoreAdj = 900 }] }, "Levels" },
        { "horizon", new() { HorizonMs = 10, ImminentMs = 5 }, "HorizonMs" },
        { "imminent above horizon", new() { ImminentMs = 600 }, "ImminentMs" },
        { "reserve at the lowest level", new() { ReservePct = 3 }, "ReservePct" },
        { "level horizon", new() { Levels = [new() { HeadroomPct = 5, MinScoreAdj = 0, HorizonMs = 40 }] }, "Levels:0:HorizonMs" },
        { "level horizon below imminent", new() { Levels = [new() { HeadroomPct = 5, MinScoreAdj = 0, HorizonMs = 200 }] }, "Levels:0:HorizonMs" },
        { "level horizon over a minute", new() { Levels = [new() { HeadroomPct = 5, MinScoreAdj = 0, HorizonMs = 60_001 }] }, "Levels:0:HorizonMs" },
        { "rate", new() { AssumedFillRateMibPerSec = 0 }, "AssumedFillRateMibPerSec" },
        { "sample min", new() { SampleMinMs = 0 }, "SampleMinMs" },
        { "sample max below min", new() { SampleMinMs = 100, SampleMaxMs = 50 }, "SampleMaxMs" },
        { "efficiency", new() { ReclaimFailingEfficiencyPct = 101 }, "ReclaimFailingEfficiencyPct" },
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public void Each_invalid_value_is_named(string name, HeadroomOptions o, string key)
    {
        _ = name;
        var (k, error) = Assert.Single(o.Validate());
        Assert.Equal(key, k);
        Assert.False(string.IsNullOrWhiteSpace(error));
        Assert.Throws<ArgumentException>(() => new HeadroomWatch(o));
    }

    [Fact]
    public void Configured_levels_are_taken_most_headroom_first()
    {
        var o = new HeadroomOptions { Levels = [new() { HeadroomPct = 2, MinScoreAdj = 0 }, new() { HeadroomPct = 9, MinScoreAdj = 950 }] };
        Assert.Empty(o.Validate());
        Assert.Equal([9.0, 2.0], o.EffectiveLevels().Select(l => l.HeadroomPct));
        Assert.Equal(3, new HeadroomOptions().EffectiveLevels().Length); // empty: the defaults
    }
}
