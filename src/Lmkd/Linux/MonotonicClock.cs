using System.Diagnostics;

namespace Lmkd.Linux;

/// <summary>
/// CLOCK_MONOTONIC in milliseconds. Not Environment.TickCount64: on Linux that is
/// CLOCK_MONOTONIC_COARSE, which moves a jiffy at a time (4 ms at HZ=250), so a loop that sleeps
/// 10 ms until a sample is due can wake to a clock that moved 8 and sleep 2 more: a third of the
/// wake-ups of a loop sampling every 10 ms were such extra ones.
/// </summary>
public static class MonotonicClock
{
    private static readonly long TicksPerMs = Stopwatch.Frequency / 1000;

    public static long NowMs => Stopwatch.GetTimestamp() / TicksPerMs;
}
