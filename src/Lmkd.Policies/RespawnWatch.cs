namespace Lmkd.Policies;

/// <summary>What to do when killed workers keep coming back.</summary>
public enum RespawnEscalation
{
    /// <summary>Keep killing the workers.</summary>
    Off = 0,
    /// <summary>Kill the parent that re-creates them, when it is itself an eligible victim.</summary>
    Parent,
    /// <summary>Kill the workers' leaf cgroup (v2 cgroup.kill), when every process in it is an eligible victim.</summary>
    Cgroup,
}

/// <summary>Tunables of the respawn watch (Lmkd:Kill:Respawn).</summary>
public sealed record RespawnOptions
{
    /// <summary>"parent" (the default), "cgroup" (opt-in: the unit's ProtectControlGroups must allow it) or "off".</summary>
    public string Escalate { get; set; } = "parent";
    /// <summary>Kills of workers with the same parent and executable within the window that make a respawn loop (the last of them escalates).</summary>
    public int Kills { get; set; } = 3;
    public int WindowMs { get; set; } = 60_000;

    public bool TryParseEscalation(out RespawnEscalation escalation)
    {
        escalation = Escalate?.Trim().ToLowerInvariant() switch
        {
            "parent" => RespawnEscalation.Parent,
            "cgroup" => RespawnEscalation.Cgroup,
            "off" => RespawnEscalation.Off,
            _ => (RespawnEscalation)(-1),
        };
        return escalation >= 0;
    }

    public IEnumerable<(string Key, string Error)> Validate()
    {
        if (!TryParseEscalation(out _))
            yield return (nameof(Escalate), $"must be \"parent\", \"cgroup\" or \"off\" (got '{Escalate}')");
        if (Kills is < 2 or > 1000)
            yield return (nameof(Kills), $"must be in [2, 1000] (got {Kills})");
        if (WindowMs is < 1000 or > 3_600_000)
            yield return (nameof(WindowMs), $"must be in [1000, 3600000] ms (got {WindowMs})");
    }
}

/// <summary>
/// Tells a respawn loop from a series of unrelated kills: a supervisor, a worker pool or a stress
/// tool re-creates each worker Lmkd kills, and one episode turns into dozens of kills of short-lived
/// children while the parent carries on (measured in a 1 GiB VM: 19 kills in 60 s, the kernel's OOM
/// killer firing meanwhile). Workers are the same family when they have the same parent and the same
/// executable. Pure; one instance per monitor thread.
/// </summary>
public sealed class RespawnWatch
{
    private const int Remembered = 64;
    private readonly List<(long AtMs, int Ppid, ulong ParentStart, string? Exe)> _kills = [];

    /// <summary>A victim was killed; <paramref name="parentStartTime"/> tells its parent from a later process with the same pid.</summary>
    public void OnKilled(ProcessInfo victim, ulong parentStartTime, long nowMs)
    {
        _kills.Add((nowMs, victim.Ppid, parentStartTime, victim.ExePath));
        if (_kills.Count > Remembered)
            _kills.RemoveAt(0);
    }

    /// <summary>How many of <paramref name="candidate"/>'s family were killed within the window before it.</summary>
    public int KilledSiblings(ProcessInfo candidate, ulong parentStartTime, long nowMs, int windowMs)
    {
        int n = 0;
        foreach (var k in _kills)
            if (nowMs - k.AtMs <= windowMs && k.Ppid == candidate.Ppid && k.ParentStart == parentStartTime && k.Exe == candidate.ExePath)
                n++;
        return n;
    }

    /// <summary>Killing <paramref name="candidate"/> would be the n-th kill of its family within the window, n reaching the options' Kills.</summary>
    public bool IsLoop(ProcessInfo candidate, ulong parentStartTime, long nowMs, RespawnOptions o) =>
        candidate.Ppid > 1 && KilledSiblings(candidate, parentStartTime, nowMs, o.WindowMs) + 1 >= o.Kills;

    /// <summary>The loop was answered (the parent or the cgroup killed): its family starts afresh.</summary>
    public void Forget(int ppid) => _kills.RemoveAll(k => k.Ppid == ppid);
}
