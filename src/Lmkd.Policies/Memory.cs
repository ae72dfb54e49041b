namespace Lmkd.Policies;

/// <summary>Zone watermarks summed over populated zones (each plus its largest lowmem protection), in kB.</summary>
public readonly record struct Watermarks(long MinKb, long LowKb, long HighKb)
{
    public bool IsKnown => HighKb > 0;
}

/// <summary>Which watermark free memory is below, ordered like Android lmkd's zone_watermark.</summary>
public enum WatermarkLevel
{
    BelowMin = 0,
    BelowLow = 1,
    BelowHigh = 2,
    None = 3,
}

/// <summary>
/// Memory of the watched scope at one instant. For the whole machine it comes from /proc/meminfo,
/// /proc/vmstat and /proc/zoneinfo; for a cgroup, from the cgroup's usage, limit and memory.stat
/// (free = limit - usage, watermarks = fractions of the limit).
/// </summary>
public readonly record struct MemorySnapshot
{
    public long TotalKb { get; init; }
    /// <summary>Free memory as compared with the watermarks (MemFree - CmaFree, or limit - usage).</summary>
    public long FreeKb { get; init; }
    public long AvailableKb { get; init; }
    public long SwapTotalKb { get; init; }
    public long SwapFreeKb { get; init; }
    public long AnonKb { get; init; }        // active_anon + inactive_anon
    public long ShmemKb { get; init; }
    public long FileLruKb { get; init; }     // active_file + inactive_file
    /// <summary>inactive_file alone: with free memory, what can be had back at once (lmkd's "easy available").</summary>
    public long InactiveFileKb { get; init; }
    /// <summary>workingset_refault_file (workingset_refault before 5.9), in kB.</summary>
    public long RefaultFileKb { get; init; }
    /// <summary>Pages scanned by kswapd; -1 where the scope does not report it.</summary>
    public long PgscanKswapd { get; init; }
    /// <summary>Pages scanned by direct reclaim; -1 where the scope does not report it.</summary>
    public long PgscanDirect { get; init; }
    public Watermarks Watermarks { get; init; }
}

/// <summary>PSI state of the watched scope at one instant (from a memory.pressure file).</summary>
public readonly record struct PsiSnapshot(double SomeAvg10, double FullAvg10, long SomeTotalUs, long FullTotalUs);

/// <summary>What woke the monitor.</summary>
public enum PressureLevel
{
    /// <summary>No event: a follow-up poll after an earlier event.</summary>
    None = 0,
    /// <summary>The partial-stall ("some") level: Android lmkd's medium level.</summary>
    Medium = 1,
    /// <summary>The complete-stall ("full") level: Android lmkd's critical level.</summary>
    Critical = 2,
}
