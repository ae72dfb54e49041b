using System.Diagnostics;
using System.Text.Json;
using Lmkd.Tests.EndToEnd;
using Lmkd.Tests.Pressure;

namespace Lmkd.Tests.Observability;

/// <summary>
/// The whole story with real parts: real memory pressure in a throw-away cgroup, the real daemon scoped to it,
/// and a real Prometheus scraping it every second. The kill appears in the log (decided and done, one kill id)
/// and in Prometheus, and the endpoint keeps answering while the cgroup is under pressure.
/// </summary>
[Collection(RealKernelCollection.Name)]
public class PrometheusEndToEndTests
{
    /// <summary>Larger than what the 256 MiB limit leaves once the grower has grown.</summary>
    private const int ThrashFileMb = 150;

    [PrivilegedFact(Tools.Prometheus, Tools.Promtool)]
    public void A_kill_under_real_pressure_is_logged_and_counted_by_a_real_Prometheus()
    {
        using var cg = TestCgroup.Create("lmkd-obs", 256L << 20);
        int metricsPort = ObservabilityFiles.FreeLoopbackPort();
        string target = $"127.0.0.1:{metricsPort}";
        using var lmkd = LmkdProcess.Start(["run", $"--Lmkd:Scope:Cgroup=/{cg.Name}", $"--Lmkd:Metrics:Listen={target}",
            "--Lmkd:SelfProtection:LockMemory=false"]);
        using var prometheus = PrometheusServer.Start(target);
        Process? grower = null;
        // Re-read by the grower: page-cache thrash keeps the cgroup in reclaim, so PSI stall builds up over the
        // (widened, 2 s) trigger window. Pure anon growth without swap meets the memcg OOM killer first.
        string thrashFile = Path.Combine(Path.GetTempPath(), $"lmkd-obs-thrash-{Environment.ProcessId}");
        try
        {
            // Written from inside the cgroup so its page cache is charged there: the grower's reads then refault.
            using (var writer = cg.StartShell($"dd if=/dev/urandom of='{thrashFile}' bs=1M count={ThrashFileMb}"))
                Assert.True(writer.WaitForExit(30_000) && writer.ExitCode == 0, "could not write the thrash file");
            Assert.True(lmkd.WaitReady(TimeSpan.FromSeconds(20)), "lmkd not ready:\n" + lmkd.Output);
            Assert.True(prometheus.WaitReady(TimeSpan.FromSeconds(20)), "prometheus not ready:\n" + prometheus.Log);
            // Scraped before the pressure: the kill counter is a 0 -> 1 step Prometheus can see.
            Assert.Equal(1, prometheus.WaitForValue("up{job=\"lmkd\"}", v => v == 1, TimeSpan.FromSeconds(15)));

            string hog = $"exec dotnet '{Path.Combine(AppContext.BaseDirectory, "lmkd.dll")}' hog";
            using var cached = cg.StartShell($"{hog} --mb 40 --oom-score-adj 900");
            Thread.Sleep(1500); // the cached hog holds its 40 MiB before the pressure starts
            grower = cg.StartShell($"{hog} --mb 20 --grow-mb 2 --every-ms 100 --max-mb 400 --oom-score-adj 0 --read-file '{thrashFile}'");

            Assert.True(lmkd.WaitFor(p => DoneKills(p).Any(), TimeSpan.FromSeconds(45)),
                $"no kill within 45 s (oom_kill in the cgroup: {cg.OomKillCount()}):\n{lmkd.Output}");
            // One kill is the story: stop the pressure before a second episode starts.
            grower.Kill();
            var done = DoneKills(lmkd).First();

            // The kill event: who, why, how, how fast, and the same kill id as the decision that led to it.
            long killId = done.GetProperty("KillId").GetInt64();
            Assert.Equal(cached.Id, done.GetProperty("Pid").GetInt32());
            Assert.Equal(900, done.GetProperty("OomScoreAdj").GetInt32());
            Assert.Equal(0, done.GetProperty("Uid").GetInt32());
            Assert.EndsWith(cg.Name, done.GetProperty("Cgroup").GetString());
            Assert.False(string.IsNullOrEmpty(done.GetProperty("Comm").GetString()));
            Assert.InRange(done.GetProperty("RssKb").GetInt64(), 35 * 1024, 200 * 1024);
            string reason = done.GetProperty("Reason").GetString()!;
            Assert.Matches("^[A-Z_]+$", reason);
            Assert.NotEqual("NONE", reason);
            Assert.Contains(done.GetProperty("ReapMode").GetString(), new[] { "reap-kill", "kill-then-reap", "kill-only" });
            Assert.False(string.IsNullOrEmpty(done.GetProperty("ReapResult").GetString()));
            Assert.True(done.GetProperty("DecisionToSignalMs").GetDouble() > 0);
            Assert.True(done.GetProperty("SignalToExitMs").GetDouble() > 0);
            Assert.True(done.TryGetProperty("SomeAvg10", out _) && done.TryGetProperty("FullAvg10", out _), done.ToString());
            var decided = Assert.Single(lmkd.EventsLike("Kill {KillId} decided"), e => e.GetProperty("KillId").GetInt64() == killId);
            Assert.Equal(cached.Id, decided.GetProperty("Pid").GetInt32());
            Assert.Equal(reason, decided.GetProperty("Reason").GetString());

            // Prometheus saw it: the counter for that reason reaches the number of kills the log shows for it.
            string query = $"sum(lmkd_kills_total{{job=\"lmkd\",reason=\"{reason}\"}})";
            double seen = prometheus.WaitForValue(query, v => v >= 1, TimeSpan.FromSeconds(15));
            Assert.True(seen >= 1, $"Prometheus shows {seen} for {query}");
            Thread.Sleep(1500); // one more scrape: a second kill racing the grower's end would show here too
            int logged = DoneKills(lmkd).Count(e => e.GetProperty("Reason").GetString() == reason);
            Assert.Equal(logged, prometheus.WaitForValue(query, v => v == logged, TimeSpan.FromSeconds(5)));
            Assert.Equal(1, logged);

            // The endpoint answered every scrape through the pressure, quickly.
            Assert.Equal(1, prometheus.WaitForValue("min_over_time(up{job=\"lmkd\"}[1m])", _ => true, TimeSpan.FromSeconds(5)));
            double slowest = prometheus.WaitForValue("max_over_time(scrape_duration_seconds{job=\"lmkd\"}[1m])", _ => true, TimeSpan.FromSeconds(5));
            Assert.True(slowest < 0.5, $"slowest scrape {slowest} s");

            // A real scrape: promtool accepts it, and it has every series the dashboard and the alerts query.
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            string scrape = http.GetStringAsync($"http://{target}/metrics").GetAwaiter().GetResult();
            var (code, output) = ObservabilityFiles.Promtool(scrape, AppContext.BaseDirectory, "check", "metrics");
            Assert.True(code == 0 && output.Trim().Length == 0, $"promtool check metrics ({code}): {output}");
            DeployTests.AssertAllExported(DeployTests.DashboardQueries().SelectMany(ObservabilityFiles.MetricNamesIn).Distinct(), scrape);
            Assert.Contains($"lmkd_kill_signal_to_exit_seconds_count {logged}", scrape);
            Assert.Contains("lmkd_psi_trigger_mode{mode=", scrape);
        }
        finally
        {
            grower?.Dispose();
            lmkd.Terminate(TimeSpan.FromSeconds(3));
            File.Delete(thrashFile);
        }
    }

    private static IEnumerable<JsonElement> DoneKills(DaemonChild p) =>
        p.EventsLike("Kill {KillId} {Outcome}").Where(e => e.TryGetProperty("Outcome", out var o) && o.GetString() == "done");
}
