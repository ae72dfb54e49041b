using Lmkd.Linux;
using Lmkd.Policies;

namespace Lmkd.Killing;

public enum KillOutcome
{
    /// <summary>SIGKILL was delivered (by pidfd_send_signal or by process_mrelease with REAP_KILL).</summary>
    Killed,
    /// <summary>Everything up to the signal was done (pidfd, identity); the signal was not sent.</summary>
    DryRun,
    /// <summary>The victim was gone (or already exiting) before the signal: a normal race, not an error.</summary>
    Vanished,
    /// <summary>The pid now belongs to another process (start time differs): nothing was signalled.</summary>
    IdentityChanged,
    /// <summary>pidfd_open failed with something other than ESRCH (see <see cref="KillResult.OpenErrno"/>).</summary>
    OpenFailed,
    /// <summary>The signal was refused (see <see cref="KillResult.SignalErrno"/>), e.g. EPERM.</summary>
    SignalFailed,
    /// <summary>The kill path itself failed (an exception, see <see cref="KillResult.Error"/>): whether a signal went is unknown.</summary>
    Failed,
    /// <summary>The reaper did not come back in time (a process_mrelease or a wait stuck): given up on, its thread abandoned.</summary>
    Abandoned,
}

/// <summary>
/// What one kill attempt did, for the kill log and the metrics. Errno fields: 0 = success,
/// -1 = not attempted. Durations are zero for steps that did not happen.
/// </summary>
public sealed record KillResult
{
    public const int NotAttempted = -1;

    public required ProcessInfo Victim { get; init; }
    public required KillOutcome Outcome { get; init; }
    /// <summary>The mode actually used: <see cref="ReapMode.KillThenReap"/> when REAP_KILL fell back.</summary>
    public required ReapMode ModeUsed { get; init; }
    /// <summary>Why REAP_KILL was not used for this kill (e.g. "EBUSY"), or null.</summary>
    public string? FallbackReason { get; init; }
    /// <summary>The errno of the process_mrelease(REAP_KILL) call that made the kill fall back, else 0.</summary>
    public int FallbackErrno { get; init; }
    public int OpenErrno { get; init; } = NotAttempted;
    public int SignalErrno { get; init; } = NotAttempted;
    /// <summary>0 = reaped; ESRCH = the victim was already past exit_mm; EINVAL = not dying / sharers; -1 = no reap.</summary>
    public int ReapErrno { get; init; } = NotAttempted;
    /// <summary>Errno of the wait for exit (0 = the wait itself worked, see <see cref="Exited"/>).</summary>
    public int WaitErrno { get; init; } = NotAttempted;
    /// <summary>The pidfd became readable within the timeout.</summary>
    public bool Exited { get; init; }
    /// <summary>The wait for exit ran out of time.</summary>
    public bool TimedOut { get; init; }
    /// <summary>Kill() entry to the signal syscall.</summary>
    public TimeSpan TimeToSignal { get; init; }
    /// <summary>Signal syscall start to the reap returning (REAP_KILL: the one call).</summary>
    public TimeSpan TimeToReap { get; init; }
    /// <summary>Signal syscall start to the pidfd becoming readable.</summary>
    public TimeSpan TimeToExit { get; init; }
    public long VictimRssBytes { get; init; }
    public long VictimSwapBytes { get; init; }
    /// <summary>pidfd_open hit EMFILE/ENFILE and the descriptor kept in reserve made room for it.</summary>
    public bool UsedReserveFd { get; init; }
    /// <summary>What went wrong when <see cref="Outcome"/> is Failed or Abandoned.</summary>
    public string? Error { get; init; }
    /// <summary>The scope's memory read right after the reap returned (or the signal, without a reap), and when the victim had exited; null where not read.</summary>
    public MemorySnapshot? MemoryAfterReap { get; init; }
    public MemorySnapshot? MemoryAtExit { get; init; }

    /// <summary>The result of a kill whose path threw or never came back: nothing about it is known but that.</summary>
    public static KillResult Unfinished(ProcessInfo victim, ReapMode mode, KillOutcome outcome, string error) => new()
    {
        Victim = victim,
        Outcome = outcome,
        ModeUsed = mode,
        Error = error,
        VictimRssBytes = victim.RssBytes,
        VictimSwapBytes = victim.SwapBytes,
    };

}
