using Lmkd.Policies;
using Lmkd.ProcFs;

namespace Lmkd.Daemon;

/// <summary>What a respawn loop made of a kill.</summary>
public enum EscalationKind
{
    /// <summary>No loop: the chosen victim is killed.</summary>
    None,
    /// <summary>The parent that re-creates the workers is the victim instead.</summary>
    Parent,
    /// <summary>The workers' leaf cgroup was killed (cgroup.kill); the chosen victim is still reaped.</summary>
    Cgroup,
    /// <summary>A loop, but nothing above the worker may be killed: the worker is killed, as before.</summary>
    Refused,
}

public readonly record struct Escalation(EscalationKind Kind, ProcessInfo? Parent, string? Cgroup, string Why, ulong ParentStartTime);

/// <summary>
/// Answers a respawn loop (<see cref="RespawnWatch"/>) as configured: kill the parent, or
/// (opt-in) the workers' leaf cgroup through cgroup v2's cgroup.kill, only when the target is itself
/// an eligible victim: inside the scope, at or above the decision's minimum oom_score_adj, neither
/// pid 1, Lmkd, a kernel thread, a -1000 process, a namespace init nor protected. The parent is killed
/// through its own pidfd like any victim; process groups are never signalled (a pidfd can signal
/// one only from Linux 6.9, PIDFD_SIGNAL_PROCESS_GROUP, and kill(-pgid) would reopen the pid-reuse
/// race). On hybrid hosts the leaf cgroup is the v2 one; cgroup.kill needs Linux 5.14 and a writable
/// cgroup tree (the unit's ProtectControlGroups=yes forbids it: see the README's drop-in).
/// Monitor thread only.
/// </summary>
public sealed class RespawnEscalator(IProcessSource source, string procRoot, string? v2Root)
{
    private readonly RespawnWatch _watch = new();

    public RespawnOptions Options { get; set; } = new();

    public Escalation Consider(ProcessInfo victim, int minScoreAdj, RankingRules rules, int selfPid, long nowMs)
    {
        if (!Options.TryParseEscalation(out var how) || how == RespawnEscalation.Off || victim.Ppid <= 1)
            return new Escalation(EscalationKind.None, null, null, "", 0);
        var parent = source.Read(victim.Ppid);
        ulong parentStart = parent?.StartTime ?? 0;
        if (!_watch.IsLoop(victim, parentStart, nowMs, Options))
            return new Escalation(EscalationKind.None, null, null, "", parentStart);

        int siblings = _watch.KilledSiblings(victim, parentStart, nowMs, Options.WindowMs);
        string loop = $"{siblings} workers of pid {victim.Ppid} ({victim.ExePath ?? victim.Comm}) killed within {Options.WindowMs / 1000} s";
        string? cgroupRefusal = null;
        if (how == RespawnEscalation.Cgroup)
        {
            if (TryKillCgroup(victim, minScoreAdj, rules, selfPid, out string? cgroup, out cgroupRefusal))
            {
                _watch.Forget(victim.Ppid);
                return new Escalation(EscalationKind.Cgroup, null, cgroup, $"{loop}: killed its cgroup {cgroup}", parentStart);
            }
        }
        string? refusal = parent is null ? "its parent is gone"
            : !source.InScope(parent) ? $"its parent {parent.Pid} ({parent.Comm}) is outside the scope"
            : VictimRanking.Rank([parent], minScoreAdj, rules, selfPid) is { Ranked.Count: 0 } r ? $"its parent {parent.Pid} ({parent.Comm}) may not be killed: {r.Rejected[0].Reason}"
            : null;
        string cgroupNote = cgroupRefusal is null ? "" : $" ({cgroupRefusal})";
        if (refusal is not null)
            return new Escalation(EscalationKind.Refused, null, null, $"{loop}, but {refusal}{cgroupNote}: the worker is killed", parentStart);
        _watch.Forget(victim.Ppid);
        return new Escalation(EscalationKind.Parent, parent, null, $"{loop}: killing the parent {parent!.Pid} ({parent.Comm}) instead{cgroupNote}", parentStart);
    }

    /// <summary>A victim was killed: one more of its family.</summary>
    public void OnKilled(ProcessInfo victim, ulong parentStartTime, long nowMs) => _watch.OnKilled(victim, parentStartTime, nowMs);

    // cgroup.kill of the victim's v2 leaf cgroup, when it and everything below it is an eligible victim.
    private bool TryKillCgroup(ProcessInfo victim, int minScoreAdj, RankingRules rules, int selfPid, out string? cgroup, out string? refusal)
    {
        cgroup = null;
        refusal = null;
        if (v2Root is null)
        {
            refusal = "no cgroup v2 tree for cgroup.kill";
            return false;
        }
        string? path = ReadV2Path(victim.Pid);
        if (path is null || path == "/")
        {
            refusal = "the worker is in no leaf v2 cgroup of its own";
            return false;
        }
        string dir = Path.Combine(v2Root, path.TrimStart('/'));
        string kill = Path.Combine(dir, "cgroup.kill");
        if (!File.Exists(kill))
        {
            refusal = "this kernel has no cgroup.kill (Linux 5.14)";
            return false;
        }
        var pids = new List<int>();
        Scope.AddProcs(dir, pids);
        foreach (int pid in pids)
        {
            var p = source.Read(pid);
            if (p is null)
                continue; // gone meanwhile
            if (!source.InScope(p) || VictimRanking.Rank([p], minScoreAdj, rules, selfPid) is { Ranked.Count: 0 })
            {
                refusal = $"cgroup {path} holds pid {pid} ({p.Comm}), which may not be killed";
                return false;
            }
        }
        try
        {
            File.WriteAllText(kill, "1");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            refusal = $"cgroup.kill of {path} refused ({e.Message}; under the unit, ProtectControlGroups must allow it)";
            return false;
        }
        cgroup = path;
        return true;
    }

    private string? ReadV2Path(int pid)
    {
        try
        {
            return ProcCgroup.ParsePath(File.ReadAllBytes(Path.Combine(procRoot, pid.ToString(System.Globalization.CultureInfo.InvariantCulture), "cgroup")), preferV1Memory: false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
