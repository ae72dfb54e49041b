using Lmkd.Pressure;

namespace Lmkd.Tests.Pressure;

public class StallWindowTests
{
    private const long Ms = 1000;

    [Fact]
    public void Fires_when_growth_within_the_window_reaches_the_threshold_not_before()
    {
        var w = new StallWindow(100 * Ms, 1000 * Ms);
        long t = 0, total = 0;
        for (int i = 0; i < 20; i++, t += 100 * Ms) // 2 s idle
            Assert.False(w.Add(t, total));
        // 20 ms of stall per 100 ms: the 5th step reaches 100 ms of growth.
        for (int k = 1; k <= 4; k++)
        {
            total += 20 * Ms;
            Assert.False(w.Add(t, total), $"fired early at step {k} (growth {w.GrowthUs})");
            t += 100 * Ms;
        }
        total += 20 * Ms;
        Assert.True(w.Add(t, total));
        Assert.Equal(100 * Ms, w.GrowthUs);
    }

    [Fact]
    public void Stall_spread_thinner_than_the_threshold_rate_never_fires()
    {
        // 9 ms per 100 ms = 90 ms per 1 s window, under 100 ms: the cumulative total grows without bound.
        var w = new StallWindow(100 * Ms, 1000 * Ms);
        long total = 0;
        for (long t = 0; t < 30_000 * Ms; t += 100 * Ms, total += 9 * Ms)
            Assert.False(w.Add(t, total));
        Assert.InRange(w.GrowthUs, 89 * Ms, 91 * Ms);
    }

    [Fact]
    public void Window_is_interpolated_with_fast_and_uneven_samples()
    {
        var w = new StallWindow(500 * Ms, 2000 * Ms);
        long total = 0;
        // 10 ms samples, 20% stall: 400 ms per 2 s window, below 500.
        for (long t = 0; t < 6000 * Ms; t += 10 * Ms, total += 2 * Ms)
            Assert.False(w.Add(t, total));
        Assert.InRange(w.GrowthUs, 390 * Ms, 410 * Ms);
    }

    [Fact]
    public void Fires_at_most_once_per_window_while_pressure_lasts()
    {
        var w = new StallWindow(100 * Ms, 1000 * Ms);
        long total = 0;
        var fired = new List<long>();
        w.Add(0, 0);
        for (long t = 100 * Ms; t <= 5000 * Ms; t += 100 * Ms)
        {
            total += 50 * Ms; // heavy stall: the threshold is crossed every 200 ms
            if (w.Add(t, total))
                fired.Add(t);
        }
        Assert.Equal([200 * Ms, 1200 * Ms, 2200 * Ms, 3200 * Ms, 4200 * Ms], fired);
    }

    [Fact]
    public void Counter_going_backwards_starts_over()
    {
        var w = new StallWindow(100 * Ms, 1000 * Ms);
        w.Add(0, 5_000 * Ms);
        Assert.False(w.Add(100 * Ms, 10 * Ms)); // file recreated: no negative or huge growth
        Assert.Equal(0, w.GrowthUs);
        Assert.True(w.Add(200 * Ms, 200 * Ms));
    }

    [Fact]
    public void Growing_ignores_background_noise()
    {
        var w = new StallWindow(100 * Ms, 1000 * Ms); // threshold rate 10%; noise floor 1/16 of it
        w.Add(0, 0);
        w.Add(100 * Ms, 0);
        Assert.False(w.Growing);
        w.Add(200 * Ms, 100); // 0.1 ms in 100 ms: 0.1%
        Assert.False(w.Growing);
        w.Add(300 * Ms, 100 + 5 * Ms); // 5%
        Assert.True(w.Growing);
    }

    [Fact]
    public void Interval_shrinks_while_stall_grows_and_backs_off_when_idle_within_bounds()
    {
        var i = new AdaptiveInterval(10, 1000);
        Assert.Equal(1000, i.CurrentMs); // idle start
        Assert.Equal(1000, i.Update(false));
        Assert.Equal(10, i.Update(true));
        Assert.Equal(10, i.Update(true));
        var seen = new List<int>();
        for (int k = 0; k < 10; k++)
            seen.Add(i.Update(false));
        Assert.Equal([20, 40, 80, 160, 320, 640, 1000, 1000, 1000, 1000], seen);
        Assert.Throws<ArgumentOutOfRangeException>(() => new AdaptiveInterval(0, 10));
        Assert.Throws<ArgumentOutOfRangeException>(() => new AdaptiveInterval(20, 10));
    }
}
