using Lmkd.Policies;
using static Lmkd.Policies.Tests.KillPolicyTests;

namespace Lmkd.Policies.Tests;

/// <summary>ro.lmk.swap_compression_ratio: on zram, free swap is worth only what free memory can hold.</summary>
public class SwapCompressionTests
{
    // 50 % of swap free as the kernel reports it, but only 1,500 kB of memory to hold compressed pages.
    private static MemorySnapshot ZramWithNoMemoryLeft() => Mem(free: FreeBelowLow, refault: Thrash(1), swap: Swap.Ok, pgDirect: 10) with { InactiveFileKb = 500 };

    [Fact]
    public void Off_by_default_free_swap_is_taken_as_reported()
    {
        var d = Eval(Primed(), 10, PressureLevel.Medium, ZramWithNoMemoryLeft());
        Assert.False(d.SwapIsLow);
        Assert.NotEqual(KillReason.LowMemAndSwap, d.Reason);
    }

    [Theory]
    [InlineData(3, true)]     // 3 x (1,500 + 500) = 6,000 kB < 10 % of 1,000,000: swap is low
    [InlineData(100, false)]  // 100 x 2,000 = 200,000 kB: still 20 % of swap, not low
    public void With_a_ratio_free_swap_is_capped_by_the_memory_left(int ratio, bool low)
    {
        var d = Eval(Primed(KillPolicyOptions.Default with { SwapCompressionRatio = ratio }), 10, PressureLevel.Medium, ZramWithNoMemoryLeft());
        Assert.Equal(low, d.SwapIsLow);
        if (low)
        {
            Assert.Equal(KillReason.LowMemAndSwap, d.Reason);
            Assert.Equal(201, d.MinScoreAdj);
        }
    }

    [Fact]
    public void Swap_utilisation_uses_the_same_free_swap()
    {
        var m = ZramWithNoMemoryLeft();
        Assert.Equal(500_000, KillPolicy.FreeSwapKb(in m, 0));
        Assert.Equal(6_000, KillPolicy.FreeSwapKb(in m, 3));
    }

    [Fact]
    public void The_ratio_is_validated()
    {
        var (key, _) = Assert.Single((KillPolicyOptions.Default with { SwapCompressionRatio = -1 }).Validate());
        Assert.Equal(nameof(KillPolicyOptions.SwapCompressionRatio), key);
    }
}
