using Lmkd.Policies;

namespace Lmkd.Policies.Tests;

public class KillPolicyOptionsTests
{
    [Fact]
    public void DefaultsAreAndroidLmkdsAndValid()
    {
        var o = KillPolicyOptions.Default;
        Assert.Equal(
            (100, 10, 200, 10, 100, 0L, 701, 0, 201, 1000, 10, 100),
            (o.ThrashingLimitPct, o.ThrashingLimitDecayPct, o.ThrashingCriticalPct, o.SwapFreeLowPercentage,
             o.SwapUtilMaxPct, o.FilecacheMinKb, o.LowMemMinScoreAdj, o.PressureAfterKillMinScoreAdj,
             o.PerceptibleMinScoreAdj, o.ThrashingResetIntervalMs, o.PollShortMs, o.PollLongMs));
        Assert.Empty(o.Validate());
    }

    [Theory]
    [InlineData(701, 701)]
    [InlineData(900, 900)]
    [InlineData(201, 201)]
    [InlineData(200, 201)]
    [InlineData(0, 201)]
    [InlineData(-1000, 201)]
    public void LowMemFloorIsClampedAbovePerceptible(int configured, int effective) =>
        Assert.Equal(effective, new KillPolicyOptions { LowMemMinScoreAdj = configured }.EffectiveLowMemMinScoreAdj);

    public static TheoryData<string, KillPolicyOptions, string> BadValues => new()
    {
        { nameof(KillPolicyOptions.ThrashingLimitPct), new() { ThrashingLimitPct = -1 }, "0..10000" },
        { nameof(KillPolicyOptions.ThrashingLimitPct), new() { ThrashingLimitPct = 10001 }, "0..10000" },
        { nameof(KillPolicyOptions.ThrashingLimitDecayPct), new() { ThrashingLimitDecayPct = 101 }, "0..100" },
        { nameof(KillPolicyOptions.ThrashingLimitDecayPct), new() { ThrashingLimitDecayPct = -1 }, "0..100" },
        { nameof(KillPolicyOptions.ThrashingCriticalPct), new() { ThrashingCriticalPct = -5 }, "0..10000" },
        { nameof(KillPolicyOptions.SwapFreeLowPercentage), new() { SwapFreeLowPercentage = 101 }, "0..100" },
        { nameof(KillPolicyOptions.SwapUtilMaxPct), new() { SwapUtilMaxPct = -1 }, "0..100" },
        { nameof(KillPolicyOptions.FilecacheMinKb), new() { FilecacheMinKb = -1 }, "0 or more" },
        { nameof(KillPolicyOptions.LowMemMinScoreAdj), new() { LowMemMinScoreAdj = 1002 }, "or 1001 to turn LOW_MEM kills off" },
        { nameof(KillPolicyOptions.PressureAfterKillMinScoreAdj), new() { PressureAfterKillMinScoreAdj = -1001 }, "-1000..1000" },
        { nameof(KillPolicyOptions.PerceptibleMinScoreAdj), new() { PerceptibleMinScoreAdj = 2000 }, "-1000..1000" },
        { nameof(KillPolicyOptions.ThrashingResetIntervalMs), new() { ThrashingResetIntervalMs = 0 }, "more than 0" },
        { nameof(KillPolicyOptions.PollShortMs), new() { PollShortMs = 0 }, "more than 0" },
        { nameof(KillPolicyOptions.PollLongMs), new() { PollLongMs = -100 }, "more than 0" },
    };

    [Theory]
    [MemberData(nameof(BadValues))]
    public void ValidateNamesTheBadKeyAndTheAcceptedRange(string key, KillPolicyOptions options, string range)
    {
        var (badKey, error) = Assert.Single(options.Validate());
        Assert.Equal(key, badKey);
        Assert.Contains(range, error);
    }

    [Fact]
    public void ValidateAcceptsTheEdgesOfEachRange()
    {
        var edges = new KillPolicyOptions
        {
            ThrashingLimitPct = 10000,
            ThrashingLimitDecayPct = 100,
            ThrashingCriticalPct = 0,
            SwapFreeLowPercentage = 0,
            SwapUtilMaxPct = 0,
            FilecacheMinKb = 0,
            LowMemMinScoreAdj = -1000,
            PressureAfterKillMinScoreAdj = 1000,
            PerceptibleMinScoreAdj = -1000,
            ThrashingResetIntervalMs = 1,
            PollShortMs = 1,
            PollLongMs = 1,
        };
        Assert.Empty(edges.Validate());
    }

    [Fact]
    public void ValidateReportsEveryBadKey()
    {
        var o = new KillPolicyOptions { SwapUtilMaxPct = 200, PollShortMs = 0, LowMemMinScoreAdj = 5000 };
        Assert.Equal(
            [nameof(KillPolicyOptions.SwapUtilMaxPct), nameof(KillPolicyOptions.LowMemMinScoreAdj), nameof(KillPolicyOptions.PollShortMs)],
            o.Validate().Select(e => e.Key));
    }
}
