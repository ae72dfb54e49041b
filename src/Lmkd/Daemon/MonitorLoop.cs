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
/// The daemon's core: one dedicated thread that blocks in poll() on the PSI triggers, the scope's
/// memory events and an eventfd (stop, reload, kill done), reads the memory state, asks the policy,
/// and hands a chosen victim to the reaper thread. While a victim is dying, pressure events are
/// counted, not acted on: one episode costs one kill. <see cref="LoopPacer"/> decides when to
/// evaluate and sleep, <see cref="VictimChooser"/> whom to kill.
/// <para>
/// It never goes silent: a failing read, a scan that throws, a reaper that throws or never comes
/// back are counted, logged (rate-limited) and outlived. Only a loop that truly cannot watch (the
/// memory state unreadable for longer than <see cref="BlindBoundMs"/>, or more stuck reapers than
/// it has spares) stops pinging the watchdog, so that systemd restarts it.
/// </para>
/// </summary>
public sealed class MonitorLoop : IDisposable
{
    /// <summary>Unreadable memory state for this long makes the loop blind: watchdog pings stop.</summary>
    public const int BlindBoundMs = 10_000;
    /// <summary>Reapers kept in reserve, created with the first (off the real-time thread): stuck ones are abandoned to them.</summary>
    public const int SpareReapers = 2;
    /// <summary>How long a reaper past its deadline still gets before it is abandoned (see CheckKill).</summary>
    private const int OverdueGraceMs = 200;
    /// <summary>A fault is logged at most once per this, with the count since the last line.</summary>
    private const int FaultLogEveryMs = 10_000;
    /// <summary>What the kill gave back is read once more this long after the victim's exit (freed pages linger on per-CPU lists).</summary>
    private const int GaveBackDelayMs = 1000;

    private readonly ILogger _log;
    private readonly Scope _scope;
    private readonly PsiMonitor _psi;
    private readonly ProcessScanner _scanner;
    private readonly CandidateCache _candidates;
    private readonly VictimChooser _chooser;
    private readonly RespawnEscalator _respawn;
    private readonly Killer _killer;
    private readonly IKernel _kernel;
    private readonly ReaperThread[] _reapers;
    private readonly IMemoryReader _reaperMemory;
    private int _reaperIndex;
    private readonly EventFd _wake = new();
    private readonly ServiceNotifier _notifier;
    private readonly LmkdMetrics _metrics;
    private readonly KillPolicy _policy;
    private readonly LoopPacer _pacer;
    private readonly int _selfPid = Environment.ProcessId;
    private Thread? _thread;
    private readonly ManualResetEventSlim _threadStarted = new();

    private volatile bool _stopRequested;
    private volatile LmkdOptions? _pendingOptions;
    private volatile PendingKill? _completedKill;
    // Faults on threads other than the monitor's, counted there and reported from the loop.
    private long _scanFaults, _reaperFaults;

    private LmkdOptions _options;
    private double _eventThresholdPct; // Scope.EventThresholdPct of _options: sorting the levels per wake-up allocates
    private PendingKill? _inFlight;
    private PendingKill? _awaitingGaveBack;
    private long _killSeq;
    // Stopwatch timestamps: when poll last returned, and when the current episode's first sign came.
    private long _wakeTimestamp;
    private long _episodeStartTimestamp;
    private long _blindSinceMs = -1;
    private bool _blind, _wedged;
    // Rate-limited log lines: "never" is MinValue / 2, far enough back that the first line is due at
    // once (MinValue itself overflows now - last to a negative number).
    private long _lastNoVictimLogMs = long.MinValue / 2;
    private long _lastNoKillLogMs = long.MinValue / 2;
    private long _lastEmigrantLogMs = long.MinValue / 2;
    private readonly Dictionary<string, (long LastLogMs, long Count)> _faults = [];
    // What `lmkd status` shows: written by the monitor thread under the gate, read by the control socket's.
    private const int RecentKillsKept = 16;
    private readonly Lock _statusGate = new();
    private readonly List<FinishedKill> _recentKills = [];
    private KillDecision _lastDecision;
    private bool _lastInPsiWindow;
    private bool _swapDevicesKnown = true;
    // Written by the monitor thread only, read under _statusGate as one figure (a double: no tearing on 64-bit).
    private readonly WakeRate _wakeRate = new();
    private MemorySnapshot _lastMemory;
    private PsiSnapshot _lastPsi;
    private long _lastEvaluationMs = -1;

    public ReapMode ReapMode { get; }
    public TriggerMode TriggerMode => _psi.Mode;
    /// <summary>Set when the loop ended on an unrecoverable error (e.g. the watched cgroup was removed).</summary>
    public string? FatalError { get; private set; }
    public event Action? Stopped;
    /// <summary>
    /// Raised on the monitor thread after each kill and dry-run kill is logged, for its consumers (the
    /// D-Bus signal, the post-kill hook). Handlers must return at once and never throw.
    /// </summary>
    public event Action<FinishedKill>? KillFinished;
    /// <summary>What the monitor thread got when it raised its own priority (set by <see cref="Start"/>).</summary>
    public string ThreadPriority { get; private set; } = "not started";
    /// <summary>The loop stopped pinging the watchdog: blind, or out of spare reapers.</summary>
    public bool WatchdogSuppressed => _blind || _wedged;

    /// <param name="kernel">The kill path's syscalls (tests pass a fake).</param>
    /// <param name="psiOptions">How PSI is watched (tests force sampling of a fixture file).</param>
    public MonitorLoop(LmkdOptions options, Scope scope, ServiceNotifier notifier, LmkdMetrics metrics, ILogger log,
        IKernel? kernel = null, PsiMonitorOptions? psiOptions = null)
    {
        _options = options;
        _eventThresholdPct = Scope.EventThresholdPct(options);
        _scope = scope;
        _notifier = notifier;
        _metrics = metrics;
        _log = log;
        var rules = BuildRules(options);
        _policy = new KillPolicy(options.Policy, options.Headroom);
        _pacer = new LoopPacer(Pacing(options));
        _scanner = new ProcessScanner(options.ProcRoot) { ExePathRules = rules };
        // Created here, on the host's thread: the scanner and reaper threads must not inherit the
        // monitor's real-time priority.
        _candidates = new CandidateCache(options.ProcRoot, scope, metrics.Scanned, _ => Interlocked.Increment(ref _scanFaults)) { ExePathRules = rules };
        var source = new ScopeProcessSource(_scanner, scope);
        _chooser = new VictimChooser(source, () => _candidates.Latest, _selfPid) { Rules = rules };
        _respawn = new RespawnEscalator(source, options.ProcRoot, CgroupPaths.Resolve(options.CgroupRoot, "/").V2Directory) { Options = options.Kill.Respawn };

        kernel ??= new LinuxKernel();
        _kernel = kernel;
        var probed = ReapKillSupport.Probe(kernel, out int probeErrno);
        KillModes.TryParse(options.Kill.Mode, out var forced);
        ReapMode = forced ?? probed;
        _log.LogInformation("Kill mode {ReapMode} (probe process_mrelease(-1, REAP_KILL) gave {ProbeErrno}: {Probed}{Forced})",
            KillModes.Name(ReapMode), Errno.Name(probeErrno), KillModes.Name(probed), forced is null ? "" : ", forced by Lmkd:Kill:Mode");
        _reaperMemory = scope.OpenMemoryReader();
        _killer = new Killer(kernel, ReapMode, _scanner.ReadStartTime, readMemory: ReadReaperMemory);
        _reapers = new ReaperThread[1 + SpareReapers];
        for (int i = 0; i < _reapers.Length; i++)
            _reapers[i] = new ReaperThread(_killer, _ => Interlocked.Increment(ref _reaperFaults));
        _metrics.SetReapMode(ReapMode, probed, options.Metrics.ExpectReapKill);

        _psi = new PsiMonitor(scope.PressureFile, BuildLevels(options), psiOptions ?? new PsiMonitorOptions
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

    private static PacingOptions Pacing(LmkdOptions o) => new()
    {
        PollWindowMs = o.Psi.PollWindowMs,
        PollLongMs = o.Policy.PollLongMs,
        PollShortMs = o.Policy.PollShortMs,
        HeadroomSampleMaxMs = o.Headroom.SampleMaxMs,
        IdleTickMs = LmkdMetrics.IdleTickMs,
    };

    private ReaperThread Reaper => _reapers[_reaperIndex];

    // On the reaper thread, through its own reader: what the kill gave back, right after the reap and at the exit.
    private MemorySnapshot? ReadReaperMemory()
    {
        try
        {
            return _reaperMemory.Read();
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>
    /// Run the scan, the choice and the policy once, so their code and buffers are resident (and
    /// locked, with mlockall's ONFAULT) before the first kill, instead of being paged in when memory
    /// is shortest. The kill path itself is warmed up by <see cref="WarmUpKill"/>.
    /// </summary>
    private void WarmUp()
    {
        _candidates.RefreshNow();
        _chooser.Choose(1000, MonotonicClock.NowMs);
        var memory = _scope.Memory.Read();
        var psi = _psi.ReadSnapshot();
        // A throw-away policy, so the real one's baselines start at the first real evaluation.
        new KillPolicy(_options.Policy, _options.Headroom).Evaluate(MonotonicClock.NowMs, PressureLevel.Medium, memory, psi, inPsiWindow: true);
        // The kill path up to the signal, on Lmkd itself, in dry run: pidfd_open, identity check, close. Nothing is sent.
        if (_scanner.Read(_selfPid) is { } self)
            _killer.Kill(self, dryRun: true, timeoutMs: 0);
    }

    /// <summary>
    /// The whole kill path once, for real, on a throw-away child of Lmkd's (the signal, the reap,
    /// the wait for the exit, the kill event's formatting): with mlockall's ONFAULT only pages that
    /// ran are locked, and the first real kill must not take page faults while the machine thrashes.
    /// </summary>
    public void WarmUpKill(int childPid)
    {
        // Only once the child runs its own program: a child that still shares Lmkd's memory (between
        // vfork and exec) would take Lmkd with it under REAP_KILL, which kills every sharer of the mm.
        // Process.Start returns once the child's exec has released Lmkd's memory (vfork), which the
        // kernel does before it renames the task: the comm may still read as Lmkd's for a moment (in
        // slow guests, at most starts). So wait for it, briefly.
        var child = _scanner.Read(childPid);
        var wait = Stopwatch.StartNew();
        while (child is { Comm: not "sleep" } && wait.ElapsedMilliseconds < 500)
        {
            Thread.Sleep(5);
            child = _scanner.Read(childPid);
        }
        if (child is not { Comm: "sleep" })
        {
            _log.LogWarning("Warm-up kill skipped: the child {Pid} could not be read as a running sleep", childPid);
            return;
        }
        // SIGKILL and process_mrelease(fd, 0), never REAP_KILL: the same calls, the same waits and
        // the same bookkeeping, without the one flag whose reach is more than the child.
        var warmUp = new Killer(_kernel, ReapMode == Killing.ReapMode.KillOnly ? Killing.ReapMode.KillOnly : Killing.ReapMode.KillThenReap,
            _scanner.ReadStartTime, readMemory: ReadReaperMemory);
        var r = warmUp.Kill(child, dryRun: false, timeoutMs: 2000);
        var fake = new PendingKill(0, default, default, child, Stopwatch.GetTimestamp()) { Result = r, SubmitTimestamp = Stopwatch.GetTimestamp() };
        // Format the kill event without writing it: the formatting code is what needs to be resident.
        _ = FinishedKill.From(0, default, child, r, _scope.CgroupPath);
        _ = fake.DecisionToSignal(r);
        KillLog.WarmUpKill(_log, child.Pid, r.Outcome.ToString(), KillModes.Name(r.ModeUsed), ReapResultName(r), r.TimeToExit.TotalMilliseconds);
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
        if (!Reaper.Stop(left > ReaperStopMin ? left : ReaperStopMin, out var victim))
            _log.LogWarning("Kill still in flight at shutdown (pid {Pid}, {Comm}): left to the reaper thread", victim?.Pid, victim?.Comm);
        foreach (var spare in _reapers)
            spare.Stop(TimeSpan.Zero, out _);
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
        while (!_stopRequested && FatalError is null)
        {
            long now = MonotonicClock.NowMs;
            // A loop that cannot watch has suppressed the pings (Blind, Wedged): systemd restarts it.
            _notifier.PingIfDue(now);
            _metrics.LoopIteration(now);
            try
            {
                Iterate(now);
            }
            catch (Exception e) when (IsFault(e))
            {
                // Whatever went wrong in this round: count it, say so now and then, pause, watch on.
                Fault("loop", "the monitor loop", e);
                Thread.Sleep(100);
            }
        }
    }

    /// <summary>Errors a loop outlives: the file system, the kernel and the notify socket refusing for a while.</summary>
    private static bool IsFault(Exception e) =>
        e is IOException or UnauthorizedAccessException or System.Net.Sockets.SocketException or OutOfMemoryException or InvalidOperationException;

    private void Iterate(long now)
    {
        CheckKill(now);
        ReportBackgroundFaults();
        var events = _scope.MemoryEvents;
        var r = _psi.Wait(NextTimeoutMs(now), _wake.Fd, events?.Fd ?? -1, events?.Events ?? 0);
        now = MonotonicClock.NowMs;
        _wakeTimestamp = Stopwatch.GetTimestamp();
        _wakeRate.Add(now);

        switch (r.Status)
        {
            case WaitStatus.Woken:
                _wake.Drain();
                if (_stopRequested)
                    return;
                if (_pendingOptions is { } next)
                {
                    _pendingOptions = null;
                    ApplyOptions(next);
                }
                CheckKill(now);
                return;
            case WaitStatus.ScopeGone:
                FatalError = $"the watched scope is gone: {_scope.PressureFile} reports ENODEV (cgroup removed?)";
                _log.LogCritical("{Error}", FatalError);
                return;
            case WaitStatus.Error:
                // poll keeps failing while reads work: back off rather than spin, and say so now and then.
                Fault("poll", "waiting on " + _scope.PressureFile, new IOException($"poll: errno {Errno.Name(r.Errno)}"));
                Thread.Sleep(100);
                return;
            case WaitStatus.MemoryEvent:
                // The cgroup's memory moved (memory.events changed, or usage crossed the v1 threshold): sample now.
                events!.Drain();
                _metrics.MemoryEvent();
                _pacer.OnMemoryEvent(now);
                break;
        }
        CheckKill(now);
        if (_awaitingGaveBack is { } k && now >= k.GaveBackDueMs)
            ReportGaveBack(k);

        var level = r.Level;
        if (level != PressureLevel.None)
        {
            _metrics.PressureEvent(level);
            if (_pacer.OnPsiEvent(now))
            {
                _episodeStartTimestamp = _wakeTimestamp; // the first event of a pressure episode
                _candidates.RequestRefresh();            // so a kill, if one comes, ranks a fresh list
            }
        }
        if (!_pacer.ShouldEvaluate(now, level != PressureLevel.None))
        {
            // A victim is still dying: count the event, do not judge pressure on stale figures.
            if (level != PressureLevel.None && _pacer.KillInFlight)
                _metrics.SkippedWakeup();
            return;
        }
        Evaluate(now, level);
    }

    private int NextTimeoutMs(long now)
    {
        int timeout = _pacer.NextTimeoutMs(now, _notifier.MsUntilNextPing(now));
        // While a victim dies, wake in time to give up on a reaper that does not come back.
        if (_inFlight is { } kill)
            timeout = (int)Math.Clamp((kill.OverdueSeenMs < 0 ? kill.DeadlineMs : kill.OverdueSeenMs + OverdueGraceMs) - now, 1, timeout);
        if (_awaitingGaveBack is { } k)
            timeout = (int)Math.Clamp(k.GaveBackDueMs - now, 1, timeout);
        return timeout;
    }

    private void Evaluate(long now, PressureLevel level)
    {
        MemorySnapshot memory;
        try
        {
            memory = _scope.Memory.Read();
            if (_scope.Memory.SwapDevicesKnown != _swapDevicesKnown)
            {
                _swapDevicesKnown = !_swapDevicesKnown;
                if (_swapDevicesKnown)
                    _log.LogInformation("/proc/swaps is readable again: zram swap is counted by its compression");
                else
                    _log.LogWarning("/proc/swaps cannot be read: all swap counts as disk swap, at face value, until it can");
            }
            if (_blindSinceMs >= 0)
                _log.LogInformation("The memory state is readable again after {BlindMs} ms", now - _blindSinceMs);
            _blindSinceMs = -1;
            if (_blind)
            {
                _blind = false;
                if (!_wedged)
                    _notifier.ResumeWatchdog();
            }
        }
        catch (IOException e)
        {
            // Without the memory state there is nothing to judge. Past the bound, stop pretending.
            Fault("memory", "reading the memory state", e);
            if (_blindSinceMs < 0)
                _blindSinceMs = now;
            if (!_blind && now - _blindSinceMs >= BlindBoundMs)
            {
                _blind = true;
                KillLog.Blind(_log, now - _blindSinceMs);
                _notifier.SuppressWatchdog("blind: the memory state cannot be read");
            }
            return;
        }
        // PSI here only feeds the logs and the stall gate of v1 thrashing: a failed read is no reason to stop.
        if (!_psi.TryReadSnapshot(out var psi, out int psiErrno))
            Fault("psi", "reading " + _scope.PressureFile, new IOException(psiErrno == 0 ? "unparsable content" : "errno " + Errno.Name(psiErrno)));

        bool inPsiWindow = level != PressureLevel.None || _pacer.InPsiWindow(now);
        var decision = _policy.Evaluate(now, level, memory, psi, inPsiWindow);
        _metrics.Observed(memory, decision, inPsiWindow);
        lock (_statusGate)
            (_lastDecision, _lastMemory, _lastPsi, _lastEvaluationMs, _lastInPsiWindow) = (decision, memory, psi, now, inPsiWindow);
        bool slow = false;
        if (_scope.MemoryEvents is { } events && _scope.LastUsage is { } last)
        {
            var (usage, limit) = last();
            events.Rearm(limit, _eventThresholdPct);
            // Below the v1 threshold the kernel says when usage rises: the longest interval is enough.
            // The threshold watches the scope's own usage, so only while its own limit binds: when a
            // parent or the machine binds, siblings can fill it without crossing the scope's threshold.
            slow = memory.BindingLevel == 0 && events.AllowsSlowSampling(usage, limit);
        }
        var verdict = _pacer.OnEvaluated(now, decision, slow);
        if (verdict.EpisodeStarted)
            _episodeStartTimestamp = _wakeTimestamp; // headroom started to fall with no PSI episode under way
        if (verdict.RequestRescan)
            _candidates.RequestRefresh();
        if (verdict.StartKill)
            StartKill(now, decision, memory, psi);
        else if (_log.IsEnabled(LogLevel.Debug) && (level != PressureLevel.None || now - _lastNoKillLogMs >= 1000))
        {
            // Why an evaluation did not kill: every PSI event (at most one per trigger window) and one poll a second.
            _lastNoKillLogMs = now;
            var h = decision.Headroom;
            _log.LogDebug("Evaluation ({Level}), no kill: free {FreeKb} kB (watermarks min {MinKb} low {LowKb} high {HighKb} kB: {Watermark}), headroom {HeadroomKb} kB ({HeadroomPct:F1}%, falling {FillRateKbPerSec} kB/s, out in {MsToExhaustion} ms), swap free {SwapFreeKb}/{SwapTotalKb} kB (low: {SwapIsLow}), thrashing {ThrashingPct}% of {ThrashingLimitPct}% (stall {StallPct}%), reclaim {Reclaim}",
                level, memory.FreeKb, memory.Watermarks.MinKb, memory.Watermarks.LowKb, memory.Watermarks.HighKb, decision.Watermark,
                h.HeadroomKb, h.HeadroomPct, h.FillRateKbPerSec, h.MsToExhaustion,
                memory.SwapFreeKb, memory.SwapTotalKb, decision.SwapIsLow, decision.ThrashingPct, decision.ThrashingLimitPct, decision.StallPct, decision.Reclaim);
        }
    }

    private void StartKill(long now, KillDecision decision, in MemorySnapshot memory, in PsiSnapshot psi)
    {
        long t0 = Stopwatch.GetTimestamp();
        VictimChoice choice;
        try
        {
            choice = _chooser.Choose(decision.MinScoreAdj, now);
        }
        catch (IOException e)
        {
            // EMFILE, ENOMEM listing /proc: no victim this round; the next evaluation tries again.
            Fault("choose", "choosing a victim", e);
            _pacer.OnNoVictim(now, decision.MinScoreAdj);
            return;
        }
        if (choice.ScannedNow)
            _metrics.Scanned(choice.Candidates.Count, Stopwatch.GetElapsedTime(t0));
        if (choice.Emigrants > 0 && now - _lastEmigrantLogMs >= FaultLogEveryMs)
        {
            _lastEmigrantLogMs = now;
            KillLog.Emigrants(_log, choice.Emigrants);
        }
        var victim = choice.Victim;
        if (victim is null)
        {
            // Nobody in reach: look again after a back-off (see LoopPacer) rather than rank the whole
            // list at every 10 ms poll; a decision that reaches deeper tries at once.
            _pacer.OnNoVictim(now, decision.MinScoreAdj);
            _policy.OnKillResult(decision, killed: false);
            var ranking = choice.Ranking!;
            _metrics.KillSkipped(LmkdMetrics.NoVictimReason(ranking));
            if (now - _lastNoVictimLogMs >= FaultLogEveryMs)
            {
                _lastNoVictimLogMs = now;
                KillLog.NoVictim(_log, KillReasons.Name(decision.Reason), decision.MinScoreAdj, choice.Candidates.Count, SummarizeRejections(ranking));
            }
            return;
        }

        // Workers killed again and again, re-created by their parent: answer the loop, not the worker.
        var escalation = _respawn.Consider(victim, decision.MinScoreAdj, _chooser.Rules, _selfPid, now);
        if (escalation.Kind != EscalationKind.None)
        {
            _metrics.RespawnEscalation(escalation.Kind);
            KillLog.Respawn(_log, EscalationKinds.Name(escalation.Kind), escalation.Why);
            if (escalation is { Kind: EscalationKind.Parent, Parent: { } parent })
                victim = parent;
        }

        var kill = new PendingKill(++_killSeq, decision, psi, victim, t0)
        {
            ParentStartTime = escalation.Kind == EscalationKind.Parent ? 0 : escalation.ParentStartTime,
            SubmitTimestamp = Stopwatch.GetTimestamp(),
            WakeToDecision = Stopwatch.GetElapsedTime(_wakeTimestamp, t0),
            EpisodeStartTimestamp = _episodeStartTimestamp,
            MemoryAtDecision = memory,
            DeadlineMs = now + DeadlineMs(victim),
            SubmittedAtMs = now,
        };
        _inFlight = kill;
        _pacer.OnKillStarted();
        if (!Reaper.TrySubmit(victim, _options.DryRun, _options.Kill.TimeoutMs, result =>
            {
                // A reaper given up on may still come back: its late word is not this loop's business any more.
                if (kill.Abandoned)
                    return;
                kill.Result = result;
                _completedKill = kill;
                _wake.Signal();
            }))
        {
            // Cannot happen while the pacer gates submissions; say so loudly if it ever does.
            _inFlight = null;
            _pacer.OnKillFinished(now, dryRun: false, _options.Kill.TimeoutMs);
            _log.LogError("Kill {KillId}: the reaper thread is busy; kill not attempted", kill.Id);
            return;
        }
        // Logged after the hand-over: a slow log sink must never stand between a decision and its signal.
        var h = decision.Headroom;
        KillLog.Decided(_log, kill.Id, KillReasons.Name(decision.Reason), decision.MinScoreAdj, memory.FreeKb, memory.AvailableKb, decision.Watermark,
            h.HeadroomKb, h.HeadroomPct, h.LevelPct, h.FillRateKbPerSec, h.MsToExhaustion, h.Basis,
            decision.ThrashingPct, decision.ThrashingLimitPct, decision.StallPct, decision.Reclaim, psi.SomeAvg10, psi.FullAvg10,
            victim.Pid, victim.Comm, victim.OomScoreAdj, victim.RssBytes / 1024);
    }

    /// <summary>
    /// How long a kill may take before its reaper is given up on: the wait for the exit, plus the
    /// reap, which takes longer the larger the victim (0.36-0.61 s for 8 GiB here): 2 s and 1 s per
    /// GiB, twice what was measured.
    /// </summary>
    private long DeadlineMs(ProcessInfo victim) => _options.Kill.TimeoutMs + 2000 + victim.WeightBytes / (1L << 30) * 1000;

    /// <summary>The kill's completion, checked on every round (not only when the eventfd wakes the loop), and the reaper's deadline.</summary>
    private void CheckKill(long now)
    {
        if (_completedKill is { } done)
        {
            _completedKill = null;
            FinishKill(done, now);
            return;
        }
        if (_inFlight is not { } kill || now < kill.DeadlineMs)
            return;
        // Overdue at a first look may be the clock, not the reaper: a guest starved by its host sees
        // its monotonic clock jump by seconds at once. Give the reaper one more short wait after the
        // deadline is first seen passed, so only a reaper that stays silent is abandoned.
        if (kill.OverdueSeenMs < 0)
        {
            kill.OverdueSeenMs = now;
            return;
        }
        if (now - kill.OverdueSeenMs < OverdueGraceMs)
            return;
        kill.Abandoned = true;
        _metrics.ReaperAbandoned();
        string left;
        if (_reaperIndex + 1 < _reapers.Length)
        {
            _reaperIndex++;
            left = $"a spare reaper takes the next kill ({_reapers.Length - 1 - _reaperIndex} spare left)";
        }
        else
        {
            _wedged = true;
            left = "no spare reaper is left: watchdog pings stop, so systemd restarts Lmkd";
            _notifier.SuppressWatchdog("wedged: every reaper is stuck in a kill");
        }
        KillLog.ReaperAbandoned(_log, kill.Id, now - kill.SubmittedAtMs, left);
        kill.Result = KillResult.Unfinished(kill.Victim, ReapMode, KillOutcome.Abandoned, $"no word from the reaper after {now - kill.SubmittedAtMs} ms");
        FinishKill(kill, now);
    }

    private void FinishKill(PendingKill kill, long now)
    {
        _inFlight = null;
        var r = kill.Result!;
        bool dryRun = r.Outcome == KillOutcome.DryRun;
        _pacer.OnKillFinished(now, dryRun, _options.Kill.TimeoutMs);
        // Abandoned: the signal most likely went before the reap stuck; count it as a kill so the
        // policy measures afresh, and never choose the victim again while it lives.
        bool killed = r.Outcome is KillOutcome.Killed or KillOutcome.Abandoned;
        _policy.OnKillResult(kill.Decision, killed);
        _metrics.KillDone(kill.Decision, kill.Victim, r, kill.DecisionToSignal(r));
        var v = kill.Victim;
        if (killed && kill.ParentStartTime != 0)
            _respawn.OnKilled(v, kill.ParentStartTime, now);
        if (killed && !r.Exited)
        {
            _chooser.Remember(v, now);
            if (r.TimedOut)
            {
                _metrics.VictimOutlivedTimeout();
                KillLog.OutlivedTimeout(_log, kill.Id, v.Pid, v.Comm, _options.Kill.TimeoutMs, _scanner.Read(v.Pid)?.State ?? '?');
            }
        }
        if (r.Outcome is KillOutcome.Killed or KillOutcome.DryRun)
        {
            long atDecision = kill.MemoryAtDecision.UsedKb;
            KillLog.Done(_log, kill.Id, dryRun ? "dry run (not killed)" : "done", v.Pid, v.Comm, v.Uid, v.CgroupPath, v.ExePath ?? "?", v.OomScoreAdj,
                v.RssBytes / 1024, v.RssAnonBytes / 1024, v.RssFileBytes / 1024, v.RssShmemBytes / 1024, v.SwapBytes / 1024,
                r.MemoryAfterReap is { } reap ? atDecision - reap.UsedKb : -1, r.MemoryAtExit is { } exit ? atDecision - exit.UsedKb : -1,
                KillReasons.Name(kill.Decision.Reason), kill.Decision.MinScoreAdj, kill.Psi.SomeAvg10, kill.Psi.FullAvg10,
                KillModes.Name(r.ModeUsed), r.FallbackReason is null ? "" : $" (fallback: {r.FallbackReason})", ReapResultName(r),
                kill.WakeToDecision.TotalMilliseconds, kill.DecisionToSignal(r).TotalMilliseconds,
                r.TimeToReap.TotalMilliseconds, r.TimeToExit.TotalMilliseconds,
                kill.EventToSignal(r).TotalMilliseconds, r.TimedOut ? " (timed out waiting for exit)" : "");
            var finished = FinishedKill.From(kill.Id, kill.Decision, v, r, _scope.CgroupPath, kill.MemoryAtDecision);
            kill.Finished = finished;
            RecordKill(finished);
            KillFinished?.Invoke(finished);
            if (!dryRun && r.Exited)
            {
                kill.GaveBackDueMs = now + GaveBackDelayMs;
                _awaitingGaveBack = kill;
            }
        }
        else
        {
            KillLog.NotDone(_log, kill.Id, v.Pid, v.Comm, r.Outcome.ToString(),
                Errno.Name(r.Outcome == KillOutcome.OpenFailed ? r.OpenErrno : r.SignalErrno), r.Error is null ? "" : "; " + r.Error,
                KillReasons.Name(kill.Decision.Reason));
        }
        _candidates.RequestRefresh(); // the victim is gone; others may have grown
    }

    /// <summary>The last kills, newest last; a kill's entry is replaced when its one-second figure comes.</summary>
    private void RecordKill(FinishedKill k)
    {
        lock (_statusGate)
        {
            int i = _recentKills.FindIndex(e => e.KillId == k.KillId);
            if (i >= 0)
                _recentKills[i] = k;
            else
            {
                _recentKills.Add(k);
                if (_recentKills.Count > RecentKillsKept)
                    _recentKills.RemoveAt(0);
            }
        }
    }

    /// <summary>What the loop last saw and did, for `lmkd status` (any thread; a copy taken under a lock the loop holds only to write).</summary>
    public LoopStatus Status()
    {
        lock (_statusGate)
            return new LoopStatus(_lastDecision, _lastMemory, _lastPsi, _lastEvaluationMs, _inFlight?.Victim, [.. _recentKills],
                _scope.Description, KillModes.Name(ReapMode), LmkdMetrics.TriggerModeName(_psi.Mode), _options.DryRun,
                _blind ? "blind: the memory state cannot be read" : _wedged ? "wedged: no reaper left" : null)
            {
                LastInPsiWindow = _lastInPsiWindow,
                HeadroomBinds = _scope.Memory.LevelName(_lastMemory.BindingLevel),
                WakeupsPerSecond = _wakeRate.PerSecond,
            };
    }

    /// <summary>One second after the exit: the scope's memory against the decision's snapshot, by kind.</summary>
    private void ReportGaveBack(PendingKill kill)
    {
        _awaitingGaveBack = null;
        MemorySnapshot m;
        try
        {
            m = _scope.Memory.Read();
        }
        catch (IOException e)
        {
            Fault("memory", "reading the memory state", e);
            return;
        }
        var d = kill.MemoryAtDecision;
        var v = kill.Victim;
        KillLog.GaveBack(_log, kill.Id, d.UsedKb - m.UsedKb, d.AnonKb - m.AnonKb, d.FileLruKb - m.FileLruKb, m.HeadroomKb - d.HeadroomKb,
            v.RssAnonBytes / 1024, v.RssFileBytes / 1024, v.RssShmemBytes / 1024);
        if (kill.Finished is { } finished)
            RecordKill(finished with { GaveBackAfterSecondKb = d.UsedKb - m.UsedKb });
        _metrics.GaveBack(d.UsedKb - m.UsedKb);
    }

    private static string ReapResultName(KillResult r) => r.ReapErrno < 0 ? "not attempted" : r.ReapErrno == 0 ? "ok" : Errno.Name(r.ReapErrno);

    /// <summary>
    /// Counted on every fault (by <paramref name="kind"/>, one of <see cref="LmkdMetrics.FaultKinds"/>);
    /// logged once per <see cref="FaultLogEveryMs"/> per place, with the count since the last line.
    /// </summary>
    private void Fault(string kind, string where, Exception e)
    {
        _metrics.Fault(kind);
        long now = MonotonicClock.NowMs;
        _faults.TryGetValue(where, out var f);
        f.Count++;
        if (f.Count == 1 || now - f.LastLogMs >= FaultLogEveryMs)
        {
            KillLog.Fault(_log, where, e.Message, f.Count);
            f = (now, 0);
        }
        _faults[where] = f;
    }

    private void ReportBackgroundFaults()
    {
        if (Interlocked.Exchange(ref _scanFaults, 0) is > 0 and var scans)
            for (long i = 0; i < scans; i++)
                Fault("scan", "scanning /proc", new IOException("the scanner thread's scan failed; the list stays as it was"));
        if (Interlocked.Exchange(ref _reaperFaults, 0) is > 0 and var reaps)
            for (long i = 0; i < reaps; i++)
                Fault("reaper", "the kill path", new IOException("the reaper thread caught an exception; the kill completed as failed"));
    }

    private void ApplyOptions(LmkdOptions next)
    {
        _options = next;
        _eventThresholdPct = Scope.EventThresholdPct(next);
        var rules = BuildRules(next);
        _chooser.Rules = rules;
        _scanner.ExePathRules = _candidates.ExePathRules = rules;
        _policy.UpdateOptions(next.Policy, next.Headroom);
        _pacer.UpdateOptions(Pacing(next));
        _respawn.Options = next.Kill.Respawn;
        _log.LogInformation("Configuration reloaded (dry run {DryRun}); PSI levels and scope changes need a restart", next.DryRun);
    }

    private static string DescribeHeadroom(HeadroomOptions h) => !h.Enabled ? "off"
        : $"levels {string.Join(", ", h.EffectiveLevels().Select(l => $"{l.HeadroomPct.ToString(System.Globalization.CultureInfo.InvariantCulture)}%->{l.MinScoreAdj}{(l.HorizonMs is { } ms ? $" within {ms} ms" : "")}"))}; horizon {h.HorizonMs} ms, imminent {h.ImminentMs} ms; sampled every {h.SampleMinMs}-{h.SampleMaxMs} ms assuming {h.AssumedFillRateMibPerSec} MiB/s";

    internal static RankingRules BuildRules(LmkdOptions o) => new()
    {
        ProtectedUids = o.Protect.Uids,
        ProtectedExePaths = o.Protect.ExePaths,
        ProtectedExeIdentities = ExeRuleFiles.Resolve(o.Protect.ExePaths),
        ProtectedCgroups = o.Protect.Cgroups,
        PreferredUids = o.Prefer.Uids,
        PreferredExePaths = o.Prefer.ExePaths,
        PreferredExeIdentities = ExeRuleFiles.Resolve(o.Prefer.ExePaths),
        PreferredCgroups = o.Prefer.Cgroups,
    };

    internal static List<PsiLevelConfig> BuildLevels(LmkdOptions o) =>
        o.Psi.Levels.Select(l => new PsiLevelConfig(l.Name, l.Kind == "full" ? PsiKind.Full : PsiKind.Some, l.StallMs, l.WindowMs)).ToList();

    private static string SummarizeRejections(RankingResult ranking) =>
        string.Join(", ", ranking.Rejected.GroupBy(r => r.Reason).Select(g => $"{g.Key}={g.Count()}"));

    public void Dispose()
    {
        foreach (var reaper in _reapers)
            reaper.Dispose();
        _reaperMemory.Dispose();
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
        /// <summary>The scope's memory the decision was made on: the baseline of what the kill gave back.</summary>
        public MemorySnapshot MemoryAtDecision { get; init; }
        public long SubmittedAtMs { get; init; }
        /// <summary>Past this, the reaper is given up on.</summary>
        public long DeadlineMs { get; init; }
        /// <summary>When the deadline was first seen passed; -1 before.</summary>
        public long OverdueSeenMs = -1;
        public volatile bool Abandoned;
        public long GaveBackDueMs { get; set; }
        /// <summary>The victim's parent's start time (its family for the respawn watch); 0 when it has none to count.</summary>
        public ulong ParentStartTime { get; init; }
        /// <summary>What the kill's consumers were told, kept to add the one-second figure to.</summary>
        public FinishedKill? Finished { get; set; }

        /// <summary>From the episode's first sign (a PSI event, or headroom starting to fall) to SIGKILL: what the operator waits for.</summary>
        public TimeSpan EventToSignal(KillResult r) =>
            Stopwatch.GetElapsedTime(EpisodeStartTimestamp, StartTimestamp) + DecisionToSignal(r);
        public KillResult? Result { get; set; }

        /// <summary>Scan, ranking and hand-over to the reaper, plus the reaper's own time to the signal.</summary>
        public TimeSpan DecisionToSignal(KillResult r) =>
            Stopwatch.GetElapsedTime(StartTimestamp, SubmitTimestamp) + r.TimeToSignal;
    }
}
