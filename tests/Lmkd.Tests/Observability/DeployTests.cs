using System.Text.Json;

namespace Lmkd.Tests.Observability;

/// <summary>deploy/prometheus and deploy/grafana: the rules are valid and behave as their unit tests say; the dashboard queries only series Lmkd exports.</summary>
public class DeployTests
{
    [ToolFact(Tools.Promtool)]
    public void Alert_rules_are_valid()
    {
        var (code, output) = ObservabilityFiles.Promtool(null, ObservabilityFiles.Deploy("prometheus"), "check", "rules", "lmkd-alerts.yml");
        Assert.True(code == 0, output);
        Assert.Contains("4 rules found", output);
    }

    [ToolFact(Tools.Promtool)]
    public void Alert_rules_pass_their_unit_tests()
    {
        var (code, output) = ObservabilityFiles.Promtool(null, ObservabilityFiles.Deploy("prometheus"), "test", "rules", "lmkd-alerts.test.yml");
        Assert.True(code == 0, output);
        Assert.Contains("SUCCESS", output);
    }

    [ToolFact(Tools.Promtool)]
    public void The_example_scrape_configuration_is_valid()
    {
        var (code, output) = ObservabilityFiles.Promtool(null, ObservabilityFiles.Deploy("prometheus"), "check", "config", "prometheus.yml");
        Assert.True(code == 0, output);
    }

    [Fact]
    public void The_alert_rules_query_only_exported_series()
    {
        var names = ObservabilityFiles.MetricNamesIn(File.ReadAllText(ObservabilityFiles.Deploy("prometheus", "lmkd-alerts.yml"))).ToHashSet();
        Assert.Superset(new HashSet<string> { "lmkd_kills_total", "lmkd_loop_last_iteration_age_seconds", "lmkd_reap_kill_expected", "lmkd_reap_kill_supported" }, names);
        AssertAllExported(names, ObservabilityFiles.Expose(MetricsExpositionTests.Driven()));
    }

    /// <summary>Every PromQL text of the dashboard: panel targets and template variable queries.</summary>
    internal static IEnumerable<string> DashboardQueries()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(ObservabilityFiles.Deploy("grafana", "lmkd-dashboard.json")));
        var queries = new List<string>();
        void Walk(JsonElement e)
        {
            if (e.ValueKind == JsonValueKind.Object)
            {
                foreach (var p in e.EnumerateObject())
                {
                    if (p.Name is "expr" or "definition" && p.Value.ValueKind == JsonValueKind.String)
                        queries.Add(p.Value.GetString()!);
                    Walk(p.Value);
                }
            }
            else if (e.ValueKind == JsonValueKind.Array)
            {
                foreach (var item in e.EnumerateArray())
                    Walk(item);
            }
        }
        Walk(doc.RootElement);
        return queries;
    }

    [Fact]
    public void The_dashboard_shows_what_the_issue_asks_for()
    {
        var names = DashboardQueries().SelectMany(ObservabilityFiles.MetricNamesIn).ToHashSet();
        // Kills by reason, memory freed, latencies, pressure and the trigger mode.
        Assert.Superset(new HashSet<string>
        {
            "lmkd_kills_total", "lmkd_killed_rss_bytes_total",
            "lmkd_kill_decision_to_signal_seconds_bucket", "lmkd_kill_signal_to_reap_seconds_bucket", "lmkd_kill_signal_to_exit_seconds_bucket",
            "lmkd_psi_average_percent", "lmkd_psi_stall_seconds_total", "lmkd_psi_trigger_mode",
        }, names);
        Assert.Contains(DashboardQueries(), q => q.Contains("sum by (reason) (increase(lmkd_kills_total", StringComparison.Ordinal));
    }

    [Fact]
    public void The_dashboard_queries_only_exported_series()
    {
        var names = DashboardQueries().SelectMany(ObservabilityFiles.MetricNamesIn).ToHashSet();
        AssertAllExported(names, ObservabilityFiles.Expose(MetricsExpositionTests.Driven()));
    }

    /// <summary>Each name is a sample in the scrape (histograms: name_bucket etc.), not just a declared family.</summary>
    internal static void AssertAllExported(IEnumerable<string> names, string exposition)
    {
        var samples = ObservabilityFiles.SampleNames(exposition);
        var missing = names.Where(n => !samples.Contains(n)).ToList();
        Assert.True(missing.Count == 0, "not in the scrape: " + string.Join(", ", missing));
    }
}
