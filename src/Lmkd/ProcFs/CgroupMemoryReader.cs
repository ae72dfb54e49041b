using Lmkd.Policies;

namespace Lmkd.ProcFs;

/// <summary>
/// A cgroup's <see cref="MemorySnapshot"/>. With a v1 memory directory (hybrid and legacy hosts,
/// where the memory controller lives on v1) it reads the v1 files; otherwise the v2 files.
/// The files stay open and are re-read with pread, so a steady-state read does not allocate.
/// <para>
/// Headroom: the smallest over every level that can bind, of what it can still allocate: the
/// cgroup and each of its limited ancestors (siblings share an ancestor's limit), limit - usage +
/// the clean file cache reclaim gives back there (counted as the kernel's MemAvailable counts it),
/// the limit being memory.max on v2 (memory.limit_in_bytes on v1); and the machine around them,
/// MemAvailable, since limits may add up to more than the machine has. memory.high is no limit:
/// the kernel reclaims and throttles above it but never OOM-kills there. A cgroup full of clean
/// page cache is not short of memory. The level that binds is <see cref="MemorySnapshot.BindingLevel"/>.
/// </para>
/// <para>
/// Mapping: TotalKb = the smallest limit (capped at MemTotal; MemTotal when the machine binds),
/// FreeKb = headroom (a cgroup has no kswapd keeping pages free, so free pages alone read "full"
/// whenever the cache has filled it), AvailableKb = limit - usage + file LRU, Watermarks =
/// percentages of TotalKb. Swap: the cgroup's swap.max - swap.current (v1: memsw less memory), at
/// most the machine's free swap now (re-read at every sample, so swapoff and swapon count at once);
/// the machine's swap where the cgroup has no swap accounting. On v1, which counts no reclaim
/// scans, memory.failcnt stands in for direct reclaim (<see cref="MemorySnapshot.PgscanDirect"/>).
/// </para>
/// Not thread-safe.
/// </summary>
public sealed class CgroupMemoryReader : IMemoryReader
{
    private readonly bool _v1;
    private readonly Level[] _levels; // [0] the scope's own cgroup, then its ancestors, nearest first
    private readonly ProcFile? _swapUsage;   // v2 memory.swap.current, v1 memory.memsw.usage_in_bytes
    private readonly ProcFile? _swapLimit;   // v2 memory.swap.max, v1 memory.memsw.limit_in_bytes
    private readonly ProcFile? _oomEvents;   // v2 memory.events, v1 memory.oom_control
    private readonly ProcFile _meminfo;      // for a scope without any limit
    private readonly ZramReader _zram;
    private readonly long _machineTotalKb;
    private readonly string[] _levelNames;
    private readonly long _pageSizeBytes;
    private readonly double _minPct, _lowPct, _highPct;

    /// <param name="v2Directory">The cgroup's v2 directory (pure v2 hosts).</param>
    /// <param name="v1MemoryDirectory">The cgroup's v1 memory directory; when given, it is the one read.</param>
    /// <param name="minPct">Min watermark as a percentage of the limit.</param>
    /// <param name="lowPct">Low watermark as a percentage of the limit.</param>
    /// <param name="highPct">High watermark as a percentage of the limit.</param>
    /// <param name="procRoot">Where meminfo and swaps are read.</param>
    /// <param name="ancestors">The directories of the cgroup's ancestors in the same hierarchy (v1 memory, else v2), nearest first, without the root.</param>
    /// <param name="sysBlock">Where zram devices' mm_stat files are.</param>
    public CgroupMemoryReader(string? v2Directory, string? v1MemoryDirectory = null,
        double minPct = 1, double lowPct = 2, double highPct = 4, string procRoot = "/proc", long pageSizeBytes = 0,
        IReadOnlyList<string>? ancestors = null, string sysBlock = "/sys/block")
    {
        if (!(minPct >= 0 && minPct <= lowPct && lowPct <= highPct && highPct <= 100))
            throw new ArgumentOutOfRangeException(nameof(minPct), "need 0 <= min <= low <= high <= 100 percent");
        (_minPct, _lowPct, _highPct) = (minPct, lowPct, highPct);
        _pageSizeBytes = pageSizeBytes > 0 ? pageSizeBytes : Environment.SystemPageSize;

        _meminfo = ProcFile.Open(Path.Combine(procRoot, "meminfo"));
        var mem = MemInfo.Parse(_meminfo.ReadOrThrow());
        _machineTotalKb = mem.MemTotalKb;
        _zram = new ZramReader(procRoot, sysBlock);

        string dir = v1MemoryDirectory ?? v2Directory ?? throw new ArgumentException("need a v2 directory or a v1 memory directory");
        _v1 = v1MemoryDirectory is not null;
        Directory = dir;
        var levels = new List<Level> { Level.Open(dir, _v1, required: true)! };
        var names = new List<string> { dir };
        foreach (var ancestor in ancestors ?? [])
            if (Level.Open(ancestor, _v1, required: false) is { } level)
            {
                levels.Add(level);
                names.Add(ancestor);
            }
        _levels = [.. levels];
        _levelNames = [.. names];
        if (_v1)
        {
            _swapUsage = ProcFile.TryOpen(Path.Combine(dir, "memory.memsw.usage_in_bytes"), 64);
            _swapLimit = ProcFile.TryOpen(Path.Combine(dir, "memory.memsw.limit_in_bytes"), 64);
            _oomEvents = ProcFile.TryOpen(Path.Combine(dir, "memory.oom_control"), 256);
        }
        else
        {
            _swapUsage = ProcFile.TryOpen(Path.Combine(dir, "memory.swap.current"), 64);
            _swapLimit = ProcFile.TryOpen(Path.Combine(dir, "memory.swap.max"), 64);
            _oomEvents = ProcFile.TryOpen(Path.Combine(dir, "memory.events"), 256);
        }
    }

    public static CgroupMemoryReader Open(CgroupLocation location, double minPct = 1, double lowPct = 2, double highPct = 4,
        string procRoot = "/proc", IReadOnlyList<string>? ancestors = null) =>
        new(location.V2Directory, location.V1MemoryDirectory, minPct, lowPct, highPct, procRoot, ancestors: ancestors);

    /// <summary>True when the v1 memory files are read.</summary>
    public bool IsV1 => _v1;

    /// <summary>The directory whose memory files are read.</summary>
    public string Directory { get; }

    /// <summary>What <see cref="MemorySnapshot.BindingLevel"/> names: the scope's directory, an ancestor's, or "the machine".</summary>
    public string LevelName(int bindingLevel) =>
        bindingLevel < 0 ? "the machine" : bindingLevel < _levelNames.Length ? _levelNames[bindingLevel] : "?";

    /// <summary>The cgroup's own usage and effective limit at the last read (long.MaxValue: none).</summary>
    public long LastUsageBytes { get; private set; }
    public long LastLimitBytes { get; private set; } = long.MaxValue;

    /// <summary>The snapshot, or false when a file could not be read (the cgroup was removed: ENODEV/ENOENT).</summary>
    public bool TryRead(out MemorySnapshot snapshot)
    {
        snapshot = default;
        var own = _levels[0];
        if (!own.TryReadUsage(out long usageBytes, out long limitBytes) || !own.TryReadStat(_v1, out var stat))
            return false;

        (LastUsageBytes, LastLimitBytes) = (usageBytes, limitBytes);
        long limitKb = Math.Min(limitBytes / 1024, _machineTotalKb);
        long usageKb = usageBytes / 1024;
        long fileKb = (stat.ActiveFileBytes + stat.InactiveFileBytes) / 1024;
        bool limited = limitBytes != long.MaxValue;
        long totalKb = limitKb;
        long headroomKb = limited ? LevelHeadroomKb(limitBytes, usageBytes, in stat) : long.MaxValue;
        long committedKb = CommittedKb(usageBytes, in stat);
        int binding = 0;
        long failcnt = own.ReadFailcnt();
        for (int i = 1; i < _levels.Length; i++)
        {
            // An ancestor that cannot be read (removed, or not ours to read) leaves the others to decide.
            var level = _levels[i];
            if (!level.TryReadUsage(out long u, out long l) || l == long.MaxValue)
                continue;
            if (!level.TryReadStat(_v1, out var s))
                continue;
            limited = true;
            totalKb = Math.Min(totalKb, l / 1024);
            long levelHeadroom = LevelHeadroomKb(l, u, in s);
            if (levelHeadroom < headroomKb)
                (headroomKb, committedKb, binding) = (levelHeadroom, CommittedKb(u, in s), i);
            long f = level.ReadFailcnt();
            if (f >= 0)
                failcnt = Math.Max(0, failcnt) + f;
        }
        // The machine is a level too: limits can add up to more than it has. Unlimited, it is the only one.
        if (_meminfo.Read(out var content) != ProcReadStatus.Ok)
            return false;
        var machine = MemInfo.Parse(content);
        if (!machine.IsValid)
            return false; // unparsable: no figure rather than "nothing available"
        if (!limited || machine.MemAvailableKb < headroomKb)
        {
            (headroomKb, committedKb, binding) = (machine.MemAvailableKb, machine.MemTotalKb - machine.MemAvailableKb, -1);
            totalKb = machine.MemTotalKb;
        }
        headroomKb = Math.Clamp(headroomKb, 0, totalKb);
        var (swapTotalKb, swapFreeKb) = ReadSwap(usageBytes, limitBytes, in machine);
        var zram = ReadZramShare(swapTotalKb, swapFreeKb, machine.SwapTotalKb);

        snapshot = new MemorySnapshot
        {
            TotalKb = totalKb,
            FreeKb = headroomKb,
            HeadroomKb = headroomKb,
            BindingLevel = binding,
            CommittedKb = Math.Max(0, committedKb),
            AvailableKb = Math.Min(limitKb, Math.Max(0, limitKb - usageKb) + fileKb),
            UsedKb = usageKb,
            SwapTotalKb = swapTotalKb,
            SwapFreeKb = swapFreeKb,
            ZramTotalKb = zram.TotalKb,
            ZramFreeKb = zram.FreeKb,
            ZramStoredKb = zram.StoredKb,
            ZramMemUsedKb = zram.MemUsedKb,
            AnonKb = stat.AnonBytes / 1024,
            ShmemKb = stat.ShmemBytes / 1024,
            FileLruKb = fileKb,
            InactiveFileKb = stat.InactiveFileBytes / 1024,
            RefaultFileKb = stat.WorkingsetRefaultFile < 0 ? 0 : ZoneInfo.PagesToKb(stat.WorkingsetRefaultFile, _pageSizeBytes),
            ActivateFileKb = stat.WorkingsetActivateFile < 0 ? -1 : ZoneInfo.PagesToKb(stat.WorkingsetActivateFile, _pageSizeBytes),
            PgscanKswapd = stat.PgscanKswapd,
            PgscanDirect = _v1 ? failcnt : stat.PgscanDirect,
            PgscanTotal = stat.Pgscan,
            PgstealTotal = stat.Pgsteal,
            Watermarks = new Watermarks(Percent(totalKb, _minPct), Percent(totalKb, _lowPct), Percent(totalKb, _highPct)),
        };
        return true;
    }

    /// <summary>
    /// limit - usage, plus the file cache reclaim gives back, as the kernel's MemAvailable counts it:
    /// the file LRUs less half of them or the low watermark, whichever is less, and less what is dirty
    /// or under writeback. The active list counts too: reclaim deactivates it before any OOM, and
    /// counting only the inactive list made a cgroup whose cache had just been re-read (and so
    /// activated) look exhausted while 100 MiB of it could still go.
    /// </summary>
    private long LevelHeadroomKb(long limitBytes, long usageBytes, in CgroupMemoryStat s)
    {
        long file = s.ActiveFileBytes + s.InactiveFileBytes;
        long lowWatermark = (long)(limitBytes * (_lowPct / 100.0));
        long reclaimable = Math.Max(0, file - Math.Min(file / 2, lowWatermark) - s.DirtyBytes - s.WritebackBytes);
        return (Math.Max(0, limitBytes - usageBytes) + reclaimable) / 1024;
    }

    // What reclaim cannot give back without swap: usage less the file LRUs (anon, shmem, kernel memory).
    private static long CommittedKb(long usageBytes, in CgroupMemoryStat s) =>
        Math.Max(0, usageBytes - s.ActiveFileBytes - s.InactiveFileBytes) / 1024;

    /// <summary>The snapshot; throws IOException when the cgroup's files cannot be read.</summary>
    public MemorySnapshot Read() =>
        TryRead(out var s) ? s : throw new IOException($"read memory files of {Directory}: errno {_levels[0].LastErrno}");

    /// <summary>OOM kills inside this cgroup (v2 memory.events or v1 memory.oom_control "oom_kill"); -1 when not reported.</summary>
    public long ReadOomKills()
    {
        if (_oomEvents is null || _oomEvents.Read(out var content) != ProcReadStatus.Ok)
            return -1;
        return ProcParse.TryFindValue(content, "oom_kill"u8, out long kills) ? kills : -1;
    }

    /// <summary>"max" (v2) means unlimited; numbers saturate (v1 prints ~2^63 for unlimited).</summary>
    internal static long ParseLimit(ReadOnlySpan<byte> content)
    {
        var token = ProcParse.FirstToken(content);
        if (token.SequenceEqual("max"u8))
            return long.MaxValue;
        // v1 prints the largest page-aligned value for "unlimited": anything at or above 2^62 is no limit.
        return ProcParse.TryParseInt64Saturating(token, out long v) && v >= 0 && v < (1L << 62) ? v : long.MaxValue;
    }

    private (long TotalKb, long FreeKb) ReadSwap(long memUsageBytes, long memLimitBytes, in MemInfo machine)
    {
        if (machine.SwapTotalKb <= 0)
            return (0, 0);
        // Without swap accounting (no files, or unreadable) the cgroup's swap is the machine's.
        if (_swapUsage is null || _swapLimit is null
            || _swapUsage.Read(out var usageContent) != ProcReadStatus.Ok
            || !ProcParse.TryParseInt64Saturating(ProcParse.FirstToken(usageContent), out long swapUsage)
            || _swapLimit.Read(out var limitContent) != ProcReadStatus.Ok)
            return (machine.SwapTotalKb, Math.Max(0, machine.SwapFreeKb));
        long swapLimit = ParseLimit(limitContent);
        if (_v1)
        {
            // memsw counts memory + swap together: the swap part is what exceeds the memory figures.
            swapUsage = Math.Max(0, swapUsage - memUsageBytes);
            swapLimit = swapLimit == long.MaxValue ? long.MaxValue : Math.Max(0, swapLimit - memLimitBytes);
        }
        long totalKb = Math.Min(swapLimit / 1024, machine.SwapTotalKb);
        // Other cgroups fill the same swap: the cgroup cannot use more than the machine has free now.
        return (totalKb, Math.Clamp(totalKb - swapUsage / 1024, 0, Math.Max(0, machine.SwapFreeKb)));
    }

    /// <summary>The cgroup's swap is the machine's: its zram share is the machine's zram share of swap, and so is what zram stores.</summary>
    private ZramSwap ReadZramShare(long swapTotalKb, long swapFreeKb, long machineSwapKb)
    {
        if (swapTotalKb <= 0 || machineSwapKb <= 0)
            return default;
        var zram = _zram.Read();
        if (zram.TotalKb <= 0)
            return default;
        double share = Math.Min(1.0, (double)zram.TotalKb / machineSwapKb);
        return new ZramSwap((long)(swapTotalKb * share), (long)(swapFreeKb * share), (long)(zram.StoredKb * share), (long)(zram.MemUsedKb * share));
    }

    private static long Percent(long kb, double pct) => (long)(kb * (pct / 100.0));

    /// <inheritdoc/>
    public bool SwapDevicesKnown => _zram.SwapsReadable;

    public void Dispose()
    {
        foreach (var level in _levels)
            level.Dispose();
        _swapUsage?.Dispose();
        _swapLimit?.Dispose();
        _oomEvents?.Dispose();
        _meminfo.Dispose();
        _zram.Dispose();
    }

    /// <summary>One cgroup's usage, limit(s), stat and (v1) failcnt, kept open.</summary>
    private sealed class Level : IDisposable
    {
        private readonly ProcFile _usage, _limit, _stat;
        private readonly ProcFile? _failcnt; // v1 memory.failcnt

        private Level(ProcFile usage, ProcFile limit, ProcFile stat, ProcFile? failcnt) =>
            (_usage, _limit, _stat, _failcnt) = (usage, limit, stat, failcnt);

        public int LastErrno => _usage.LastErrno != 0 ? _usage.LastErrno : _limit.LastErrno != 0 ? _limit.LastErrno : _stat.LastErrno;

        /// <summary>Opens a level; null for an ancestor whose files are missing (required: throws instead).</summary>
        public static Level? Open(string dir, bool v1, bool required)
        {
            string usage = v1 ? "memory.usage_in_bytes" : "memory.current", limit = v1 ? "memory.limit_in_bytes" : "memory.max";
            if (!required && !File.Exists(Path.Combine(dir, usage)))
                return null;
            return new Level(
                ProcFile.Open(Path.Combine(dir, usage), 64),
                ProcFile.Open(Path.Combine(dir, limit), 64),
                ProcFile.Open(Path.Combine(dir, "memory.stat")),
                v1 ? ProcFile.TryOpen(Path.Combine(dir, "memory.failcnt"), 64) : null);
        }

        /// <summary>Usage and the limit (memory.max, v1 memory.limit_in_bytes; long.MaxValue: none).</summary>
        public bool TryReadUsage(out long usageBytes, out long limitBytes)
        {
            limitBytes = long.MaxValue;
            if (_usage.Read(out var usage) != ProcReadStatus.Ok
                || !ProcParse.TryParseInt64Saturating(ProcParse.FirstToken(usage), out usageBytes))
            {
                usageBytes = 0;
                return false;
            }
            if (_limit.Read(out var limit) != ProcReadStatus.Ok)
                return false;
            limitBytes = ParseLimit(limit);
            return true;
        }

        public bool TryReadStat(bool v1, out CgroupMemoryStat stat)
        {
            stat = default;
            if (_stat.Read(out var content) != ProcReadStatus.Ok)
                return false;
            stat = CgroupMemoryStat.Parse(content, v1);
            return true;
        }

        /// <summary>v1 memory.failcnt; -1 on v2 or when unreadable.</summary>
        public long ReadFailcnt() =>
            _failcnt is not null && _failcnt.Read(out var c) == ProcReadStatus.Ok
            && ProcParse.TryParseInt64Saturating(ProcParse.FirstToken(c), out long n) ? n : -1;

        public void Dispose()
        {
            _usage.Dispose();
            _limit.Dispose();
            _stat.Dispose();
            _failcnt?.Dispose();
        }
    }
}

/// <summary>The memory.stat figures Lmkd uses (v2 names, or v1 "total_" hierarchical ones). Bytes, except counters in pages/events.</summary>
public readonly record struct CgroupMemoryStat
{
    public long AnonBytes { get; init; }
    public long ShmemBytes { get; init; }
    public long ActiveFileBytes { get; init; }
    public long InactiveFileBytes { get; init; }
    /// <summary>Dirty and under-writeback file pages: not reclaimable until written.</summary>
    public long DirtyBytes { get; init; }
    public long WritebackBytes { get; init; }
    /// <summary>Refault events (pages); -1 when not reported.</summary>
    public long WorkingsetRefaultFile { get; init; }
    /// <summary>Refaults the kernel activated (pages); -1 when not reported (always on v1).</summary>
    public long WorkingsetActivateFile { get; init; }
    /// <summary>Pages; -1 when not reported (always on v1).</summary>
    public long PgscanKswapd { get; init; }
    public long PgscanDirect { get; init; }
    /// <summary>All reclaim: pages scanned and pages freed; -1 when not reported (always on v1).</summary>
    public long Pgscan { get; init; }
    public long Pgsteal { get; init; }

    public static CgroupMemoryStat Parse(ReadOnlySpan<byte> content, bool v1)
    {
        long anon = -1, activeAnon = -1, inactiveAnon = -1, rss = -1, shmem = 0, activeFile = 0, inactiveFile = 0,
            dirty = 0, writeback = 0, refaultFile = -1, refaultLegacy = -1, activateFile = -1, activateLegacy = -1,
            kswapd = -1, direct = -1, pgscan = -1, pgsteal = -1;
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
                else if (key.SequenceEqual("dirty"u8)) dirty = ProcParse.ValueOr(rest, 0);
                else if (key.SequenceEqual("writeback"u8)) writeback = ProcParse.ValueOr(rest, 0);
            }
            else if (key.SequenceEqual("anon"u8)) anon = ProcParse.ValueOr(rest, -1);
            else if (key.SequenceEqual("pgscan_kswapd"u8)) kswapd = ProcParse.ValueOr(rest, -1);
            else if (key.SequenceEqual("pgscan_direct"u8)) direct = ProcParse.ValueOr(rest, -1);
            else if (key.SequenceEqual("pgscan"u8)) pgscan = ProcParse.ValueOr(rest, -1);
            else if (key.SequenceEqual("pgsteal"u8)) pgsteal = ProcParse.ValueOr(rest, -1);
            else if (key.SequenceEqual("file_dirty"u8)) dirty = ProcParse.ValueOr(rest, 0);
            else if (key.SequenceEqual("file_writeback"u8)) writeback = ProcParse.ValueOr(rest, 0);
            else if (key.SequenceEqual("workingset_activate_file"u8)) activateFile = ProcParse.ValueOr(rest, -1);
            else if (key.SequenceEqual("workingset_activate"u8)) activateLegacy = ProcParse.ValueOr(rest, -1);

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
            DirtyBytes = dirty, WritebackBytes = writeback,
            WorkingsetRefaultFile = refaultFile >= 0 ? refaultFile : refaultLegacy,
            WorkingsetActivateFile = activateFile >= 0 ? activateFile : activateLegacy,
            PgscanKswapd = kswapd, PgscanDirect = direct, Pgscan = pgscan, Pgsteal = pgsteal,
        };
    }
}
