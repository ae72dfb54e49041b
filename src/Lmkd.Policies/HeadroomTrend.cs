namespace Lmkd.Policies;

/// <summary>
/// Recent samples of committed memory (what reclaim cannot give back) and the rate at which it grows:
/// the rate at which headroom is being used up. A fixed ring of samples, so adding one allocates
/// nothing. The fill rate is the rise over the last second, or faster: over the last 250 ms when the
/// 250 ms before rose as fast (the lower of the two), so an allocator that keeps going is seen at
/// its pace within half a second, while a burst that stops (a process starting: 13 MiB in 50 ms)
/// counts only at its average over the second. A rise is never taken over less than 250 ms, even
/// right after <see cref="Reset"/>, when there is no second of history yet: measured in the VM, an
/// allocator that made up for a stall with 27 MB in 50 ms right after a kill otherwise read as
/// 537 MB/s, and an oom_score_adj 0 process was killed as "imminent" at 7 % headroom.
/// </summary>
public sealed class HeadroomTrend
{
    public const int ShortWindowMs = 250;
    public const int LongWindowMs = 1000;
    /// <summary>Rises measured over less than this are too noisy to call a rate at all.</summary>
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
        int latest = _count - 1;
        long latestT = _times[Index(latest)];
        long recent = RateBetween(Before(latest, ShortWindowMs), latest);
        int mid = Before(latest, ShortWindowMs);
        // The short window counts when the one before it rose at least as fast: a sustained fill.
        long sustained = latestT - _times[Index(mid)] >= ShortWindowMs ? Math.Min(recent, RateBetween(Before(mid, ShortWindowMs), mid)) : 0;
        return Math.Max(0, Math.Max(sustained, RateBetween(Before(latest, LongWindowMs), latest)));
    }

    // The newest sample at least windowMs older than sample `from` (else the oldest one); positions from the oldest.
    private int Before(int from, int windowMs)
    {
        long t = _times[Index(from)];
        for (int i = from - 1; i >= 0; i--)
            if (t - _times[Index(i)] >= windowMs)
                return i;
        return 0;
    }

    // The rise from sample `from` to sample `to`, per second, as if over at least the short window
    // (what came before the oldest sample counts as no rise); 0 over too short a span.
    private long RateBetween(int from, int to)
    {
        long span = _times[Index(to)] - _times[Index(from)];
        if (span < MinSpanMs)
            return 0;
        return (_committed[Index(to)] - _committed[Index(from)]) * 1000 / Math.Max(span, ShortWindowMs);
    }

    // The ring position of the i-th sample counted from the oldest.
    private int Index(int i) => (_next - _count + i + _times.Length) % _times.Length;
}
