namespace Lmkd.ProcFs;

/// <summary>
/// /proc/swaps: "Filename Type Size Used Priority", a header line, then one line per device.
/// A device name with spaces is printed with them escaped (\040), so fields split on blanks.
/// </summary>
public static class SwapsParser
{
    /// <summary>Visits each device without allocating; malformed lines are skipped.</summary>
    public static void Parse(ReadOnlySpan<byte> content, SwapDeviceVisitor visit)
    {
        bool header = true;
        while (ProcParse.NextLine(ref content, out var line))
        {
            if (header)
            {
                header = false;
                if (line.StartsWith("Filename"u8))
                    continue;
            }
            var name = ProcParse.NextToken(ref line);
            ProcParse.NextToken(ref line); // type
            if (name.IsEmpty
                || !ProcParse.TryParseInt64Saturating(ProcParse.NextToken(ref line), out long size)
                || !ProcParse.TryParseInt64Saturating(ProcParse.NextToken(ref line), out long used))
                continue;
            visit(name, size, used);
        }
    }

    public delegate void SwapDeviceVisitor(ReadOnlySpan<byte> name, long sizeKb, long usedKb);
}

/// <summary>
/// /sys/block/zramN/mm_stat: orig_data_size compr_data_size mem_used_total mem_limit mem_used_max
/// same_pages pages_compacted huge_pages [huge_pages_since], bytes and pages.
/// </summary>
public static class ZramMmStat
{
    /// <summary>Original (uncompressed) bytes stored and the memory the device uses for them, allocator overhead included.</summary>
    public static bool TryParse(ReadOnlySpan<byte> content, out long origBytes, out long memUsedBytes)
    {
        memUsedBytes = 0;
        if (!ProcParse.TryParseInt64Saturating(ProcParse.NextToken(ref content), out origBytes))
            return false;
        ProcParse.NextToken(ref content); // compr_data_size: without the allocator's overhead
        return ProcParse.TryParseInt64Saturating(ProcParse.NextToken(ref content), out memUsedBytes);
    }
}

/// <summary>The zram devices in use as swap, summed: their size and free space (/proc/swaps), what they store and the memory that costs (mm_stat).</summary>
public readonly record struct ZramSwap(long TotalKb, long FreeKb, long StoredKb, long MemUsedKb)
{
    /// <summary>Stored data per byte of memory used; 0 when empty or unknown.</summary>
    public double Ratio => StoredKb > 0 && MemUsedKb > 0 ? (double)StoredKb / MemUsedKb : 0;
}

/// <summary>
/// The zram share of swap and what it stores: /proc/swaps kept open and re-read with pread; each
/// zram device's mm_stat opened when it first appears, and again after a read fails (a device reset
/// or removed and added again). Devices come and go with swapon and swapoff: each read sees the
/// ones in use now. Not thread-safe.
/// </summary>
public sealed class ZramReader : IDisposable
{
    private readonly ProcFile? _swaps;
    private readonly string _sysBlock;
    private readonly Dictionary<int, ProcFile?> _mmStat = [];
    private readonly SwapsParser.SwapDeviceVisitor _visit;
    private long _totalKb, _usedKb, _origBytes, _memUsedBytes;

    /// <param name="procRoot">Where swaps is (/proc, or a fixture directory).</param>
    /// <param name="sysBlock">Where the zramN directories are (/sys/block, or a fixture directory).</param>
    public ZramReader(string procRoot = "/proc", string sysBlock = "/sys/block")
    {
        _swaps = ProcFile.TryOpen(Path.Combine(procRoot, "swaps"), 1024);
        _sysBlock = sysBlock;
        _visit = Visit;
    }

    /// <summary>False when /proc/swaps could not be read at the last <see cref="Read"/>: all swap then counts as disk swap.</summary>
    public bool SwapsReadable { get; private set; } = true;

    /// <summary>Zram swap in use now; all 0 without zram, or when /proc/swaps cannot be read (<see cref="SwapsReadable"/>).</summary>
    public ZramSwap Read()
    {
        _totalKb = _usedKb = _origBytes = _memUsedBytes = 0;
        ReadOnlySpan<byte> content = default;
        SwapsReadable = _swaps is not null && _swaps.Read(out content) == ProcReadStatus.Ok;
        if (!SwapsReadable)
            return default;
        SwapsParser.Parse(content, _visit);
        return new ZramSwap(_totalKb, Math.Max(0, _totalKb - _usedKb), _origBytes / 1024, _memUsedBytes / 1024);
    }

    private void Visit(ReadOnlySpan<byte> name, long sizeKb, long usedKb)
    {
        if (!name.StartsWith("/dev/zram"u8) || !ProcParse.TryParseInt32(name[9..], out int index) || index < 0)
            return;
        _totalKb += sizeKb;
        _usedKb += usedKb;
        if (!_mmStat.TryGetValue(index, out var file))
        {
            // Once per device: a swapon at run time costs this allocation, nothing after.
            file = ProcFile.TryOpen(Path.Combine(_sysBlock, $"zram{index}", "mm_stat"), 256);
            _mmStat[index] = file;
        }
        if (file is not null && file.Read(out var stat) == ProcReadStatus.Ok && ZramMmStat.TryParse(stat, out long orig, out long used))
        {
            _origBytes += orig;
            _memUsedBytes += used;
        }
        else if (file is not null)
        {
            // Reset or removed under Lmkd: what it stores is unknown (the default ratio applies); open
            // it afresh next time rather than re-read a file that no longer answers. A file that never
            // opened stays unopened: retrying it on every sample would cost the monitor an open each time.
            file.Dispose();
            _mmStat.Remove(index);
        }
    }

    public void Dispose()
    {
        _swaps?.Dispose();
        foreach (var f in _mmStat.Values)
            f?.Dispose();
    }
}
