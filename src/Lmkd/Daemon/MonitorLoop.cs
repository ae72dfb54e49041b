using System.Diagnostics;
using Lmkd.Configuration;
using Lmkd.Hosting;
using Lmkd.Killing;
using Lmkd.Linux;
using Lmkd.Policies;
using Lmkd.Pressure;
using Lmkd.ProcFs;
using Microsoft.Extensions.Logging;

namespace Lmkd.Daemon;

/// <summary>
/// The daemon's core: one dedicated thread that blocks in poll() on the PSI triggers (and an
/// eventfd for stop, reload and kill completion), reads the memory state, asks the policy, and
/// hands a chosen victim to the reaper thread. While a victim is dying, pressure events are counted,
/// not acted on: one episode costs one kill.
/// </summary>
public sealed class MonitorLoop : IDisposable
{
    private readonly ILogger _log;
    private readonly Scope _scope;
    private readonly PsiMonitor _psi;
    private readonly ProcessScanner _scanner;
    private readonly CandidateCache _candidates;
    private readonly List<int> _pidsNow = new(256);
    /// <summary>While an episode lasts, the list is rescanned this often (off the monitor thread).</summary>
    private const int CandidateRefreshMs = 500;
    private readonly Killer _killer;
    private readonly ReaperThread _reaper;
    private readonly EventFd _wake = new();
    private readonly ServiceNotifier _notifier;
    private readonly LmkdMetrics _metrics;
    private readonly KillPolicy _policy;
    private readonly int _selfPid = Environment.ProcessId;
    private Thread? _thread;
    private readonly ManualResetEventSlim _threadStarted = new();

    private volatile bool _stopRequested;
    private volatile LmkdOptions? _pendingOptions;
    private volatile PendingKill? _completedKill;

    private LmkdOptions _options;
    private RankingRules _rules;
    private PendingKill? _inFlight;
    private long _killSeq;
    private long _pollUntilMs;
    private int _pollIntervalMs;
    /// <summary>When the headroom watch wants the next sample (long.MaxValue: the watch is off).</summary>
    private long _nextHeadroomSampleMs;
    /// <summary>The headroom watch is concerned (below a level, or heading there): an episode of its own.</summary>
    private bool _headroomConcern;
    private const int NoVictimBackoffMinMs = 100, NoVictimBackoffMaxMs = 1000;
    private long _noVictimUntilMs;
    private int _noVictimBackoffMs;
    private int _noVictimMinAdj;
    // Rate-limited log lines: "never" is MinValue / 2, far enough back that the first line is due at
    // once; MinValue itself overflowed now - last to a negative number, and the line never came.
    private long _lastNoVictimLogMs = long.MinValue / 2;
    // Stopwatch timestamps: when poll last returned, and when the current pressure episode's first event came.
    private long _wakeTimestamp;
    private long _episodeStartTimestamp;
    private long _lastPollErrorLogMs = long.MinValue / 2;
    private long _lastNoKillLogMs = long.MinValue / 2;
    private long _lastEventMs = long.MinValue / 2;
    /// <summary>After a dry-run "kill" nothing dies: hold judgement for the kill timeout, as if it did, so the log shows one line per episode.</summary>
    private long _holdUntilMs;

    public ReapMode ReapMode { get; }
    public TriggerMode TriggerMode => _psi.Mode;
    /// <summary>Set when the loop ended on an unrecoverable error (e.g. the watched cgroup was removed).</summary>
    public string? FatalError { get; private set; }
    public event Action? Stopped;
    /// <summary>What the monitor thread got when it raised its own priority (set by <see cref="Start"/>).</summary>
    public string ThreadPriority { get; private set; } = "not started";

    public MonitorLoop(LmkdOptions options, Scope scope, ServiceNotifier notifier, LmkdMetrics metrics, ILogger log)
    {
        _options = options;
        _scope = scope;
        _notifier = notifier;
        _metrics = metrics;
        _log = log;
        _rules = BuildRules(options);
        _policy = new KillPolicy(options.Policy, options.Headroom);
        _scanner = new ProcessScanner(options.ProcRoot);
        // Created here, on the host's thread: its scanner thread must not inherit the monitor's real-time priority.
        _candidates = new CandidateCache(options.ProcRoot, scope, metrics.Scanned);

        var kernel = new LinuxKernel();
        var probed = ReapKillSupport.Probe(kernel, out int probeErrno);
        KillModes.TryParse(options.Kill.Mode, out var forced);
        ReapMode = forced ?? probed;
        _log.LogInformation("Kill mode {ReapMode} (probe process_mrelease(-1, REAP_KILL) gave {ProbeErrno}: {Probed}{Forced})",
            KillModes.Name(ReapMode), KillResult.ErrnoName(probeErrno), KillModes.Name(probed), forced is null ? "" : ", forced by Lmkd:Kill:Mode");
        _killer = new Killer(kernel, ReapMode, _scanner.ReadStartTime);
        _reaper = new ReaperThread(_killer);
        _metrics.SetReapMode(ReapMode, probed, options.Metrics.ExpectReapKill);

        _psi = new PsiMonitor(scope.PressureFile, BuildLevels(options), new PsiMonitorOptions
        {
            SampleMinIntervalMs = options.Psi.SampleMinIntervalMs,
            SampleMaxIntervalMs = options.Psi.SampleMaxIntervalMs,
        });
        _psi.Arm();
        WarmUp();
        _log.LogInformation("Watching {Scope}: PSI mode {TriggerMode}: {PsiDescription}", scope.Description, LmkdMetrics.TriggerModeName(_psi.Mode), _psi.Description);
        _log.LogInformation("Headroom watch: {Headroom}; memory events: {MemoryEvents}",
            DescribeHeadroom(options.Headroom), scope.MemoryEvents?.Description ?? (scope.CgroupPath is null ? "none for the whole machine (adaptive reads of /proc/meminfo)" : $"none ({scope.MemoryEventsMissing}): adaptive reads only"));
        _metrics.SetTriggerMode(_psi.Mode);
        _metrics.WatchPressure(scope.PressureFile);
    }

    /// <summary>
    /// Run the scan and the ranking once, so their code and buffers are resident (and locked, with
    /// mlockall's ONFAULT) before the first kill, instead of being paged in when memory is shortest.
    /// </summary>
    private void WarmUp()
    {
        var snapshot = _candidates.RefreshNow();
        _scope.ListPids(_scanner, _pidsNow);
        var current = CandidateCache.WithNewcomers(snapshot.Processes, _pidsNow, _scanner.Read, _scope.Filter);
        CandidateCache.Freshen(current, _scanner.Read, 0, _rules, _selfPid, maxReads: 4);
        var memory = _scope.ReadMemory();
        var psi = _psi.ReadSnapshot();
        // A throw-away policy, so the real one's baselines start at the first real evaluation.
        new KillPolicy(_options.Policy, _options.Headroom).Evaluate(Environment.TickCount64, PressureLevel.Medium, memory, psi);
        // The kill path up to the signal, on Lmkd itself, in dry run: pidfd_open, identity check, close. Nothing is sent.
        if (_scanner.Read(_selfPid) is { } self)
            _killer.Kill(self, dryRun: true, timeoutMs: 0);
    }

    public void Start()
    {
        _thread = new Thread(Run) { Name = "lmkd-monitor", IsBackground = true };
        _thread.Start();
        // The startup line reports the thread's priority with the rest of self-protection: wait for it (bounded).
        if (!_threadStarted.Wait(TimeSpan.FromSeconds(2)))
            ThreadPriority = "unknown (the monitor thread did not report within 2 s)";
    }

    /// <summary>Ask the loop to stop and wait for it (bounded: shutdown must take under a second).</summary>
    public void Stop(TimeSpan wait)
    {
        long start = Stopwatch.GetTimestamp();
        _stopRequested = true;
        _wake.Signal();
        _thread?.Join(wait);
        // The reaper gets what is left of the bound (an idle one ends at once): a kill blocked in
        // process_mrelease or in its wait for exit is left to its background thread, not waited for.
        var left = wait - Stopwatch.GetElapsedTime(start);
        if (!_reaper.Stop(left > ReaperStopMin ? left : ReaperStopMin, out var victim))
            _log.LogWarning("Kill still in flight at shutdown (pid {Pid}, {Comm}): left to the reaper thread", victim?.Pid, victim?.Comm);
    }

    private static readonly TimeSpan ReaperStopMin = TimeSpan.FromMilliseconds(50);

    /// <summary>Hand validated options to the loop; it applies them between evaluations, never during a kill's bookkeeping.</summary>
    public void Reload(LmkdOptions options)
    {
        _pendingOptions = options;
        _wake.Signal();
    }

    private void Run()
    {
        ThreadPriority = SelfProtection.RaiseThreadPriority(_options.SelfProtection.RealtimePriority);
        _threadStarted.Set();
        try
        {
            Loop();
        }
        catch (Exception e)
        {
            FatalError = e.Message;
            _log.LogCritical(e, "Monitor loop failed");
        }
        Stopped?.Invoke();
    }

    private void Loop()
    {
        while (!_stopRequested)
        {
            long now = Environment.TickCount64;
            _notifier.PingIfDue(now);
            _metrics.LoopIteration(now);

            var events = _scope.MemoryEvents;
            var r = _psi.Wait(NextTimeoutMs(now), _wake.Fd, events?.Fd ?? -1, events?.Events ?? 0);
            now = Environment.TickCount64;
            _wakeTimestamp = Stopwatch.GetTimestamp();

            if (r.Status == WaitStatus.Woken)
            {
                _wake.Drain();
                if (_stopRequested)
                    break;
                if (_pendingOptions is { } next)
                {
                    _pendingOptions = null;
                    ApplyOptions(next);
                }
                if (_completedKill is { } done)
                {
                    _completedKill = null;
                    FinishKill(done, now);
                }
                continue;
            }
            if (r.Status == WaitStatus.ScopeGone)
            {
                FatalError = $"the watched scope is gone: {_scope.PressureFile} reports ENODEV (cgroup removed?)";
                _log.LogCritical("{Error}", FatalError);
                break;
            }
            if (r.Status == WaitStatus.Error)
            {
                // poll keeps failing while reads work: back off rather than spin, and say so now and then.
                if (now - _lastPollErrorLogMs >= 10_000)
                {
                    _lastPollErrorLogMs = now;
                    _log.LogError("Waiting on {PressureFile} failed (errno {Errno}); retrying", _scope.PressureFile, KillResult.ErrnoName(r.Errno));
                }
                Thread.Sleep(100);
                continue;
            }

            if (r.Status == WaitStatus.MemoryEvent)
            {
                // The cgroup's memory moved (memory.events changed, or usage crossed the v1 threshold): sample now.
                events!.Drain();
                _metrics.MemoryEvent();
                _nextHeadroomSampleMs = now;
            }

            var level = r.Level;
            if (level != PressureLevel.None)
            {
                _metrics.PressureEvent(level);
                _lastEventMs = now;
                if (now >= _pollUntilMs)
                {
                    _episodeStartTimestamp = _wakeTimestamp; // the first event of a pressure episode
                    _candidates.RequestRefresh(); // so a kill, if one comes, ranks a fresh list
                }
                _pollUntilMs = now + _options.Psi.PollWindowMs;
            }
            else if (now >= _pollUntilMs && now < _nextHeadroomSampleMs)
            {
                continue; // idle timeout: nothing to judge, and no headroom sample due
            }

            if (_inFlight is not null || now < _holdUntilMs)
            {
                // A victim is still dying: count the wake-up, do not judge pressure on stale figures.
                if (level != PressureLevel.None)
                    _metrics.SkippedWakeup();
                continue;
            }
            Evaluate(now, level);
        }
    }

    private int NextTimeoutMs(long now)
    {
        int timeout = -1;
        if (_inFlight is null && now < _pollUntilMs)
            timeout = Math.Max(1, _pollIntervalMs > 0 ? _pollIntervalMs : _options.Policy.PollLongMs);
        if (_inFlight is null && _nextHeadroomSampleMs != long.MaxValue)
        {
            // While a dry-run kill is held, the next sample waits for the hold to end.
            int untilSample = (int)Math.Clamp(Math.Max(_nextHeadroomSampleMs, _holdUntilMs) - now, 1, int.MaxValue);
            timeout = timeout < 0 ? untilSample : Math.Min(timeout, untilSample);
        }
        int ping = _notifier.MsUntilNextPing(now);
        if (ping > 0)
            timeout = timeout < 0 ? ping : Math.Min(timeout, ping);
        // The metrics' "time since last loop iteration" stays meaningful when idle.
        return timeout < 0 ? LmkdMetrics.IdleTickMs : Math.Min(timeout, LmkdMetrics.IdleTickMs);
    }

    private void Evaluate(long now, PressureLevel level)
    {
        var memory = _scope.ReadMemory();
        var psi = _psi.ReadSnapshot();
        var decision = _policy.Evaluate(now, level, memory, psi);
        _metrics.Observed(memory, decision);
        _pollIntervalMs = decision.PollIntervalMs;
        var headroom = decision.Headroom;
        _nextHeadroomSampleMs = headroom.NextSampleMs >= 0 ? now + headroom.NextSampleMs : long.MaxValue;
        if (_scope.MemoryEvents is { } events && _scope.LastUsage is { } last && headroom.NextSampleMs >= 0)
        {
            var (usage, limit) = last();
            events.Rearm(limit, Scope.EventThresholdPct(_options));
            // Below the v1 threshold the kernel says when usage rises: the longest interval is enough.
            if (events.AllowsSlowSampling(usage, limit))
                _nextHeadroomSampleMs = now + _options.Headroom.SampleMaxMs;
        }
        if (headroom.Concern && !_headroomConcern && now >= _pollUntilMs)
            _episodeStartTimestamp = _wakeTimestamp; // headroom started to fall with no PSI episode under way
        _headroomConcern = headroom.Concern;
        // Rescan while PSI events keep coming or headroom is falling towards a level; polling on a quiet
        // full cgroup needs no rescans: newcomers are read at the kill anyway.
        if ((now - _lastEventMs <= _options.Psi.PollWindowMs || headroom.Concern)
            && (_candidates.Latest is not { } list || now - list.TakenAtMs >= CandidateRefreshMs))
            _candidates.RequestRefresh();
        if (decision.KeepPolling)
            _pollUntilMs = Math.Max(_pollUntilMs, now + _options.Psi.PollWindowMs);
        // After a decision that found nobody, wait out the back-off unless this one reaches deeper.
        if (decision.ShouldKill && (now >= _noVictimUntilMs || decision.MinScoreAdj < _noVictimMinAdj))
            StartKill(now, level, decision, memory, psi);
        else if (_log.IsEnabled(LogLevel.Debug) && (level != PressureLevel.None || now - _lastNoKillLogMs >= 1000))
        {
            // Why an evaluation did not kill: every PSI event (at most one per trigger window) and one poll a second.
            _lastNoKillLogMs = now;
            _log.LogDebug("Evaluation ({Level}), no kill: free {FreeKb} kB (watermarks min {MinKb} low {LowKb} high {HighKb} kB: {Watermark}), headroom {HeadroomKb} kB ({HeadroomPct:F1}%, falling {FillRateKbPerSec} kB/s, out in {MsToExhaustion} ms), swap free {SwapFreeKb}/{SwapTotalKb} kB (low: {SwapIsLow}), thrashing {ThrashingPct}% of {ThrashingLimitPct}% (stall {StallPct}%), reclaim {Reclaim}",
                level, memory.FreeKb, memory.Watermarks.MinKb, memory.Watermarks.LowKb, memory.Watermarks.HighKb, decision.Watermark,
                headroom.HeadroomKb, headroom.HeadroomPct, headroom.FillRateKbPerSec, headroom.MsToExhaustion,
                memory.SwapFreeKb, memory.SwapTotalKb, decision.SwapIsLow, decision.ThrashingPct, decision.ThrashingLimitPct, decision.StallPct, decision.Reclaim);
        }
    }

    private void StartKill(long now, PressureLevel level, KillDecision decision, in MemorySnapshot memory, in PsiSnapshot psi)
    {
        long t0 = Stopwatch.GetTimestamp();
        var victim = ChooseVictim(decision, out var candidates);
        if (victim is null)
        {
            // Nobody in reach: look again after a pause that doubles (100 ms .. 1 s) rather than rank
            // the whole list at every 10 ms poll; a PSI event or a headroom sample still evaluates.
            _noVictimBackoffMs = Math.Clamp(_noVictimBackoffMs * 2, NoVictimBackoffMinMs, NoVictimBackoffMaxMs);
            _noVictimUntilMs = now + _noVictimBackoffMs;
            _noVictimMinAdj = decision.MinScoreAdj;
            _policy.OnKillResult(decision, killed: false);
            var ranking = VictimRanking.Rank(candidates, decision.MinScoreAdj, _rules, _selfPid);
            _metrics.KillSkipped(LmkdMetrics.NoVictimReason(ranking));
            if (now - _lastNoVictimLogMs >= 10_000)
            {
                _lastNoVictimLogMs = now;
                _log.LogWarning("Kill wanted ({Reason}, min oom_score_adj {MinScoreAdj}) but no eligible victim among {Candidates} processes; passed over: {Rejected}",
                    KillReasons.Name(decision.Reason), decision.MinScoreAdj, candidates.Count, SummarizeRejections(ranking));
            }
            return;
        }

        _noVictimBackoffMs = 0;
        var kill = new PendingKill(++_killSeq, decision, psi, victim, t0)
        {
            SubmitTimestamp = Stopwatch.GetTimestamp(),
            WakeToDecision = Stopwatch.GetElapsedTime(_wakeTimestamp, t0),
            EpisodeStartTimestamp = _episodeStartTimestamp,
        };
        _inFlight = kill;
        if (!_reaper.TrySubmit(victim, _options.DryRun, _options.Kill.TimeoutMs, result =>
            {
                kill.Result = result;
                _completedKill = kill;
                _wake.Signal();
            }))
        {
            // Cannot happen while _inFlight guards submissions; say so loudly if it ever does.
            _inFlight = null;
            _log.LogError("Kill {KillId}: the reaper thread is busy; kill not attempted", kill.Id);
            return;
        }
        // Logged after the hand-over: a slow log sink must never stand between a decision and its signal.
        var h = decision.Headroom;
        _log.LogInformation("Kill {KillId} decided: {Reason} (min oom_score_adj {MinScoreAdj}; free {FreeKb} kB, available {AvailableKb} kB, watermark {Watermark}, headroom {HeadroomKb} kB = {HeadroomPct:F1}% (level {HeadroomLevelPct}%, falling {FillRateKbPerSec} kB/s, out in {MsToExhaustion} ms, {HeadroomBasis}), thrashing {ThrashingPct}% of limit {ThrashingLimitPct}% (stall {StallPct}%), reclaim {Reclaim}, PSI some {SomeAvg10:F2} full {FullAvg10:F2}) -> victim pid {Pid} ({Comm}), oom_score_adj {OomScoreAdj}, RSS {RssKb} kB",
            kill.Id, KillReasons.Name(decision.Reason), decision.MinScoreAdj, memory.FreeKb, memory.AvailableKb, decision.Watermark,
            h.HeadroomKb, h.HeadroomPct, h.LevelPct, h.FillRateKbPerSec, h.MsToExhaustion, h.Basis,
            decision.ThrashingPct, decision.ThrashingLimitPct, decision.StallPct, decision.Reclaim, psi.SomeAvg10, psi.FullAvg10,
            victim.Pid, victim.Comm, victim.OomScoreAdj, victim.RssBytes / 1024);
    }

    /// <summary>
    /// The victim, from the candidate list kept by the scanner thread plus the processes started
    /// since, re-reading only the top of it; from a full scan on this thread only before the first
    /// list exists. <paramref name="candidates"/> is the list the victim was chosen from.
    /// </summary>
    private ProcessInfo? ChooseVictim(in KillDecision decision, out IReadOnlyList<ProcessInfo> candidates)
    {
        _scope.ListPids(_scanner, _pidsNow);
        if (_candidates.Latest is { } list)
        {
            // The list plus its newcomers is every process in scope: no full scan, even when nobody
            // is eligible (a pressure episode with only protected processes would rescan every poll).
            var current = CandidateCache.WithNewcomers(list.Processes, _pidsNow, _scanner.Read, _scope.Filter);
            candidates = current;
            return CandidateCache.Freshen(current, _scanner.Read, decision.MinScoreAdj, _rules, _selfPid);
        }
        long t0 = Stopwatch.GetTimestamp();
        candidates = _scanner.ScanPids(_pidsNow, _scope.Filter);
        _metrics.Scanned(candidates.Count, Stopwatch.GetElapsedTime(t0));
        return VictimRanking.Pick(candidates, decision.MinScoreAdj, _rules, _selfPid);
    }

    private void FinishKill(PendingKill kill, long now)
    {
        _inFlight = null;
        var r = kill.Result!;
        bool killed = r.Outcome == KillOutcome.Killed;
        _policy.OnKillResult(kill.Decision, killed);
        _metrics.KillDone(kill.Decision, kill.Victim, r, kill.DecisionToSignal(r));
        var v = kill.Victim;
        if (killed || r.Outcome == KillOutcome.DryRun)
        {
            _log.LogInformation(
                "Kill {KillId} {Outcome}: pid {Pid} ({Comm}) uid {Uid} cgroup {Cgroup} exe {Exe} oom_score_adj {OomScoreAdj} RSS {RssKb} kB swap {SwapKb} kB; reason {Reason} min oom_score_adj {MinScoreAdj} PSI some {SomeAvg10:F2} full {FullAvg10:F2}; mode {ReapMode}{Fallback}, reap {ReapResult}; wake->decision {WakeToDecisionMs:F3} ms, decision->signal {DecisionToSignalMs:F2} ms, signal->reap {SignalToReapMs:F2} ms, signal->exit {SignalToExitMs:F2} ms, first PSI event->signal {EventToSignalMs:F1} ms{TimedOut}",
                kill.Id, r.Outcome == KillOutcome.DryRun ? "dry run (not killed)" : "done", v.Pid, v.Comm, v.Uid, v.CgroupPath, v.ExePath ?? "?",
                v.OomScoreAdj, v.RssBytes / 1024, v.SwapBytes / 1024, KillReasons.Name(kill.Decision.Reason), kill.Decision.MinScoreAdj,
                kill.Psi.SomeAvg10, kill.Psi.FullAvg10, KillModes.Name(r.ModeUsed), r.FallbackReason is null ? "" : $" (fallback: {r.FallbackReason})",
                r.ReapErrno < 0 ? "not attempted" : r.ReapErrno == 0 ? "ok" : KillResult.ErrnoName(r.ReapErrno),
                kill.WakeToDecision.TotalMilliseconds, kill.DecisionToSignal(r).TotalMilliseconds,
                r.TimeToReap.TotalMilliseconds, r.TimeToExit.TotalMilliseconds,
                kill.EventToSignal(r).TotalMilliseconds, r.TimedOut ? " (timed out waiting for exit)" : "");
        }
        else
        {
            _log.LogWarning("Kill {KillId} not done: pid {Pid} ({Comm}) {Outcome} (errno {Errno}); reason {Reason}",
                kill.Id, v.Pid, v.Comm, r.Outcome, KillResult.ErrnoName(r.SignalErrno), KillReasons.Name(kill.Decision.Reason));
        }
        _candidates.RequestRefresh(); // the victim is gone; others may have grown
        // Keep watching closely right after a kill: lmkd polls fast until pressure subsides.
        _pollUntilMs = Math.Max(_pollUntilMs, now + _options.Psi.PollWindowMs);
        _pollIntervalMs = _options.Policy.PollShortMs;
        if (r.Outcome == KillOutcome.DryRun)
            _holdUntilMs = now + _options.Kill.TimeoutMs;
    }

    private void ApplyOptions(LmkdOptions next)
    {
        _options = next;
        _rules = BuildRules(next);
        _policy.UpdateOptions(next.Policy, next.Headroom);
        _log.LogInformation("Configuration reloaded (dry run {DryRun}); PSI levels and scope changes need a restart", next.DryRun);
    }

    private static string DescribeHeadroom(HeadroomOptions h) => !h.Enabled ? "off"
        : $"levels {string.Join(", ", h.EffectiveLevels().Select(l => $"{l.HeadroomPct.ToString(System.Globalization.CultureInfo.InvariantCulture)}%->{l.MinScoreAdj}"))}; horizon {h.HorizonMs} ms, imminent {h.ImminentMs} ms; sampled every {h.SampleMinMs}-{h.SampleMaxMs} ms assuming {h.AssumedFillRateMibPerSec} MiB/s";

    internal static RankingRules BuildRules(LmkdOptions o) => new()
    {
        ProtectedUids = o.Protect.Uids,
        ProtectedExePaths = o.Protect.ExePaths,
        ProtectedCgroups = o.Protect.Cgroups,
        PreferredUids = o.Prefer.Uids,
        PreferredExePaths = o.Prefer.ExePaths,
        PreferredCgroups = o.Prefer.Cgroups,
    };

    internal static List<PsiLevelConfig> BuildLevels(LmkdOptions o) =>
        o.Psi.Levels.Select(l => new PsiLevelConfig(l.Name, l.Kind == "full" ? PsiKind.Full : PsiKind.Some, l.StallMs, l.WindowMs)).ToList();

    private static string SummarizeRejections(RankingResult ranking) =>
        string.Join(", ", ranking.Rejected.GroupBy(r => r.Reason).Select(g => $"{g.Key}={g.Count()}"));

    public void Dispose()
    {
        _reaper.Dispose();
        _candidates.Dispose();
        _psi.Dispose();
        _wake.Dispose();
        _threadStarted.Dispose();
    }

    private sealed class PendingKill(long id, KillDecision decision, PsiSnapshot psi, ProcessInfo victim, long startTimestamp)
    {
        public long Id { get; } = id;
        public KillDecision Decision { get; } = decision;
        public PsiSnapshot Psi { get; } = psi;
        public ProcessInfo Victim { get; } = victim;
        public long StartTimestamp { get; } = startTimestamp;
        public long SubmitTimestamp { get; init; }
        public long EpisodeStartTimestamp { get; init; }
        /// <summary>From poll returning to the policy's verdict: reading PSI and memory, deciding.</summary>
        public TimeSpan WakeToDecision { get; init; }

        /// <summary>From the first PSI event of the episode to SIGKILL: what the operator waits for.</summary>
        public TimeSpan EventToSignal(KillResult r) =>
            Stopwatch.GetElapsedTime(EpisodeStartTimestamp, StartTimestamp) + DecisionToSignal(r);
        public KillResult? Result { get; set; }

        /// <summary>Scan, ranking and hand-over to the reaper, plus the reaper's own time to the signal.</summary>
        public TimeSpan DecisionToSignal(KillResult r) =>
            Stopwatch.GetElapsedTime(StartTimestamp, SubmitTimestamp) + r.TimeToSignal;
    }
}
