using System.Globalization;
using System.Runtime.InteropServices;
using Lmkd.Configuration;
using Lmkd.Killing;
using Lmkd.Policies;
using Lmkd.Pressure;
using Prometheus;

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
    private long _lastIterationMs = Environment.TickCount64;

    private readonly Counter _kills, _killedBytes, _skipped, _mrelease, _psiEvents, _wakeups, _wakeupsSkipped, _stallSeconds;
    private readonly Gauge _reapMode, _reapKillSupported, _triggerMode, _psiAvg10, _memAvailable, _memFree, _swapFree, _thrashing,
        _candidates, _ownRss, _locked, _loopAge, _buildInfo, _lastDecisionReason;
    private readonly Histogram _decisionToSignal, _signalToReap, _signalToExit, _scanDuration;
    private readonly Counter.Child _eventsMedium, _eventsCritical, _stallSome, _stallFull;
    private readonly Gauge.Child _avg10Some, _avg10Full;

    public LmkdMetrics()
    {
        var f = Metrics.WithCustomRegistry(Registry);
        // Latencies from tens of microseconds (a decision) to seconds (a large victim's reap).
        double[] latency = Histogram.ExponentialBuckets(0.00005, 2.5, 14);
        _kills = f.CreateCounter("lmkd_kills_total", "Processes killed, by Android lmkd kill reason and oom_score_adj band.",
            new CounterConfiguration { LabelNames = ["reason", "adj_band"] });
        _killedBytes = f.CreateCounter("lmkd_killed_memory_bytes_total", "Resident memory plus swap held by killed processes, as scanned before the kill.",
            new CounterConfiguration { LabelNames = ["reason"] });
        _skipped = f.CreateCounter("lmkd_kills_skipped_total", "Kills decided but not carried out, by why (no_victim, vanished, identity_changed, dry_run, open_failed, signal_failed).",
            new CounterConfiguration { LabelNames = ["why"] });
        _mrelease = f.CreateCounter("lmkd_process_mrelease_total", "process_mrelease outcomes by kill mode and result (ok or the errno name).",
            new CounterConfiguration { LabelNames = ["mode", "result"] });
        _reapMode = f.CreateGauge("lmkd_reap_mode", "The kill mode in use: 1 for the active one (reap-kill, kill-then-reap, kill-only).",
            new GaugeConfiguration { LabelNames = ["mode"] });
        _reapKillSupported = f.CreateGauge("lmkd_reap_kill_supported", "1 when the kernel knows PROCESS_MRELEASE_REAP_KILL (probe at start).");
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
        _psiAvg10 = f.CreateGauge("lmkd_psi_avg10_percent", "PSI avg10 of the watched scope at the last evaluation.",
            new GaugeConfiguration { LabelNames = ["kind"] });
        _stallSeconds = f.CreateCounter("lmkd_psi_stall_seconds_total", "PSI total stall time of the watched scope at the last evaluation.",
            new CounterConfiguration { LabelNames = ["kind"] });
        _memAvailable = f.CreateGauge("lmkd_memory_available_bytes", "Available memory of the watched scope as the policy last saw it.");
        _memFree = f.CreateGauge("lmkd_memory_free_bytes", "Free memory (compared with watermarks) as the policy last saw it.");
        _swapFree = f.CreateGauge("lmkd_swap_free_bytes", "Free swap as the policy last saw it.");
        _thrashing = f.CreateGauge("lmkd_thrashing_percent", "File-cache refaults as a percentage of the file LRU, as the policy last computed it.");
        _lastDecisionReason = f.CreateGauge("lmkd_last_decision_kill", "1 when the last evaluation decided to kill, 0 otherwise.");

        _buildInfo = f.CreateGauge("lmkd_build_info", "Lmkd build: version, .NET runtime, kernel release.",
            new GaugeConfiguration { LabelNames = ["version", "runtime", "kernel"] });
        _scanDuration = f.CreateHistogram("lmkd_scan_duration_seconds", "Time to scan /proc for candidates.",
            new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.0001, 2, 14) });
        _candidates = f.CreateGauge("lmkd_scan_candidates", "Processes seen by the last scan.");
        _ownRss = f.CreateGauge("lmkd_resident_memory_bytes", "Lmkd's own resident memory.");
        _locked = f.CreateGauge("lmkd_memory_locked", "1 when Lmkd's memory is locked (mlockall), from /proc/self/smaps_rollup.");
        _loopAge = f.CreateGauge("lmkd_loop_last_iteration_age_seconds", "Seconds since the monitor loop last went round: grows when the loop is stuck.");

        _eventsMedium = _psiEvents.WithLabels("medium");
        _eventsCritical = _psiEvents.WithLabels("critical");
        _stallSome = _stallSeconds.WithLabels("some");
        _stallFull = _stallSeconds.WithLabels("full");
        _avg10Some = _psiAvg10.WithLabels("some");
        _avg10Full = _psiAvg10.WithLabels("full");
        _wakeupsSkipped.Inc(0);
        foreach (var why in new[] { "no_victim", "vanished", "identity_changed", "dry_run", "open_failed", "signal_failed" })
            _skipped.WithLabels(why).Inc(0);

        _buildInfo.WithLabels(typeof(LmkdMetrics).Assembly.GetName().Version?.ToString(3) ?? "0", RuntimeInformation.FrameworkDescription, KernelRelease()).Set(1);
        Registry.AddBeforeCollectCallback(UpdateSelf);
    }

    public void SetReapMode(ReapMode inUse, ReapMode probed)
    {
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

    public void LoopIteration(long nowMs) => Volatile.Write(ref _lastIterationMs, nowMs);

    public void PressureEvent(PressureLevel level) => (level == PressureLevel.Critical ? _eventsCritical : _eventsMedium).Inc();

    public void SkippedWakeup() => _wakeupsSkipped.Inc();

    public void Observed(in MemorySnapshot m, in PsiSnapshot psi, in KillDecision d)
    {
        _wakeups.Inc();
        _memAvailable.Set(m.AvailableKb * 1024.0);
        _memFree.Set(m.FreeKb * 1024.0);
        _swapFree.Set(m.SwapFreeKb * 1024.0);
        _thrashing.Set(d.ThrashingPct);
        _avg10Some.Set(psi.SomeAvg10);
        _avg10Full.Set(psi.FullAvg10);
        _stallSome.IncTo(psi.SomeTotalUs / 1e6);
        _stallFull.IncTo(psi.FullTotalUs / 1e6);
        _lastDecisionReason.Set(d.ShouldKill ? 1 : 0);
    }

    public void Scanned(int candidates, TimeSpan duration)
    {
        _candidates.Set(candidates);
        _scanDuration.Observe(duration.TotalSeconds);
    }

    public void KillSkipped(string why) => _skipped.WithLabels(why).Inc();

    public void KillDone(in KillDecision d, ProcessInfo victim, KillResult r, TimeSpan decisionToSignal)
    {
        var reason = MonitorLoop.ReasonName(d.Reason);
        switch (r.Outcome)
        {
            case KillOutcome.Killed:
                _kills.WithLabels(reason, AdjBand(victim.OomScoreAdj)).Inc();
                _killedBytes.WithLabels(reason).Inc(victim.WeightBytes);
                _decisionToSignal.Observe(decisionToSignal.TotalSeconds);
                if (r.ReapErrno != KillResult.NotAttempted)
                    _signalToReap.Observe(r.TimeToReap.TotalSeconds);
                if (r.Exited)
                    _signalToExit.Observe(r.TimeToExit.TotalSeconds);
                if (r.ReapErrno != KillResult.NotAttempted)
                    _mrelease.WithLabels(KillModes.Name(r.ModeUsed), r.ReapErrno == 0 ? "ok" : KillResult.ErrnoName(r.ReapErrno)).Inc();
                break;
            case KillOutcome.DryRun: KillSkipped("dry_run"); break;
            case KillOutcome.Vanished: KillSkipped("vanished"); break;
            case KillOutcome.IdentityChanged: KillSkipped("identity_changed"); break;
            case KillOutcome.OpenFailed: KillSkipped("open_failed"); break;
            default: KillSkipped("signal_failed"); break;
        }
    }

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

    private void UpdateSelf()
    {
        _loopAge.Set((Environment.TickCount64 - Volatile.Read(ref _lastIterationMs)) / 1000.0);
        try
        {
            foreach (var line in File.ReadLines("/proc/self/smaps_rollup"))
            {
                if (line.StartsWith("Rss:", StringComparison.Ordinal))
                    _ownRss.Set(ParseKb(line) * 1024.0);
                else if (line.StartsWith("Locked:", StringComparison.Ordinal))
                    _locked.Set(ParseKb(line) > 0 ? 1 : 0);
            }
        }
        catch (IOException)
        {
        }
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
