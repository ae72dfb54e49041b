namespace Lmkd.Policies;

/// <summary>
/// One headroom level, Android lmkd's minfree/adj pair (ro.lmk.minfree_levels) expressed as a share
/// of the scope's memory: below it, a headroom kill may reach processes at <see cref="MinScoreAdj"/>
/// and above.
/// </summary>
public sealed record HeadroomLevel
{
    /// <summary>Headroom below this percentage of the scope's memory (MemTotal, or the cgroup's limit).</summary>
    public double HeadroomPct { get; set; }
    /// <summary>The lowest oom_score_adj a kill at this level may reach.</summary>
    public int MinScoreAdj { get; set; }
    /// <summary>This level's own horizon (see <see cref="HeadroomOptions.HorizonMs"/>); null: that one.</summary>
    public int? HorizonMs { get; set; }
}

/// <summary>
/// Tunables of the headroom watch: kills decided from the memory left, with or without stall.
/// Settable (the source-generated binder skips init-only properties); <see cref="KillPolicy"/> keeps a copy.
/// </summary>
public sealed record HeadroomOptions
{
    public static HeadroomOptions Default { get; } = new();

    /// <summary>Watch headroom beside PSI. Off: only Android's PSI-driven reasons kill.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>The levels; empty in the configuration means <see cref="DefaultLevels"/>.</summary>
    public List<HeadroomLevel> Levels { get; set; } = [];

    /// <summary>
    /// A level kills only when, at the recent fill rate, headroom would be gone (down to the reserve)
    /// within this time: a scope that is full but steady, or filling slowly, is left alone. It is the
    /// lead time a kill needs: sampling (10 ms near the floor), the kill, and the victim's exit.
    /// </summary>
    public int HorizonMs { get; set; } = 500;

    /// <summary>
    /// Out within this time: memory is about to run out whatever the level, so the kill may reach the
    /// deepest level's oom_score_adj at once (a fast allocator would otherwise pass the last levels
    /// between two samples).
    /// </summary>
    public int ImminentMs { get; set; } = 250;

    /// <summary>
    /// Where memory counts as exhausted, as a percentage of the scope's memory: the kernel's OOM killer
    /// acts a little before headroom reaches zero.
    /// </summary>
    public double ReservePct { get; set; } = 0.5;

    /// <summary>
    /// The fill rate the sampling interval assumes (MiB/s): headroom is re-read before such an allocator
    /// could use it up. One thread faulting in fresh pages fills 1.4 GiB/s here (2.8 GiB/s with THP).
    /// </summary>
    public int AssumedFillRateMibPerSec { get; set; } = 4096;

    /// <summary>Fastest and slowest headroom sampling interval.</summary>
    public int SampleMinMs { get; set; } = 10;
    public int SampleMaxMs { get; set; } = 1000;

    /// <summary>
    /// Reclaim is failing when it frees fewer than this percentage of the pages it scans while little
    /// reclaimable cache is left: below the deepest level, that kills without waiting for a fill rate.
    /// </summary>
    public int ReclaimFailingEfficiencyPct { get; set; } = 10;

    /// <summary>
    /// Defaults for machines and containers without swap. Cheap kills first: cached and background
    /// processes (900 and above, Android's CACHED_APP_MIN_ADJ) may go at 8 % when a fast fill would
    /// use up the rest within the horizon; oom_score_adj 0 only below 2.5 %, and only when memory
    /// would be gone within 2 s. That level looks further ahead because, without swap, reclaim
    /// starts evicting the page cache that is left (other processes' working sets) once free memory
    /// reaches the low watermark, about a second before headroom runs out at 20 MiB/s in 1 GiB. It
    /// sits well below where a machine that fills to under 5 % and then holds steady settles (4-5 %).
    /// </summary>
    public static List<HeadroomLevel> DefaultLevels() =>
    [
        new() { HeadroomPct = 8, MinScoreAdj = 900 },
        new() { HeadroomPct = 5, MinScoreAdj = 600 },
        new() { HeadroomPct = 2.5, MinScoreAdj = 0, HorizonMs = 2000 },
    ];

    /// <summary>The horizon of <paramref name="level"/>: its own, else <see cref="HorizonMs"/>.</summary>
    public int HorizonOf(HeadroomLevel level) => level.HorizonMs ?? HorizonMs;

    /// <summary>The levels in force, most headroom first.</summary>
    public HeadroomLevel[] EffectiveLevels() =>
        [.. (Levels.Count == 0 ? DefaultLevels() : Levels).OrderByDescending(l => l.HeadroomPct)];

    /// <summary>One entry per invalid property: its name (relative to the section) and what is accepted.</summary>
    public IEnumerable<(string Key, string Error)> Validate()
    {
        for (int i = 0; i < Levels.Count; i++)
        {
            var l = Levels[i];
            if (!(l.HeadroomPct > 0 && l.HeadroomPct < 100))
                yield return ($"Levels:{i}:HeadroomPct", $"must be in (0, 100) percent of the scope's memory (got {l.HeadroomPct})");
            if (l.MinScoreAdj is < -999 or > 1000)
                yield return ($"Levels:{i}:MinScoreAdj", $"must be an oom_score_adj in [-999, 1000] (got {l.MinScoreAdj})");
            if (l.HorizonMs is { } h && (h < Math.Max(50, ImminentMs) || h > 60_000))
                yield return ($"Levels:{i}:HorizonMs", $"must be in [{Math.Max(50, ImminentMs)}, 60000] ms: at least 50 and ImminentMs={ImminentMs} (got {h})");
        }
        var levels = EffectiveLevels();
        for (int i = 1; i < levels.Length; i++)
        {
            if (levels[i].HeadroomPct == levels[i - 1].HeadroomPct)
                yield return ("Levels", $"two levels at {levels[i].HeadroomPct} %: each level needs its own headroom");
            else if (levels[i].MinScoreAdj > levels[i - 1].MinScoreAdj)
                yield return ("Levels", $"the level at {levels[i].HeadroomPct} % reaches oom_score_adj {levels[i].MinScoreAdj}, less deep than the level at {levels[i - 1].HeadroomPct} % ({levels[i - 1].MinScoreAdj}): less headroom must reach at least as deep");
        }
        if (HorizonMs is < 50 or > 60_000)
            yield return (nameof(HorizonMs), $"must be in [50, 60000] ms (got {HorizonMs})");
        if (ImminentMs < 0 || ImminentMs > HorizonMs)
            yield return (nameof(ImminentMs), $"must be in [0, HorizonMs={HorizonMs}] ms (got {ImminentMs})");
        double lowest = levels.Where(l => l.HeadroomPct > 0).Select(l => l.HeadroomPct).DefaultIfEmpty(100).Min();
        if (!(ReservePct >= 0 && ReservePct < lowest))
            yield return (nameof(ReservePct), $"must be in [0, {lowest}) percent: below the lowest level (got {ReservePct})");
        if (AssumedFillRateMibPerSec is < 1 or > 1_000_000)
            yield return (nameof(AssumedFillRateMibPerSec), $"must be in [1, 1000000] MiB/s (got {AssumedFillRateMibPerSec})");
        if (SampleMinMs is < 1 or > 1000)
            yield return (nameof(SampleMinMs), $"must be in [1, 1000] ms (got {SampleMinMs})");
        if (SampleMaxMs < SampleMinMs || SampleMaxMs > 10_000)
            yield return (nameof(SampleMaxMs), $"must be in [SampleMinMs={SampleMinMs}, 10000] ms (got {SampleMaxMs})");
        if (ReclaimFailingEfficiencyPct is < 0 or > 100)
            yield return (nameof(ReclaimFailingEfficiencyPct), $"must be in [0, 100] percent (got {ReclaimFailingEfficiencyPct})");
    }
}
