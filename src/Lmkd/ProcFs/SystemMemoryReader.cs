using Lmkd.Policies;

namespace Lmkd.ProcFs;

/// <summary>
/// The whole machine's <see cref="MemorySnapshot"/> from /proc/meminfo, /proc/vmstat and
/// /proc/zoneinfo. meminfo and vmstat stay open and are re-read with pread; zoneinfo's watermarks
/// change only when an operator retunes vm.min_free_kbytes or memory is hot-plugged, so it is
/// re-read at most once per <see cref="ZoneInfoRefreshMs"/>. Read() allocates nothing once warm.
/// Not thread-safe: the monitor thread owns it.
/// </summary>
public sealed class SystemMemoryReader : IMemoryReader
{
    public const long ZoneInfoRefreshMs = 60_000;

    private static readonly Func<long> DefaultClock = static () => Environment.TickCount64;

    private readonly ProcFile _meminfo;
    private readonly ProcFile _vmstat;
    private readonly ProcFile _zoneinfo;
    private readonly ZramReader _zram;
    private readonly Func<long> _clockMs;
    private readonly long _pageSizeBytes;
    private long _zoneInfoReadAtMs;
    private bool _zoneInfoRead;

    /// <param name="procRoot">/proc, or a fixture directory holding meminfo, vmstat and zoneinfo.</param>
    /// <param name="clockMs">Monotonic milliseconds; defaults to Environment.TickCount64.</param>
    /// <param name="pageSizeBytes">Defaults to the running system's page size.</param>
    /// <param name="sysBlock">Where zram devices' mm_stat files are (/sys/block, or a fixture directory).</param>
    public SystemMemoryReader(string procRoot = "/proc", Func<long>? clockMs = null, long pageSizeBytes = 0, string sysBlock = "/sys/block")
    {
        _zram = new ZramReader(procRoot, sysBlock);
        _clockMs = clockMs ?? DefaultClock;
        _pageSizeBytes = pageSizeBytes > 0 ? pageSizeBytes : Environment.SystemPageSize;
        _meminfo = ProcFile.Open(Path.Combine(procRoot, "meminfo"));
        _vmstat = ProcFile.Open(Path.Combine(procRoot, "vmstat"), 8192);
        _zoneinfo = ProcFile.Open(Path.Combine(procRoot, "zoneinfo"), 16384);
    }

    /// <inheritdoc/>
    public bool SwapDevicesKnown => _zram.SwapsReadable;

    /// <summary>The watermarks from the last zoneinfo read (unknown before the first Read).</summary>
    public Watermarks Watermarks { get; private set; }

    public MemoryAndCounters ReadDetailed()
    {
        var mem = MemInfo.Parse(_meminfo.ReadOrThrow());
        // Content without MemTotal is no memory state: judged, it would read as a machine with none left.
        if (!mem.IsValid)
            throw new IOException("/proc/meminfo has no MemTotal: unparsable content");
        var vm = VmStat.Parse(_vmstat.ReadOrThrow());
        long now = _clockMs();
        if (!_zoneInfoRead || now - _zoneInfoReadAtMs >= ZoneInfoRefreshMs)
        {
            Watermarks = ZoneInfo.ComputeWatermarks(_zoneinfo.ReadOrThrow(), _pageSizeBytes);
            _zoneInfoReadAtMs = now;
            _zoneInfoRead = true;
        }
        return new MemoryAndCounters(mem, vm);
    }

    /// <summary>Reads the current snapshot. Throws IOException only when a system file cannot be read.</summary>
    public MemorySnapshot Read()
    {
        var (mem, vm) = ReadDetailed();
        var snapshot = ToSnapshot(mem, vm, Watermarks, _pageSizeBytes);
        if (mem.SwapTotalKb <= 0)
            return snapshot;
        var zram = _zram.Read();
        return snapshot with { ZramTotalKb = zram.TotalKb, ZramFreeKb = zram.FreeKb, ZramStoredKb = zram.StoredKb, ZramMemUsedKb = zram.MemUsedKb };
    }

    /// <summary>The mapping from meminfo/vmstat/zoneinfo figures to the policy's snapshot.</summary>
    public static MemorySnapshot ToSnapshot(in MemInfo mem, in VmStat vm, Watermarks watermarks, long pageSizeBytes) => new()
    {
        TotalKb = mem.MemTotalKb,
        // CMA pages serve only movable allocations: lmkd does not count them as free.
        FreeKb = Math.Max(0, mem.MemFreeKb - mem.CmaFreeKb),
        AvailableKb = mem.MemAvailableKb,
        UsedKb = Math.Max(0, mem.MemTotalKb - mem.MemFreeKb),
        // The kernel's own estimate of what can be allocated without swapping: free pages above the
        // reserves plus the page cache and slab that reclaim can give back. 0 would mean a kernel older
        // than 3.14, which Lmkd does not support (pidfds need 5.3).
        HeadroomKb = mem.MemAvailableKb,
        SwapTotalKb = mem.SwapTotalKb,
        SwapFreeKb = mem.SwapFreeKb,
        AnonKb = mem.ActiveAnonKb + mem.InactiveAnonKb,
        ShmemKb = mem.ShmemKb,
        FileLruKb = mem.ActiveFileKb + mem.InactiveFileKb,
        InactiveFileKb = mem.InactiveFileKb,
        CachedKb = mem.CachedKb,
        AnonPagesKb = mem.AnonPagesKb,
        RefaultFileKb = vm.WorkingsetRefaultFile < 0 ? 0 : ZoneInfo.PagesToKb(vm.WorkingsetRefaultFile, pageSizeBytes),
        ActivateFileKb = vm.WorkingsetActivateFile < 0 ? -1 : ZoneInfo.PagesToKb(vm.WorkingsetActivateFile, pageSizeBytes),
        PgscanKswapd = vm.PgscanKswapd,
        PgscanDirect = vm.PgscanDirect,
        PgscanTotal = SumKnown(vm.PgscanKswapd, vm.PgscanDirect),
        PgstealTotal = SumKnown(vm.PgstealKswapd, vm.PgstealDirect),
        Watermarks = watermarks,
    };

    // -1 only when neither counter is reported.
    private static long SumKnown(long a, long b) => a < 0 && b < 0 ? -1 : Math.Max(0, a) + Math.Max(0, b);

    public void Dispose()
    {
        _meminfo.Dispose();
        _vmstat.Dispose();
        _zoneinfo.Dispose();
        _zram.Dispose();
    }
}

/// <summary>The parsed files behind one system snapshot (for logs and metrics that want more than the snapshot).</summary>
public readonly record struct MemoryAndCounters(MemInfo MemInfo, VmStat VmStat);
