namespace Lmkd.Policies;

/// <summary>Why a headroom judgement kills (or would, if a victim exists).</summary>
public enum HeadroomBasis
{
    None = 0,
    /// <summary>Below a level, and at the recent fill rate out within <see cref="HeadroomOptions.HorizonMs"/>.</summary>
    FillRate,
    /// <summary>Out within <see cref="HeadroomOptions.ImminentMs"/>: reaches the deepest level at once.</summary>
    Imminent,
    /// <summary>Below the deepest level, little cache left, and reclaim frees almost nothing of what it scans.</summary>
    ReclaimFailing,
}

/// <summary>One headroom judgement, with the figures that led to it (for the decision event and the metrics).</summary>
public readonly record struct HeadroomJudgement
{
    public KillReason Reason { get; init; }
    public int MinScoreAdj { get; init; }
    public HeadroomBasis Basis { get; init; }
    public long HeadroomKb { get; init; }
    /// <summary>Headroom as a percentage of the scope's memory.</summary>
    public double HeadroomPct { get; init; }
    /// <summary>The level headroom is below (its percentage), 0 when above every level.</summary>
    public double LevelPct { get; init; }
    /// <summary>How fast headroom is being used up: the growth of committed memory (kB/s); 0 when steady or shrinking.</summary>
    public long FillRateKbPerSec { get; init; }
    /// <summary>At that rate, milliseconds until headroom reaches the reserve; -1 when not falling.</summary>
    public long MsToExhaustion { get; init; }
    /// <summary>Swap can still take anonymous pages (usable swap above its low mark).</summary>
    public bool SwapAbsorbs { get; init; }
    /// <summary>What the levels judge: headroom plus the swap that can still take pages.</summary>
    public long RoomKb { get; init; }
    /// <summary>
    /// Headroom is falling and would run out within four of the longest level horizon: keep the
    /// candidate list fresh. A scope that is merely full (below a level, but steady) is no concern:
    /// rescanning it would cost CPU for as long as it stays full, and a kill ranks newcomers anyway.
    /// </summary>
    public bool Concern { get; init; }
    /// <summary>When to sample headroom next; -1 when the watch is off.</summary>
    public int NextSampleMs { get; init; }
}

/// <summary>
/// Android lmkd's minfree-levels mode, driven by headroom instead of free pages and file cache, and
/// gated on a fill rate so that a scope that is full but steady is left alone: below a level, a kill
/// may reach that level's oom_score_adj only when headroom would run out within its horizon (or at
/// once, when about to run out), or when reclaim is failing below the deepest level. Pure; one
/// instance per monitor thread.
/// </summary>
public sealed class HeadroomWatch
{
    private readonly HeadroomTrend _trend = new();
    private HeadroomOptions _options = null!;
    private HeadroomLevel[] _levels = [];
    private long _concernMs;
    private int _bindingLevel;

    public HeadroomWatch(HeadroomOptions options) => UpdateOptions(options);

    public HeadroomOptions Options => _options;

    /// <summary>The shallowest level's share of the scope's memory: under it, memory is low.</summary>
    public double FirstLevelPct { get; private set; }

    public void UpdateOptions(HeadroomOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        foreach (var (key, error) in options.Validate())
            throw new ArgumentException($"{key}: {error}", nameof(options));
        _options = options with { Levels = [.. options.Levels.Select(l => l with { })] };
        _levels = _options.EffectiveLevels();
        FirstLevelPct = _levels.Length > 0 ? _levels.Max(l => l.HeadroomPct) : 0;
        _concernMs = ConcernFactor * _levels.Max(l => (long)_options.HorizonOf(l));
    }

    /// <summary>How many of the longest horizon ahead a fall starts a concern (the rescans take a while to pay off).</summary>
    public const int ConcernFactor = 4;

    /// <summary>After a kill: the samples before it say nothing about the rate from now on.</summary>
    public void OnKill() => _trend.Reset();

    /// <param name="nowMs">Monotonic milliseconds.</param>
    /// <param name="m">The scope's memory; <see cref="MemorySnapshot.HeadroomKb"/> -1 turns the watch off for this sample.</param>
    /// <param name="usableSwapKb">Free swap that can still take anonymous pages (after zram's compression bound).</param>
    /// <param name="swapLow">Usable swap is under its low mark: reported as <see cref="HeadroomJudgement.SwapAbsorbs"/>; the levels count usable swap as room either way.</param>
    /// <param name="reclaimEfficiencyPct">Pages freed per 100 scanned recently; -1 when unknown or too few were scanned.</param>
    public HeadroomJudgement Judge(long nowMs, in MemorySnapshot m, long usableSwapKb, bool swapLow, int reclaimEfficiencyPct)
    {
        var o = _options;
        if (!o.Enabled || m.HeadroomKb < 0 || m.TotalKb <= 0)
            return new HeadroomJudgement { HeadroomKb = m.HeadroomKb, MsToExhaustion = -1, NextSampleMs = -1 };

        long total = m.TotalKb, headroom = m.HeadroomKb;
        if (m.BindingLevel != _bindingLevel)
        {
            // Another level decides now: its committed memory includes (or leaves out) its other
            // children's, so the jump between the two series is no fill. Measure afresh.
            _trend.Reset();
            _bindingLevel = m.BindingLevel;
        }
        // What runs out is memory and the swap that can still take pages, together: while anonymous
        // memory goes to swap, MemAvailable holds still and the swap fills instead. So the levels
        // judge headroom plus usable swap, and the fill is the growth of what is committed in
        // memory plus what swap can no longer take. Without swap both are the memory's alone.
        long swapRoom = Math.Max(0, usableSwapKb);
        long room = headroom + swapRoom;
        long swapTaken = Math.Max(0, m.SwapTotalKb - swapRoom);
        _trend.Add(nowMs, (m.CommittedKb >= 0 ? m.CommittedKb : total - headroom) + swapTaken);
        long rate = _trend.FillRateKbPerSec(nowMs);
        long usable = Math.Max(0, room - Share(total, o.ReservePct));
        long msToExhaustion = rate > 0 ? usable * 1000 / rate : -1;

        int level = -1;  // the deepest level headroom (with usable swap) is below
        int within = -1; // the deepest of those whose horizon the fill would not outlast
        for (int i = 0; i < _levels.Length; i++)
        {
            if (room >= Share(total, _levels[i].HeadroomPct))
                continue;
            level = i;
            if (msToExhaustion >= 0 && msToExhaustion < o.HorizonOf(_levels[i]))
                within = i;
        }

        bool swapAbsorbs = !swapLow && swapRoom > 0;
        var reason = KillReason.None;
        var basis = HeadroomBasis.None;
        int minAdj = 0;
        if (level >= 0)
        {
            var deepest = _levels[^1];
            if (msToExhaustion >= 0 && msToExhaustion < o.ImminentMs)
                (reason, basis, minAdj) = (KillReason.LowHeadroom, HeadroomBasis.Imminent, deepest.MinScoreAdj);
            else if (within >= 0)
                (reason, basis, minAdj) = (KillReason.LowHeadroom, HeadroomBasis.FillRate, _levels[within].MinScoreAdj);
            else if (level == _levels.Length - 1 && reclaimEfficiencyPct >= 0 && reclaimEfficiencyPct < o.ReclaimFailingEfficiencyPct
                && m.InactiveFileKb < Share(total, deepest.HeadroomPct))
                (reason, basis, minAdj) = (KillReason.ReclaimFailing, HeadroomBasis.ReclaimFailing, deepest.MinScoreAdj);
        }

        // Sample again before an allocator at the assumed rate (or the measured one, if faster) could
        // use up what is left, usable swap included.
        long fastestKbPerSec = Math.Max((long)o.AssumedFillRateMibPerSec * 1024, rate);
        long nextMs = Math.Clamp(usable * 1000 / fastestKbPerSec, o.SampleMinMs, o.SampleMaxMs);

        bool concern = msToExhaustion >= 0 && msToExhaustion < _concernMs;
        return new HeadroomJudgement
        {
            Reason = reason,
            MinScoreAdj = minAdj,
            Basis = basis,
            HeadroomKb = headroom,
            HeadroomPct = headroom * 100.0 / total,
            LevelPct = basis == HeadroomBasis.FillRate ? _levels[within].HeadroomPct : level >= 0 ? _levels[level].HeadroomPct : 0,
            FillRateKbPerSec = rate,
            MsToExhaustion = msToExhaustion,
            SwapAbsorbs = swapAbsorbs,
            RoomKb = room,
            Concern = concern,
            NextSampleMs = (int)nextMs,
        };
    }

    private static long Share(long totalKb, double pct) => (long)(totalKb * (pct / 100.0));
}
