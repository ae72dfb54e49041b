namespace Lmkd.Pressure;

/// <summary>
/// The sampling fallback's trigger for one level: fed (time, total stall) samples, it fires when the stall grew
/// by at least the threshold over the last window, and like a kernel trigger at most once per window.
/// Pure (no clock, no I/O) and allocation-free after construction: a fixed ring of samples.
/// </summary>
public sealed class StallWindow
{
    // Samples are stored at most every window/Slots, so a ring of 2*Slots always covers a whole window
    // whatever the sampling interval, and the growth is interpolated at exactly (now - window).
    private const int Slots = 16;
    private const int Capacity = 2 * Slots + 1;

    private readonly long[] _times = new long[Capacity];
    private readonly long[] _totals = new long[Capacity];
    private readonly long _storeEveryUs;
    private int _count, _head; // _head: index of the newest stored sample
    private long _lastFireUs = long.MinValue;
    private const int NoiseDivisor = 16;
    private bool _hasLast;
    private long _lastTime, _lastTotal;

    public StallWindow(long stallUs, long windowUs)
    {
        if (stallUs <= 0 || windowUs <= 0 || stallUs > windowUs)
            throw new ArgumentOutOfRangeException(nameof(stallUs), "need 0 < stall <= window");
        StallUs = stallUs;
        WindowUs = windowUs;
        _storeEveryUs = Math.Max(1, windowUs / Slots);
    }

    public long StallUs { get; }
    public long WindowUs { get; }

    /// <summary>Stall growth over the last window as of the latest sample (shorter span while warming up).</summary>
    public long GrowthUs { get; private set; }

    /// <summary>
    /// Whether the stall rose since the previous sample faster than 1/16 of this level's threshold rate:
    /// less is background noise that should not keep the sampler at its fastest interval.
    /// </summary>
    public bool Growing { get; private set; }

    /// <summary>Adds a sample (times monotonic, in us) and returns true when the level fires.</summary>
    public bool Add(long nowUs, long totalUs)
    {
        if (_count > 0 && (nowUs < _times[_head] || totalUs < _totals[_head]))
            Reset(); // clock or counter went backwards (file replaced, counter reset): start over, do not guess

        GrowthUs = _count == 0 ? 0 : totalUs - TotalAt(nowUs - WindowUs);
        if (_hasLast)
        {
            long delta = totalUs - _lastTotal, dt = Math.Max(1, nowUs - _lastTime);
            Growing = delta > 0 && (Int128)delta * NoiseDivisor * WindowUs >= (Int128)StallUs * dt;
        }
        _hasLast = true;
        _lastTime = nowUs;
        _lastTotal = totalUs;

        if (_count == 0 || nowUs - _times[_head] >= _storeEveryUs)
        {
            _head = _count == 0 ? 0 : (_head + 1) % Capacity;
            _times[_head] = nowUs;
            _totals[_head] = totalUs;
            if (_count < Capacity)
                _count++;
        }

        if (GrowthUs < StallUs || (_lastFireUs != long.MinValue && nowUs - _lastFireUs < WindowUs))
            return false;
        _lastFireUs = nowUs;
        return true;
    }

    public void Reset()
    {
        _count = 0;
        _head = 0;
        GrowthUs = 0;
        Growing = false;
        _hasLast = false;
        _lastFireUs = long.MinValue;
    }

    // The total at time t: interpolated between the stored samples around t, or the oldest sample when the ring
    // does not reach back that far (growth over a shorter span can only under-estimate, so it never fires early).
    private long TotalAt(long t)
    {
        int oldest = (_head - _count + 1 + Capacity) % Capacity;
        if (_times[oldest] >= t)
            return _totals[oldest];
        int newer = _head;
        for (int k = 1; k < _count; k++)
        {
            int older = (_head - k + Capacity) % Capacity;
            if (_times[older] <= t)
            {
                long dt = _times[newer] - _times[older];
                if (dt <= 0)
                    return _totals[newer];
                return _totals[older] + (long)((Int128)(_totals[newer] - _totals[older]) * (t - _times[older]) / dt);
            }
            newer = older;
        }
        return _totals[_head];
    }
}

/// <summary>
/// The sampling interval: drops to the minimum as soon as the stall grows noticeably, and doubles back towards
/// the maximum while the system is idle, so an idle host costs one small read per second.
/// </summary>
public struct AdaptiveInterval
{
    public AdaptiveInterval(int minMs, int maxMs)
    {
        if (minMs <= 0 || maxMs < minMs)
            throw new ArgumentOutOfRangeException(nameof(minMs), "need 0 < min <= max");
        MinMs = minMs;
        MaxMs = maxMs;
        CurrentMs = maxMs;
    }

    public int MinMs { get; }
    public int MaxMs { get; }
    public int CurrentMs { get; private set; }

    /// <summary>Call after each sample: growing means the stall rose by more than background noise.</summary>
    public int Update(bool growing)
    {
        CurrentMs = growing ? MinMs : (int)Math.Min(MaxMs, (long)CurrentMs * 2);
        return CurrentMs;
    }
}
