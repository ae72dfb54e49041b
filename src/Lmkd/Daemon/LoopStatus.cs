using Lmkd.Policies;

namespace Lmkd.Daemon;

/// <summary>
/// What the monitor loop last saw and did: the last evaluation (decision, memory, pressure, when),
/// the kill in flight, the recent kills with what they gave back, and how it watches. A copy: the
/// loop goes on while it is read.
/// </summary>
public sealed record LoopStatus(
    KillDecision LastDecision,
    MemorySnapshot LastMemory,
    PsiSnapshot LastPsi,
    long LastEvaluationMs,
    ProcessInfo? KillInFlight,
    IReadOnlyList<FinishedKill> RecentKills,
    string Scope,
    string KillMode,
    string TriggerMode,
    bool DryRun,
    string? Trouble)
{
    /// <summary>Whether Android's reasons ran in the last evaluation (a PSI event or its polling window).</summary>
    public bool LastInPsiWindow { get; init; }
    /// <summary>The level whose headroom decided the last evaluation: the scope, an ancestor's directory, or "the machine".</summary>
    public string HeadroomBinds { get; init; } = "";
    /// <summary>The monitor thread's wake-ups per second over the last full minute (since start during the first).</summary>
    public double WakeupsPerSecond { get; init; }
}

/// <summary>
/// Wake-ups per second over the last full minute: the idle cost an operator can check. Fed by the
/// monitor thread with its clock; allocates nothing.
/// </summary>
public sealed class WakeRate
{
    public const long WindowMs = 60_000;
    private long _windowStartMs = -1, _count;
    private bool _fullWindowSeen;
    private double _perSecond;

    public void Add(long nowMs)
    {
        if (_windowStartMs < 0)
            _windowStartMs = nowMs;
        _count++;
        long elapsed = nowMs - _windowStartMs;
        if (elapsed >= WindowMs)
        {
            Volatile.Write(ref _perSecond, _count * 1000.0 / elapsed);
            _windowStartMs = nowMs;
            _count = 0;
            _fullWindowSeen = true;
        }
        else if (!_fullWindowSeen && elapsed >= 1000)
        {
            // The first minute: the rate so far.
            Volatile.Write(ref _perSecond, _count * 1000.0 / elapsed);
        }
    }

    public double PerSecond => Volatile.Read(ref _perSecond);
}
