namespace Lmkd.Notify;

/// <summary>
/// A token bucket: <c>burst</c> at once, then one per <c>intervalMs</c>. Desktop notifications go
/// through it, because a respawning workload can be killed dozens of times a minute and a desktop
/// should not show dozens of pop-ups. One caller at a time (the publisher thread).
/// </summary>
public sealed class RateLimiter
{
    private readonly int _burst;
    private readonly long _intervalMs;
    private int _tokens;
    private long _refilledAtMs;
    private bool _started;

    public RateLimiter(int burst, long intervalMs)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(burst, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(intervalMs, 1);
        _burst = burst;
        _intervalMs = intervalMs;
        _tokens = burst;
    }

    public int Burst => _burst;
    public long IntervalMs => _intervalMs;

    /// <summary>Takes one token at <paramref name="nowMs"/> (a monotonic clock) if there is one.</summary>
    public bool TryTake(long nowMs)
    {
        if (!_started)
        {
            _started = true;
            _refilledAtMs = nowMs;
        }
        long whole = (nowMs - _refilledAtMs) / _intervalMs;
        if (whole > 0)
        {
            _tokens = (int)Math.Min(_burst, _tokens + whole);
            // Keep the part of an interval already elapsed: a steady stream gets exactly one per interval.
            _refilledAtMs = _tokens == _burst ? nowMs : _refilledAtMs + whole * _intervalMs;
        }
        if (_tokens == 0)
            return false;
        _tokens--;
        return true;
    }
}
