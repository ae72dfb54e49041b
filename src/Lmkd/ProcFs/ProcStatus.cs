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
    /// <remarks>
    /// Each wanted line is found by a vectorized search for "\n&lt;Key&gt;:" rather than by splitting the ~55 lines:
    /// status is the largest file a scan reads, and the search made its parsing several times cheaper.
    /// </remarks>
    public static bool TryParse(ReadOnlySpan<byte> s, out StatusFields fields)
    {
        fields = default;
        if (!TryFindValue(s, "\nUid:"u8, out var uidValue))
            return false;
        bool haveUid = ProcParse.TryParseUInt64(ProcParse.FirstToken(uidValue), out ulong u) && u <= uint.MaxValue;
        if (!haveUid)
            return false;
        bool anonFound = TryFindValue(s, "\nRssAnon:"u8, out var anon);
        bool fileFound = TryFindValue(s, "\nRssFile:"u8, out var file);
        bool shmemFound = TryFindValue(s, "\nRssShmem:"u8, out var shmem);
        fields = new StatusFields
        {
            Uid = (uint)u,
            RssAnonBytes = anonFound ? Kb(anon) : 0,
            RssFileBytes = fileFound ? Kb(file) : 0,
            RssShmemBytes = shmemFound ? Kb(shmem) : 0,
            SwapBytes = TryFindValue(s, "\nVmSwap:"u8, out var swap) ? Kb(swap) : 0,
            HasMm = anonFound || fileFound || shmemFound,
            IsNamespaceInit = TryFindValue(s, "\nNSpid:"u8, out var nspid) && IsInitBelowReader(nspid),
        };
        return true;
    }

    /// <summary>
    /// The rest of the last line whose key is <paramref name="newlineKeyColon"/> ("\nKey:"), blanks trimmed; the
    /// first line has no newline before it.
    /// </summary>
    private static bool TryFindValue(ReadOnlySpan<byte> s, ReadOnlySpan<byte> newlineKeyColon, out ReadOnlySpan<byte> value)
    {
        int at = s.LastIndexOf(newlineKeyColon);
        int from;
        if (at >= 0)
            from = at + newlineKeyColon.Length;
        else if (s.StartsWith(newlineKeyColon[1..]))
            from = newlineKeyColon.Length - 1;
        else
        {
            value = default;
            return false;
        }
        value = s[from..];
        int nl = value.IndexOf((byte)'\n');
        if (nl >= 0)
            value = value[..nl];
        value = ProcParse.TrimStart(value);
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
