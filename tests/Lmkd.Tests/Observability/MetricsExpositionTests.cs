using Lmkd.Configuration;
using Lmkd.Daemon;
using Lmkd.Killing;
using Lmkd.Linux;
using Lmkd.Policies;
using Lmkd.Pressure;

namespace Lmkd.Tests.Observability;

/// <summary>The registry serialised as /metrics serves it: every series of the issue is there, named as Prometheus asks.</summary>
public class MetricsExpositionTests
{
    /// <summary>Each series the issue asks for, with its type. Units are in the names (_seconds, _bytes, _percent).</summary>
    public static readonly Dictionary<string, string> Expected = new()
    {
        ["lmkd_kills_total"] = "counter",
        ["lmkd_killed_rss_bytes_total"] = "counter",
        ["lmkd_kills_skipped_total"] = "counter",
        ["lmkd_process_mrelease_total"] = "counter",
        ["lmkd_reap_mode"] = "gauge",
        ["lmkd_reap_kill_supported"] = "gauge",
        ["lmkd_reap_kill_expected"] = "gauge",
        ["lmkd_kill_decision_to_signal_seconds"] = "histogram",
        ["lmkd_kill_signal_to_reap_seconds"] = "histogram",
        ["lmkd_kill_signal_to_exit_seconds"] = "histogram",
        ["lmkd_psi_events_total"] = "counter",
        ["lmkd_psi_trigger_mode"] = "gauge",
        ["lmkd_wakeups_total"] = "counter",
        ["lmkd_wakeups_skipped_total"] = "counter",
        ["lmkd_psi_average_percent"] = "gauge",
        ["lmkd_psi_stall_seconds_total"] = "counter",
        ["lmkd_memory_available_bytes"] = "gauge",
        ["lmkd_memory_free_bytes"] = "gauge",
        ["lmkd_swap_free_bytes"] = "gauge",
        ["lmkd_thrashing_percent"] = "gauge",
        ["lmkd_last_decision_kill"] = "gauge",
        ["lmkd_build_info"] = "gauge",
        ["lmkd_scan_duration_seconds"] = "histogram",
        ["lmkd_scan_candidates"] = "gauge",
        ["lmkd_resident_memory_bytes"] = "gauge",
        ["lmkd_memory_locked"] = "gauge",
        ["lmkd_loop_last_iteration_age_seconds"] = "gauge",
        ["lmkd_notifications_published_total"] = "counter",
        ["lmkd_notifications_dropped_total"] = "counter",
        ["lmkd_notifications_errors_total"] = "counter",
        ["lmkd_notifications_bus_connected"] = "gauge",
        ["lmkd_post_kill_hook_runs_total"] = "counter",
        ["lmkd_post_kill_hook_skipped_total"] = "counter",
        ["lmkd_post_kill_hook_duration_seconds"] = "histogram",
        ["lmkd_log_events_dropped_total"] = "counter",
        ["lmkd_notify_dropped_total"] = "counter",
        ["lmkd_watchdog_suppressed"] = "gauge",
    };

    private static readonly ProcessInfo Victim = new()
    {
        Pid = 4242, StartTime = 1, Comm = "hog", OomScoreAdj = 905, RssAnonBytes = 40L << 20, CgroupPath = "/t",
    };

    /// <summary>Metrics after one real-shaped episode: an event, an evaluation, a scan, a kill whose REAP_KILL fell back.</summary>
    internal static LmkdMetrics Driven()
    {
        var m = new LmkdMetrics();
        m.SetReapMode(ReapMode.KillThenReap, ReapMode.KillThenReap, expected: true);
        m.SetTriggerMode(TriggerMode.WidenedTrigger);
        m.LoopIteration(MonotonicClock.NowMs);
        m.PressureEvent(PressureLevel.Critical);
        var decision = new KillDecision { Reason = KillReason.LowMemAndThrashing, MinScoreAdj = 200, ThrashingPct = 120 };
        m.Observed(new MemorySnapshot { FreeKb = 1000, AvailableKb = 2000, SwapFreeKb = 0 }, decision, inPsiWindow: false);
        m.Scanned(12, TimeSpan.FromMilliseconds(3));
        m.KillDone(decision, Victim, new KillResult
        {
            Victim = Victim, Outcome = KillOutcome.Killed, ModeUsed = ReapMode.KillThenReap,
            FallbackErrno = 16 /* EBUSY */, FallbackReason = "EBUSY", SignalErrno = 0, ReapErrno = 0, Exited = true,
            TimeToSignal = TimeSpan.FromMilliseconds(0.2), TimeToReap = TimeSpan.FromMilliseconds(5), TimeToExit = TimeSpan.FromMilliseconds(7),
        }, TimeSpan.FromMilliseconds(1.5));
        m.SkippedWakeup();
        return m;
    }

    [Fact]
    public void Every_expected_series_is_exposed_with_its_type()
    {
        var families = ObservabilityFiles.Families(ObservabilityFiles.Expose(Driven()));
        foreach (var (name, type) in Expected)
        {
            Assert.True(families.TryGetValue(name, out var got), $"{name} missing from /metrics");
            Assert.Equal(type, got);
        }
        Assert.All(families.Keys, n => Assert.StartsWith("lmkd_", n));
    }

    [Fact]
    public void Names_follow_the_conventions_counters_total_units_in_names()
    {
        foreach (var (name, type) in ObservabilityFiles.Families(ObservabilityFiles.Expose(Driven())))
        {
            Assert.Equal(type == "counter", name.EndsWith("_total", StringComparison.Ordinal));
            if (type == "histogram")
                Assert.EndsWith("_seconds", name);
            // Base units only: seconds and bytes, never milliseconds or kilobytes.
            Assert.DoesNotContain("_ms", name);
            Assert.DoesNotContain("_kb", name);
            Assert.DoesNotContain("milli", name);
        }
    }

    [Fact]
    public void Series_exist_at_zero_before_anything_happens()
    {
        var text = ObservabilityFiles.Expose(new LmkdMetrics());
        // rate() and the alerts need a 0 sample before the first kill of each reason and band.
        Assert.Contains("lmkd_kills_total{reason=\"LOW_MEM\",adj_band=\"900_cached\"} 0", text);
        Assert.Contains("lmkd_killed_rss_bytes_total{reason=\"PRESSURE_AFTER_KILL\"} 0", text);
        foreach (var why in LmkdMetrics.SkipReasons)
            Assert.Contains($"lmkd_kills_skipped_total{{why=\"{why}\"}} 0", text);
        Assert.Contains("lmkd_psi_average_percent{kind=\"full\",window=\"300s\"} 0", text);
        foreach (var signal in LmkdMetrics.NotificationSignals)
            Assert.Contains($"lmkd_notifications_published_total{{signal=\"{signal}\"}} 0", text);
        foreach (var why in LmkdMetrics.NotificationDropReasons)
            Assert.Contains($"lmkd_notifications_dropped_total{{why=\"{why}\"}} 0", text);
        foreach (var op in LmkdMetrics.NotificationErrorOps)
            Assert.Contains($"lmkd_notifications_errors_total{{op=\"{op}\"}} 0", text);
        foreach (var result in LmkdMetrics.HookResults)
            Assert.Contains($"lmkd_post_kill_hook_runs_total{{result=\"{result}\"}} 0", text);
        Assert.DoesNotContain("reason=\"NONE\"", text);
    }

    [Fact]
    public void A_kill_is_counted_by_reason_band_memory_mode_and_latency()
    {
        var text = ObservabilityFiles.Expose(Driven());
        Assert.Contains("lmkd_kills_total{reason=\"LOW_MEM_AND_THRASHING\",adj_band=\"900_cached\"} 1", text);
        Assert.Contains($"lmkd_killed_rss_bytes_total{{reason=\"LOW_MEM_AND_THRASHING\"}} {40L << 20}", text);
        Assert.Contains("lmkd_process_mrelease_total{mode=\"reap-kill\",result=\"EBUSY\"} 1", text);
        Assert.Contains("lmkd_process_mrelease_total{mode=\"kill-then-reap\",result=\"ok\"} 1", text);
        Assert.Contains("lmkd_kill_decision_to_signal_seconds_count 1", text);
        Assert.Contains("lmkd_kill_signal_to_reap_seconds_count 1", text);
        Assert.Contains("lmkd_kill_signal_to_exit_seconds_count 1", text);
        Assert.Contains("lmkd_psi_events_total{level=\"critical\"} 1", text);
        Assert.Contains("lmkd_wakeups_skipped_total 1", text);
        Assert.Contains("lmkd_memory_available_bytes 2048000", text);
        Assert.Contains("lmkd_thrashing_percent 120", text);
        Assert.Contains("lmkd_reap_mode{mode=\"kill-then-reap\"} 1", text);
        Assert.Contains("lmkd_reap_kill_expected 1", text);
        Assert.Contains("lmkd_psi_trigger_mode{mode=\"widened_trigger\"} 1", text);
        Assert.Contains("lmkd_scan_candidates 12", text);
    }

    [Theory]
    [InlineData(KillOutcome.DryRun, "dry_run")]
    [InlineData(KillOutcome.Vanished, "vanished")]
    [InlineData(KillOutcome.IdentityChanged, "identity_changed")]
    [InlineData(KillOutcome.OpenFailed, "open_failed")]
    [InlineData(KillOutcome.SignalFailed, "signal_failed")]
    public void A_kill_not_carried_out_is_counted_by_why_and_not_as_a_kill(KillOutcome outcome, string why)
    {
        var m = new LmkdMetrics();
        var d = new KillDecision { Reason = KillReason.LowMem };
        m.KillDone(d, Victim, new KillResult { Victim = Victim, Outcome = outcome, ModeUsed = ReapMode.KillOnly }, TimeSpan.Zero);
        var text = ObservabilityFiles.Expose(m);
        Assert.Contains($"lmkd_kills_skipped_total{{why=\"{why}\"}} 1", text);
        Assert.DoesNotContain("lmkd_kills_total{reason=\"LOW_MEM\",adj_band=\"900_cached\"} 1", text);
        Assert.Contains("lmkd_kill_decision_to_signal_seconds_count 0", text);
    }

    [Fact]
    public void No_victim_is_protected_only_when_a_protection_stood_in_the_way()
    {
        ProcessInfo P(int pid, int adj, uint uid) => new() { Pid = pid, StartTime = 1, OomScoreAdj = adj, Uid = uid, RssAnonBytes = 1 << 20 };
        var rules = new RankingRules { ProtectedUids = [7] };
        // Protected and within reach: the protection is why nobody died.
        Assert.Equal("protected", LmkdMetrics.NoVictimReason(VictimRanking.Rank([P(10, 500, 7), P(11, 0, 0)], 200, rules, 1)));
        // Protected but out of reach anyway: there was simply nothing eligible.
        Assert.Equal("no_victim", LmkdMetrics.NoVictimReason(VictimRanking.Rank([P(10, 100, 7), P(11, 0, 0)], 200, rules, 1)));
        Assert.Equal("no_victim", LmkdMetrics.NoVictimReason(VictimRanking.Rank([], 0, rules, 1)));
    }

    [Fact]
    public void Pressure_is_read_from_the_scope_file_at_scrape_time()
    {
        var m = new LmkdMetrics();
        m.UpdatePressure([
            "some avg10=1.50 avg60=0.75 avg300=0.10 total=2500000",
            "full avg10=0.40 avg60=0.20 avg300=0.05 total=1000000",
        ]);
        var text = ObservabilityFiles.Expose(m);
        Assert.Contains("lmkd_psi_average_percent{kind=\"some\",window=\"10s\"} 1.5", text);
        Assert.Contains("lmkd_psi_average_percent{kind=\"full\",window=\"60s\"} 0.2", text);
        Assert.Contains("lmkd_psi_stall_seconds_total{kind=\"some\"} 2.5", text);
        Assert.Contains("lmkd_psi_stall_seconds_total{kind=\"full\"} 1", text);
        // A removed cgroup or truncated file never breaks a scrape.
        m.UpdatePressure(["some avg10=x", "garbage", ""]);
        Assert.Contains("lmkd_psi_stall_seconds_total{kind=\"some\"} 2.5", ObservabilityFiles.Expose(m));
    }

    [Fact]
    public void The_daemon_reports_its_own_memory_and_loop_age()
    {
        var m = new LmkdMetrics();
        m.LoopIteration(MonotonicClock.NowMs - 3_000);
        var samples = ObservabilityFiles.Expose(m).Split('\n');
        double Value(string name) => double.Parse(samples.Single(l => l.StartsWith(name + " ", StringComparison.Ordinal)).Split(' ')[1],
            System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(Value("lmkd_loop_last_iteration_age_seconds"), 2.9, 60);
        Assert.True(Value("lmkd_resident_memory_bytes") > 1 << 20);
        Assert.Contains(samples, l => l.StartsWith("lmkd_build_info{version=", StringComparison.Ordinal) && l.Contains("kernel=\"" + File.ReadAllText("/proc/sys/kernel/osrelease").Trim() + "\""));
    }

    /// <summary>deploy/prometheus/README.md's table of series names every family /metrics serves, and nothing else.</summary>
    [Fact]
    public void The_series_table_of_the_prometheus_readme_is_what_is_exported()
    {
        var readme = File.ReadAllText(ObservabilityFiles.Deploy("prometheus", "README.md"));
        int start = readme.IndexOf("## The series", StringComparison.Ordinal);
        Assert.True(start >= 0, "no '## The series' section");
        int end = readme.IndexOf("\n## ", start + 1, StringComparison.Ordinal);
        var documented = ObservabilityFiles.MetricNamesIn(readme[start..(end < 0 ? readme.Length : end)]).ToHashSet();
        var exported = ObservabilityFiles.Families(ObservabilityFiles.Expose(Driven())).Keys.ToHashSet();
        Assert.Empty(exported.Except(documented));
        Assert.Empty(documented.Except(exported));
    }

    [Fact]
    public void Log_drops_notify_drops_and_a_suppressed_watchdog_are_read_at_scrape_time()
    {
        var m = new LmkdMetrics();
        Assert.Contains("lmkd_log_events_dropped_total{kind=\"ordinary\"} 0", ObservabilityFiles.Expose(m));
        var sink = new Lmkd.Hosting.QueuedLogSink(new Serilog.Formatting.Display.MessageTemplateTextFormatter("{Message}"), TextWriter.Null);
        sink.Dispose();
        // Events after the sink closed are dropped and counted like any other drop.
        var template = new Serilog.Parsing.MessageTemplateParser();
        sink.Emit(new Serilog.Events.LogEvent(DateTimeOffset.Now, Serilog.Events.LogEventLevel.Information, null, template.Parse("x"), []));
        sink.Emit(new Serilog.Events.LogEvent(DateTimeOffset.Now, Serilog.Events.LogEventLevel.Information, null, template.Parse("Kill {KillId} done"), []));
        sink.Emit(new Serilog.Events.LogEvent(DateTimeOffset.Now, Serilog.Events.LogEventLevel.Information, null, template.Parse("y"), []));
        using var notifier = Lmkd.Hosting.ServiceNotifier.ForSocket(Lmkd.Hosting.SdNotifySocket.Create("/nonexistent/lmkd-notify"), 0);
        notifier.Ready("x"); // nobody there: unreachable
        notifier.SuppressWatchdog("blind"); // a STATUS line, unreachable too
        m.WatchHosting(sink, notifier);

        var text = ObservabilityFiles.Expose(m);
        Assert.Contains("lmkd_log_events_dropped_total{kind=\"ordinary\"} 2", text);
        Assert.Contains("lmkd_log_events_dropped_total{kind=\"priority\"} 1", text);
        Assert.Contains("lmkd_notify_dropped_total{why=\"unreachable\"} 2", text);
        Assert.Contains("lmkd_notify_dropped_total{why=\"would_block\"} 0", text);
        Assert.Contains("lmkd_watchdog_suppressed 1", text);
        notifier.ResumeWatchdog();
        Assert.Contains("lmkd_watchdog_suppressed 0", ObservabilityFiles.Expose(m));
    }

    [ToolFact(Tools.Promtool)]
    public void Promtool_accepts_the_exposition()
    {
        var (code, output) = ObservabilityFiles.Promtool(ObservabilityFiles.Expose(Driven()), AppContext.BaseDirectory, "check", "metrics");
        Assert.True(code == 0 && output.Trim().Length == 0, $"promtool check metrics ({code}): {output}");
    }

    [Theory]
    [InlineData("127.0.0.1:9469", false, null)]
    [InlineData("[::1]:9469", false, null)]
    [InlineData("10.1.2.3:9469", false, "AllowNonLoopback")]
    [InlineData("10.1.2.3:9469", true, null)]
    [InlineData("localhost:9469", false, "must be an IP address and port")]
    [InlineData("127.0.0.1", false, "must be an IP address and port")]
    [InlineData("127.0.0.1:0", false, "must be an IP address and port")]
    public void Listen_is_validated_by_key(string listen, bool allowNonLoopback, string? error)
    {
        var o = new LmkdOptions { Metrics = { Listen = listen, AllowNonLoopback = allowNonLoopback } };
        o.Psi.Levels = PsiOptions.DefaultLevels();
        var errors = LmkdOptionsValidator.Validate(o);
        if (error is null)
            Assert.Empty(errors);
        else
            Assert.Contains(errors, e => e.Key == "Lmkd:Metrics:Listen" && e.Message.Contains(error));
        // Disabled metrics need no valid address.
        o.Metrics.Enabled = false;
        Assert.Empty(LmkdOptionsValidator.Validate(o));
    }
}
