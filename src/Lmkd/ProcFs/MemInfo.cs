namespace Lmkd.ProcFs;

/// <summary>The /proc/meminfo fields Lmkd uses, in kB. A field the kernel does not print is 0.</summary>
public readonly record struct MemInfo
{
    public long MemTotalKb { get; init; }
    public long MemFreeKb { get; init; }
    public long MemAvailableKb { get; init; }
    public long CmaFreeKb { get; init; }
    public long SwapTotalKb { get; init; }
    public long SwapFreeKb { get; init; }
    public long ActiveAnonKb { get; init; }
    public long InactiveAnonKb { get; init; }
    public long ShmemKb { get; init; }
    public long ActiveFileKb { get; init; }
    public long InactiveFileKb { get; init; }
    /// <summary>Cached: the page cache (file pages, shmem included), mapped or not.</summary>
    public long CachedKb { get; init; }
    /// <summary>AnonPages: anonymous pages mapped into user page tables (not shmem).</summary>
    public long AnonPagesKb { get; init; }

    /// <summary>True when MemTotal was found: the least a usable meminfo has.</summary>
    public bool IsValid => MemTotalKb > 0;

    /// <summary>One pass over the lines; unknown lines are skipped, a malformed value leaves its field 0.</summary>
    public static MemInfo Parse(ReadOnlySpan<byte> content)
    {
        long total = 0, free = 0, available = 0, cmaFree = 0, swapTotal = 0, swapFree = 0,
            activeAnon = 0, inactiveAnon = 0, shmem = 0, activeFile = 0, inactiveFile = 0, cached = 0, anonPages = 0;
        while (ProcParse.NextLine(ref content, out var line))
        {
            if (!ProcParse.TrySplitKey(line, out var key, out var rest))
                continue;
            // Dispatch on the first byte so most of the ~55 lines cost one comparison.
            switch (key[0])
            {
                case (byte)'M':
                    if (key.SequenceEqual("MemTotal"u8)) total = ProcParse.ValueOr(rest, 0);
                    else if (key.SequenceEqual("MemFree"u8)) free = ProcParse.ValueOr(rest, 0);
                    else if (key.SequenceEqual("MemAvailable"u8)) available = ProcParse.ValueOr(rest, 0);
                    break;
                case (byte)'C':
                    if (key.SequenceEqual("Cached"u8)) cached = ProcParse.ValueOr(rest, 0);
                    else if (key.SequenceEqual("CmaFree"u8)) cmaFree = ProcParse.ValueOr(rest, 0);
                    break;
                case (byte)'S':
                    if (key.SequenceEqual("SwapTotal"u8)) swapTotal = ProcParse.ValueOr(rest, 0);
                    else if (key.SequenceEqual("SwapFree"u8)) swapFree = ProcParse.ValueOr(rest, 0);
                    else if (key.SequenceEqual("Shmem"u8)) shmem = ProcParse.ValueOr(rest, 0);
                    break;
                case (byte)'A':
                    if (key.SequenceEqual("Active(anon)"u8)) activeAnon = ProcParse.ValueOr(rest, 0);
                    else if (key.SequenceEqual("Active(file)"u8)) activeFile = ProcParse.ValueOr(rest, 0);
                    else if (key.SequenceEqual("AnonPages"u8)) anonPages = ProcParse.ValueOr(rest, 0);
                    break;
                case (byte)'I':
                    if (key.SequenceEqual("Inactive(anon)"u8)) inactiveAnon = ProcParse.ValueOr(rest, 0);
                    else if (key.SequenceEqual("Inactive(file)"u8)) inactiveFile = ProcParse.ValueOr(rest, 0);
                    break;
            }
        }
        return new MemInfo
        {
            MemTotalKb = total, MemFreeKb = free, MemAvailableKb = available, CmaFreeKb = cmaFree,
            SwapTotalKb = swapTotal, SwapFreeKb = swapFree, ActiveAnonKb = activeAnon,
            InactiveAnonKb = inactiveAnon, ShmemKb = shmem, ActiveFileKb = activeFile, InactiveFileKb = inactiveFile,
            CachedKb = cached, AnonPagesKb = anonPages,
        };
    }
}
