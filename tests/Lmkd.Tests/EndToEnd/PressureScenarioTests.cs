using System.Diagnostics;
using System.Text.Json;
using Lmkd.Cli;
using Xunit.Abstractions;

namespace Lmkd.Tests.EndToEnd;

/// <summary>
/// The real daemon, run as an operator runs it, scoped to a memory-limited cgroup that the test
/// makes and removes: the only place on a shared machine where real pressure is safe.
/// </summary>
[Collection(RealKernelCollection.Name)]
[Trait("Category", "EndToEnd")]
public sealed class PressureScenarioTests(ITestOutputHelper output) : IDisposable
{
    private readonly List<IDisposable> _cleanup = [];

    private const long LimitBytes = 384L << 20;
    // Larger than what the limit leaves once the hog has grown: re-reading it thrashes the page cache.
    private const int ThrashFileMb = 200;

    [PrivilegedFact]
    public void Kills_background_processes_heaviest_first_then_the_hog_and_never_the_protected_one_before_the_kernel_OOM_killer()
    {
        var cg = Track(TestCgroup.Create("lmkd-e2e", LimitBytes));
        var protectedCg = cg.Child("protected");
        string file = ThrashFile(cg);
        using var lmkd = StartDaemon(cg, "--Lmkd:Protect:Cgroups:0=" + protectedCg.RelativePath);

        // -500 needs CAP_SYS_RESOURCE (lowering oom_score_adj); where it is missing the protection rule alone guards it.
        bool canLower = HasCapSysResource();
        var guarded = Track(Workload.Start(protectedCg, "protected", canLower ? "--mb 60 --oom-score-adj -500" : "--mb 60"));
        var bgSmall = Track(Workload.Start(cg, "background-40", "--mb 40 --oom-score-adj 900"));
        var bgLarge = Track(Workload.Start(cg, "background-60", "--mb 60 --oom-score-adj 900"));
        var hog = Track(Workload.Start(cg, "hog", $"--mb 20 --grow-mb 2 --every-ms 100 --max-mb 2000 --oom-score-adj 0 --read-file {SelfCommand.Quote(file)} --readers 2"));
        output.WriteLine($"protected {guarded.Pid} (oom_score_adj {(canLower ? -500 : 0)}, cgroup {protectedCg.RelativePath}), background {bgLarge.Pid} (60 MiB) and {bgSmall.Pid} (40 MiB) at 900, hog {hog.Pid} at 0");

        bool hogDead = lmkd.WaitFor(_ => !hog.IsAlive, TimeSpan.FromSeconds(90));
        Thread.Sleep(500); // let the last kill event reach the log
        Report(lmkd, cg);

        Assert.True(hogDead, "the growing hog was never killed");
        Assert.Equal(0, cg.OomKillCount());
        var kills = KillsDone(lmkd);
        Assert.Equal([bgLarge.Pid, bgSmall.Pid, hog.Pid], kills.Select(k => k.Pid).ToArray());
        Assert.All(kills, k => Assert.False(string.IsNullOrEmpty(k.Reason)));
        // Each kill event names the reap mode, the one the start-up probe chose.
        string probed = lmkd.EventsLike("Kill mode {ReapMode}").Single().GetProperty("ReapMode").GetString()!;
        Assert.All(kills, k => Assert.Equal(probed, k.Mode));
        Assert.Equal(9, bgLarge.TermSignal);
        Assert.Equal(9, bgSmall.TermSignal);
        Assert.Equal(9, hog.TermSignal);
        Assert.True(guarded.IsAlive, "the protected process was killed");
        // Every kill decision names its victim and reason with the same kill id as its result.
        foreach (var k in kills)
            Assert.Contains(lmkd.EventsLike("Kill {KillId} decided"), e => e.GetProperty("KillId").GetInt64() == k.Id && e.GetProperty("Pid").GetInt32() == k.Pid);
    }

    [PrivilegedFact]
    public void A_page_cache_thrashing_workload_is_answered_with_a_thrashing_reason()
    {
        var cg = Track(TestCgroup.Create("lmkd-e2e", 256L << 20));
        string file = ThrashFile(cg, 400);
        // LOW_MEM kills off (1001 reaches no process, as on Android): only a thrashing reason can kill here.
        using var lmkd = StartDaemon(cg, "--Lmkd:Policy:LowMemMinScoreAdj=1001");
        var reader = Track(Workload.Start(cg, "reader", $"--mb 8 --oom-score-adj 900 --read-file {SelfCommand.Quote(file)} --readers 3"));

        bool killed = lmkd.WaitFor(_ => !reader.IsAlive, TimeSpan.FromSeconds(60));
        Thread.Sleep(300);
        Report(lmkd, cg);

        Assert.True(killed, "the thrashing reader was never killed");
        var kill = Assert.Single(KillsDone(lmkd));
        Assert.Equal(reader.Pid, kill.Pid);
        Assert.Contains("THRASHING", kill.Reason);
        Assert.Equal(0, cg.OomKillCount());
    }

    [PrivilegedFact]
    public void Without_pressure_nothing_is_killed_with_or_without_dry_run()
    {
        var cg = Track(TestCgroup.Create("lmkd-e2e", LimitBytes));
        using var real = StartDaemon(cg);
        using var dry = StartDaemon(cg, "--Lmkd:DryRun=true");
        var a = Track(Workload.Start(cg, "idle-900", "--mb 30 --oom-score-adj 900"));
        var b = Track(Workload.Start(cg, "idle-0", "--mb 30"));
        // Whole-machine scope is only ever run in dry run on a shared machine.
        using var machine = LmkdProcess.Start(["run", "--Lmkd:DryRun=true", "--Lmkd:Metrics:Enabled=false", "--Lmkd:SelfProtection:LockMemory=false"]);
        Assert.True(machine.WaitReady(TimeSpan.FromSeconds(30)), machine.Output);

        Thread.Sleep(TimeSpan.FromSeconds(8));
        Report(real, cg);

        Assert.True(a.IsAlive && b.IsAlive);
        foreach (var d in new[] { real, dry, machine })
        {
            Assert.False(d.HasExited, d.Output);
            Assert.Empty(d.EventsLike("Kill {KillId}"));
        }
    }

    [PrivilegedFact]
    public void Dry_run_under_pressure_names_the_victims_it_would_kill_and_kills_none()
    {
        var cg = Track(TestCgroup.Create("lmkd-e2e", LimitBytes));
        string file = ThrashFile(cg);
        using var lmkd = StartDaemon(cg, "--Lmkd:DryRun=true");
        var bg = Track(Workload.Start(cg, "background-60", "--mb 60 --oom-score-adj 900"));
        // Grows into thrashing but stops short of the limit, so the kernel's OOM killer has no reason to act either.
        var hog = Track(Workload.Start(cg, "hog", $"--mb 20 --grow-mb 4 --every-ms 100 --max-mb 120 --read-file {SelfCommand.Quote(file)} --readers 2"));

        bool wouldKill = lmkd.WaitFor(p => DryRunKills(p).Any(), TimeSpan.FromSeconds(60));
        Report(lmkd, cg);

        Assert.True(wouldKill, "no dry-run kill was logged under pressure");
        Assert.Equal(bg.Pid, DryRunKills(lmkd).First().GetProperty("Pid").GetInt32());
        Assert.Empty(KillsDone(lmkd));
        Assert.True(bg.IsAlive && hog.IsAlive, "a process died in dry run");
        Assert.Equal(0, cg.OomKillCount());
    }

    private static IEnumerable<JsonElement> DryRunKills(DaemonChild p) =>
        p.EventsLike("Kill {KillId} {Outcome}").Where(e => e.GetProperty("Outcome").GetString()!.StartsWith("dry run", StringComparison.Ordinal));

    private sealed record KillEvent(long Id, int Pid, string Reason, string Mode);

    private static List<KillEvent> KillsDone(DaemonChild p) =>
        p.EventsLike("Kill {KillId} {Outcome}")
            .Where(e => e.GetProperty("Outcome").GetString() == "done")
            .Select(e => new KillEvent(e.GetProperty("KillId").GetInt64(), e.GetProperty("Pid").GetInt32(),
                e.GetProperty("Reason").GetString()!, e.GetProperty("ReapMode").GetString()!))
            .ToList();

    private DaemonChild StartDaemon(TestCgroup cg, params string[] extra)
    {
        var lmkd = LmkdProcess.Start([
            "run", "--Lmkd:Scope:Cgroup=" + cg.RelativePath, "--Lmkd:Metrics:Enabled=false",
            "--Lmkd:SelfProtection:LockMemory=false", .. extra]);
        Assert.True(lmkd.WaitReady(TimeSpan.FromSeconds(30)), "lmkd did not start:\n" + lmkd.Output);
        return lmkd;
    }

    /// <summary>A file written from inside the cgroup and dropped from the cache, so re-reading it charges the cgroup.</summary>
    private string ThrashFile(TestCgroup cg, int mb = ThrashFileMb)
    {
        string path = Path.Combine("/var/tmp", $"lmkd-e2e-{Guid.NewGuid():N}.dat");
        _cleanup.Add(new Deleter(path));
        using var dd = cg.StartShell($"dd if=/dev/zero of={SelfCommand.Quote(path)} bs=1M count={mb} conv=fsync status=none && dd if={SelfCommand.Quote(path)} iflag=nocache count=0 status=none");
        Assert.True(dd.WaitForExit(60_000), "writing the thrash file took too long");
        Assert.Equal(0, dd.ExitCode);
        return path;
    }

    private static bool HasCapSysResource() => Lmkd.Hosting.SelfProtection.HasCapability(24);

    private void Report(DaemonChild lmkd, TestCgroup cg)
    {
        output.WriteLine($"kernel OOM kills in the cgroup: {cg.OomKillCount()}");
        foreach (var line in lmkd.Output.Split('\n').Where(l => l.Contains("Kill ") || l.Contains("\"@l\"")))
            output.WriteLine(line);
    }

    private T Track<T>(T d) where T : IDisposable
    {
        _cleanup.Add(d);
        return d;
    }

    public void Dispose()
    {
        // Workloads first, then the cgroups they were in, then files.
        for (int i = _cleanup.Count - 1; i >= 0; i--)
        {
            try { _cleanup[i].Dispose(); }
            catch (Exception e) { output.WriteLine($"cleanup: {e.Message}"); }
        }
    }

    private sealed class Deleter(string path) : IDisposable
    {
        public void Dispose() => File.Delete(path);
    }
}
