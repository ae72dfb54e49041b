using Lmkd.Policies;
using static Lmkd.Policies.Tests.KillPolicyTests;

namespace Lmkd.Policies.Tests;

/// <summary>The headroom watch inside <see cref="KillPolicy"/>, and what changed in Android's reasons beside it.</summary>
public class KillPolicyHeadroomTests
{
    // Mem()'s scope is 4,000,000 kB: 1 % = 40,000 kB.
    private const long Scope = 4_000_000;
    private static long Pct(double p) => (long)(Scope * p / 100);
    private static readonly PsiSnapshot NoStall = new(0, 0, 0, 0);

    /// <summary>Anonymous memory filling a swapless scope: headroom falls, nothing refaults or reclaims.</summary>
    private static KillDecision FillTo(KillPolicy p, double fromPct, double toPct, int overMs, long startMs = 0)
    {
        KillDecision d = default;
        for (int t = 0; t <= overMs; t += 10)
        {
            var m = Mem() with { HeadroomKb = Pct(fromPct + (toPct - fromPct) * t / overMs) };
            d = p.Evaluate(startMs + t, PressureLevel.None, in m, in NoStall, inPsiWindow: false);
        }
        return d;
    }

    [Fact]
    public void Anonymous_growth_with_no_stall_reclaim_or_refault_is_killed_from_headroom()
    {
        var p = new KillPolicy(KillPolicyOptions.Default);
        // 10 % to 2 % in 1 s: 8 %/s, out in (2 - 0.5) / 8 = 187 ms: imminent, the deepest reach.
        var d = FillTo(p, 10, 2, 1000);
        Assert.Equal(KillReason.LowHeadroom, d.Reason);
        Assert.Equal(0, d.MinScoreAdj);
        Assert.Equal(HeadroomBasis.Imminent, d.Headroom.Basis);
        Assert.True(d.KeepPolling);
    }

    [Fact]
    public void A_full_but_steady_scope_is_left_alone()
    {
        var p = new KillPolicy(KillPolicyOptions.Default);
        var d = FillTo(p, 2, 2, 3000);
        Assert.Equal(KillReason.None, d.Reason);
        Assert.Equal(-1, d.Headroom.MsToExhaustion);
        Assert.Equal(14, d.Headroom.NextSampleMs); // 60,000 kB above the reserve at 4 GiB/s: sampled often, still no kill
    }

    [Fact]
    public void The_reason_that_reaches_deeper_decides()
    {
        // LOW_MEM alone would reach 701; headroom about to run out reaches 0. (A trickle of refaults
        // keeps Android's evaluation from stopping at "nothing is happening".)
        var p = Primed();
        KillDecision d = default;
        for (int t = 10; t <= 500; t += 10)
        {
            var m = Mem(free: FreeBelowMin, refault: Refault0 + t) with { HeadroomKb = Pct(6 - 5.0 * t / 500) };
            d = Eval(p, t, PressureLevel.Medium, m);
        }
        Assert.Equal(KillReason.LowHeadroom, d.Reason);
        Assert.Equal(0, d.MinScoreAdj);

        // Headroom reaching only 900 (falling slowly below 8 %) does not override LOW_MEM's 701.
        p = Primed();
        for (int t = 10; t <= 500; t += 10)
        {
            var m = Mem(free: FreeBelowMin, refault: Refault0 + t) with { HeadroomKb = Pct(14 - 7.0 * t / 500) };
            d = Eval(p, t, PressureLevel.Medium, m);
        }
        Assert.Equal(KillReason.LowMem, d.Reason);
        Assert.Equal(701, d.MinScoreAdj);
        Assert.Equal(KillReason.LowHeadroom, d.Headroom.Reason);
        Assert.Equal(900, d.Headroom.MinScoreAdj);
    }

    [Fact]
    public void A_kill_restarts_the_fill_rate()
    {
        var p = new KillPolicy(KillPolicyOptions.Default);
        var d = FillTo(p, 10, 2, 1000);
        Assert.True(d.ShouldKill);
        p.OnKillResult(d, killed: true);
        // Headroom reads short right after a kill (freed pages on per-CPU lists): no history, no kill.
        var m = Mem() with { HeadroomKb = Pct(1.6) };
        d = p.Evaluate(1100, PressureLevel.None, in m, in NoStall, inPsiWindow: false);
        Assert.Equal(KillReason.None, d.Reason);
        Assert.Equal(0, d.Headroom.FillRateKbPerSec);
    }

    [Fact]
    public void Swap_that_can_absorb_holds_headroom_kills_back()
    {
        var p = new KillPolicy(KillPolicyOptions.Default);
        KillDecision d = default;
        for (int t = 0; t <= 1000; t += 10)
        {
            var m = Mem(swap: Swap.Ok) with { HeadroomKb = Pct(10 - 8.0 * t / 1000) };
            d = p.Evaluate(t, PressureLevel.None, in m, in NoStall, inPsiWindow: false);
        }
        Assert.Equal(KillReason.None, d.Reason);
        Assert.True(d.Headroom.SwapAbsorbs);
    }

    [Fact]
    public void Reclaim_efficiency_comes_from_the_scan_and_steal_counters()
    {
        var p = new KillPolicy(KillPolicyOptions.Default);
        // Headroom steady at 1 %, cache nearly gone; reclaim scans 10,000 pages a second and frees 300.
        KillDecision d = default;
        for (int t = 0; t <= 1500; t += 100)
        {
            var m = Mem(refault: Refault0 + t) with
            {
                HeadroomKb = Pct(1), InactiveFileKb = 1000, PgscanTotal = 10 * t, PgstealTotal = 3 * t / 10,
            };
            d = p.Evaluate(t, PressureLevel.None, in m, in NoStall, inPsiWindow: false);
        }
        Assert.Equal(KillReason.ReclaimFailing, d.Reason);
        Assert.Equal(0, d.MinScoreAdj);

        // The same scan freeing half of what it scans: reclaim works, no kill.
        p = new KillPolicy(KillPolicyOptions.Default);
        for (int t = 0; t <= 1500; t += 100)
        {
            var m = Mem(refault: Refault0 + t) with
            {
                HeadroomKb = Pct(1), InactiveFileKb = 1000, PgscanTotal = 10 * t, PgstealTotal = 5 * t,
            };
            d = p.Evaluate(t, PressureLevel.None, in m, in NoStall, inPsiWindow: false);
        }
        Assert.Equal(KillReason.None, d.Reason);
    }

    [Fact]
    public void A_stream_refaults_without_activating_and_is_not_thrashing()
    {
        // Refaults worth 150 % of the file LRU, none activated, direct reclaim under way.
        var p = Primed();
        var m = Mem(refault: Thrash(150), pgDirect: 1) with { ActivateFileKb = Refault0 };
        var d = Eval(p, 500, PressureLevel.Medium, m);
        Assert.Equal(0, d.ThrashingPct);
        Assert.Equal(KillReason.None, d.Reason);
    }

    [Theory]
    // Without activations (cgroup v1), refaults are thrashing only while tasks stall for them.
    [InlineData(0, 0)]        // a stream: no stall
    [InlineData(90_000, 0)]   // 18 % of the 500 ms window: below the 20 % gate
    [InlineData(100_000, 150)] // 20 %: at the gate, thrashing
    public void Without_activations_refaults_count_only_with_stall(long stallUs, long expectedThrashing)
    {
        var p = new KillPolicy(KillPolicyOptions.Default);
        var baseline = Mem() with { ActivateFileKb = -1 };
        p.Evaluate(0, PressureLevel.None, in baseline, new PsiSnapshot(0, 0, 1_000_000, 0), inPsiWindow: false);
        var m = Mem(refault: Thrash(150), pgDirect: 1) with { ActivateFileKb = -1 };
        var d = p.Evaluate(500, PressureLevel.Medium, in m, new PsiSnapshot(0, 0, 1_000_000 + stallUs, 0), inPsiWindow: true);
        Assert.Equal(expectedThrashing, d.ThrashingPct);
        Assert.Equal(expectedThrashing > 0 ? KillReason.DirectReclAndThrashing : KillReason.None, d.Reason);
    }

    [Theory]
    // Stall in the window before (1.1 s) and in this one (500 ms so far): the gate takes the lower.
    [InlineData(24, 3, false)]   // a cgroup filling up: one burst, then a stream's small stall
    [InlineData(3, 24, false)]
    [InlineData(20, 30, true)]   // a working set that does not fit: sustained
    public void Without_activations_the_stall_must_last_two_windows(int stallBeforePct, int stallNowPct, bool thrashing)
    {
        var p = new KillPolicy(KillPolicyOptions.Default);
        var m0 = Mem() with { ActivateFileKb = -1 };
        p.Evaluate(0, PressureLevel.None, in m0, new PsiSnapshot(0, 0, 0, 0), inPsiWindow: false);
        long before = 1100L * 1000 * stallBeforePct / 100;
        var m1 = Mem(refault: Refault0 + 1) with { ActivateFileKb = -1 };
        p.Evaluate(1100, PressureLevel.None, in m1, new PsiSnapshot(0, 0, before, 0), inPsiWindow: false);
        var m2 = Mem(refault: Thrash(150, from: Refault0 + 1), pgDirect: 1) with { ActivateFileKb = -1 };
        var d = p.Evaluate(1600, PressureLevel.Medium, in m2, new PsiSnapshot(0, 0, before + 500L * 1000 * stallNowPct / 100, 0), inPsiWindow: true);
        Assert.Equal(thrashing, d.ThrashingPct > 0);
        Assert.Equal(thrashing ? KillReason.DirectReclAndThrashing : KillReason.None, d.Reason);
    }

    [Theory]
    // Without activations, a stream keeps its pages on the inactive list: refaults with 95 % of the
    // file LRU inactive are no working set, however much tasks stall.
    [InlineData(95, false)]
    [InlineData(50, true)]
    public void Without_activations_refaulted_pages_must_be_active(int inactivePct, bool thrashing)
    {
        var p = new KillPolicy(KillPolicyOptions.Default);
        long inactive = (BaseLru + 1) * inactivePct / 100;
        var m0 = Mem() with { ActivateFileKb = -1, InactiveFileKb = inactive };
        p.Evaluate(0, PressureLevel.None, in m0, new PsiSnapshot(0, 0, 0, 0), inPsiWindow: false);
        var m1 = Mem(refault: Thrash(150), pgDirect: 1) with { ActivateFileKb = -1, InactiveFileKb = inactive };
        var d = p.Evaluate(500, PressureLevel.Medium, in m1, new PsiSnapshot(0, 0, 250_000, 0), inPsiWindow: true); // 50 % stall
        Assert.Equal(thrashing, d.ThrashingPct > 0);
    }

    [Fact]
    public void LowMemMinScoreAdj_1001_turns_LOW_MEM_off()
    {
        var p = Primed(new KillPolicyOptions { LowMemMinScoreAdj = 1001 });
        var d = Eval(p, 500, PressureLevel.Medium, Mem(free: FreeBelowMin, refault: Refault0 + 1));
        Assert.Equal(KillReason.None, d.Reason);
    }

    [Fact]
    public void Headroom_off_leaves_Android_alone()
    {
        var p = new KillPolicy(KillPolicyOptions.Default, HeadroomOptions.Default with { Enabled = false });
        var d = FillTo(p, 10, 1, 500);
        Assert.Equal(KillReason.None, d.Reason);
        Assert.Equal(-1, d.Headroom.NextSampleMs);
    }

    [Fact]
    public void Reload_takes_new_levels()
    {
        var p = new KillPolicy(KillPolicyOptions.Default);
        p.UpdateOptions(KillPolicyOptions.Default, HeadroomOptions.Default with { Levels = [new() { HeadroomPct = 3, MinScoreAdj = 500 }] });
        Assert.Single(p.HeadroomOptions.Levels);
        var d = FillTo(p, 10, 2, 1000); // imminent: the deepest configured level is 500
        Assert.Equal(KillReason.LowHeadroom, d.Reason);
        Assert.Equal(500, d.MinScoreAdj);
    }

    [Fact]
    public void Every_reason_has_a_name_of_its_own()
    {
        var names = Enum.GetValues<KillReason>().Select(KillReasons.Name).ToList();
        Assert.Equal(names.Count, names.Distinct().Count());
        Assert.Equal("LOW_HEADROOM", KillReasons.Name(KillReason.LowHeadroom));
        Assert.Equal("RECLAIM_FAILING", KillReasons.Name(KillReason.ReclaimFailing));
    }
}
