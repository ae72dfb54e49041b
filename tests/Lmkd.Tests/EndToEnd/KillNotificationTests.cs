using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Lmkd.Cli;
using Lmkd.Tests.Notify;
using Xunit.Abstractions;

namespace Lmkd.Tests.EndToEnd;

/// <summary>
/// What a kill tells the world, with real parts: real pressure in a throw-away cgroup, the real daemon
/// (the AOT binary when CI sets LMKD_BINARY), a private dbus-daemon running the distribution's system
/// bus policy, a subscriber on it, and a real post-kill hook.
/// </summary>
[Collection(RealKernelCollection.Name)]
[Trait("Category", "EndToEnd")]
public sealed class KillNotificationTests(ITestOutputHelper output) : IDisposable
{
    private readonly List<IDisposable> _cleanup = [];
    private readonly string _dir = MakeSharedDir();

    [PrivilegedFact(Tools.DbusDaemon, Tools.SystemBusConfig)]
    public void A_kill_under_real_pressure_is_broadcast_on_the_system_bus_argument_by_argument_and_shown_on_the_desktop() => WithCleanup(() =>
    {
            var bus = Track(PrivateBus.Create());
            var recorder = Track(SignalRecorder.Start(bus.Address));
            var cg = Track(TestCgroup.Create("lmkd-dbus", 256L << 20));
            string file = ThrashFile(cg, 150);
            long startUsec = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000;
            var lmkd = Track(StartDaemon(cg, bus.Address));
            Assert.True(lmkd.WaitFor(p => p.EventsLike("Kill notifications on the D-Bus system bus").Any(), TimeSpan.FromSeconds(10)), lmkd.Output);

            var cached = Track(Workload.Start(cg, "cached", "--mb 40 --oom-score-adj 900"));
            var grower = Track(Workload.Start(cg, "grower", $"--mb 20 --grow-mb 2 --every-ms 100 --max-mb 400 --read-file {SelfCommand.Quote(file)}"));
            Assert.True(lmkd.WaitFor(p => p.EventsLike("Kill {KillId} decided").Any(), TimeSpan.FromSeconds(60)), $"no kill within 60 s (oom_kill {cg.OomKillCount()}):\n{lmkd.Output}");
            grower.Dispose(); // one kill is the story: the grower stops as soon as it is decided, and cannot grow into the limit meanwhile
            Assert.True(lmkd.WaitFor(p => Done(p, "done").Any(), TimeSpan.FromSeconds(10)), $"the kill did not finish (oom_kill {cg.OomKillCount()}):\n{lmkd.Output}");
            var done = Done(lmkd, "done").First();
            long killId = done.GetProperty("KillId").GetInt64();
            Assert.True(recorder.WaitFor(r => r.Kills.Any(k => (long)k.KillId == killId) && !r.Desktop.IsEmpty, TimeSpan.FromSeconds(10)),
                $"no signal for kill {killId}:\n{lmkd.Output}");
            Report(lmkd);

            // Argument by argument, against the kill event the daemon logged.
            var s = recorder.Kills.First(k => (long)k.KillId == killId);
            Assert.Equal(("/org/lmkd/Lmkd1", "tbusussitttttsissst" + "a{sv}"), (s.Path, s.Signature));
            Assert.False(s.DryRun);
            Assert.Equal(cached.Pid, (int)s.Pid);
            Assert.Equal(done.GetProperty("Pid").GetInt32(), (int)s.Pid);
            Assert.Equal(done.GetProperty("Comm").GetString(), s.Comm);
            Assert.Equal(0u, s.Uid);
            Assert.Equal(done.GetProperty("Cgroup").GetString(), s.Cgroup);
            Assert.EndsWith(cg.Name, s.Cgroup);
            Assert.Equal(done.GetProperty("Exe").GetString(), s.Exe);
            Assert.Equal(900, s.OomScoreAdj);
            Assert.Equal(done.GetProperty("RssKb").GetInt64(), (long)s.RssBytes / 1024);
            Assert.Equal(s.RssBytes, s.RssAnonBytes + s.RssFileBytes + s.RssShmemBytes);
            Assert.InRange((long)s.RssAnonBytes, 35L << 20, 200L << 20);
            Assert.Equal(done.GetProperty("SwapKb").GetInt64(), (long)s.SwapBytes / 1024);
            Assert.Equal(done.GetProperty("Reason").GetString(), s.Reason);
            Assert.Equal(done.GetProperty("MinScoreAdj").GetInt32(), s.MinScoreAdj);
            Assert.Equal(done.GetProperty("ReapMode").GetString(), s.ReapMode);
            string reap = done.GetProperty("ReapResult").GetString()!;
            Assert.Equal(reap == "not attempted" ? "none" : reap, s.ReapResult);
            Assert.Equal(cg.RelativePath, s.Scope);
            Assert.InRange(s.TimeUsec, (ulong)startUsec, (ulong)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000);
            Assert.Equal(0, s.ExtraCount);

            // From the daemon itself, under its unique name: no well-known name is owned.
            Assert.StartsWith(":", s.Sender);
            Assert.Equal(lmkd.Pid, (int)recorder.PidOf(s.Sender));
            Assert.DoesNotContain(recorder.ListNames(), n => n.Contains("lmkd", StringComparison.OrdinalIgnoreCase));

            var d = recorder.Desktop.First();
            Assert.Equal((s.Sender, "/", "ss"), (d.Sender, d.Path, d.Signature));
            Assert.StartsWith($"Killed process {s.Pid} ({s.Comm}) of uid 0, ", d.Body);
            Assert.Equal(0, cg.OomKillCount());
    });

    [PrivilegedFact(Tools.DbusDaemon, Tools.SystemBusConfig)]
    public void A_dry_run_kill_is_broadcast_marked_the_desktop_says_would_kill_and_the_hook_is_told_so() => WithCleanup(() =>
    {
            var bus = Track(PrivateBus.Create());
            var recorder = Track(SignalRecorder.Start(bus.Address));
            var cg = Track(TestCgroup.Create("lmkd-dbus", 384L << 20));
            string file = ThrashFile(cg, 200);
            string env = Path.Combine(_dir, "dry.env");
            var lmkd = Track(StartDaemon(cg, bus.Address, "--Lmkd:DryRun=true", "--Lmkd:Hooks:PostKill=/bin/sh",
                "--Lmkd:Hooks:PostKillArgs:0=-c", $"--Lmkd:Hooks:PostKillArgs:1=env | grep ^LMKD_ > {env}"));
            Assert.True(lmkd.WaitFor(p => p.EventsLike("Kill notifications on the D-Bus system bus").Any(), TimeSpan.FromSeconds(10)), lmkd.Output);

            var bg = Track(Workload.Start(cg, "background-60", "--mb 60 --oom-score-adj 900"));
            // Grows into thrashing but stops short of the limit: in dry run nothing else may act either.
            var hog = Track(Workload.Start(cg, "hog", $"--mb 20 --grow-mb 4 --every-ms 100 --max-mb 120 --read-file {SelfCommand.Quote(file)} --readers 2"));
            Assert.True(lmkd.WaitFor(p => Done(p, "dry run").Any(), TimeSpan.FromSeconds(60)), $"no dry-run kill within 60 s:\n{lmkd.Output}");
            long killId = Done(lmkd, "dry run").First().GetProperty("KillId").GetInt64();
            Assert.True(recorder.WaitFor(r => r.Kills.Any(k => (long)k.KillId == killId) && !r.Desktop.IsEmpty, TimeSpan.FromSeconds(10)), lmkd.Output);
            Assert.True(WaitForFile(env), "the hook did not run:\n" + lmkd.Output);
            Report(lmkd);

            var s = recorder.Kills.First(k => (long)k.KillId == killId);
            Assert.True(s.DryRun);
            Assert.Equal(bg.Pid, (int)s.Pid);
            Assert.Equal("none", s.ReapResult);
            Assert.StartsWith($"Would kill process {bg.Pid} ({s.Comm}) of uid 0, ", recorder.Desktop.First().Body);
            Assert.EndsWith("(dry run: nothing was killed)", recorder.Desktop.First().Body);
            var vars = Variables(env);
            Assert.Equal("1", vars["LMKD_DRY_RUN"]);
            Assert.Equal(bg.Pid.ToString(CultureInfo.InvariantCulture), vars["LMKD_PID"]);
            Assert.True(bg.IsAlive && hog.IsAlive, "a process died in dry run");
            Assert.Equal(0, cg.OomKillCount());
    });

    /// <summary>
    /// As the unit runs it: a non-root user holding its capabilities as ambient ones (setpriv does what
    /// DynamicUser= and AmbientCapabilities= do), and here no system bus at all.
    /// </summary>
    [PrivilegedFact(Tools.Setpriv)]
    public void Without_a_bus_Lmkd_starts_kills_and_says_so_once_and_its_hook_runs_with_none_of_its_capabilities() => WithCleanup(() =>
    {
            var cg = Track(TestCgroup.Create("lmkd-dbus", 256L << 20));
            string file = ThrashFile(cg, 150);
            string hook = Path.Combine(_dir, "hook.sh");
            File.WriteAllText(hook, $"#!/bin/sh\nenv | grep ^LMKD_ > {_dir}/unit.env\ngrep ^Cap /proc/self/status > {_dir}/unit.caps\nid -u > {_dir}/unit.uid\n");
            if (OperatingSystem.IsLinux())
                File.SetUnixFileMode(hook, (UnixFileMode)0b111_101_101);
            var lmkd = Track(StartDaemon(cg, LmkdProcess.NoBus, asUnit: true, "--Lmkd:Hooks:PostKill=" + hook));
            var lmkdCaps = Caps(File.ReadAllLines($"/proc/{lmkd.Pid}/status"));

            var cached = Track(Workload.Start(cg, "cached", "--mb 40 --oom-score-adj 900"));
            var grower = Track(Workload.Start(cg, "grower", $"--mb 20 --grow-mb 2 --every-ms 100 --max-mb 400 --read-file {SelfCommand.Quote(file)}"));
            Assert.True(lmkd.WaitFor(p => Done(p, "done").Any(), TimeSpan.FromSeconds(60)), $"no kill within 60 s (oom_kill {cg.OomKillCount()}):\n{lmkd.Output}");
            grower.Dispose();
            Assert.True(WaitForFile(Path.Combine(_dir, "unit.uid")), "the hook did not run:\n" + lmkd.Output);
            Report(lmkd);

            var done = Done(lmkd, "done").First();
            Assert.Equal(cached.Pid, done.GetProperty("Pid").GetInt32());
            Assert.Equal(9, cached.TermSignal);
            Assert.Single(lmkd.EventsLike("Kill notifications: the D-Bus system bus at {BusAddress} is unavailable"));
            Assert.False(lmkd.HasExited);

            // The daemon held capabilities as ambient ones; its hook, run by the same user, holds none at all.
            Assert.NotEqual("0000000000000000", lmkdCaps["CapAmb"]);
            Assert.Equal("65534", File.ReadAllText(Path.Combine(_dir, "unit.uid")).Trim());
            var caps = Caps(File.ReadAllLines(Path.Combine(_dir, "unit.caps")));
            foreach (var set in new[] { "CapInh", "CapPrm", "CapEff", "CapAmb" })
                Assert.True(caps[set] == "0000000000000000", $"{set} of the hook is {caps[set]}");
            var vars = Variables(Path.Combine(_dir, "unit.env"));
            Assert.Equal(done.GetProperty("KillId").GetInt64().ToString(CultureInfo.InvariantCulture), vars["LMKD_KILL_ID"]);
            Assert.Equal(cached.Pid.ToString(CultureInfo.InvariantCulture), vars["LMKD_PID"]);
            Assert.Equal(done.GetProperty("Comm").GetString(), vars["LMKD_COMM"]);
            Assert.Equal("0", vars["LMKD_UID"]);
            Assert.Equal(done.GetProperty("Cgroup").GetString(), vars["LMKD_CGROUP"]);
            Assert.Equal("900", vars["LMKD_OOM_SCORE_ADJ"]);
            Assert.Equal(done.GetProperty("RssKb").GetInt64().ToString(CultureInfo.InvariantCulture), vars["LMKD_RSS_KB"]);
            Assert.Equal(done.GetProperty("Reason").GetString(), vars["LMKD_REASON"]);
            Assert.Equal(done.GetProperty("ReapMode").GetString(), vars["LMKD_REAP_MODE"]);
            Assert.Equal("0", vars["LMKD_DRY_RUN"]);
            Assert.True(lmkd.WaitFor(p => p.EventsLike("Post-kill hook for kill {KillId}").Any(), TimeSpan.FromSeconds(10)), lmkd.Output);
        Assert.Single(lmkd.EventsLike("Post-kill hook for kill {KillId}"), e => e.GetProperty("HookStatus").GetString() == "exit 0");
    });

    private DaemonChild StartDaemon(TestCgroup cg, string busAddress, params string[] extra) => StartDaemon(cg, busAddress, false, extra);

    private DaemonChild StartDaemon(TestCgroup cg, string busAddress, bool asUnit, params string[] extra)
    {
        string[] args = ["run", "--Lmkd:Scope:Cgroup=" + cg.RelativePath, "--Lmkd:Metrics:Enabled=false", "--Lmkd:SelfProtection:LockMemory=false", .. extra];
        var env = new Dictionary<string, string> { ["DBUS_SYSTEM_BUS_ADDRESS"] = busAddress };
        DaemonChild lmkd;
        if (!asUnit)
            lmkd = LmkdProcess.Start(args, env);
        else
        {
            var inner = LmkdProcess.StartInfoForOtherUser(args);
            // The unit's capabilities, as far as this machine's bounding set has them.
            string caps = string.Join(',', UnitCapabilities().Select(c => "+" + c));
            var psi = new ProcessStartInfo(Tools.Find(Tools.Setpriv)!)
            {
                ArgumentList = { "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=" + caps, "--ambient-caps=" + caps, "--", inner.FileName },
            };
            foreach (var a in inner.ArgumentList)
                psi.ArgumentList.Add(a);
            env["HOME"] = "/nonexistent";
            lmkd = DaemonChild.Start(psi, env);
        }
        Assert.True(lmkd.WaitReady(TimeSpan.FromSeconds(30)), "lmkd did not start:\n" + lmkd.Output);
        return lmkd;
    }

    /// <summary>The unit's AmbientCapabilities= that this machine's bounding set allows (containers may lack CAP_SYS_RESOURCE).</summary>
    private static IEnumerable<string> UnitCapabilities()
    {
        ulong bounding = ulong.Parse(Caps(File.ReadAllLines("/proc/self/status"))["CapBnd"], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        foreach (var (name, bit) in new[] { ("kill", 5), ("ipc_lock", 14), ("sys_nice", 23), ("sys_resource", 24), ("sys_ptrace", 19) })
            if ((bounding & (1UL << bit)) != 0)
                yield return name;
    }

    private static IEnumerable<JsonElement> Done(DaemonChild p, string outcomePrefix) =>
        p.EventsLike("Kill {KillId} {Outcome}").Where(e => e.GetProperty("Outcome").GetString()!.StartsWith(outcomePrefix, StringComparison.Ordinal));

    private static Dictionary<string, string> Caps(IEnumerable<string> lines) =>
        lines.Where(l => l.StartsWith("Cap", StringComparison.Ordinal)).Select(l => l.Split(':', 2)).ToDictionary(p => p[0], p => p[1].Trim());

    private static Dictionary<string, string> Variables(string file) =>
        File.ReadAllLines(file).Select(l => l.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);

    private static bool WaitForFile(string path)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(15))
        {
            if (File.Exists(path) && new FileInfo(path).Length > 0)
            {
                Thread.Sleep(100); // written by a shell redirection: let it finish
                return true;
            }
            Thread.Sleep(50);
        }
        return false;
    }

    /// <summary>A file written from inside the cgroup and dropped from the cache, so re-reading it charges the cgroup and thrashes.</summary>
    private string ThrashFile(TestCgroup cg, int mb)
    {
        string path = Path.Combine("/var/tmp", $"lmkd-dbus-{Guid.NewGuid():N}.dat");
        _cleanup.Add(new Deleter(path));
        using var dd = cg.StartShell($"dd if=/dev/zero of={SelfCommand.Quote(path)} bs=1M count={mb} conv=fsync status=none && dd if={SelfCommand.Quote(path)} iflag=nocache count=0 status=none");
        Assert.True(dd.WaitForExit(60_000), "writing the thrash file took too long");
        Assert.Equal(0, dd.ExitCode);
        return path;
    }

    /// <summary>Where a hook run by the unit's user (65534) can write.</summary>
    private static string MakeSharedDir()
    {
        var dir = Directory.CreateTempSubdirectory("lmkd-notify-e2e-").FullName;
        if (OperatingSystem.IsLinux())
            File.SetUnixFileMode(dir, (UnixFileMode)0b111_111_111);
        return dir;
    }

    private void Report(DaemonChild lmkd)
    {
        foreach (var line in lmkd.Output.Split('\n').Where(l => l.Contains("Kill ") || l.Contains("notification") || l.Contains("hook")))
            output.WriteLine(line);
    }

    private T Track<T>(T d) where T : IDisposable
    {
        _cleanup.Add(d);
        return d;
    }

    /// <summary>
    /// Everything the test started is ended before the test method returns: xunit waits for the
    /// test's pending asynchronous work (the children's output readers among it) before it calls Dispose.
    /// </summary>
    private void WithCleanup(Action test)
    {
        try
        {
            test();
        }
        finally
        {
            Cleanup();
        }
    }

    private void Cleanup()
    {
        for (int i = _cleanup.Count - 1; i >= 0; i--)
        {
            try { _cleanup[i].Dispose(); }
            catch (Exception e) { output.WriteLine($"cleanup: {e.Message}"); }
        }
        _cleanup.Clear();
    }

    public void Dispose()
    {
        Cleanup();
        Directory.Delete(_dir, recursive: true);
    }

    private sealed class Deleter(string path) : IDisposable
    {
        public void Dispose() => File.Delete(path);
    }
}
