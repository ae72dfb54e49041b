namespace Lmkd.ProcFs;

/// <summary>The /proc/vmstat counters Lmkd uses, in pages (or events). A missing counter is -1.</summary>
public readonly record struct VmStat
{
    /// <summary>workingset_refault_file, or workingset_refault on kernels before 5.9 (which did not split anon/file).</summary>
    public long WorkingsetRefaultFile { get; init; }
    /// <summary>workingset_activate_file (workingset_activate before 5.9): refaults that the kernel activated.</summary>
    public long WorkingsetActivateFile { get; init; }
    public long PgscanKswapd { get; init; }
    public long PgscanDirect { get; init; }
    /// <summary>Pages freed by kswapd and by direct reclaim (pgsteal_*); with the pgscan_* they give reclaim's efficiency.</summary>
    public long PgstealKswapd { get; init; }
    public long PgstealDirect { get; init; }
    public long NrActiveFile { get; init; }
    public long NrInactiveFile { get; init; }
    public long NrFreePages { get; init; }

    public static VmStat Parse(ReadOnlySpan<byte> content)
    {
        long refaultFile = -1, refaultLegacy = -1, activateFile = -1, activateLegacy = -1, kswapd = -1, direct = -1,
            stealKswapd = -1, stealDirect = -1, activeFile = -1, inactiveFile = -1, free = -1;
        while (ProcParse.NextLine(ref content, out var line))
        {
            if (!ProcParse.TrySplitKey(line, out var key, out var rest))
                continue;
            // Dispatch on the first byte: vmstat has ~180 lines, we want 11.
            switch (key[0])
            {
                case (byte)'w':
                    if (key.SequenceEqual("workingset_refault_file"u8)) refaultFile = ProcParse.ValueOr(rest, -1);
                    else if (key.SequenceEqual("workingset_refault"u8)) refaultLegacy = ProcParse.ValueOr(rest, -1);
                    else if (key.SequenceEqual("workingset_activate_file"u8)) activateFile = ProcParse.ValueOr(rest, -1);
                    else if (key.SequenceEqual("workingset_activate"u8)) activateLegacy = ProcParse.ValueOr(rest, -1);
                    break;
                case (byte)'p':
                    if (key.SequenceEqual("pgscan_kswapd"u8)) kswapd = ProcParse.ValueOr(rest, -1);
                    else if (key.SequenceEqual("pgscan_direct"u8)) direct = ProcParse.ValueOr(rest, -1);
                    else if (key.SequenceEqual("pgsteal_kswapd"u8)) stealKswapd = ProcParse.ValueOr(rest, -1);
                    else if (key.SequenceEqual("pgsteal_direct"u8)) stealDirect = ProcParse.ValueOr(rest, -1);
                    break;
                case (byte)'n':
                    if (key.SequenceEqual("nr_active_file"u8)) activeFile = ProcParse.ValueOr(rest, -1);
                    else if (key.SequenceEqual("nr_inactive_file"u8)) inactiveFile = ProcParse.ValueOr(rest, -1);
                    else if (key.SequenceEqual("nr_free_pages"u8)) free = ProcParse.ValueOr(rest, -1);
                    break;
            }
        }
        return new VmStat
        {
            WorkingsetRefaultFile = refaultFile >= 0 ? refaultFile : refaultLegacy,
            WorkingsetActivateFile = activateFile >= 0 ? activateFile : activateLegacy,
            PgscanKswapd = kswapd, PgscanDirect = direct,
            PgstealKswapd = stealKswapd, PgstealDirect = stealDirect,
            NrActiveFile = activeFile, NrInactiveFile = inactiveFile, NrFreePages = free,
        };
    }
}
