namespace Lmkd.Policies;

/// <summary>Why a candidate was passed over. Every rejected candidate carries exactly one.</summary>
public enum ExclusionReason
{
    None = 0,
    Init,               // pid 1
    NamespaceInit,      // pid 1 of a container's pid namespace: killing it kills the whole namespace
    Self,               // Lmkd itself
    KernelThread,
    Zombie,
    OomDisabled,        // oom_score_adj -1000: the kernel's own "never kill"
    BelowMinScoreAdj,   // not reachable by this decision
    ProtectedUid,
    ProtectedExe,
    ProtectedCgroup,
    ExeUnreadable,      // exe protection rules exist and this process's executable could not be read: fail safe
    NoMemory,           // nothing to free (no RSS, no swap)
}

/// <summary>
/// Operator rules, never on comm. uid and cgroup rules match what only privilege changes (except inside a delegated
/// cgroup subtree, whose owner creates cgroups at will). An exe rule matches a process when its executable is one
/// of the files the rule named when it was loaded (<see cref="ProtectedExeIdentities"/>: device, inode, birth time,
/// in any mount namespace, also once unlinked by an upgrade), or when its exe path matches the glob and the process
/// is in pid 1's mount namespace, where only root places files; elsewhere a path is whatever the process mounted.
/// </summary>
public sealed record RankingRules
{
    // Before None: static fields initialize in order.
    private static readonly IReadOnlySet<FileIdentity> NoFiles = new HashSet<FileIdentity>();

    public static readonly RankingRules None = new();

    public IReadOnlyList<uint> ProtectedUids { get; init; } = [];
    /// <summary>Globs over the exe path: '*' matches within one path segment, '**' across segments, '?' one character.</summary>
    public IReadOnlyList<string> ProtectedExePaths { get; init; } = [];
    /// <summary>The files <see cref="ProtectedExePaths"/> named when the rules were loaded (resolved by the daemon).</summary>
    public IReadOnlySet<FileIdentity> ProtectedExeIdentities { get; init; } = NoFiles;
    /// <summary>Cgroup path prefixes, matched on whole segments ("/a" covers "/a" and "/a/b", not "/ab").</summary>
    public IReadOnlyList<string> ProtectedCgroups { get; init; } = [];

    public IReadOnlyList<uint> PreferredUids { get; init; } = [];
    public IReadOnlyList<string> PreferredExePaths { get; init; } = [];
    public IReadOnlySet<FileIdentity> PreferredExeIdentities { get; init; } = NoFiles;
    public IReadOnlyList<string> PreferredCgroups { get; init; } = [];

    /// <summary>Whether any exe rule exists: only then does a process's executable identity matter.</summary>
    public bool HasExeRules =>
        ProtectedExePaths.Count > 0 || ProtectedExeIdentities.Count > 0 || PreferredExePaths.Count > 0 || PreferredExeIdentities.Count > 0;

    /// <summary>
    /// Whether an exe path glob (protection or preference) matches <paramref name="exePath"/>: only then does the
    /// process's mount namespace matter, so the scanner reads it only for those.
    /// </summary>
    public bool AnyExePathGlobMatches(string exePath) =>
        VictimRanking.AnyGlobMatches(ProtectedExePaths, exePath) || VictimRanking.AnyGlobMatches(PreferredExePaths, exePath);
}

public readonly record struct RejectedCandidate(ProcessInfo Process, ExclusionReason Reason);

/// <summary>The outcome of ranking: the eligible candidates in kill order, and the rest with why.</summary>
public sealed record RankingResult(IReadOnlyList<ProcessInfo> Ranked, IReadOnlyList<RejectedCandidate> Rejected, int MinScoreAdj)
{
    public ProcessInfo? Victim => Ranked.Count > 0 ? Ranked[0] : null;
}
