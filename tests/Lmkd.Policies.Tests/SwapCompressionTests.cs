using Lmkd.Policies;
using static Lmkd.Policies.Tests.KillPolicyTests;

namespace Lmkd.Policies.Tests;

/// <summary>
/// Usable swap: a disk at face value; zram at the compression it achieves, bounded by what memory can
/// hold once compressed; with a number, Android's ro.lmk.swap_compression_ratio cap on all swap.
/// </summary>
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
        var m = ZramWithNoMemoryLeft() with { ZramTotalKb = SwapTotal, ZramFreeKb = 500_000, ZramStoredKb = 500_000, ZramMemUsedKb = 166_000 };
        Assert.Equal(500_000, UsableSwap.Of(in m, Ratio("0")).TotalKb);
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

    public static TheoryData<string, long, long, long, long, long, long, long, long> AutoCases => new()
    {
        // name, swap free, zram total, zram free, stored, zram memory, headroom -> usable disk, usable zram
        // (anon 500,000 kB in every row)
        // An empty zram swap counts nearly whole: at the default 2:1, the 600,000 kB that anon and the
        // headroom hold would hold 1,200,000 once compressed, less the 500,000 of anon itself. The old
        // cap of 2 x (free + inactive file) = 4,000 kB read this healthy machine as "swap low".
        { "empty zram, default ratio", 1_000_000, 1_000_000, 1_000_000, 0, 0, 100_000, 0, 700_000 },
        { "empty zram, memory enough", 1_000_000, 1_000_000, 1_000_000, 0, 0, 600_000, 0, 1_000_000 },
        // 300,000 kB stored in 100,000 (3:1): 650,000 x 3 - 500,000 - 300,000 = 1,150,000, so all 700,000 free count.
        { "zram at 3:1 with room", 700_000, 1_000_000, 700_000, 300_000, 100_000, 50_000, 0, 700_000 },
        // Data that does not compress (1:1) and no memory left: swap cannot take what there is no memory for.
        { "incompressible, memory gone", 700_000, 1_000_000, 700_000, 300_000, 300_000, 10_000, 0, 10_000 },
        // Half disk (250,000 free, at face value), half zram (250,000 free, 2.5:1, memory enough).
        { "zram and a disk", 500_000, 500_000, 250_000, 250_000, 100_000, 0, 250_000, 250_000 },
        // 8 MiB of zero pages read as 100:1: under 16 MiB stored, the default ratio 2 applies (600,080 x 2 - 508,192).
        { "a few zero pages", 991_808, 1_000_000, 991_808, 8_192, 80, 100_000, 0, 691_968 },
        // 64 MiB of zero pages read as 800:1 on a large zram: a measured ratio counts at most 8:1 (500,080 x 8 - 565,536).
        { "zero pages, ratio capped", 7_934_464, 8_000_000, 7_934_464, 65_536, 80, 0, 0, 3_435_104 },
    };

    [Theory]
    [MemberData(nameof(AutoCases))]
    public void Auto_counts_a_disk_at_face_value_and_zram_by_what_memory_can_hold_compressed(
        string name, long swapFree, long zramTotal, long zramFree, long stored, long memUsed, long headroom, long disk, long zram)
    {
        _ = name;
        var m = ZramWithNoMemoryLeft() with
        {
            SwapFreeKb = swapFree, ZramTotalKb = zramTotal, ZramFreeKb = zramFree, ZramStoredKb = stored, ZramMemUsedKb = memUsed, HeadroomKb = headroom,
        };
        var u = UsableSwap.Of(in m, KillPolicyOptions.Default);
        Assert.Equal((disk, zram), (u.DiskKb, u.ZramKb));
    }

    /// <summary>The zram case: an empty 512 MiB zram in a 1 GiB machine, memory down to the watermarks.</summary>
    [Fact]
    public void An_empty_zram_is_not_low_swap_when_memory_reaches_the_watermarks()
    {
        var m = Mem(free: FreeBelowLow, swap: Swap.Ok) with
        {
            TotalKb = 1_000_000, SwapTotalKb = 512_000, SwapFreeKb = 512_000, ZramTotalKb = 512_000, ZramFreeKb = 512_000,
            AnonKb = 800_000, HeadroomKb = 21_000, InactiveFileKb = 500,
        };
        var d = Eval(Primed(), 10, PressureLevel.Medium, m);
        Assert.False(d.SwapIsLow);
        Assert.Equal(512_000, d.UsableSwap.ZramKb);
        Assert.Equal(KillReason.None, d.Reason);
    }

    [Fact]
    public void Swap_utilisation_uses_the_same_free_swap()
    {
        var m = ZramWithNoMemoryLeft() with { SwapTotalKb = 1_000_000, SwapFreeKb = 500_000 };
        Assert.Equal(500_000, UsableSwap.Of(in m, Ratio("0")).TotalKb);
        Assert.Equal(6_000, UsableSwap.Of(in m, Ratio("3")).TotalKb);
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
