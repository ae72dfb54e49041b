namespace Lmkd.Policies;

/// <summary>
/// Free swap that can still take anonymous pages, by the kind of device it is on: a disk counts at
/// face value; zram counts what the memory left can hold once compressed.
/// </summary>
public readonly record struct UsableSwap(long DiskKb, long ZramKb)
{
    public long TotalKb => DiskKb + ZramKb;

    /// <summary>The compression the zram figure assumed (stored / memory used, or the default while little is stored); 0 without zram.</summary>
    public double ZramRatio { get; init; }

    /// <summary>Below this much stored data a device's own ratio says little (a few zero pages read as 100:1).</summary>
    public const long MinStoredForMeasuredRatioKb = 16 * 1024;

    /// <summary>A measured ratio above this is taken as this: what compresses that well now (zero pages) says nothing of what comes next.</summary>
    public const double MaxZramRatio = 8;

    /// <summary>
    /// Usable swap in <paramref name="m"/>'s scope. <see cref="KillPolicyOptions.SwapCompressionRatio"/>:
    /// "auto" judges zram by its achieved compression and disks at face value; a number N caps all
    /// free swap at N x (free memory + inactive file), as Android's swap_compression_ratio does; 0
    /// takes free swap as reported.
    /// </summary>
    public static UsableSwap Of(in MemorySnapshot m, KillPolicyOptions o)
    {
        long free = Math.Max(0, m.SwapFreeKb);
        o.TryParseCompression(out bool auto, out double ratio);
        if (!auto)
            return ratio <= 0 ? new(free, 0) : new(Math.Min(free, (long)((Math.Max(0, m.FreeKb) + m.InactiveFileKb) * ratio)), 0);
        if (m.ZramTotalKb <= 0)
            return new(free, 0);

        long zramFree = Math.Clamp(m.ZramFreeKb, 0, free);
        double r = ZramRatioOf(in m);
        // A page swapped to zram frees its own memory and keeps 1/r of it for the compressed copy:
        // with everything anonymous compressed, what is in memory now (anon, zram's own, and what
        // can still be had) holds r times as much. What is already stored or resident counts against it.
        long holdable = Math.Max(0, m.AnonKb) + Math.Max(0, m.ZramMemUsedKb) + Math.Max(0, m.HeadroomKb);
        long bound = Math.Max(0, (long)(holdable * r) - Math.Max(0, m.AnonKb) - Math.Max(0, m.ZramStoredKb));
        return new(free - zramFree, Math.Min(zramFree, bound)) { ZramRatio = r };
    }

    private static double ZramRatioOf(in MemorySnapshot m) =>
        m.ZramStoredKb >= MinStoredForMeasuredRatioKb && m.ZramMemUsedKb > 0
            ? Math.Clamp((double)m.ZramStoredKb / m.ZramMemUsedKb, 1, MaxZramRatio)
            : KillPolicyOptions.DefaultZramCompressionRatio;
}
