using Lmkd.Policies;

namespace Lmkd.Policies.Tests;

/// <summary>`lmkd status`'s outlook: which rule is closest to firing, and why the others are not.</summary>
public class RuleOutlookTests
{
    private static KillDecision D(KillReason reason = KillReason.None, HeadroomJudgement? h = null, bool swapLow = false) => new()
    {
        Reason = reason,
        MinScoreAdj = 201,
        Watermark = WatermarkLevel.BelowLow,
        SwapIsLow = swapLow,
        UsableSwap = new UsableSwap(1024 * 100, 1024 * 400),
        Headroom = h ?? new HeadroomJudgement { HeadroomPct = 70, MsToExhaustion = -1, NextSampleMs = 1000 },
    };

    public static TheoryData<string, KillDecision, bool, string, string> Cases => new()
    {
        // name, decision, in a PSI window -> closest rule (prefix), its "why" (substring)
        { "healthy, no PSI: headroom watch first, Android waits", D(), false, "headroom", "above every level" },
        { "healthy, PSI window open: Android's reasons first", D(), true, "Android", "in a PSI window: watermark BelowLow, swap not low" },
        { "zram with room: the room is headroom plus usable swap", D(h: new HeadroomJudgement { HeadroomKb = 20_000, RoomKb = 532_000, HeadroomPct = 2, SwapAbsorbs = true, NextSampleMs = 10, MsToExhaustion = -1 }),
            false, "headroom", "headroom 2.0 % plus 500 MiB of usable swap is above every level" },
        { "below a level, not falling", D(h: new HeadroomJudgement { HeadroomPct = 4, LevelPct = 5, MsToExhaustion = -1, NextSampleMs = 10 }), false, "headroom", "not falling" },
        { "headroom fires", D(KillReason.LowHeadroom, new HeadroomJudgement { Reason = KillReason.LowHeadroom, HeadroomPct = 2, LevelPct = 2.5, MsToExhaustion = 400, NextSampleMs = 10 }),
            false, "headroom", "LOW_HEADROOM: headroom 2.0 % below the 2.5 % level, out in 400 ms" },
        { "Android fires", D(KillReason.LowMemAndSwap, swapLow: true), true, "Android", "LOW_MEM_AND_SWAP (oom_score_adj >= 201)" },
        { "critical", D(KillReason.NotResponding), true, "NOT_RESPONDING", "critical" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void The_closest_rule_comes_first_with_why(string name, KillDecision d, bool inPsiWindow, string closest, string why)
    {
        _ = name;
        var rules = RuleOutlook.Explain(d, inPsiWindow);
        Assert.Equal(3, rules.Count);
        Assert.StartsWith(closest, rules[0].Rule, StringComparison.Ordinal);
        Assert.Contains(why, rules[0].Why, StringComparison.Ordinal);
        Assert.Equal(d.Reason != KillReason.None, rules[0].Fires);
        Assert.All(rules.Skip(1), r => Assert.False(r.Fires));
        if (!inPsiWindow)
            Assert.Contains(rules, r => r.Rule.StartsWith("Android", StringComparison.Ordinal) && r.Why.Contains("none is open", StringComparison.Ordinal));
    }
}
