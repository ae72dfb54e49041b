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
    /// <summary>Without activation counters, a file LRU less active than this is a stream's, not a working set's.</summary>
    internal const int MinActiveFilePct = 10;

    private KillPolicyOptions _options;
    private readonly HeadroomWatch _headroom;

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
    // Beyond lmkd: what the thrashing window started from for the stall gate and reclaim efficiency.
    private long _windowStallUs;       // PSI some total when the window began
    private long _windowScan, _windowSteal;
    private int _lastStallPct = -1;    // stall over the last full window (the current one may be too short to say)
    private int _lastEfficiencyPct = -1;
    private int _stallPct = -1;        // what the gate last saw, for the decision's figures

    public KillPolicy(KillPolicyOptions options, HeadroomOptions? headroom = null)
    {
        _options = CheckValid(options);
        _thrashingLimit = options.ThrashingLimitPct;
        _headroom = new HeadroomWatch(headroom ?? HeadroomOptions.Default);
    }

    public KillPolicyOptions Options => _options;
    public HeadroomOptions HeadroomOptions => _headroom.Options;

    /// <summary>
    /// Live reload. The thrashing window, the current (possibly cut) limit and the kill state carry
    /// over, so a reload in the middle of an episode does not forget it; new limits apply from the
    /// next thrashing window.
    /// </summary>
    public void UpdateOptions(KillPolicyOptions options, HeadroomOptions? headroom = null)
    {
        _options = CheckValid(options);
        if (headroom is not null)
            _headroom.UpdateOptions(headroom);
    }

    /// <summary>
    /// One evaluation. <paramref name="nowMs"/> is a monotonic millisecond clock; <paramref name="level"/>
    /// is the PSI level that woke the monitor, or None for a follow-up poll or a headroom sample.
    /// Android's PSI-driven reasons run only <paramref name="inPsiWindow"/>: on a PSI event and in the
    /// polling window after it, as lmkd's mp_event_psi runs them. The headroom watch judges every
    /// sample. When both would kill, the one that reaches deeper (the lower minimum oom_score_adj)
    /// decides, Android's on a tie. Allocates nothing.
    /// </summary>
    /// <param name="inPsiWindow">
    /// A PSI event woke the monitor, or its polling window is still open. False for a headroom sample
    /// with no PSI episode under way: a watermark dip or a full old swap is no reason on its own, since
    /// kswapd cycles through the low watermark on a healthy machine with a full page cache.
    /// </param>
    public KillDecision Evaluate(long nowMs, PressureLevel level, in MemorySnapshot memory, in PsiSnapshot psi, bool inPsiWindow)
    {
        var o = _options;
        long refault = memory.RefaultFileKb;
        // What counts as thrashing: activations where the kernel reports them, else every refault
        // (gated on stall below).
        long thrashCounter = memory.ActivateFileKb >= 0 ? memory.ActivateFileKb : refault;
        long fileLru = memory.FileLruKb;

        // lmkd's zero-initialised statics make its first evaluation cross an enormous thrashing
        // window whose growth decays to nothing; starting the window here gives the same result
        // without depending on the clock's origin.
        if (!_primed)
        {
            _primed = true;
            StartThrashingWindow(nowMs, in memory, in psi);
            _prevThrashGrowth = 0;
        }

        bool cycleAfterKill = false;
        if (_killing)
        {
            // Measure thrashing afresh: the victim's pages no longer count.
            _killing = false;
            cycleAfterKill = true;
            StartThrashingWindow(nowMs, in memory, in psi);
            _prevThrashGrowth = 0;
        }

        var usableSwap = UsableSwap.Of(in memory, o);
        long freeSwap = usableSwap.TotalKb;
        bool swapLow = IsSwapLow(in memory, freeSwap, o.SwapFreeLowPercentage);
        int swapUtil = SwapUtilizationPct(in memory, freeSwap);
        var wmark = ClassifyWatermark(memory.FreeKb, memory.Watermarks);
        var headroom = _headroom.Judge(nowMs, in memory, freeSwap, swapLow, ReclaimEfficiencyPct(in memory));
        // Free pages under a watermark are low memory only when reclaim cannot make up for them. On
        // Android the page cache is small and free pages are what is left; on a server a full page
        // cache keeps kswapd cycling through the low watermark with half the memory available. So
        // the watermark reasons wait for headroom itself to be low: under the watch's first level.
        bool memoryLow = IsMemoryLow(in memory);
        if (!inPsiWindow && level == PressureLevel.None)
            return Decide(KillReason.None, 0, level, wmark, ReclaimState.None, 0, swapLow, swapUtil, usableSwap, in headroom, memoryLow);
        var lowWmark = memoryLow ? wmark : WatermarkLevel.None;

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
            // The headroom watch still judges: anonymous memory fills a swapless scope without either.
            return Decide(KillReason.None, 0, level, wmark, reclaim, 0, swapLow, swapUtil, usableSwap, in headroom, memoryLow);
        }
        _prevRefaultKb = refault;

        long thrashing = 0;
        long sinceResetMs = nowMs - _thrashingResetMs;
        if (sinceResetMs > o.ThrashingResetIntervalMs)
        {
            _prevThrashGrowth = RefaultGrowthPct(thrashCounter);
            long windows = sinceResetMs / o.ThrashingResetIntervalMs;
            // Over-the-limit growth in the single window just ended means no victim was found:
            // keep it whole so a kill follows as soon as one appears. Otherwise halve it per window.
            if (windows > 1 || _prevThrashGrowth < _thrashingLimit)
                _prevThrashGrowth = windows >= 63 ? 0 : _prevThrashGrowth >> (int)windows;
            CloseWindow(nowMs, in memory, in psi);
            StartThrashingWindow(nowMs, in memory, in psi);
            _thrashingLimit = o.ThrashingLimitPct;
        }
        else
        {
            thrashing = RefaultGrowthPct(thrashCounter);
        }
        thrashing += _prevThrashGrowth;
        // Without activations, a refault is thrashing only if tasks wait for it, window after window
        // (a stream does not stall once the cache has filled), and if refaulted pages are being
        // activated: the kernel moves a working set's refaults to the active list, a stream's stay
        // inactive (measured in a v1 cgroup: active file 0 MiB beside a stream, 40-70 of ~110 MiB
        // when a working set did not fit).
        _stallPct = memory.ActivateFileKb < 0 ? StallPct(nowMs, in psi) : -1;
        if (_stallPct >= 0 && (_stallPct < o.ThrashingMinStallPct
            || (memory.FileLruKb - memory.InactiveFileKb) * 100 < memory.FileLruKb * MinActiveFilePct))
            thrashing = 0;

        var reason = KillReason.None;
        int minAdj = 0;
        bool belowLow = lowWmark < WatermarkLevel.BelowHigh; // lmkd's "wmark < WMARK_HIGH": min or low breached
        if (cycleAfterKill && lowWmark == WatermarkLevel.BelowMin)
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
            if (lowWmark > WatermarkLevel.BelowMin && thrashing < o.ThrashingCriticalPct)
                minAdj = o.PerceptibleMinScoreAdj;
            _checkFilecache = true;
        }
        else if (swapLow && belowLow)
        {
            reason = KillReason.LowMemAndSwap;
            if (lowWmark > WatermarkLevel.BelowMin)
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

        // lmkd gates LOW_MEM on its floor being reachable (1001 reaches nobody: the reason is off).
        // Lmkd also on swap: while it can still take pages, free pages under min are what reclaim
        // into swap is for (measured: with an empty 512 MiB zram, LOW_MEM killed at MemAvailable 0
        // while the kernel had put 7 MiB in the zram and a hog was about to stop).
        bool swapCanTake = !swapLow && memory.SwapTotalKb > 0 && usableSwap.TotalKb > 0;
        if (reason == KillReason.None && lowWmark == WatermarkLevel.BelowMin && o.LowMemMinScoreAdj <= 1000 && !swapCanTake)
        {
            reason = KillReason.LowMem;
            minAdj = o.EffectiveLowMemMinScoreAdj;
        }

        return Decide(reason, minAdj, level, wmark, reclaim, thrashing, swapLow, swapUtil, usableSwap, in headroom, memoryLow);
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
        _headroom.OnKill();
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
        ReclaimState reclaim, long thrashing, bool swapLow, int swapUtil, in UsableSwap usableSwap, in HeadroomJudgement headroom, bool memoryLow)
    {
        if (headroom.Reason != KillReason.None && (reason == KillReason.None || headroom.MinScoreAdj < minAdj))
            (reason, minAdj) = (headroom.Reason, headroom.MinScoreAdj);
        // lmkd polls on after an event, around a kill and through direct reclaim, but not for
        // kswapd alone: kswapd can reclaim for a long time without any pressure. Here a kill is
        // about to happen rather than just done, so "killing" is this decision's own.
        bool killing = _killing || reason != KillReason.None;
        return new KillDecision
        {
            Reason = reason,
            MinScoreAdj = minAdj,
            Headroom = headroom,
            Watermark = wmark,
            Reclaim = reclaim,
            ThrashingPct = thrashing,
            StallPct = _stallPct,
            ThrashingLimitPct = _thrashingLimit,
            SwapIsLow = swapLow,
            SwapUtilPct = swapUtil,
            UsableSwap = usableSwap,
            // As lmkd: polls on after an event, a kill or direct reclaim, and not for a watermark or
            // swap figure alone (a full old swap or kswapd at work would keep it polling for hours).
            // Memory that runs out between PSI events, swapping to zram without stall, is the
            // headroom watch's: it samples faster the less room is left, swap included.
            KeepPolling = level != PressureLevel.None || killing || reclaim == ReclaimState.Direct,
            // Fast while killing or while memory and swap are both low; an old swap full of idle pages alone is no hurry.
            PollIntervalMs = killing || (swapLow && memoryLow) ? _options.PollShortMs : _options.PollLongMs,
        };
    }

    private void StartThrashingWindow(long nowMs, in MemorySnapshot memory, in PsiSnapshot psi)
    {
        _baseFileLruKb = memory.FileLruKb;
        _initRefaultKb = memory.ActivateFileKb >= 0 ? memory.ActivateFileKb : memory.RefaultFileKb;
        _thrashingResetMs = nowMs;
        _windowStallUs = psi.SomeTotalUs;
        _windowScan = memory.PgscanTotal;
        _windowSteal = memory.PgstealTotal;
    }

    // The window that ends now: keep its stall and reclaim efficiency for the first moments of the next one.
    private void CloseWindow(long nowMs, in MemorySnapshot memory, in PsiSnapshot psi)
    {
        _lastStallPct = WindowStallPct(nowMs, in psi);
        _lastEfficiencyPct = WindowEfficiencyPct(in memory);
    }

    // What share of the window's starting file cache has been refaulted (or activated) since; +1 avoids dividing by zero.
    private long RefaultGrowthPct(long counterKb) => (counterKb - _initRefaultKb) * 100 / (_baseFileLruKb + 1);

    /// <summary>
    /// The stall the thrashing gate sees: the lower of the last window's and this one's (once it is
    /// 200 ms old), so that it takes stall sustained over two windows. A cgroup filling up stalls
    /// for a moment (measured: 24 % for one second when three processes allocated 300 MiB beside a
    /// stream, then 1-5 %); a working set that does not fit stalls window after window (20-55 %).
    /// </summary>
    private int StallPct(long nowMs, in PsiSnapshot psi)
    {
        bool young = nowMs - _thrashingResetMs < 200;
        if (_lastStallPct < 0)
            return WindowStallPct(nowMs, in psi);
        return young ? _lastStallPct : Math.Min(_lastStallPct, WindowStallPct(nowMs, in psi));
    }

    private int WindowStallPct(long nowMs, in PsiSnapshot psi)
    {
        long elapsedUs = (nowMs - _thrashingResetMs) * 1000;
        if (elapsedUs <= 0 || psi.SomeTotalUs < _windowStallUs)
            return 0;
        return (int)Math.Min(100, (psi.SomeTotalUs - _windowStallUs) * 100 / elapsedUs);
    }

    /// <summary>Reclaim's efficiency (pages freed per 100 scanned) over this window, or the last one while too little was scanned yet; -1 unknown.</summary>
    private int ReclaimEfficiencyPct(in MemorySnapshot m)
    {
        int now = WindowEfficiencyPct(in m);
        return now >= 0 ? now : _lastEfficiencyPct;
    }

    // 256 pages (1 MiB): fewer scanned say nothing about whether reclaim works.
    private int WindowEfficiencyPct(in MemorySnapshot m)
    {
        if (m.PgscanTotal < 0 || m.PgstealTotal < 0 || _windowScan < 0 || _windowSteal < 0)
            return -1;
        long scanned = m.PgscanTotal - _windowScan, stolen = m.PgstealTotal - _windowSteal;
        if (scanned < 256 || stolen < 0)
            return -1;
        return (int)Math.Min(100, stolen * 100 / scanned);
    }

    /// <summary>Headroom under the watch's first (shallowest) level; unknown headroom counts as low, as on Android.</summary>
    private bool IsMemoryLow(in MemorySnapshot m) =>
        m.HeadroomKb < 0 || m.TotalKb <= 0 || !_headroom.Options.Enabled
        || m.HeadroomKb < (long)(m.TotalKb * (_headroom.FirstLevelPct / 100.0));

    private static bool IsSwapLow(in MemorySnapshot m, long freeSwapKb, int lowPct) =>
        m.SwapTotalKb > 0 && lowPct > 0 && freeSwapKb < m.SwapTotalKb * lowPct / 100;

    /// <summary>Share of swappable memory (anon + shmem + swapped) that is in swap.</summary>
    private static int SwapUtilizationPct(in MemorySnapshot m, long freeSwapKb)
    {
        long used = Math.Max(0, m.SwapTotalKb - freeSwapKb);
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
