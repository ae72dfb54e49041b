namespace Lmkd.Policies;

/// <summary>Zone watermarks summed over populated zones (each plus its largest lowmem protection, at most the zone's managed pages), in kB.</summary>
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
/// /proc/vmstat and /proc/zoneinfo; for a cgroup, from the cgroup's (and its ancestors') usage,
/// limits and memory.stat (free = headroom, watermarks = fractions of the limit).
/// Counters a scope does not report are -1.
/// </summary>
public readonly record struct MemorySnapshot
{
    public MemorySnapshot()
    {
    }

    /// <summary>The scope's memory: MemTotal, or the smallest limit over the cgroup and its ancestors.</summary>
    public long TotalKb { get; init; }
    /// <summary>
    /// Free memory as compared with the watermarks: MemFree - CmaFree for the machine; for a cgroup,
    /// which has no kswapd keeping pages free, its headroom (limit - usage + clean inactive file).
    /// </summary>
    public long FreeKb { get; init; }
    /// <summary>
    /// What can still be allocated before the scope runs out, without swapping: MemAvailable for the
    /// machine; for a cgroup the smallest, over it and its limited ancestors, of limit - usage + clean
    /// inactive file (reclaim gives that back cheaply). -1 when unknown: headroom kills are off.
    /// </summary>
    public long HeadroomKb { get; init; } = -1;
    /// <summary>
    /// The level whose headroom this is: 0 the scope's own (the whole machine in machine scope), N its
    /// Nth limited ancestor, -1 the machine around a cgroup scope. Committed memory is that level's:
    /// when the level changes, the two series cannot be compared.
    /// </summary>
    public int BindingLevel { get; init; }
    /// <summary>
    /// Memory reclaim cannot give back without swap (anon, shmem, kernel), where it decides the headroom:
    /// its growth is the fill rate. Pages moving between the file LRUs change the headroom of a cgroup
    /// (only inactive file counts) but not this. -1: TotalKb - HeadroomKb (the machine: MemTotal - MemAvailable).
    /// </summary>
    public long CommittedKb { get; init; } = -1;
    public long AvailableKb { get; init; }
    /// <summary>Memory in use in the scope: MemTotal - MemFree for the machine (page cache included), the cgroup's own usage.</summary>
    public long UsedKb { get; init; }
    public long SwapTotalKb { get; init; }
    public long SwapFreeKb { get; init; }
    public long AnonKb { get; init; }        // active_anon + inactive_anon
    /// <summary>The machine's Cached (page cache, shmem included); -1 where the scope does not report it (a cgroup).</summary>
    public long CachedKb { get; init; } = -1;
    /// <summary>The machine's AnonPages (anonymous pages mapped by processes); -1 where the scope does not report it (a cgroup).</summary>
    public long AnonPagesKb { get; init; } = -1;
    public long ShmemKb { get; init; }
    public long FileLruKb { get; init; }     // active_file + inactive_file
    /// <summary>inactive_file alone: with free memory, what can be had back at once (lmkd's "easy available").</summary>
    public long InactiveFileKb { get; init; }
    /// <summary>workingset_refault_file (workingset_refault before 5.9), in kB.</summary>
    public long RefaultFileKb { get; init; }
    /// <summary>
    /// workingset_activate_file, in kB: refaults of pages the kernel judges would have stayed resident
    /// (refault distance within the working set). A file streamed through the cache refaults without
    /// activating; a working set that does not fit activates. -1 where not reported (cgroup v1).
    /// </summary>
    public long ActivateFileKb { get; init; } = -1;
    /// <summary>Pages scanned by kswapd; -1 where the scope does not report it.</summary>
    public long PgscanKswapd { get; init; }
    /// <summary>
    /// Pages scanned by direct reclaim (a cgroup's limit reclaim is direct reclaim); -1 where the scope
    /// does not report it. On cgroup v1, which counts no scans, memory.failcnt (the times usage hit the
    /// limit, each followed by reclaim) stands in: it changes exactly when direct reclaim happens.
    /// </summary>
    public long PgscanDirect { get; init; }
    /// <summary>Pages scanned by all reclaim, and pages it freed (pgsteal): their ratio is reclaim's efficiency. -1 where not reported.</summary>
    public long PgscanTotal { get; init; } = -1;
    public long PgstealTotal { get; init; } = -1;
    /// <summary>The part of SwapTotalKb / SwapFreeKb on zram devices (compressed in memory).</summary>
    public long ZramTotalKb { get; init; }
    public long ZramFreeKb { get; init; }
    /// <summary>What the zram devices hold, uncompressed (mm_stat orig_data_size), and the memory they use for it (mem_used_total), in the scope's share.</summary>
    public long ZramStoredKb { get; init; }
    public long ZramMemUsedKb { get; init; }
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
