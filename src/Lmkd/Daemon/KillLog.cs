using Lmkd.Policies;
using Microsoft.Extensions.Logging;

namespace Lmkd.Daemon;

/// <summary>
/// The monitor loop's events, source-generated: no params array, no boxing of the figures when a
/// level is off, and one place where each event's template (and so its JSON property names, which
/// tests, the demo and the benchmarks read) is defined.
/// </summary>
internal static partial class KillLog
{
    [LoggerMessage(Level = LogLevel.Information, Message =
        "Kill {KillId} decided: {Reason} (min oom_score_adj {MinScoreAdj}; free {FreeKb} kB, available {AvailableKb} kB, watermark {Watermark}, " +
        "headroom {HeadroomKb} kB = {HeadroomPct:F1}% (level {HeadroomLevelPct}%, falling {FillRateKbPerSec} kB/s, out in {MsToExhaustion} ms, {HeadroomBasis}), " +
        "thrashing {ThrashingPct}% of limit {ThrashingLimitPct}% (stall {StallPct}%), reclaim {Reclaim}, PSI some {SomeAvg10:F2} full {FullAvg10:F2}) " +
        "-> victim pid {Pid} ({Comm}), oom_score_adj {OomScoreAdj}, RSS {RssKb} kB")]
    public static partial void Decided(ILogger log, long killId, string reason, int minScoreAdj, long freeKb, long availableKb, WatermarkLevel watermark,
        long headroomKb, double headroomPct, double headroomLevelPct, long fillRateKbPerSec, long msToExhaustion, HeadroomBasis headroomBasis,
        long thrashingPct, long thrashingLimitPct, int stallPct, ReclaimState reclaim, double someAvg10, double fullAvg10,
        int pid, string comm, int oomScoreAdj, long rssKb);

    [LoggerMessage(Level = LogLevel.Information, Message =
        "Kill {KillId} {Outcome}: pid {Pid} ({Comm}) uid {Uid} cgroup {Cgroup} exe {Exe} oom_score_adj {OomScoreAdj}; it held RSS {RssKb} kB " +
        "(anon {RssAnonKb}, file {RssFileKb}, shmem {RssShmemKb}) and swap {SwapKb} kB; the scope's used memory fell {GaveBackAtReapKb} kB by the reap, " +
        "{GaveBackAtExitKb} kB by the exit (other processes allocate meanwhile); reason {Reason} min oom_score_adj {MinScoreAdj} PSI some {SomeAvg10:F2} full {FullAvg10:F2}; " +
        "mode {ReapMode}{Fallback}, reap {ReapResult}; wake->decision {WakeToDecisionMs:F3} ms, decision->signal {DecisionToSignalMs:F2} ms, " +
        "signal->reap {SignalToReapMs:F2} ms, signal->exit {SignalToExitMs:F2} ms, first sign->signal {EventToSignalMs:F1} ms{TimedOut}")]
    public static partial void Done(ILogger log, long killId, string outcome, int pid, string comm, uint uid, string cgroup, string exe, int oomScoreAdj,
        long rssKb, long rssAnonKb, long rssFileKb, long rssShmemKb, long swapKb, long gaveBackAtReapKb, long gaveBackAtExitKb,
        string reason, int minScoreAdj, double someAvg10, double fullAvg10, string reapMode, string fallback, string reapResult,
        double wakeToDecisionMs, double decisionToSignalMs, double signalToReapMs, double signalToExitMs, double eventToSignalMs, string timedOut);

    [LoggerMessage(Level = LogLevel.Information, Message =
        "Kill {KillId} gave back, one second after the exit: used memory down {GaveBackKb} kB, anon down {AnonBackKb} kB, file cache down {FileBackKb} kB, " +
        "headroom up {HeadroomBackKb} kB (the victim held anon {RssAnonKb}, file {RssFileKb}, shmem {RssShmemKb} kB; other processes allocate meanwhile)")]
    public static partial void GaveBack(ILogger log, long killId, long gaveBackKb, long anonBackKb, long fileBackKb, long headroomBackKb,
        long rssAnonKb, long rssFileKb, long rssShmemKb);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Kill {KillId} not done: pid {Pid} ({Comm}) {Outcome} (errno {Errno}{Error}); reason {Reason}")]
    public static partial void NotDone(ILogger log, long killId, int pid, string comm, string outcome, string errno, string error, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message =
        "Kill wanted ({Reason}, min oom_score_adj {MinScoreAdj}) but no eligible victim among {Candidates} processes; passed over: {Rejected}")]
    public static partial void NoVictim(ILogger log, string reason, int minScoreAdj, int candidates, string rejected);

    [LoggerMessage(Level = LogLevel.Warning, Message =
        "Kill {KillId}: pid {Pid} ({Comm}) still alive {TimeoutMs} ms after the signal (state {State}); it will not be chosen again while it lives")]
    public static partial void OutlivedTimeout(ILogger log, long killId, int pid, string comm, int timeoutMs, char state);

    [LoggerMessage(Level = LogLevel.Information, Message =
        "{Emigrants} candidate(s) left the watched cgroup since the list was taken: spared, but their pages stay charged to it (neither v1 nor v2 moves charges), so the pressure they caused may stay")]
    public static partial void Emigrants(ILogger log, int emigrants);

    [LoggerMessage(Level = LogLevel.Critical, Message =
        "Kill {KillId}: the reaper has not come back {ElapsedMs} ms after the hand-over (a process_mrelease or the wait for exit is stuck): abandoned; {Left}")]
    public static partial void ReaperAbandoned(ILogger log, long killId, long elapsedMs, string left);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Respawn loop ({Escalation}): {Why}")]
    public static partial void Respawn(ILogger log, string escalation, string why);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Where}: {Error} ({Count} since the last report); Lmkd keeps watching")]
    public static partial void Fault(ILogger log, string where, string error, long count);

    [LoggerMessage(Level = LogLevel.Critical, Message = "Blind: the memory state has not been readable for {BlindMs} ms; watchdog pings stop until it is, so systemd can restart Lmkd")]
    public static partial void Blind(ILogger log, long blindMs);

    [LoggerMessage(Level = LogLevel.Information, Message = "Warm-up kill of a throw-away child (pid {Pid}) through the whole kill path: {Outcome}, mode {ReapMode}, reap {ReapResult}, exit {SignalToExitMs:F1} ms after the signal")]
    public static partial void WarmUpKill(ILogger log, int pid, string outcome, string reapMode, string reapResult, double signalToExitMs);
}
