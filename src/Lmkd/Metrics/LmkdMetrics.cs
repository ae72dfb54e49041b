using System.Globalization;
using System.Runtime.InteropServices;
using Lmkd.Configuration;
using Lmkd.Hosting;
using Lmkd.Killing;
using Lmkd.Policies;
using Lmkd.Pressure;
using Prometheus;
using Lmkd.Linux;

namespace Lmkd.Daemon;

/// <summary>
/// Every series Lmkd exports, on its own registry (no default process/.NET collectors: they cost
/// memory and threads the daemon should not spend). Writers are the monitor and reaper threads; label
/// children on the hot path are resolved once, so an observation is a few atomic stores.
/// </summary>
public sealed class LmkdMetrics
{
    /// <summary>Longest idle poll: keeps lmkd_loop_last_iteration_age_seconds meaningful when nothing happens.</summary>
    public const int IdleTickMs = 5_000;

    public CollectorRegistry Registry { get; } = Metrics.NewCustomRegistry();
    private long _lastIterationMs = MonotonicClock.NowMs;

    private readonly Counter _kills, _killedRss, _skipped, _mrelease, _psiEvents, _wakeups, _wakeupsSkipped, _stallSeconds, _memoryEvents,
        _faults, _reapersAbandoned, _victimsOutlived, _gaveBack, _respawn;
    private readonly Gauge _reapMode, _reapKillSupported, _reapKillExpected, _triggerMode, _psiAverage, _memAvailable, _memFree, _swapFree, _thrashing,
        _headroom, _fillRate, _exhaustion,
        _candidates, _ownRss, _locked, _loopAge, _buildInfo, _lastDecisionReason;
    private readonly Histogram _decisionToSignal, _signalToReap, _signalToExit, _scanDuration;
    private readonly Counter.Child _eventsMedium, _eventsCritical;
    private readonly Counter _notifyPublished, _notifyDropped, _notifyErrors, _hookRuns, _hookSkipped;
    private readonly Gauge _busConnected;
    private readonly Gauge _psiWindow, _bindingLevel;
    private readonly Gauge.Child _usableSwapDisk, _usableSwapZram;
    private readonly Histogram _hookDuration;
    private readonly Counter _logDropped, _sdNotifyDropped;
    private readonly Gauge _watchdogSuppressed;
    private volatile QueuedLogSink? _logSink;
    private volatile ServiceNotifier? _notifier;
    /// <summary>The watched scope's PSI file, read at scrape time (not by the monitor thread).</summary>
    private volatile string? _pressureFile;

    /// <summary>Why a decided kill was not carried out; every value is exported from the start at 0.</summary>
    public static readonly string[] SkipReasons = ["no_victim", "protected", "vanished", "identity_changed", "dry_run", "open_failed", "signal_failed"];

    /// <summary>The D-Bus signals: kill (org.lmkd.Lmkd1.ProcessKilled) and desktop (net.nuetzlich.SystemNotifications.Notify).</summary>
    public static readonly string[] NotificationSignals = ["kill", "desktop"];
    /// <summary>Why a notification was not sent: the queue was full (bus slow or gone), or the desktop rate limit.</summary>
    public static readonly string[] NotificationDropReasons = ["queue_full", "rate_limited"];
    /// <summary>What failed on the bus: connecting, or a send the bus did not acknowledge in time.</summary>
    public static readonly string[] NotificationErrorOps = ["connect", "send"];
    /// <summary>How a post-kill hook ended.</summary>
    public static readonly string[] HookResults = ["ok", "failed", "timeout", "not_started"];

    public LmkdMetrics()
    {
        var f = Metrics.WithCustomRegistry(Registry);
        // Latencies from tens of microseconds (a decision) to seconds (a large victim's reap).
        double[] latency = Histogram.ExponentialBuckets(0.00005, 2.5, 14);
        _kills = f.CreateCounter("lmkd_kills_total", "Processes killed, by Android lmkd kill reason and oom_score_adj band.",
            new CounterConfiguration { LabelNames = ["reason", "adj_band"] });
        _killedRss = f.CreateCounter("lmkd_killed_rss_bytes_total", "Resident memory the victims held, as scanned just before the kill (what they held, not what came back: see lmkd_kill_gave_back_bytes_total).",
            new CounterConfiguration { LabelNames = ["reason"] });
        _skipped = f.CreateCounter("lmkd_kills_skipped_total",
            "Kills decided but not carried out, by why: no_victim (nothing eligible), protected (only operator-protected processes were in reach), " +
            "vanished, identity_changed (pid reused), dry_run, open_failed, signal_failed.",
            new CounterConfiguration { LabelNames = ["why"] });
        _mrelease = f.CreateCounter("lmkd_process_mrelease_total",
            "process_mrelease calls by kill mode and result (ok or the errno name); mode reap-kill with an errno is a REAP_KILL that fell back to kill-then-reap.",
            new CounterConfiguration { LabelNames = ["mode", "result"] });
        _reapMode = f.CreateGauge("lmkd_reap_mode", "The kill mode in use: 1 for the active one (reap-kill, kill-then-reap, kill-only).",
            new GaugeConfiguration { LabelNames = ["mode"] });
        _reapKillSupported = f.CreateGauge("lmkd_reap_kill_supported", "1 when the kernel knows PROCESS_MRELEASE_REAP_KILL (probe at start).");
        _reapKillExpected = f.CreateGauge("lmkd_reap_kill_expected", "1 when the operator declared this kernel should have REAP_KILL (Lmkd:Metrics:ExpectReapKill); alerts compare it with lmkd_reap_kill_supported.");
        _decisionToSignal = f.CreateHistogram("lmkd_kill_decision_to_signal_seconds", "From the kill decision (scan, ranking, identity check) to SIGKILL.",
            new HistogramConfiguration { Buckets = latency });
        _signalToReap = f.CreateHistogram("lmkd_kill_signal_to_reap_seconds", "From SIGKILL to process_mrelease returning.",
            new HistogramConfiguration { Buckets = latency });
        _signalToExit = f.CreateHistogram("lmkd_kill_signal_to_exit_seconds", "From SIGKILL to the victim's pidfd reporting its exit.",
            new HistogramConfiguration { Buckets = latency });

        _psiEvents = f.CreateCounter("lmkd_psi_events_total", "PSI events (trigger fired or sampled crossing) by level.",
            new CounterConfiguration { LabelNames = ["level"] });
        _triggerMode = f.CreateGauge("lmkd_psi_trigger_mode", "How pressure is watched: 1 for the active mode (trigger, widened_trigger, sampling).",
            new GaugeConfiguration { LabelNames = ["mode"] });
        _wakeups = f.CreateCounter("lmkd_wakeups_total", "Monitor loop evaluations of the memory state.");
        _wakeupsSkipped = f.CreateCounter("lmkd_wakeups_skipped_total", "Pressure events not acted on because a victim was still dying.");
        _faults = f.CreateCounter("lmkd_faults_total", "Faults the daemon outlived, by kind: memory, psi (a failed read), poll, choose, scan (listing or scanning /proc), reaper (the kill path threw), loop.",
            new CounterConfiguration { LabelNames = ["kind"] });
        _respawn = f.CreateCounter("lmkd_respawn_escalations_total", "Respawn loops (workers of one parent killed again and again) and how they were answered: parent (killed instead), cgroup (cgroup.kill), refused (nothing above the worker could be killed).",
            new CounterConfiguration { LabelNames = ["to"] });
        foreach (var to in new[] { EscalationKind.Parent, EscalationKind.Cgroup, EscalationKind.Refused })
            _respawn.WithLabels(EscalationKinds.Name(to));
        _reapersAbandoned = f.CreateCounter("lmkd_reapers_abandoned_total", "Kills whose reaper thread did not come back in time (a process_mrelease or wait stuck): given up on, a spare reaper took over.");
        _victimsOutlived = f.CreateCounter("lmkd_victims_outlived_timeout_total", "Victims still alive Lmkd:Kill:TimeoutMs after the signal (D state, a refused reap): never chosen again while they live.");
        _gaveBack = f.CreateCounter("lmkd_kill_gave_back_bytes_total", "What kills gave back: the fall of the scope's used memory from the decision to one second after the victim's exit (other processes allocate meanwhile).");
        _memoryEvents = f.CreateCounter("lmkd_memory_events_total", "Kernel wake-ups from the scope cgroup's memory: memory.events changes (v2) or the v1 usage threshold crossed.");
        _psiAverage = f.CreateGauge("lmkd_psi_average_percent", "Memory PSI running averages of the watched scope (some/full over 10s, 60s, 300s), read at scrape time.",
            new GaugeConfiguration { LabelNames = ["kind", "window"] });
        _stallSeconds = f.CreateCounter("lmkd_psi_stall_seconds_total", "Memory PSI total stall time of the watched scope (some/full), read at scrape time.",
            new CounterConfiguration { LabelNames = ["kind"] });
        _memAvailable = f.CreateGauge("lmkd_memory_available_bytes", "Available memory of the watched scope as the policy last saw it.");
        _memFree = f.CreateGauge("lmkd_memory_free_bytes", "Free memory (compared with watermarks) as the policy last saw it.");
        _swapFree = f.CreateGauge("lmkd_swap_free_bytes", "Free swap as the policy last saw it.");
        var usable = f.CreateGauge("lmkd_swap_usable_bytes", "Free swap that can still take anonymous pages, by device kind: a disk at face value, zram by what memory can hold compressed.",
            new GaugeConfiguration { LabelNames = ["kind"] });
        _usableSwapDisk = usable.WithLabels("disk");
        _usableSwapZram = usable.WithLabels("zram");
        _bindingLevel = f.CreateGauge("lmkd_headroom_binding_level", "Which level's headroom decides, in a cgroup scope: 0 the scope, N its Nth limited ancestor, -1 the machine around it (always 0 in machine scope).");
        _psiWindow = f.CreateGauge("lmkd_psi_window", "1 while Android's reasons run: a PSI event came and its polling window is open; 0 when only the headroom watch judges.");
        _thrashing = f.CreateGauge("lmkd_thrashing_percent", "File-cache thrashing as the policy last computed it: activated refaults (refaults where the kernel reports no activations) as a percentage of the file LRU.");
        _headroom = f.CreateGauge("lmkd_headroom_bytes", "What the watched scope can still allocate without swapping, as the headroom watch last saw it (MemAvailable; for a cgroup the smallest over it and its ancestors of limit - usage + clean inactive file).");
        _fillRate = f.CreateGauge("lmkd_headroom_fill_rate_bytes_per_second", "How fast headroom falls (0 when steady or rising).");
        _exhaustion = f.CreateGauge("lmkd_headroom_exhaustion_seconds", "At the current fill rate, seconds until headroom is used up; -1 when it is not falling.");
        _lastDecisionReason = f.CreateGauge("lmkd_last_decision_kill", "1 when the last evaluation decided to kill, 0 otherwise.");

        _buildInfo = f.CreateGauge("lmkd_build_info", "Lmkd build: version, .NET runtime, kernel release.",
            new GaugeConfiguration { LabelNames = ["version", "runtime", "kernel"] });
        _scanDuration = f.CreateHistogram("lmkd_scan_duration_seconds", "Time to scan /proc for candidates.",
            new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.0001, 2, 14) });
        _candidates = f.CreateGauge("lmkd_scan_candidates", "Processes seen by the last scan.");
        _ownRss = f.CreateGauge("lmkd_resident_memory_bytes", "Lmkd's own resident memory.");
        _locked = f.CreateGauge("lmkd_memory_locked", "1 when Lmkd's memory is locked (mlockall took effect), else 0.");
        _loopAge = f.CreateGauge("lmkd_loop_last_iteration_age_seconds", "Seconds since the monitor loop last went round: grows when the loop is stuck.");

        _notifyPublished = f.CreateCounter("lmkd_notifications_published_total",
            "D-Bus signals the system bus acknowledged, by signal: kill (org.lmkd.Lmkd1.ProcessKilled), desktop (net.nuetzlich.SystemNotifications.Notify).",
            new CounterConfiguration { LabelNames = ["signal"] });
        _notifyDropped = f.CreateCounter("lmkd_notifications_dropped_total",
            "Kill notifications not sent, by why: queue_full (the bus was slow or gone for longer than the queue holds), rate_limited (desktop notifications over Lmkd:Notify:DesktopBurst).",
            new CounterConfiguration { LabelNames = ["why"] });
        _notifyErrors = f.CreateCounter("lmkd_notifications_errors_total",
            "D-Bus failures, by op: connect (bus absent or not answering), send (a signal not acknowledged in time, or the bus went away).",
            new CounterConfiguration { LabelNames = ["op"] });
        _busConnected = f.CreateGauge("lmkd_notifications_bus_connected", "1 while Lmkd holds a connection to the D-Bus system bus for kill notifications.");
        _hookRuns = f.CreateCounter("lmkd_post_kill_hook_runs_total",
            "Post-kill hook runs by result: ok (exit 0), failed (another exit status or a signal), timeout (killed after Lmkd:Hooks:PostKillTimeoutMs), not_started.",
            new CounterConfiguration { LabelNames = ["result"] });
        _hookSkipped = f.CreateCounter("lmkd_post_kill_hook_skipped_total", "Kills whose post-kill hook was not run because the previous one was still running.");
        _hookDuration = f.CreateHistogram("lmkd_post_kill_hook_duration_seconds", "From starting the post-kill hook to its exit (or to its kill at the timeout).",
            new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.005, 2.5, 12) });
        foreach (var signal in NotificationSignals)
            _notifyPublished.WithLabels(signal);
        foreach (var why in NotificationDropReasons)
            _notifyDropped.WithLabels(why);
        foreach (var op in NotificationErrorOps)
            _notifyErrors.WithLabels(op);
        foreach (var result in HookResults)
            _hookRuns.WithLabels(result);

        _eventsMedium = _psiEvents.WithLabels("medium");
        _eventsCritical = _psiEvents.WithLabels("critical");
        // Children created up front: a series that exists at 0 makes rate() and alerts work before the first event.
        foreach (var kind in new[] { "some", "full" })
        {
            _stallSeconds.WithLabels(kind);
            foreach (var window in new[] { "10s", "60s", "300s" })
                _psiAverage.WithLabels(kind, window);
        }
        foreach (var why in SkipReasons)
            _skipped.WithLabels(why);
        foreach (var kind in FaultKinds)
            _faults.WithLabels(kind);
        // Every reason x band at 0 (72 series): otherwise the first kill of a kind is only the series' first
        // sample, and increase()/rate() (the kills alert, the dashboard) would not count it.
        foreach (var reason in Enum.GetValues<KillReason>())
        {
            if (reason == KillReason.None)
                continue;
            _killedRss.WithLabels(KillReasons.Name(reason));
            foreach (var band in AdjBands)
                _kills.WithLabels(KillReasons.Name(reason), band);
        }

        _logDropped = f.CreateCounter("lmkd_log_events_dropped_total",
            "Log events dropped rather than block the thread that logged them (the log sink was slow), by kind: ordinary, or priority (kill and decision events and errors, dropped only when the whole queue is full).",
            new CounterConfiguration { LabelNames = ["kind"] });
        _sdNotifyDropped = f.CreateCounter("lmkd_notify_dropped_total",
            "sd_notify datagrams (watchdog pings, status) dropped, by why: would_block (systemd not reading), unreachable (its socket refused or gone; reconnected at the next send).",
            new CounterConfiguration { LabelNames = ["why"] });
        _watchdogSuppressed = f.CreateGauge("lmkd_watchdog_suppressed", "1 while the monitor loop stops the watchdog pings on purpose (it cannot do its job), else 0.");
        foreach (var kind in new[] { "ordinary", "priority" })
            _logDropped.WithLabels(kind);
        foreach (var why in new[] { "would_block", "unreachable" })
            _sdNotifyDropped.WithLabels(why);
        Registry.AddBeforeCollectCallback(UpdateHosting);

        _buildInfo.WithLabels(typeof(LmkdMetrics).Assembly.GetName().Version?.ToString(3) ?? "0", RuntimeInformation.FrameworkDescription, KernelRelease()).Set(1);
        Registry.AddBeforeCollectCallback(UpdateSelf);
    }

    public void SetReapMode(ReapMode inUse, ReapMode probed, bool expected = false)
    {
        _reapKillExpected.Set(expected ? 1 : 0);
        foreach (var m in new[] { ReapMode.ReapKill, ReapMode.KillThenReap, ReapMode.KillOnly })
            _reapMode.WithLabels(KillModes.Name(m)).Set(m == inUse ? 1 : 0);
        _reapKillSupported.Set(probed == ReapMode.ReapKill ? 1 : 0);
    }

    public void SetTriggerMode(TriggerMode mode)
    {
        foreach (var m in Enum.GetValues<TriggerMode>())
            _triggerMode.WithLabels(TriggerModeName(m)).Set(m == mode ? 1 : 0);
    }

    public static string TriggerModeName(TriggerMode m) => m switch
    {
        TriggerMode.Trigger => "trigger",
        TriggerMode.WidenedTrigger => "widened_trigger",
        _ => "sampling",
    };

    /// <summary>The PSI file of the watched scope; its averages and totals are read when scraped, so they are current even while the loop idles.</summary>
    public void WatchPressure(string pressureFile) => _pressureFile = pressureFile;

    public void LoopIteration(long nowMs) => Volatile.Write(ref _lastIterationMs, nowMs);

    public void PressureEvent(PressureLevel level) => (level == PressureLevel.Critical ? _eventsCritical : _eventsMedium).Inc();

    public void SkippedWakeup() => _wakeupsSkipped.Inc();

    public void MemoryEvent() => _memoryEvents.Inc();

    /// <summary>Where a fault happened: memory and psi reads, poll, choosing a victim, the scanner thread, the kill path, the loop itself.</summary>
    public static readonly string[] FaultKinds = ["memory", "psi", "poll", "choose", "scan", "reaper", "loop"];

    /// <summary>A fault the loop outlived (a failed read, a scan that threw...), by kind (<see cref="FaultKinds"/>).</summary>
    public void Fault(string kind) => _faults.WithLabels(kind).Inc();

    public void ReaperAbandoned() => _reapersAbandoned.Inc();

    public void RespawnEscalation(EscalationKind kind) => _respawn.WithLabels(EscalationKinds.Name(kind)).Inc();

    public void VictimOutlivedTimeout() => _victimsOutlived.Inc();

    /// <summary>What a kill gave back one second after the victim's exit: the scope's used memory, down.</summary>
    public void GaveBack(long kb) => _gaveBack.Inc(Math.Max(0, kb) * 1024.0);

    public void Observed(in MemorySnapshot m, in KillDecision d, bool inPsiWindow)
    {
        _wakeups.Inc();
        _usableSwapDisk.Set(d.UsableSwap.DiskKb * 1024.0);
        _usableSwapZram.Set(d.UsableSwap.ZramKb * 1024.0);
        _psiWindow.Set(inPsiWindow ? 1 : 0);
        _bindingLevel.Set(m.BindingLevel);
        _memAvailable.Set(m.AvailableKb * 1024.0);
        _memFree.Set(m.FreeKb * 1024.0);
        _swapFree.Set(m.SwapFreeKb * 1024.0);
        _thrashing.Set(d.ThrashingPct);
        var h = d.Headroom;
        _headroom.Set(h.HeadroomKb * 1024.0);
        _fillRate.Set(h.FillRateKbPerSec * 1024.0);
        _exhaustion.Set(h.MsToExhaustion < 0 ? -1 : h.MsToExhaustion / 1000.0);
        _lastDecisionReason.Set(d.ShouldKill ? 1 : 0);
    }

    public void Scanned(int candidates, TimeSpan duration)
    {
        _candidates.Set(candidates);
        _scanDuration.Observe(duration.TotalSeconds);
    }

    public void KillSkipped(string why) => _skipped.WithLabels(why).Inc();

    /// <summary>
    /// The skip reason when a kill found no victim: "protected" when an operator protection is what stood in the way
    /// (a protected process was within the decision's oom_score_adj reach), else "no_victim".
    /// </summary>
    public static string NoVictimReason(RankingResult ranking)
    {
        foreach (var r in ranking.Rejected)
            if (r.Reason is ExclusionReason.ProtectedUid or ExclusionReason.ProtectedExe or ExclusionReason.ProtectedCgroup
                    or ExclusionReason.ExeUnreadable
                && r.Process.OomScoreAdj >= ranking.MinScoreAdj)
                return "protected";
        return "no_victim";
    }

    public void KillDone(in KillDecision d, ProcessInfo victim, KillResult r, TimeSpan decisionToSignal)
    {
        var reason = KillReasons.Name(d.Reason);
        switch (r.Outcome)
        {
            case KillOutcome.Killed:
                _kills.WithLabels(reason, AdjBand(victim.OomScoreAdj)).Inc();
                _killedRss.WithLabels(reason).Inc(victim.RssBytes);
                _decisionToSignal.Observe(decisionToSignal.TotalSeconds);
                if (r.ReapErrno != KillResult.NotAttempted)
                    _signalToReap.Observe(r.TimeToReap.TotalSeconds);
                if (r.Exited)
                    _signalToExit.Observe(r.TimeToExit.TotalSeconds);
                if (r.FallbackErrno != 0)
                    _mrelease.WithLabels(KillModes.Name(ReapMode.ReapKill), Errno.Name(r.FallbackErrno)).Inc();
                if (r.ReapErrno != KillResult.NotAttempted)
                    _mrelease.WithLabels(KillModes.Name(r.ModeUsed), r.ReapErrno == 0 ? "ok" : Errno.Name(r.ReapErrno)).Inc();
                break;
            case KillOutcome.DryRun: KillSkipped("dry_run"); break;
            case KillOutcome.Vanished: KillSkipped("vanished"); break;
            case KillOutcome.IdentityChanged: KillSkipped("identity_changed"); break;
            case KillOutcome.OpenFailed: KillSkipped("open_failed"); break;
            default: KillSkipped("signal_failed"); break;
        }
    }

    public void NotificationPublished(string signal) => _notifyPublished.WithLabels(signal).Inc();
    public void NotificationDropped(string why) => _notifyDropped.WithLabels(why).Inc();
    public void NotificationError(string op) => _notifyErrors.WithLabels(op).Inc();
    public void BusConnected(bool connected) => _busConnected.Set(connected ? 1 : 0);
    public void HookRan(string result, TimeSpan duration)
    {
        _hookRuns.WithLabels(result).Inc();
        if (result != "not_started")
            _hookDuration.Observe(duration.TotalSeconds);
    }
    public void HookSkipped() => _hookSkipped.Inc();

    public static readonly string[] AdjBands = ["900_cached", "800_service_b", "700_previous", "500_service", "200_perceptible", "100_visible", "0_foreground", "negative_system"];

    /// <summary>Bands of oom_score_adj as Android names them, so a dashboard reads "cached" rather than "906".</summary>
    public static string AdjBand(int adj) => adj switch
    {
        >= 900 => "900_cached",
        >= 800 => "800_service_b",
        >= 700 => "700_previous",
        >= 500 => "500_service",
        >= 200 => "200_perceptible",
        >= 100 => "100_visible",
        >= 0 => "0_foreground",
        _ => "negative_system",
    };

    /// <summary>The log queue and the notifier whose counters the scrape reads (either may be null).</summary>
    public void WatchHosting(QueuedLogSink? log, ServiceNotifier? notifier)
    {
        _logSink = log;
        _notifier = notifier;
    }

    private void UpdateHosting()
    {
        if (_logSink is { } log)
        {
            _logDropped.WithLabels("ordinary").IncTo(log.DroppedOrdinary);
            _logDropped.WithLabels("priority").IncTo(log.DroppedPriority);
        }
        if (_notifier is { } n)
        {
            if (n.Socket is { } socket)
            {
                _sdNotifyDropped.WithLabels("would_block").IncTo(socket.WouldBlock);
                _sdNotifyDropped.WithLabels("unreachable").IncTo(socket.Unreachable);
            }
            _watchdogSuppressed.Set(n.WatchdogSuppressedBecause is null ? 0 : 1);
        }
    }

    /// <summary>Runs on the scrape thread before each collection; the monitor thread never waits for it.</summary>
    private void UpdateSelf()
    {
        _loopAge.Set(Math.Max(0, MonotonicClock.NowMs - Volatile.Read(ref _lastIterationMs)) / 1000.0);
        // /proc/self/status, not smaps_rollup: the latter walks every mapping under the mmap lock the
        // monitor thread may need. VmLck is the locked virtual size: enough to say whether mlockall took effect.
        foreach (var line in ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                _ownRss.Set(ParseKb(line) * 1024.0);
            else if (line.StartsWith("VmLck:", StringComparison.Ordinal))
                _locked.Set(ParseKb(line) > 0 ? 1 : 0);
        }
        if (_pressureFile is { } pressure)
            UpdatePressure(ReadLines(pressure));
    }

    /// <summary>Lines of a PSI file: "some avg10=0.12 avg60=0.05 avg300=0.01 total=123456" (total in microseconds).</summary>
    internal void UpdatePressure(IEnumerable<string> lines)
    {
        foreach (var line in lines)
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 2 || fields[0] is not ("some" or "full"))
                continue;
            foreach (var field in fields.AsSpan(1))
            {
                int eq = field.IndexOf('=');
                if (eq <= 0 || !double.TryParse(field.AsSpan(eq + 1), NumberStyles.Float, CultureInfo.InvariantCulture, out double value))
                    continue;
                switch (field[..eq])
                {
                    case "avg10": _psiAverage.WithLabels(fields[0], "10s").Set(value); break;
                    case "avg60": _psiAverage.WithLabels(fields[0], "60s").Set(value); break;
                    case "avg300": _psiAverage.WithLabels(fields[0], "300s").Set(value); break;
                    case "total": _stallSeconds.WithLabels(fields[0]).IncTo(value / 1e6); break;
                }
            }
        }
    }

    /// <summary>A file's lines, or none when it cannot be read (a removed cgroup gives ENODEV): a scrape never fails on it.</summary>
    private static string[] ReadLines(string path)
    {
        try { return File.ReadAllLines(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return []; }
    }

    private static long ParseKb(string line)
    {
        var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return parts.Length >= 2 && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var kb) ? kb : 0;
    }

    private static string KernelRelease()
    {
        try { return File.ReadAllText("/proc/sys/kernel/osrelease").Trim(); }
        catch (IOException) { return "unknown"; }
    }
}
