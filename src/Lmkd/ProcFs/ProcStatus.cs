namespace Lmkd.ProcFs;

/// <summary>The /proc/&lt;pid&gt;/status fields Lmkd uses, converted to bytes.</summary>
public readonly record struct StatusFields
{
    /// <summary>The real uid (first value of "Uid:").</summary>
    public uint Uid { get; init; }
    public long RssAnonBytes { get; init; }
    public long RssFileBytes { get; init; }
    public long RssShmemBytes { get; init; }
    public long SwapBytes { get; init; }
    /// <summary>False when the Rss lines are absent: a kernel thread, or a process whose mm is already gone.</summary>
    public bool HasMm { get; init; }
    /// <summary>
    /// "NSpid:" lists the pid in each pid namespace from the reader's down to the process's own: more than one value
    /// ending in 1 is the init of a namespace below the reader's. False when the line is absent (before Linux 4.1).
    /// </summary>
    public bool IsNamespaceInit { get; init; }
}

/// <summary>/proc/&lt;pid&gt;/status.</summary>
public static class ProcStatus
{
    /// <summary>
    /// Real uid, NSpid and the Rss/Swap lines (kB, converted to bytes, saturating at
    /// <see cref="ProcessScanner.MaxMemoryBytes"/>). A later line with the same key wins, so a forged line smuggled
    /// into Name (which comes first) cannot override the kernel's own (the kernel escapes newlines in Name anyway).
    /// False when there is no Uid line.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> s, out StatusFields fields)
    {
        fields = default;
        bool haveUid = false, hasMm = false, nsInit = false;
        uint uid = 0;
        long anon = 0, file = 0, shmem = 0, swap = 0;
        // Every wanted line seen: the ~25 lines after VmSwap (signals, capabilities, cpusets) need not be parsed.
        const int All = 0b111111;
        int seen = 0;
        while (seen != All && ProcParse.NextLine(ref s, out var line))
        {
            if (!ProcParse.TrySplitKey(line, out var key, out var rest))
                continue;
            // Dispatch on the first byte: most of the ~55 lines then cost one comparison.
            switch (key[0])
            {
                case (byte)'U':
                    if (key.SequenceEqual("Uid"u8))
                    {
                        haveUid = ProcParse.TryParseUInt64(ProcParse.FirstToken(rest), out ulong u) && u <= uint.MaxValue;
                        uid = haveUid ? (uint)u : 0;
                        seen |= 1;
                    }
                    break;
                case (byte)'R':
                    if (key.SequenceEqual("RssAnon"u8)) { anon = Kb(rest); hasMm = true; seen |= 2; }
                    else if (key.SequenceEqual("RssFile"u8)) { file = Kb(rest); hasMm = true; seen |= 4; }
                    else if (key.SequenceEqual("RssShmem"u8)) { shmem = Kb(rest); hasMm = true; seen |= 8; }
                    break;
                case (byte)'V':
                    if (key.SequenceEqual("VmSwap"u8))
                    {
                        swap = Kb(rest);
                        seen |= 16;
                    }
                    break;
                case (byte)'N':
                    if (key.SequenceEqual("NSpid"u8))
                    {
                        nsInit = IsInitBelowReader(rest);
                        seen |= 32;
                    }
                    break;
            }
        }
        if (!haveUid)
            return false;
        fields = new StatusFields
        {
            Uid = uid, RssAnonBytes = anon, RssFileBytes = file, RssShmemBytes = shmem, SwapBytes = swap, HasMm = hasMm,
            IsNamespaceInit = nsInit,
        };
        return true;
    }

    /// <summary>"NSpid: 4711 1": at least two values, the last (the process's own namespace) 1.</summary>
    private static bool IsInitBelowReader(ReadOnlySpan<byte> values)
    {
        int count = 0;
        ReadOnlySpan<byte> last = default;
        while (true)
        {
            var token = ProcParse.NextToken(ref values);
            if (token.IsEmpty)
                break;
            count++;
            last = token;
        }
        return count >= 2 && last.SequenceEqual("1"u8);
    }

    private static long Kb(ReadOnlySpan<byte> rest) =>
        ProcParse.TryParseInt64Saturating(ProcParse.FirstToken(rest), out long kb) && kb >= 0
            ? Math.Min(ProcParse.MultiplySaturating(kb, 1024), ProcessScanner.MaxMemoryBytes) : 0;
}
