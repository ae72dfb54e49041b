namespace Lmkd.Policies;

/// <summary>
/// Recent samples of committed memory (what reclaim cannot give back) and the rate at which it grows:
/// the rate at which headroom is being used up. A fixed ring of samples, so adding one allocates
/// nothing. The fill rate is the steepest rise over a short and a long window: the short one sees an
/// allocator that just started, the long one smooths the jitter of a busy machine.
/// </summary>
public sealed class HeadroomTrend
{
    public const int ShortWindowMs = 250;
    public const int LongWindowMs = 1000;
    /// <summary>Falls measured over less than this are too noisy to call a rate.</summary>
    public const int MinSpanMs = 40;

    private readonly long[] _times;
    private readonly long[] _committed;
    private int _next;
    private int _count;

    public HeadroomTrend(int capacity = 256)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 2);
        _times = new long[capacity];
        _committed = new long[capacity];
    }

    public int Count => _count;

    public void Add(long nowMs, long committedKb)
    {
        // Same instant twice (an event and a poll together): the newer reading wins.
        if (_count > 0 && _times[Index(_count - 1)] == nowMs)
        {
            _committed[Index(_count - 1)] = committedKb;
            return;
        }
        _times[_next] = nowMs;
        _committed[_next] = committedKb;
        _next = (_next + 1) % _times.Length;
        if (_count < _times.Length)
            _count++;
    }

    /// <summary>Forget the samples: after a kill the victim's return (and pages still on per-CPU lists) make them meaningless.</summary>
    public void Reset()
    {
        _count = 0;
        _next = 0;
    }

    /// <summary>How fast committed memory grows now, in kB/s; 0 when it is steady or shrinking, or not yet measurable.</summary>
    public long FillRateKbPerSec(long nowMs)
    {
        if (_count < 2)
            return 0;
        long latestT = _times[Index(_count - 1)], latestH = _committed[Index(_count - 1)];
        return Math.Max(0, Math.Max(RateOver(ShortWindowMs, latestT, latestH), RateOver(LongWindowMs, latestT, latestH)));
    }

    // The rise from the newest sample at least windowMs old (else the oldest one) to the latest.
    private long RateOver(int windowMs, long latestT, long latestH)
    {
        int pick = 0; // position from the oldest
        for (int i = _count - 2; i >= 0; i--)
        {
            if (latestT - _times[Index(i)] >= windowMs)
            {
                pick = i;
                break;
            }
        }
        long t = _times[Index(pick)], h = _committed[Index(pick)];
        long span = latestT - t;
        if (span < MinSpanMs)
            return 0;
        return (latestH - h) * 1000 / span;
    }

    // The ring position of the i-th sample counted from the oldest.
    private int Index(int i) => (_next - _count + i + _times.Length) % _times.Length;
}
