namespace Lmkd.Policies;

/// <summary>Why a candidate was passed over. Every rejected candidate carries exactly one.</summary>
public enum ExclusionReason
{
    None = 0,
    Init,               // pid 1
    Self,               // Lmkd itself
    KernelThread,
    Zombie,
    OomDisabled,        // oom_score_adj -1000: the kernel's own "never kill"
    BelowMinScoreAdj,   // not reachable by this decision
    ProtectedUid,
    ProtectedExe,
    ProtectedCgroup,
    NoMemory,           // nothing to free (no RSS, no swap)
}

/// <summary>
/// Operator rules. They match on things a process cannot forge: its uid, the path of its executable
/// and its cgroup. Never on comm.
/// </summary>
public sealed record RankingRules
{
    public static readonly RankingRules None = new();

    public IReadOnlyList<uint> ProtectedUids { get; init; } = [];
    /// <summary>Globs over the exe path: '*' matches within one path segment, '**' across segments, '?' one character.</summary>
    public IReadOnlyList<string> ProtectedExePaths { get; init; } = [];
    /// <summary>Cgroup path prefixes, matched on whole segments ("/a" covers "/a" and "/a/b", not "/ab").</summary>
    public IReadOnlyList<string> ProtectedCgroups { get; init; } = [];

    public IReadOnlyList<uint> PreferredUids { get; init; } = [];
    public IReadOnlyList<string> PreferredExePaths { get; init; } = [];
    public IReadOnlyList<string> PreferredCgroups { get; init; } = [];
}

public readonly record struct RejectedCandidate(ProcessInfo Process, ExclusionReason Reason);

/// <summary>The outcome of ranking: the eligible candidates in kill order, and the rest with why.</summary>
public sealed record RankingResult(IReadOnlyList<ProcessInfo> Ranked, IReadOnlyList<RejectedCandidate> Rejected, int MinScoreAdj)
{
    public ProcessInfo? Victim => Ranked.Count > 0 ? Ranked[0] : null;
}
