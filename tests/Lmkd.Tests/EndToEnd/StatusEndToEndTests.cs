using System.Diagnostics;
using System.Text.Json;
using Lmkd.Cli;
using Xunit.Abstractions;

namespace Lmkd.Tests.EndToEnd;

/// <summary>
/// `lmkd status` against the real daemon, in dry run on a test cgroup without pressure: the fields
/// an operator reads, the next victim the daemon would choose, and no answer once it has stopped.
/// </summary>
[Collection(RealKernelCollection.Name)]
[Trait("Category", "EndToEnd")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class StatusEndToEndTests(ITestOutputHelper output) : IDisposable
{
    private readonly List<IDisposable> _cleanup = [];
    // 0755, as /run is: what keeps another user out is the socket's own mode.
    private readonly string _dir = OpenDirectory(Directory.CreateTempSubdirectory("lmkd-status-e2e-").FullName);

    private static string OpenDirectory(string dir)
    {
        File.SetUnixFileMode(dir, (UnixFileMode)0b111_101_101);
        return dir;
    }

    private string SocketPath => Path.Combine(_dir, "status.sock");

    private static (int Code, string Stdout, string Stderr) Client(string? asUser, params string[] args)
    {
        var inner = asUser is null ? LmkdProcess.StartInfo(["status", .. args]) : LmkdProcess.StartInfoForOtherUser(["status", .. args]);
        ProcessStartInfo psi;
        if (asUser is null)
            psi = inner;
        else
        {
            psi = new ProcessStartInfo(Tools.Find(Tools.Setpriv)!) { ArgumentList = { "--reuid=" + asUser, "--regid=" + asUser, "--clear-groups", "--", inner.FileName } };
            foreach (var a in inner.ArgumentList)
                psi.ArgumentList.Add(a);
            psi.Environment["HOME"] = "/nonexistent";
        }
        psi.RedirectStandardOutput = psi.RedirectStandardError = true;
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(60_000), "lmkd status did not end");
        return (p.ExitCode, stdout, stderr.Result);
    }

    [PrivilegedFact(Tools.Setpriv)]
    public void Status_of_the_running_daemon_names_its_scope_and_the_next_victim_and_no_daemon_once_stopped()
    {
        var cg = Track(TestCgroup.Create("lmkd-status", 256L << 20));
        var background = Track(Workload.Start(cg, "background", "--mb 16 --oom-score-adj 900"));
        var service = Track(Workload.Start(cg, "service", "--mb 24 --oom-score-adj 300"));
        var lmkd = Track(LmkdProcess.Start([
            "run", "--Lmkd:Scope:Cgroup=" + cg.RelativePath, "--Lmkd:DryRun=true", "--Lmkd:Metrics:Enabled=false",
            "--Lmkd:SelfProtection:LockMemory=false", "--Lmkd:Status:Socket=" + SocketPath]));
        Assert.True(lmkd.WaitReady(TimeSpan.FromSeconds(30)), "lmkd did not start:\n" + lmkd.Output);
        Assert.True(lmkd.WaitFor(p => p.EventsLike("Status socket {StatusSocket}").Any(), TimeSpan.FromSeconds(10)), lmkd.Output);

        // Wait for a first evaluation (a headroom sample comes within a second).
        JsonElement r = default;
        var sw = Stopwatch.StartNew();
        int code = -1;
        string stdout = "", stderr = "";
        while (sw.Elapsed < TimeSpan.FromSeconds(20))
        {
            (code, stdout, stderr) = Client(null, "--json", "--socket", SocketPath);
            Assert.True(code == 0, $"exit {code}: {stderr}\n{lmkd.Output}");
            r = JsonDocument.Parse(stdout).RootElement.Clone();
            if (r.GetProperty("lastEvaluation").ValueKind == JsonValueKind.Object)
                break;
            Thread.Sleep(500);
        }
        output.WriteLine(stdout);

        Assert.Equal(typeof(Lmkd.Program).Assembly.GetName().Version!.ToString(3), r.GetProperty("version").GetString());
        Assert.Equal(lmkd.Pid, r.GetProperty("pid").GetInt32());
        Assert.True(r.GetProperty("dryRun").GetBoolean());
        Assert.StartsWith("cgroup " + cg.RelativePath, r.GetProperty("scope").GetString());
        Assert.False(string.IsNullOrEmpty(r.GetProperty("killMode").GetString()));
        Assert.False(string.IsNullOrEmpty(r.GetProperty("triggerMode").GetString()));
        var e = r.GetProperty("lastEvaluation");
        Assert.Equal(JsonValueKind.Object, e.ValueKind);
        Assert.False(e.GetProperty("kill").GetBoolean());
        Assert.InRange(e.GetProperty("totalKb").GetInt64(), 200_000, 300_000);
        Assert.InRange(e.GetProperty("headroomKb").GetInt64(), 1, 262_144);

        // No kill decided: the next victim is shown at 0, and it is the process at the highest oom_score_adj.
        var n = r.GetProperty("nextVictim");
        Assert.Equal("no-decision", n.GetProperty("basis").GetString());
        Assert.Equal(0, n.GetProperty("minScoreAdj").GetInt32());
        Assert.Equal(background.Pid, n.GetProperty("victim").GetProperty("pid").GetInt32());
        Assert.Equal(900, n.GetProperty("victim").GetProperty("oomScoreAdj").GetInt32());
        Assert.True(n.GetProperty("candidates").GetInt32() >= 2);
        Assert.Empty(r.GetProperty("recentKills").EnumerateArray());
        Assert.True(background.IsAlive && service.IsAlive);

        (code, stdout, stderr) = Client(null, "--socket", SocketPath);
        output.WriteLine(stdout);
        Assert.True(code == 0, stderr);
        Assert.Contains($"running: pid {lmkd.Pid}, uid 0, up ", stdout);
        Assert.Contains("DRY RUN (kills nothing)", stdout);
        Assert.Contains($"  watching cgroup {cg.RelativePath}", stdout);
        Assert.Contains($"Next victim (oom_score_adj >= 0: no kill decided now, shown at 0): pid {background.Pid} ", stdout);
        Assert.Contains("Last kills: none since the start", stdout);

        // Another user: the socket's mode keeps them out before the daemon's own check would.
        (code, _, stderr) = Client("65534", "--socket", SocketPath);
        Assert.True(code == 4, $"exit {code}: {stderr}");
        Assert.Contains("refused", stderr);

        lmkd.Terminate(TimeSpan.FromSeconds(5));
        Assert.False(File.Exists(SocketPath), "the socket outlived the daemon");
        (code, _, stderr) = Client(null, "--socket", SocketPath);
        Assert.Equal(3, code);
        Assert.Contains("no daemon answers", stderr);
    }

    private T Track<T>(T d) where T : IDisposable
    {
        _cleanup.Add(d);
        return d;
    }

    public void Dispose()
    {
        for (int i = _cleanup.Count - 1; i >= 0; i--)
        {
            try { _cleanup[i].Dispose(); }
            catch (Exception e) { output.WriteLine($"cleanup: {e.Message}"); }
        }
        Directory.Delete(_dir, recursive: true);
    }
}
