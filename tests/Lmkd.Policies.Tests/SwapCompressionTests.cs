using Lmkd.Policies;
using static Lmkd.Policies.Tests.KillPolicyTests;

namespace Lmkd.Policies.Tests;

/// <summary>ro.lmk.swap_compression_ratio: on zram, free swap is worth only what free memory can hold.</summary>
public class SwapCompressionTests
{
    // 50 % of swap free as the kernel reports it, but only 1,500 kB of memory to hold compressed pages.
    private static MemorySnapshot ZramWithNoMemoryLeft() => Mem(free: FreeBelowLow, refault: Thrash(1), swap: Swap.Ok, pgDirect: 10) with { InactiveFileKb = 500 };

    private static KillPolicyOptions Ratio(string r) => KillPolicyOptions.Default with { SwapCompressionRatio = r };

    [Fact]
    public void Auto_without_zram_takes_free_swap_as_reported()
    {
        var d = Eval(Primed(), 10, PressureLevel.Medium, ZramWithNoMemoryLeft());
        Assert.False(d.SwapIsLow);
        Assert.NotEqual(KillReason.LowMemAndSwap, d.Reason);
    }

    [Fact]
    public void Zero_takes_free_swap_as_reported_even_on_zram()
    {
        var m = ZramWithNoMemoryLeft() with { ZramTotalKb = SwapTotal, ZramFreeKb = 500_000, ZramCompressionRatio = 3 };
        Assert.Equal(500_000, KillPolicy.FreeSwapKb(in m, Ratio("0")));
    }

    [Theory]
    [InlineData("3", true)]     // 3 x (1,500 + 500) = 6,000 kB < 10 % of 1,000,000: swap is low
    [InlineData("100", false)]  // 100 x 2,000 = 200,000 kB: still 20 % of swap, not low
    [InlineData("2.5", true)]   // fractional ratios are accepted
    public void With_a_ratio_free_swap_is_capped_by_the_memory_left(string ratio, bool low)
    {
        var d = Eval(Primed(Ratio(ratio)), 10, PressureLevel.Medium, ZramWithNoMemoryLeft());
        Assert.Equal(low, d.SwapIsLow);
        if (low)
        {
            Assert.Equal(KillReason.LowMemAndSwap, d.Reason);
            Assert.Equal(201, d.MinScoreAdj);
        }
    }

    public static TheoryData<string, long, long, double, long> AutoCases => new()
    {
        // name, zram total, zram free, measured ratio -> free swap counted
        // All swap on zram, ratio 3.2 measured: 3.2 x 2,000 kB of room.
        { "all zram, measured", SwapTotal, 500_000, 3.2, 6_400 },
        // An empty zram device has no ratio: the documented default (2) applies.
        { "all zram, empty device", SwapTotal, 500_000, 0, 4_000 },
        // Half the swap is a disk (250,000 free, counted whole), half zram (250,000 free, capped at 3 x 2,000).
        { "zram and a disk", 500_000, 250_000, 3, 250_000 + 6_000 },
        // zram with more room than free swap: the kernel's figure is the bound.
        { "zram, ratio beyond free", SwapTotal, 500_000, 1000, 500_000 },
    };

    [Theory]
    [MemberData(nameof(AutoCases))]
    public void Auto_applies_the_measured_compression_to_the_zram_share_only(string name, long zramTotal, long zramFree, double ratio, long expected)
    {
        _ = name;
        var m = ZramWithNoMemoryLeft() with { ZramTotalKb = zramTotal, ZramFreeKb = zramFree, ZramCompressionRatio = ratio };
        Assert.Equal(expected, KillPolicy.FreeSwapKb(in m, KillPolicyOptions.Default));
    }

    [Fact]
    public void Swap_utilisation_uses_the_same_free_swap()
    {
        var m = ZramWithNoMemoryLeft() with { SwapTotalKb = 1_000_000, SwapFreeKb = 500_000 };
        Assert.Equal(500_000, KillPolicy.FreeSwapKb(in m, Ratio("0")));
        Assert.Equal(6_000, KillPolicy.FreeSwapKb(in m, Ratio("3")));
        // 994,000 of 1,000,000 counted as used against 500,000 anon: 66 % of swappable memory is in swap.
        var d = Eval(Primed(Ratio("3")), 10, PressureLevel.Medium, m);
        Assert.Equal(66, d.SwapUtilPct);
    }

    [Theory]
    [InlineData("-1")]
    [InlineData("0.5")]
    [InlineData("101")]
    [InlineData("zram")]
    [InlineData("")]
    public void The_ratio_is_validated(string bad)
    {
        var (key, error) = Assert.Single(Ratio(bad).Validate());
        Assert.Equal(nameof(KillPolicyOptions.SwapCompressionRatio), key);
        Assert.Contains("auto", error);
    }

    [Theory]
    [InlineData("auto")]
    [InlineData("AUTO")]
    [InlineData("0")]
    [InlineData("1")]
    [InlineData("3.5")]
    [InlineData("100")]
    public void Valid_ratios(string good) => Assert.Empty(Ratio(good).Validate());
}
