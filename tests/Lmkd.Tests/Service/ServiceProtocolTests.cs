using System.Text.Json;
using Lmkd.Tests.EndToEnd;

namespace Lmkd.Tests.Service;

/// <summary>
/// The real daemon (JIT, or the native binary named by $LMKD_BINARY) under a test notify socket, in
/// dry run over the whole machine: it reads PSI and /proc but never signals anything.
/// </summary>
public sealed class ServiceProtocolTests : IDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(20);
    /// <summary>A SIGHUP's handler runs on the thread pool (PosixSignalRegistration): on a loaded CI host it can wait its turn.</summary>
    internal static readonly TimeSpan SignalTimeout = TimeSpan.FromSeconds(15);
    private readonly NotifySocket _notify = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("lmkd-service-").FullName;

    private DaemonChild Start(string configFile, long watchdogUsec = 0, params string[] switches)
    {
        var env = new Dictionary<string, string> { ["NOTIFY_SOCKET"] = _notify.Path };
        if (watchdogUsec > 0)
            env["WATCHDOG_USEC"] = watchdogUsec.ToString(System.Globalization.CultureInfo.InvariantCulture);
        // Metrics off: parallel tests must not compete for the port.
        return LmkdProcess.Start(["run", "--config", configFile, "--Lmkd:Metrics:Enabled=false", .. switches], env);
    }

    private string WriteConfig(string name, string json)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, json);
        return path;
    }

    private static string Config(bool dryRun, string level = "Information", int timeoutMs = 1000) => $$"""
        { "Lmkd": { "DryRun": {{(dryRun ? "true" : "false")}}, "Kill": { "TimeoutMs": {{timeoutMs}} }, "Log": { "Level": "{{level}}" } } }
        """;

    [PrivilegedFact]
    public void Ready_after_arming_then_watchdog_pings_then_stopping_and_a_clean_exit_within_a_second()
    {
        var config = WriteConfig("appsettings.json", Config(dryRun: true));
        using var lmkd = Start(config, watchdogUsec: 1_000_000);

        var ready = _notify.WaitFor("READY=1", StartTimeout);
        Assert.True(ready is not null, "no READY=1; output:\n" + lmkd.Output);
        var lines = ready.Value.Message.Split('\n');
        Assert.Contains($"MAINPID={lmkd.Pid}", lines);
        // The status is written after the monitor armed its PSI triggers (or chose sampling): it names the mode.
        Assert.Contains(lines, l => l.StartsWith("STATUS=watching whole machine", StringComparison.Ordinal) && l.Contains(", PSI ", StringComparison.Ordinal));
        Assert.True(lmkd.WaitFor(p => p.EventsLike("Watching").Any(), TimeSpan.FromSeconds(5)), lmkd.Output);
        // READY is the first thing the daemon says: nothing (no early ping) before it.
        Assert.Equal(ready.Value.Message, _notify.Seen[0].Message);

        // WATCHDOG_USEC=1 s: a ping every 0.5 s from the monitor loop.
        var first = _notify.WaitFor("WATCHDOG=1", TimeSpan.FromSeconds(3));
        Assert.True(first is not null, "no watchdog ping; output:\n" + lmkd.Output);
        Thread.Sleep(2000);
        var pings = _notify.Seen.Where(m => m.Message == "WATCHDOG=1").Select(m => m.At).ToList();
        Assert.True(pings.Count >= 4, $"{pings.Count} pings in ~2 s");
        var gaps = pings.Zip(pings.Skip(1), (a, b) => (b - a).TotalMilliseconds).ToList();
        Assert.True(gaps.Max() < 900, "a gap between pings came close to the 1 s watchdog: " + string.Join(", ", gaps.Select(g => g.ToString("F0"))));

        var exit = lmkd.Terminate(TimeSpan.FromSeconds(5));
        Assert.NotNull(_notify.WaitFor("STOPPING=1", TimeSpan.FromSeconds(1)));
        Assert.True(exit < TimeSpan.FromSeconds(1), $"exit took {exit.TotalMilliseconds:F0} ms");
        Assert.Equal(0, lmkd.ExitCode);
    }

    [PrivilegedFact]
    public void Startup_reports_every_self_protection_result_in_one_line()
    {
        var config = WriteConfig("appsettings.json", Config(dryRun: true));
        using var lmkd = Start(config, 0, "--Lmkd:SelfProtection:RealtimePriority=1");
        Assert.True(lmkd.WaitFor(p => p.EventsLike("Self-protection").Any(), StartTimeout), lmkd.Output);
        var line = Assert.Single(lmkd.EventsLike("Self-protection"));
        foreach (var property in new[] { "OomScoreAdj", "MemoryLock", "ThreadPriority", "MissingCapabilities" })
            Assert.True(line.TryGetProperty(property, out var v) && v.GetString() is { Length: > 0 }, $"{property} missing in {line}");
        // This machine lacks CAP_SYS_RESOURCE; the line must say so and what it costs.
        if (!HasCapability(24))
            Assert.Contains("CAP_SYS_RESOURCE: PSI trigger windows", line.GetProperty("MissingCapabilities").GetString());
        // The monitor thread's result is in the same line, not logged on its own.
        Assert.Empty(lmkd.EventsLike("Monitor thread started"));
        if (HasCapability(23)) // CAP_SYS_NICE: the monitor thread, and only it, runs SCHED_FIFO 1
        {
            Assert.Equal("SCHED_FIFO 1", line.GetProperty("ThreadPriority").GetString());
            foreach (var task in Directory.EnumerateDirectories($"/proc/{lmkd.Pid}/task"))
            {
                var comm = File.ReadAllText(Path.Combine(task, "comm")).Trim();
                var stat = File.ReadAllText(Path.Combine(task, "stat"));
                int policy = int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[38], System.Globalization.CultureInfo.InvariantCulture);
                Assert.True(comm == "lmkd-monitor" ? policy == 1 : policy == 0, $"thread {comm}: policy {policy}");
            }
        }
    }

    [PrivilegedFact]
    public void Reload_with_a_valid_file_applies_it_in_place_and_an_invalid_one_keeps_the_running_configuration()
    {
        // Start quiet (Warning) in dry run; the reload turns dry run off and Information on.
        var config = WriteConfig("appsettings.json", Config(dryRun: true, level: "Warning"));
        using var lmkd = Start(config);
        Assert.True(_notify.WaitFor("READY=1", StartTimeout) is not null, lmkd.Output);
        Assert.Empty(lmkd.EventsLike("Lmkd ready")); // Information is off

        File.WriteAllText(config, Config(dryRun: false, level: "Information"));
        lmkd.Signal(1); // SIGHUP
        Assert.NotNull(_notify.WaitFor("RELOADING=1", SignalTimeout));
        Assert.NotNull(_notify.WaitFor("READY=1", SignalTimeout));
        Assert.True(lmkd.WaitFor(p => p.EventsLike("Configuration reloaded").Any(), TimeSpan.FromSeconds(5)), lmkd.Output);
        var reloaded = Assert.Single(lmkd.EventsLike("Configuration reloaded"));
        Assert.False(reloaded.GetProperty("DryRun").GetBoolean());
        Assert.False(lmkd.HasExited);

        // An invalid value: refused by key, the process goes on with the last good options.
        File.WriteAllText(config, Config(dryRun: true, level: "Information", timeoutMs: -5));
        lmkd.Signal(1);
        Assert.NotNull(_notify.WaitFor("RELOADING=1", SignalTimeout));
        Assert.NotNull(_notify.WaitFor("READY=1", SignalTimeout));
        Assert.True(lmkd.WaitFor(p => p.EventsLike("Reload refused").Any(), TimeSpan.FromSeconds(5)), lmkd.Output);
        var refused = lmkd.EventsLike("Reload refused").First();
        Assert.Equal("Lmkd:Kill:TimeoutMs", refused.GetProperty("Key").GetString());
        Assert.Equal("Error", refused.GetProperty("@l").GetString());
        Assert.Single(lmkd.EventsLike("Configuration reloaded"));

        // A file that is not JSON at all: refused too.
        File.WriteAllText(config, "{ \"Lmkd\": { \"DryRun\": ");
        lmkd.Signal(1);
        Assert.True(lmkd.WaitFor(p => p.EventsLike("Reload refused").Count() >= 2, TimeSpan.FromSeconds(5)), lmkd.Output);

        // Still running on the last good configuration (dry run off), and a good file is taken again.
        File.WriteAllText(config, Config(dryRun: false, level: "Information", timeoutMs: 800));
        lmkd.Signal(1);
        Assert.True(lmkd.WaitFor(p => p.EventsLike("Configuration reloaded").Count() == 2, TimeSpan.FromSeconds(5)), lmkd.Output);
        Assert.False(lmkd.HasExited);
        var exit = lmkd.Terminate(TimeSpan.FromSeconds(5));
        Assert.Equal(0, lmkd.ExitCode);
        Assert.True(exit < TimeSpan.FromSeconds(1), $"exit took {exit.TotalMilliseconds:F0} ms");
    }

    private static bool HasCapability(int bit)
    {
        var eff = File.ReadLines("/proc/self/status").First(l => l.StartsWith("CapEff:", StringComparison.Ordinal))[7..].Trim();
        return (Convert.ToUInt64(eff, 16) & (1UL << bit)) != 0;
    }

    public void Dispose()
    {
        _notify.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}
