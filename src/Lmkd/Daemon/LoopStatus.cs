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
    string? Trouble);
