namespace Lmkd.Policies;

/// <summary>
/// Chooses which process to kill for a decision. Order, as Android lmkd kills: operator-preferred
/// processes first, then the highest oom_score_adj, then the heaviest (RSS + swap) within it; ties
/// go to the younger process (it has lost less work), then to the higher pid, so the choice is
/// deterministic.
/// </summary>
public static class VictimRanking
{
    /// <summary>Ranks every candidate and says why each rejected one was passed over. Rejected are sorted by pid.</summary>
    public static RankingResult Rank(IReadOnlyList<ProcessInfo> candidates, int minScoreAdj, RankingRules rules, int selfPid)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        ArgumentNullException.ThrowIfNull(rules);

        // Sorted as one number per process, not as the processes: comparing the objects touched two
        // of them per comparison, ~11 times each for 2,000 candidates, and at a kill they are cold in
        // the cache (the kernel's /proc work has just evicted them).
        var keys = new long[candidates.Count];
        var order = new int[candidates.Count];
        int n = 0;
        var rejected = new List<RejectedCandidate>();
        for (int i = 0; i < candidates.Count; i++)
        {
            var p = candidates[i];
            var reason = Exclude(p, minScoreAdj, rules, selfPid);
            if (reason == ExclusionReason.None)
            {
                keys[n] = SortKey(p, IsPreferred(p, rules));
                order[n++] = i;
            }
            else
                rejected.Add(new RejectedCandidate(p, reason));
        }

        Array.Sort(keys, order, 0, n);
        // Equal keys (same bucket, same size in pages: a pool of identical workers) are ordered by
        // the younger first, again as numbers, and only what is still equal by the full comparison.
        long[]? ages = null;
        for (int start = 0; start < n;)
        {
            int end = start + 1;
            while (end < n && keys[end] == keys[start])
                end++;
            if (end - start > 1)
            {
                ages ??= new long[n];
                for (int i = start; i < end; i++)
                    ages[i] = long.MaxValue - (long)Math.Min(candidates[order[i]].StartTime, long.MaxValue);
                Array.Sort(ages, order, start, end - start);
                for (int i = start + 1; i < end; i++)
                    if (ages[i] == ages[i - 1])
                    {
                        Array.Sort(order, start, end - start, Comparer<int>.Create((x, y) =>
                        {
                            ProcessInfo a = candidates[x], b = candidates[y];
                            return Compare(a, IsPreferred(a, rules), b, IsPreferred(b, rules));
                        }));
                        break;
                    }
            }
            start = end;
        }
        rejected.Sort(static (a, b) => a.Process.Pid.CompareTo(b.Process.Pid));

        var ranked = new ProcessInfo[n];
        for (int i = 0; i < n; i++)
            ranked[i] = candidates[order[i]];
        return new RankingResult(ranked, rejected, minScoreAdj);
    }

    /// <summary>
    /// The victim <see cref="Rank"/> would put first, found in one pass without building lists:
    /// the hot path while memory is short.
    /// </summary>
    public static ProcessInfo? Pick(IReadOnlyList<ProcessInfo> candidates, int minScoreAdj, RankingRules rules, int selfPid)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        ArgumentNullException.ThrowIfNull(rules);

        ProcessInfo? best = null;
        bool bestPreferred = false;
        for (int i = 0; i < candidates.Count; i++)
        {
            var p = candidates[i];
            if (Exclude(p, minScoreAdj, rules, selfPid) != ExclusionReason.None)
                continue;
            bool preferred = IsPreferred(p, rules);
            if (best is null || Compare(p, preferred, best, bestPreferred) < 0)
            {
                best = p;
                bestPreferred = preferred;
            }
        }
        return best;
    }

    /// <summary>
    /// Why <paramref name="p"/> may not be killed, or None. When several reasons apply the most
    /// fundamental wins: identity and state first, then the kernel's own opt-out, then the
    /// operator's protections, then this decision's reach, then whether killing would free anything.
    /// Protections are checked before preferences are ever looked at, so protection always wins.
    /// </summary>
    internal static ExclusionReason Exclude(ProcessInfo p, int minScoreAdj, RankingRules rules, int selfPid)
    {
        if (p.Pid == 1)
            return ExclusionReason.Init;
        if (p.Pid == selfPid)
            return ExclusionReason.Self;
        if (p.IsKernelThread)
            return ExclusionReason.KernelThread;
        if (p.State is 'Z' or 'X')
            return ExclusionReason.Zombie;
        // Skipped, not weighed: its death takes every process of its namespace, whose adj and protections it does not share.
        if (p.IsNamespaceInit)
            return ExclusionReason.NamespaceInit;
        if (p.OomScoreAdj == -1000)
            return ExclusionReason.OomDisabled;
        if (Contains(rules.ProtectedUids, p.Uid))
            return ExclusionReason.ProtectedUid;
        if (ExeMatches(p, rules.ProtectedExePaths, rules.ProtectedExeIdentities))
            return ExclusionReason.ProtectedExe;
        if (AnyPrefixCovers(rules.ProtectedCgroups, p.CgroupPath))
            return ExclusionReason.ProtectedCgroup;
        // An executable Lmkd cannot see might be a protected one: fail safe rather than kill it.
        if (p.ExeUnreadable && (rules.ProtectedExePaths.Count > 0 || rules.ProtectedExeIdentities.Count > 0))
            return ExclusionReason.ExeUnreadable;
        if (p.OomScoreAdj < minScoreAdj)
            return ExclusionReason.BelowMinScoreAdj;
        if (p.WeightBytes <= 0)
            return ExclusionReason.NoMemory;
        return ExclusionReason.None;
    }

    internal static bool IsPreferred(ProcessInfo p, RankingRules rules) =>
        Contains(rules.PreferredUids, p.Uid)
        || ExeMatches(p, rules.PreferredExePaths, rules.PreferredExeIdentities)
        || AnyPrefixCovers(rules.PreferredCgroups, p.CgroupPath);

    /// <summary>
    /// An exe rule holds when the executable is one of the files the rules named at load (any mount namespace, also
    /// unlinked), or when the path matches a glob and the process is in pid 1's mount namespace, where a path means
    /// what the host means (a binary installed after the load, or one whose rule is a glob).
    /// </summary>
    internal static bool ExeMatches(ProcessInfo p, IReadOnlyList<string> globs, IReadOnlySet<FileIdentity> files) =>
        (files.Count > 0 && p.ExeIdentity is { } id && files.Contains(id))
        || (p.InInitMountNamespace && AnyGlobMatches(globs, p.ExePath));

    /// <summary>
    /// Ascending in kill order as far as <see cref="Compare"/> goes down to the page: preferred first
    /// (bit 62), then the highest oom_score_adj (bits 51-61), then the heaviest (pages, below).
    /// </summary>
    private static long SortKey(ProcessInfo p, bool preferred)
    {
        long pages = Math.Clamp(p.WeightBytes >> 12, 0, (1L << 51) - 1);
        long adj = 1000 - Math.Clamp(p.OomScoreAdj, -1000, 1000);
        return (preferred ? 0 : 1L << 62) | adj << 51 | ((1L << 51) - 1 - pages);
    }

    /// <summary>Negative when <paramref name="a"/> should be killed before <paramref name="b"/>.</summary>
    internal static int Compare(ProcessInfo a, bool aPreferred, ProcessInfo b, bool bPreferred)
    {
        if (aPreferred != bPreferred)
            return aPreferred ? -1 : 1;
        int c = b.OomScoreAdj.CompareTo(a.OomScoreAdj);
        if (c != 0)
            return c;
        c = b.WeightBytes.CompareTo(a.WeightBytes);
        if (c != 0)
            return c;
        c = b.StartTime.CompareTo(a.StartTime);
        if (c != 0)
            return c;
        return b.Pid.CompareTo(a.Pid);
    }

    // Indexed loops: foreach over an interface would box an enumerator on every call.
    private static bool Contains(IReadOnlyList<uint> uids, uint uid)
    {
        for (int i = 0; i < uids.Count; i++)
            if (uids[i] == uid)
                return true;
        return false;
    }

    internal static bool AnyGlobMatches(IReadOnlyList<string> globs, string? exePath)
    {
        if (exePath is null)
            return false; // unknown exe: neither protected nor preferred by path
        for (int i = 0; i < globs.Count; i++)
            if (PathGlob.IsMatch(globs[i], exePath))
                return true;
        return false;
    }

    private static bool AnyPrefixCovers(IReadOnlyList<string> prefixes, string cgroupPath)
    {
        for (int i = 0; i < prefixes.Count; i++)
            if (CgroupPrefix.Covers(prefixes[i], cgroupPath))
                return true;
        return false;
    }
}
