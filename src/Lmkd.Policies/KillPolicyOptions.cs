namespace Lmkd.Policies;

/// <summary>
/// Tunables of <see cref="KillPolicy"/>. Defaults are Android lmkd's; each property names the
/// Android property (or lmkd constant) it stands for, so operators can carry their tuning over.
/// Settable rather than init-only: the source-generated configuration binder silently skips
/// init-only properties. <see cref="KillPolicy"/> keeps its own copy.
/// </summary>
public sealed record KillPolicyOptions
{
    /// <summary>Android lmkd's own oom_score_adj of a perceptible app (PERCEPTIBLE_APP_ADJ).</summary>
    public const int PerceptibleAppAdj = 200;

    public static KillPolicyOptions Default { get; } = new();

    /// <summary>
    /// ro.lmk.thrashing_limit: refaulted file pages, as a percentage of the file LRU, above which
    /// the page cache counts as thrashing. May exceed 100 (refaults can outnumber the cache).
    /// </summary>
    public int ThrashingLimitPct { get; set; } = 100;

    /// <summary>
    /// ro.lmk.thrashing_limit_decay: after each thrashing kill the current limit is cut by this
    /// percentage, so kills continue while thrashing persists; restored after each reset interval.
    /// </summary>
    public int ThrashingLimitDecayPct { get; set; } = 10;

    /// <summary>
    /// ro.lmk.thrashing_limit_critical: thrashing at or above this lets thrashing kills reach
    /// perceptible processes (lmkd's default is twice the thrashing limit).
    /// </summary>
    public int ThrashingCriticalPct { get; set; } = 200;

    /// <summary>ro.lmk.swap_free_low_percentage: swap counts as low below this percentage of swap free. 0 disables.</summary>
    public int SwapFreeLowPercentage { get; set; } = 10;

    /// <summary>
    /// ro.lmk.swap_compression_ratio: on compressed swap (zram), free swap is only worth what the
    /// memory left to store it can hold: with a ratio N, free swap counts as at most
    /// N x (free memory + inactive file cache). "auto" (the default) applies the compression the zram
    /// devices report (/sys/block/zramN/mm_stat; <see cref="DefaultZramCompressionRatio"/> while they
    /// hold nothing) to the zram share of swap only; a number applies to all swap, as on Android;
    /// "0" (Android's default) takes free swap as reported.
    /// </summary>
    public string SwapCompressionRatio { get; set; } = Auto;

    public const string Auto = "auto";

    /// <summary>The ratio assumed for an empty zram device: typical program memory compresses 2.5-4:1; 2 errs on the side of less room.</summary>
    public const double DefaultZramCompressionRatio = 2.0;

    /// <summary>
    /// <see cref="SwapCompressionRatio"/> parsed: (true, 0) for "auto", (false, N) for a number.
    /// False when it is neither (see <see cref="Validate"/>).
    /// </summary>
    public bool TryParseCompression(out bool auto, out double ratio)
    {
        auto = false;
        ratio = 0;
        var text = SwapCompressionRatio?.Trim() ?? "";
        if (text.Equals(Auto, StringComparison.OrdinalIgnoreCase))
        {
            auto = true;
            return true;
        }
        return double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out ratio)
            && (ratio == 0 || ratio is >= 1 and <= 100);
    }

    /// <summary>
    /// Refaults count as thrashing only while tasks in the scope stall at least this share of the time
    /// (PSI "some", in each of the last two thrashing windows), where the kernel does not report
    /// activations (workingset_activate_file: cgroup v1). A file streamed through the cache refaults
    /// at the same rate as a working set that does not fit; only the latter makes tasks wait, window
    /// after window (measured here in a v1 cgroup: 1-5 % for a stream once the cache has filled,
    /// 10-24 % for a second or two while it fills; 20-55 % for a working set that does not fit).
    /// </summary>
    public int ThrashingMinStallPct { get; set; } = 20;

    /// <summary>
    /// ro.lmk.swap_util_max: kill when memory is low and more than this percentage of swappable
    /// memory is already in swap. 100 disables this reason.
    /// </summary>
    public int SwapUtilMaxPct { get; set; } = 100;

    /// <summary>ro.lmk.filecache_min_kb: after thrashing, keep killing while the file cache is below this. 0 disables.</summary>
    public long FilecacheMinKb { get; set; }

    /// <summary>
    /// ro.lmk.lowmem_min_oom_score: the lowest oom_score_adj a plain low-memory kill may reach
    /// (default PREVIOUS_APP_ADJ + 1). Clamped by <see cref="EffectiveLowMemMinScoreAdj"/>.
    /// 1001, as on Android, reaches no process: LOW_MEM kills are off and only the other reasons kill.
    /// </summary>
    public int LowMemMinScoreAdj { get; set; } = 701;

    /// <summary>ro.lmk.pressure_after_kill_min_score: the lowest oom_score_adj a kill may reach when a kill did not lift free memory above the min watermark.</summary>
    public int PressureAfterKillMinScoreAdj { get; set; }

    /// <summary>
    /// PERCEPTIBLE_APP_ADJ + 1: the floor lmkd uses when it "does not kill perceptible apps"
    /// (moderate thrashing, low but not critical memory).
    /// </summary>
    public int PerceptibleMinScoreAdj { get; set; } = PerceptibleAppAdj + 1;

    /// <summary>THRASHING_RESET_INTERVAL_MS: length of one thrashing measurement window.</summary>
    public int ThrashingResetIntervalMs { get; set; } = 1000;

    /// <summary>PSI_POLL_PERIOD_SHORT_MS: poll interval while killing or when swap is low.</summary>
    public int PollShortMs { get; set; } = 10;

    /// <summary>PSI_POLL_PERIOD_LONG_MS: poll interval otherwise, while an episode lasts.</summary>
    public int PollLongMs { get; set; } = 100;

    /// <summary>
    /// The min adj of a plain low-memory kill. lmkd never lets it reach perceptible apps, whatever
    /// ro.lmk.lowmem_min_oom_score says: free memory alone is not reason enough for that.
    /// </summary>
    public int EffectiveLowMemMinScoreAdj => Math.Max(LowMemMinScoreAdj, PerceptibleAppAdj + 1);

    /// <summary>One entry per invalid property: its name and the accepted range.</summary>
    public IEnumerable<(string Key, string Error)> Validate()
    {
        if (!InRange(ThrashingLimitPct, 0, 10000))
            yield return (nameof(ThrashingLimitPct), Range(ThrashingLimitPct, "0..10000"));
        if (!InRange(ThrashingLimitDecayPct, 0, 100))
            yield return (nameof(ThrashingLimitDecayPct), Range(ThrashingLimitDecayPct, "0..100"));
        if (!InRange(ThrashingCriticalPct, 0, 10000))
            yield return (nameof(ThrashingCriticalPct), Range(ThrashingCriticalPct, "0..10000"));
        if (!InRange(SwapFreeLowPercentage, 0, 100))
            yield return (nameof(SwapFreeLowPercentage), Range(SwapFreeLowPercentage, "0..100"));
        if (!InRange(SwapUtilMaxPct, 0, 100))
            yield return (nameof(SwapUtilMaxPct), Range(SwapUtilMaxPct, "0..100"));
        if (FilecacheMinKb < 0)
            yield return (nameof(FilecacheMinKb), Range(FilecacheMinKb, "0 or more"));
        if (!TryParseCompression(out _, out _))
            yield return (nameof(SwapCompressionRatio), $"must be \"auto\", 0 (off) or a compression ratio in [1, 100] (got '{SwapCompressionRatio}')");
        if (!InRange(ThrashingMinStallPct, 0, 100))
            yield return (nameof(ThrashingMinStallPct), Range(ThrashingMinStallPct, "0..100"));
        if (!InRange(LowMemMinScoreAdj, -1000, 1001))
            yield return (nameof(LowMemMinScoreAdj), $"must be an oom_score_adj in [-1000, 1000], or 1001 to turn LOW_MEM kills off (got {LowMemMinScoreAdj})");
        if (!InRange(PressureAfterKillMinScoreAdj, -1000, 1000))
            yield return (nameof(PressureAfterKillMinScoreAdj), AdjRange(PressureAfterKillMinScoreAdj));
        if (!InRange(PerceptibleMinScoreAdj, -1000, 1000))
            yield return (nameof(PerceptibleMinScoreAdj), AdjRange(PerceptibleMinScoreAdj));
        if (ThrashingResetIntervalMs <= 0)
            yield return (nameof(ThrashingResetIntervalMs), Range(ThrashingResetIntervalMs, "more than 0 ms"));
        if (PollShortMs <= 0)
            yield return (nameof(PollShortMs), Range(PollShortMs, "more than 0 ms"));
        if (PollLongMs <= 0)
            yield return (nameof(PollLongMs), Range(PollLongMs, "more than 0 ms"));
    }

    private static bool InRange(long value, long min, long max) => value >= min && value <= max;

    private static string Range(long value, string accepted) => $"{value} is out of range: accepted {accepted}";

    // -1000 is accepted as a value but is the kernel's "never kill": such a floor reaches nothing more.
    private static string AdjRange(long value) =>
        $"{value} is out of range: accepted -1000..1000 (an oom_score_adj; -1000 itself is never killable)";
}
