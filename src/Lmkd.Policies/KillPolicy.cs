namespace Lmkd.Policies;

/// <summary>
/// Decides, on each wake-up of the monitor, whether to kill and how far down the oom_score_adj
/// scale the kill may reach. It reproduces the behaviour of Android lmkd's PSI handler ("new
/// strategy"), with lmkd's function-static locals held as the explicit state of one instance.
/// </summary>
/// <remarks>
/// Contract with the daemon: call <see cref="Evaluate"/> on every PSI event and every follow-up
/// poll (not while a kill is still being waited for: pacing is the daemon's job); when the decision
/// says kill, pick a victim at or above its MinScoreAdj, then report with
/// <see cref="OnKillResult"/>. Not thread-safe: one monitor thread owns an instance.
/// </remarks>
public sealed class KillPolicy
{
    private KillPolicyOptions _options;

    // lmkd's static locals, one field each.
    private bool _primed;              // the first evaluation sets the baselines
    private bool _killing;             // a kill freed memory since the previous evaluation
    private long _initRefaultKb;       // refault counter when the current thrashing window began
    private long _baseFileLruKb;       // file LRU size when the current thrashing window began
    private long _thrashingResetMs;    // when the current thrashing window began
    private long _prevThrashGrowth;    // thrashing carried over from earlier windows, decayed
    private long _thrashingLimit;      // current limit: cut by thrashing kills, restored each window
    private bool _checkFilecache;      // after a thrashing kill, keep an eye on the file cache
    private long _lastPgscanKswapd;
    private long _lastPgscanDirect;
    private long _prevRefaultKb;

    public KillPolicy(KillPolicyOptions options)
    {
        _options = CheckValid(options);
        _thrashingLimit = options.ThrashingLimitPct;
    }

    public KillPolicyOptions Options => _options;

    /// <summary>
    /// Live reload. The thrashing window, the current (possibly cut) limit and the kill state carry
    /// over, so a reload in the middle of an episode does not forget it; new limits apply from the
    /// next thrashing window.
    /// </summary>
    public void UpdateOptions(KillPolicyOptions options) => _options = CheckValid(options);

    /// <summary>
    /// One evaluation. <paramref name="nowMs"/> is a monotonic millisecond clock; <paramref name="level"/>
    /// is the PSI level that woke the monitor, or None for a follow-up poll. Allocates nothing.
    /// </summary>
    public KillDecision Evaluate(long nowMs, PressureLevel level, in MemorySnapshot memory, in PsiSnapshot psi)
    {
        // psi is not consulted yet: lmkd's decision uses the level that woke it, passed as `level`.
        var o = _options;
        long refault = memory.RefaultFileKb;
        long fileLru = memory.FileLruKb;

        // lmkd's zero-initialised statics make its first evaluation cross an enormous thrashing
        // window whose growth decays to nothing; starting the window here gives the same result
        // without depending on the clock's origin.
        if (!_primed)
        {
            _primed = true;
            StartThrashingWindow(nowMs, in memory);
            _prevThrashGrowth = 0;
        }

        bool cycleAfterKill = false;
        if (_killing)
        {
            // Measure thrashing afresh: the victim's pages no longer count.
            _killing = false;
            cycleAfterKill = true;
            StartThrashingWindow(nowMs, in memory);
            _prevThrashGrowth = 0;
        }

        bool swapLow = IsSwapLow(in memory, o.SwapFreeLowPercentage, o.SwapCompressionRatio);
        bool swapNearLow = IsSwapLow(in memory, Math.Min(100, 2 * o.SwapFreeLowPercentage), o.SwapCompressionRatio);
        int swapUtil = SwapUtilizationPct(in memory, o.SwapCompressionRatio);
        var wmark = ClassifyWatermark(memory.FreeKb, memory.Watermarks);

        // -1 means the scope does not report the counter: never a change.
        var reclaim = ReclaimState.None;
        if (memory.PgscanDirect >= 0 && memory.PgscanDirect != _lastPgscanDirect)
        {
            _lastPgscanDirect = memory.PgscanDirect;
            if (memory.PgscanKswapd >= 0)
                _lastPgscanKswapd = memory.PgscanKswapd;
            reclaim = ReclaimState.Direct;
        }
        else if (memory.PgscanKswapd >= 0 && memory.PgscanKswapd != _lastPgscanKswapd)
        {
            _lastPgscanKswapd = memory.PgscanKswapd;
            reclaim = ReclaimState.Kswapd;
        }
        else if (refault == _prevRefaultKb && level != PressureLevel.Critical)
        {
            // Neither reclaiming nor refaulting: nothing is happening. lmkd bails out here even on
            // a critical event; a critical event means tasks are fully stalled, so it goes on.
            return Decide(KillReason.None, 0, level, wmark, reclaim, 0, swapLow, swapUtil, swapNearLow);
        }
        _prevRefaultKb = refault;

        long thrashing = 0;
        long sinceResetMs = nowMs - _thrashingResetMs;
        if (sinceResetMs > o.ThrashingResetIntervalMs)
        {
            _prevThrashGrowth = RefaultGrowthPct(refault);
            long windows = sinceResetMs / o.ThrashingResetIntervalMs;
            // Over-the-limit growth in the single window just ended means no victim was found:
            // keep it whole so a kill follows as soon as one appears. Otherwise halve it per window.
            if (windows > 1 || _prevThrashGrowth < _thrashingLimit)
                _prevThrashGrowth = windows >= 63 ? 0 : _prevThrashGrowth >> (int)windows;
            StartThrashingWindow(nowMs, in memory);
            _thrashingLimit = o.ThrashingLimitPct;
        }
        else
        {
            thrashing = RefaultGrowthPct(refault);
        }
        thrashing += _prevThrashGrowth;

        var reason = KillReason.None;
        int minAdj = 0;
        bool belowLow = wmark < WatermarkLevel.BelowHigh; // lmkd's "wmark < WMARK_HIGH": min or low breached
        if (cycleAfterKill && wmark == WatermarkLevel.BelowMin)
        {
            // The last kill did not lift free memory above min: something allocates faster than
            // kills free; reach further before the kernel's OOM killer does.
            reason = KillReason.PressureAfterKill;
            minAdj = o.PressureAfterKillMinScoreAdj;
        }
        else if (level == PressureLevel.Critical)
        {
            reason = KillReason.NotResponding;
        }
        else if (swapLow && thrashing > o.ThrashingLimitPct)
        {
            reason = KillReason.LowSwapAndThrashing;
            if (wmark > WatermarkLevel.BelowMin && thrashing < o.ThrashingCriticalPct)
                minAdj = o.PerceptibleMinScoreAdj;
            _checkFilecache = true;
        }
        else if (swapLow && belowLow)
        {
            reason = KillReason.LowMemAndSwap;
            if (wmark > WatermarkLevel.BelowMin)
                minAdj = o.PerceptibleMinScoreAdj;
        }
        else if (belowLow && o.SwapUtilMaxPct < 100 && swapUtil > o.SwapUtilMaxPct)
        {
            // Swap is not low, yet memory is: what fills it cannot be swapped.
            reason = KillReason.LowMemAndSwapUtil;
        }
        else if (belowLow && thrashing > _thrashingLimit)
        {
            reason = KillReason.LowMemAndThrashing;
            if (thrashing < o.ThrashingCriticalPct)
                minAdj = o.PerceptibleMinScoreAdj;
            _checkFilecache = true;
        }
        else if (reclaim == ReclaimState.Direct && thrashing > _thrashingLimit)
        {
            reason = KillReason.DirectReclAndThrashing;
            if (thrashing < o.ThrashingCriticalPct)
                minAdj = o.PerceptibleMinScoreAdj;
            _checkFilecache = true;
        }
        else if (_checkFilecache)
        {
            if (fileLru < o.FilecacheMinKb)
            {
                reason = KillReason.LowFilecacheAfterThrashing;
                minAdj = o.PerceptibleMinScoreAdj;
            }
            else
            {
                _checkFilecache = false; // the cache has recovered: stop watching it
            }
        }

        if (reason == KillReason.None && wmark == WatermarkLevel.BelowMin)
        {
            reason = KillReason.LowMem;
            minAdj = o.EffectiveLowMemMinScoreAdj;
        }

        return Decide(reason, minAdj, level, wmark, reclaim, thrashing, swapLow, swapUtil, swapNearLow);
    }

    /// <summary>
    /// Reports what came of a decision. <paramref name="killed"/> is true when a victim was
    /// signalled and freed memory; anything else (no victim, kill failed) leaves the state alone.
    /// </summary>
    public void OnKillResult(in KillDecision decision, bool killed)
    {
        if (!killed)
            return;
        _killing = true;
        if (decision.Reason is KillReason.LowMemAndThrashing or KillReason.DirectReclAndThrashing)
        {
            // Lower the bar a little after each thrashing kill so that kills go on while thrashing
            // does; the next thrashing window restores it.
            _thrashingLimit = _thrashingLimit * (100 - _options.ThrashingLimitDecayPct) / 100;
        }
    }

    /// <summary>The lowest watermark free memory is below; None when the watermarks are unknown.</summary>
    public static WatermarkLevel ClassifyWatermark(long freeKb, Watermarks w)
    {
        if (!w.IsKnown)
            return WatermarkLevel.None;
        if (freeKb < w.MinKb)
            return WatermarkLevel.BelowMin;
        if (freeKb < w.LowKb)
            return WatermarkLevel.BelowLow;
        if (freeKb < w.HighKb)
            return WatermarkLevel.BelowHigh;
        return WatermarkLevel.None;
    }

    private KillDecision Decide(KillReason reason, int minAdj, PressureLevel level, WatermarkLevel wmark,
        ReclaimState reclaim, long thrashing, bool swapLow, int swapUtil, bool swapNearLow)
    {
        // lmkd polls on after an event, around a kill and through direct reclaim, but not for
        // kswapd alone: kswapd can reclaim for a long time without any pressure. Here a kill is
        // about to happen rather than just done, so "killing" is this decision's own.
        bool killing = _killing || reason != KillReason.None;
        return new KillDecision
        {
            Reason = reason,
            MinScoreAdj = minAdj,
            Watermark = wmark,
            Reclaim = reclaim,
            ThrashingPct = thrashing,
            ThrashingLimitPct = _thrashingLimit,
            SwapIsLow = swapLow,
            SwapUtilPct = swapUtil,
            // lmkd polls on after an event, a kill or direct reclaim. Lmkd also polls while a kill is
            // one step away: free memory below the low watermark, or free swap under twice its low
            // mark. Swapping to zram stalls too little to fire a PSI trigger, so
            // memory can run out between two events; only polling sees it coming.
            KeepPolling = level != PressureLevel.None || killing || reclaim == ReclaimState.Direct
                || wmark <= WatermarkLevel.BelowLow || swapLow || swapNearLow,
            PollIntervalMs = swapLow || killing ? _options.PollShortMs : _options.PollLongMs,
        };
    }

    private void StartThrashingWindow(long nowMs, in MemorySnapshot memory)
    {
        _baseFileLruKb = memory.FileLruKb;
        _initRefaultKb = memory.RefaultFileKb;
        _thrashingResetMs = nowMs;
    }

    // What share of the window's starting file cache has been refaulted since; +1 avoids dividing by zero.
    private long RefaultGrowthPct(long refaultKb) => (refaultKb - _initRefaultKb) * 100 / (_baseFileLruKb + 1);

    private static bool IsSwapLow(in MemorySnapshot m, int lowPct, int compressionRatio) =>
        m.SwapTotalKb > 0 && lowPct > 0 && FreeSwapKb(in m, compressionRatio) < m.SwapTotalKb * lowPct / 100;

    /// <summary>
    /// Free swap as lmkd judges it: on zram a page swapped out still needs memory for its compressed
    /// copy, so with no memory left the free swap the kernel reports cannot be used.
    /// </summary>
    internal static long FreeSwapKb(in MemorySnapshot m, int compressionRatio) =>
        compressionRatio <= 0 ? m.SwapFreeKb : Math.Min(m.SwapFreeKb, (Math.Max(0, m.FreeKb) + m.InactiveFileKb) * compressionRatio);

    /// <summary>Share of swappable memory (anon + shmem + swapped) that is in swap.</summary>
    private static int SwapUtilizationPct(in MemorySnapshot m, int compressionRatio)
    {
        long used = Math.Max(0, m.SwapTotalKb - FreeSwapKb(in m, compressionRatio));
        long swappable = m.AnonKb + m.ShmemKb + used;
        return swappable > 0 ? (int)(used * 100 / swappable) : 0;
    }

    private static KillPolicyOptions CheckValid(KillPolicyOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        foreach (var (key, error) in options.Validate())
            throw new ArgumentException($"{key}: {error}", nameof(options));
        // A private copy: the options are settable (configuration binding needs it), the policy's view must not change under it.
        return options with { };
    }
}
