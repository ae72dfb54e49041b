using Lmkd.Notify;

namespace Lmkd.Tests.Notify;

public sealed class RateLimiterTests
{
    [Fact]
    public void A_burst_passes_then_one_per_interval()
    {
        var l = new RateLimiter(burst: 3, intervalMs: 1000);
        Assert.Equal([true, true, true, false, false], Enumerable.Range(0, 5).Select(_ => l.TryTake(10_000)).ToArray());
        Assert.False(l.TryTake(10_999));
        Assert.True(l.TryTake(11_000));
        Assert.False(l.TryTake(11_500));
        Assert.True(l.TryTake(12_000));
    }

    [Fact]
    public void A_respawning_workload_killed_every_two_seconds_for_a_minute_gets_the_burst_and_then_one_per_interval()
    {
        var l = new RateLimiter(burst: 3, intervalMs: 30_000);
        int shown = Enumerable.Range(0, 30).Count(i => l.TryTake(1_000_000 + i * 2_000L));
        // 3 at once, then one each time 30 s have passed: at 30 s (t = 1 030 000) only, within the 58 s of kills.
        Assert.Equal(4, shown);
    }

    [Fact]
    public void A_quiet_spell_refills_the_burst_but_never_beyond_it()
    {
        var l = new RateLimiter(burst: 2, intervalMs: 1000);
        Assert.True(l.TryTake(0));
        Assert.True(l.TryTake(0));
        Assert.False(l.TryTake(0));
        // An hour of silence buys two, not 3,600.
        Assert.True(l.TryTake(3_600_000));
        Assert.True(l.TryTake(3_600_000));
        Assert.False(l.TryTake(3_600_000));
    }

    [Fact]
    public void A_steady_stream_keeps_the_part_of_an_interval_already_waited()
    {
        var l = new RateLimiter(burst: 2, intervalMs: 1000);
        Assert.True(l.TryTake(0));
        Assert.True(l.TryTake(0));
        Assert.False(l.TryTake(700));
        // 1500 ms: one interval has passed; the 500 ms beyond it count towards the next one.
        Assert.True(l.TryTake(1500));
        Assert.False(l.TryTake(1999));
        Assert.True(l.TryTake(2000));
    }

    [Theory]
    [InlineData(0, 1000)]
    [InlineData(1, 0)]
    public void Nonsense_limits_are_refused(int burst, long intervalMs) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new RateLimiter(burst, intervalMs));
}
