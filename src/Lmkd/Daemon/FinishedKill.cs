using Lmkd.Configuration;
using Lmkd.Killing;
using Lmkd.Policies;
using Lmkd.Linux;

namespace Lmkd.Daemon;

/// <summary>
/// A finished kill, or dry-run kill, as its consumers are told about it (the D-Bus signal, the
/// post-kill hook): plain values, built once on the monitor thread after the kill event is logged,
/// so no consumer ever reaches back into the loop's state.
/// </summary>
public sealed record FinishedKill
{
    /// <summary>The same id as the "Kill {KillId} decided" and "done" log events.</summary>
    public required long KillId { get; init; }
    /// <summary>Nothing was signalled: Lmkd:DryRun named the victim it would have killed.</summary>
    public required bool DryRun { get; init; }
    public required int Pid { get; init; }
    public required string Comm { get; init; }
    public required uint Uid { get; init; }
    public required string Cgroup { get; init; }
    /// <summary>Target of /proc/&lt;pid&gt;/exe, or empty where it could not be read.</summary>
    public required string Exe { get; init; }
    public required int OomScoreAdj { get; init; }
    /// <summary>The victim's resident memory as scanned before the kill, by kind.</summary>
    public required long RssAnonBytes { get; init; }
    public required long RssFileBytes { get; init; }
    public required long RssShmemBytes { get; init; }
    public required long SwapBytes { get; init; }
    /// <summary>Android lmkd's name of the kill reason, e.g. LOW_MEM_AND_THRASHING.</summary>
    public required string Reason { get; init; }
    /// <summary>The lowest oom_score_adj the decision could reach.</summary>
    public required int MinScoreAdj { get; init; }
    /// <summary>The kill mode used: reap-kill, kill-then-reap, kill-only.</summary>
    public required string ReapMode { get; init; }
    /// <summary>What process_mrelease answered: ok, an errno name (ESRCH, EINVAL, ...), or none (not called).</summary>
    public required string ReapResult { get; init; }
    /// <summary>The watched cgroup, or empty for the whole machine.</summary>
    public required string Scope { get; init; }
    /// <summary>When Lmkd finished with the kill (the victim's exit or the kill timeout).</summary>
    public required DateTimeOffset Time { get; init; }
    /// <summary>
    /// How far the scope's used memory fell from the decision's snapshot right after the reap, at the
    /// victim's exit, and one second later (freed pages linger on per-CPU lists): the net change of the
    /// scope, other processes allocating meanwhile; -1 where not measured (yet).
    /// </summary>
    public long GaveBackAtReapKb { get; init; } = -1;
    public long GaveBackAtExitKb { get; init; } = -1;
    public long GaveBackAfterSecondKb { get; init; } = -1;

    public long RssBytes => RssAnonBytes + RssFileBytes + RssShmemBytes;

    public static FinishedKill From(long killId, in KillDecision decision, ProcessInfo victim, KillResult result, string? scopeCgroup, in MemorySnapshot atDecision = default) => new()
    {
        KillId = killId,
        DryRun = result.Outcome == KillOutcome.DryRun,
        Pid = victim.Pid,
        Comm = victim.Comm,
        Uid = victim.Uid,
        Cgroup = victim.CgroupPath,
        Exe = victim.ExePath ?? "",
        OomScoreAdj = victim.OomScoreAdj,
        RssAnonBytes = victim.RssAnonBytes,
        RssFileBytes = victim.RssFileBytes,
        RssShmemBytes = victim.RssShmemBytes,
        SwapBytes = victim.SwapBytes,
        Reason = KillReasons.Name(decision.Reason),
        MinScoreAdj = decision.MinScoreAdj,
        ReapMode = KillModes.Name(result.ModeUsed),
        ReapResult = result.ReapErrno switch
        {
            KillResult.NotAttempted => "none",
            0 => "ok",
            var errno => Errno.Name(errno),
        },
        Scope = scopeCgroup ?? "",
        Time = DateTimeOffset.UtcNow,
        GaveBackAtReapKb = result.MemoryAfterReap is { } reap ? atDecision.UsedKb - reap.UsedKb : -1,
        GaveBackAtExitKb = result.MemoryAtExit is { } exit ? atDecision.UsedKb - exit.UsedKb : -1,
    };
}
