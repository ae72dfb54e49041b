using Lmkd.Daemon;

namespace Lmkd.Tests.Daemon;

public class WakeRateTests
{
    [Fact]
    public void The_rate_is_the_last_full_minute_s_and_the_first_minute_s_so_far()
    {
        var r = new WakeRate();
        Assert.Equal(0, r.PerSecond);
        for (long t = 0; t <= 10_000; t += 100)   // 10 Hz for 10 s (101 wake-ups)
            r.Add(t);
        Assert.InRange(r.PerSecond, 9.9, 10.2);
        for (long t = 10_100; t < 60_000; t += 100)
            r.Add(t);
        r.Add(60_000);                             // the first full minute closes
        Assert.InRange(r.PerSecond, 9.9, 10.2);
        for (long t = 61_000; t <= 120_000; t += 1000) // then 1 Hz: the figure changes only when the minute is full
        {
            r.Add(t);
            if (t < 120_000)
                Assert.InRange(r.PerSecond, 9.9, 10.2);
        }
        Assert.InRange(r.PerSecond, 0.9, 1.1);
    }
}
