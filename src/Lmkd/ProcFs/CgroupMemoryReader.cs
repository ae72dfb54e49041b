using Lmkd.Policies;

namespace Lmkd.ProcFs;

/// <summary>
/// A cgroup's <see cref="MemorySnapshot"/>. With a v1 memory directory (hybrid and legacy hosts,
/// where the memory controller lives on v1) it reads the v1 files; otherwise the v2 files.
/// The files stay open and are re-read with pread, so a steady-state read does not allocate.
/// <para>
/// Mapping: TotalKb = the limit (capped at the machine's MemTotal; "max" or a v1 near-2^63 limit
/// means the machine), FreeKb = limit - usage, AvailableKb = free + file LRU (an estimate: page
/// cache is what reclaim gives back first), Watermarks = percentages of the limit: the cgroup
/// analogue of zone watermarks, since a cgroup has no zones and its reclaim starts at the limit.
/// </para>
/// Not thread-safe.
/// </summary>
public sealed class CgroupMemoryReader : IDisposable
{
    private readonly bool _v1;
    private readonly ProcFile _usage;
    private readonly ProcFile _limit;
    private readonly ProcFile _stat;
    private readonly ProcFile? _swapUsage;   // v2 memory.swap.current, v1 memory.memsw.usage_in_bytes
    private readonly ProcFile? _swapLimit;   // v2 memory.swap.max, v1 memory.memsw.limit_in_bytes
    private readonly ProcFile? _oomEvents;   // v2 memory.events, v1 memory.oom_control
    private readonly long _machineTotalKb;
    private readonly long _machineSwapKb;
    private readonly long _pageSizeBytes;
    private readonly double _minPct, _lowPct, _highPct;

    /// <param name="v2Directory">The cgroup's v2 directory (pure v2 hosts).</param>
    /// <param name="v1MemoryDirectory">The cgroup's v1 memory directory; when given, it is the one read.</param>
    /// <param name="minPct">Min watermark as a percentage of the limit.</param>
    /// <param name="lowPct">Low watermark as a percentage of the limit.</param>
    /// <param name="highPct">High watermark as a percentage of the limit.</param>
    /// <param name="procRoot">Where meminfo is read once, for MemTotal and SwapTotal.</param>
    public CgroupMemoryReader(string? v2Directory, string? v1MemoryDirectory = null,
        double minPct = 1, double lowPct = 2, double highPct = 4, string procRoot = "/proc", long pageSizeBytes = 0)
    {
        if (!(minPct >= 0 && minPct <= lowPct && lowPct <= highPct && highPct <= 100))
            throw new ArgumentOutOfRangeException(nameof(minPct), "need 0 <= min <= low <= high <= 100 percent");
        (_minPct, _lowPct, _highPct) = (minPct, lowPct, highPct);
        _pageSizeBytes = pageSizeBytes > 0 ? pageSizeBytes : Environment.SystemPageSize;

        var reader = new ProcFileReader();
        if (reader.Read(Path.Combine(procRoot, "meminfo"), out var content) != ProcReadStatus.Ok)
            throw new IOException($"read {procRoot}/meminfo: errno {reader.LastErrno}");
        var mem = MemInfo.Parse(content);
        _machineTotalKb = mem.MemTotalKb;
        _machineSwapKb = mem.SwapTotalKb;

        if (v1MemoryDirectory is not null)
        {
            _v1 = true;
            Directory = v1MemoryDirectory;
            _usage = ProcFile.Open(Path.Combine(v1MemoryDirectory, "memory.usage_in_bytes"), 64);
            _limit = ProcFile.Open(Path.Combine(v1MemoryDirectory, "memory.limit_in_bytes"), 64);
            _stat = ProcFile.Open(Path.Combine(v1MemoryDirectory, "memory.stat"));
            _swapUsage = ProcFile.TryOpen(Path.Combine(v1MemoryDirectory, "memory.memsw.usage_in_bytes"), 64);
            _swapLimit = ProcFile.TryOpen(Path.Combine(v1MemoryDirectory, "memory.memsw.limit_in_bytes"), 64);
            _oomEvents = ProcFile.TryOpen(Path.Combine(v1MemoryDirectory, "memory.oom_control"), 256);
        }
        else if (v2Directory is not null)
        {
            Directory = v2Directory;
            _usage = ProcFile.Open(Path.Combine(v2Directory, "memory.current"), 64);
            _limit = ProcFile.Open(Path.Combine(v2Directory, "memory.max"), 64);
            _stat = ProcFile.Open(Path.Combine(v2Directory, "memory.stat"));
            _swapUsage = ProcFile.TryOpen(Path.Combine(v2Directory, "memory.swap.current"), 64);
            _swapLimit = ProcFile.TryOpen(Path.Combine(v2Directory, "memory.swap.max"), 64);
            _oomEvents = ProcFile.TryOpen(Path.Combine(v2Directory, "memory.events"), 256);
        }
        else
        {
            throw new ArgumentException("need a v2 directory or a v1 memory directory");
        }
    }

    public static CgroupMemoryReader Open(CgroupLocation location, double minPct = 1, double lowPct = 2, double highPct = 4,
        string procRoot = "/proc") =>
        new(location.V2Directory, location.V1MemoryDirectory, minPct, lowPct, highPct, procRoot);

    /// <summary>True when the v1 memory files are read.</summary>
    public bool IsV1 => _v1;

    /// <summary>The directory whose memory files are read.</summary>
    public string Directory { get; }

    /// <summary>The snapshot, or false when a file could not be read (the cgroup was removed: ENODEV/ENOENT).</summary>
    public bool TryRead(out MemorySnapshot snapshot)
    {
        snapshot = default;
        if (_usage.Read(out var usageContent) != ProcReadStatus.Ok
            || !ProcParse.TryParseInt64Saturating(ProcParse.FirstToken(usageContent), out long usageBytes))
            return false;
        if (_limit.Read(out var limitContent) != ProcReadStatus.Ok)
            return false;
        long limitBytes = ParseLimit(limitContent);
        if (_stat.Read(out var statContent) != ProcReadStatus.Ok)
            return false;
        var stat = CgroupMemoryStat.Parse(statContent, _v1);

        long limitKb = Math.Min(limitBytes / 1024, _machineTotalKb);
        long usageKb = usageBytes / 1024;
        long freeKb = Math.Max(0, limitKb - usageKb);
        long fileKb = (stat.ActiveFileBytes + stat.InactiveFileBytes) / 1024;
        var (swapTotalKb, swapFreeKb) = ReadSwap(usageBytes, limitBytes);

        snapshot = new MemorySnapshot
        {
            TotalKb = limitKb,
            FreeKb = freeKb,
            AvailableKb = Math.Min(limitKb, freeKb + fileKb),
            SwapTotalKb = swapTotalKb,
            SwapFreeKb = swapFreeKb,
            AnonKb = stat.AnonBytes / 1024,
            ShmemKb = stat.ShmemBytes / 1024,
            FileLruKb = fileKb,
            InactiveFileKb = stat.InactiveFileBytes / 1024,
            RefaultFileKb = stat.WorkingsetRefaultFile < 0 ? 0 : ZoneInfo.PagesToKb(stat.WorkingsetRefaultFile, _pageSizeBytes),
            PgscanKswapd = stat.PgscanKswapd,
            PgscanDirect = stat.PgscanDirect,
            Watermarks = new Watermarks(Percent(limitKb, _minPct), Percent(limitKb, _lowPct), Percent(limitKb, _highPct)),
        };
        return true;
    }

    /// <summary>The snapshot; throws IOException when the cgroup's files cannot be read.</summary>
    public MemorySnapshot Read() =>
        TryRead(out var s) ? s : throw new IOException($"read memory files of {Directory}: errno {LastErrno}");

    private int LastErrno => _usage.LastErrno != 0 ? _usage.LastErrno : _limit.LastErrno != 0 ? _limit.LastErrno : _stat.LastErrno;

    /// <summary>OOM kills inside this cgroup (v2 memory.events or v1 memory.oom_control "oom_kill"); -1 when not reported.</summary>
    public long ReadOomKills()
    {
        if (_oomEvents is null || _oomEvents.Read(out var content) != ProcReadStatus.Ok)
            return -1;
        return ProcParse.TryFindValue(content, "oom_kill"u8, out long kills) ? kills : -1;
    }

    /// <summary>"max" (v2) means unlimited; numbers saturate (v1 prints ~2^63 for unlimited).</summary>
    private static long ParseLimit(ReadOnlySpan<byte> content)
    {
        var token = ProcParse.FirstToken(content);
        if (token.SequenceEqual("max"u8))
            return long.MaxValue;
        return ProcParse.TryParseInt64Saturating(token, out long v) && v >= 0 ? v : long.MaxValue;
    }

    private (long TotalKb, long FreeKb) ReadSwap(long memUsageBytes, long memLimitBytes)
    {
        if (_machineSwapKb <= 0 || _swapUsage is null || _swapLimit is null
            || _swapUsage.Read(out var usageContent) != ProcReadStatus.Ok
            || !ProcParse.TryParseInt64Saturating(ProcParse.FirstToken(usageContent), out long swapUsage)
            || _swapLimit.Read(out var limitContent) != ProcReadStatus.Ok)
            return (0, 0);
        long swapLimit = ParseLimit(limitContent);
        if (_v1)
        {
            // memsw counts memory + swap together: the swap part is what exceeds the memory figures.
            swapUsage = Math.Max(0, swapUsage - memUsageBytes);
            swapLimit = swapLimit == long.MaxValue ? long.MaxValue : Math.Max(0, swapLimit - memLimitBytes);
        }
        long totalKb = Math.Min(swapLimit / 1024, _machineSwapKb);
        return (totalKb, Math.Max(0, totalKb - swapUsage / 1024));
    }

    private static long Percent(long kb, double pct) => (long)(kb * (pct / 100.0));

    public void Dispose()
    {
        _usage.Dispose();
        _limit.Dispose();
        _stat.Dispose();
        _swapUsage?.Dispose();
        _swapLimit?.Dispose();
        _oomEvents?.Dispose();
    }
}

/// <summary>The memory.stat figures Lmkd uses (v2 names, or v1 "total_" hierarchical ones). Bytes, except counters in pages/events.</summary>
public readonly record struct CgroupMemoryStat
{
    public long AnonBytes { get; init; }
    public long ShmemBytes { get; init; }
    public long ActiveFileBytes { get; init; }
    public long InactiveFileBytes { get; init; }
    /// <summary>Refault events (pages); -1 when not reported.</summary>
    public long WorkingsetRefaultFile { get; init; }
    /// <summary>Pages; -1 when not reported (always on v1).</summary>
    public long PgscanKswapd { get; init; }
    public long PgscanDirect { get; init; }

    public static CgroupMemoryStat Parse(ReadOnlySpan<byte> content, bool v1)
    {
        long anon = -1, activeAnon = -1, inactiveAnon = -1, rss = -1, shmem = 0, activeFile = 0, inactiveFile = 0,
            refaultFile = -1, refaultLegacy = -1, kswapd = -1, direct = -1;
        while (ProcParse.NextLine(ref content, out var line))
        {
            if (!ProcParse.TrySplitKey(line, out var key, out var rest))
                continue;
            if (v1)
            {
                // The total_ figures include descendants, like v2's; the unprefixed ones are this level only.
                if (!key.StartsWith("total_"u8))
                    continue;
                key = key[6..];
                if (key.SequenceEqual("active_anon"u8)) activeAnon = ProcParse.ValueOr(rest, -1);
                else if (key.SequenceEqual("inactive_anon"u8)) inactiveAnon = ProcParse.ValueOr(rest, -1);
                else if (key.SequenceEqual("rss"u8)) rss = ProcParse.ValueOr(rest, -1);
            }
            else if (key.SequenceEqual("anon"u8)) anon = ProcParse.ValueOr(rest, -1);
            else if (key.SequenceEqual("pgscan_kswapd"u8)) kswapd = ProcParse.ValueOr(rest, -1);
            else if (key.SequenceEqual("pgscan_direct"u8)) direct = ProcParse.ValueOr(rest, -1);

            if (key.SequenceEqual("shmem"u8)) shmem = ProcParse.ValueOr(rest, 0);
            else if (key.SequenceEqual("active_file"u8)) activeFile = ProcParse.ValueOr(rest, 0);
            else if (key.SequenceEqual("inactive_file"u8)) inactiveFile = ProcParse.ValueOr(rest, 0);
            else if (key.SequenceEqual("workingset_refault_file"u8)) refaultFile = ProcParse.ValueOr(rest, -1);
            else if (key.SequenceEqual("workingset_refault"u8)) refaultLegacy = ProcParse.ValueOr(rest, -1);
        }
        if (v1)
            anon = activeAnon >= 0 && inactiveAnon >= 0 ? activeAnon + inactiveAnon : rss;
        return new CgroupMemoryStat
        {
            AnonBytes = Math.Max(0, anon), ShmemBytes = shmem, ActiveFileBytes = activeFile, InactiveFileBytes = inactiveFile,
            WorkingsetRefaultFile = refaultFile >= 0 ? refaultFile : refaultLegacy,
            PgscanKswapd = kswapd, PgscanDirect = direct,
        };
    }
}
