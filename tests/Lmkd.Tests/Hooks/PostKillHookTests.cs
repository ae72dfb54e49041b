using System.Diagnostics;
using Lmkd.Configuration;
using Lmkd.Daemon;
using Lmkd.Hooks;
using Lmkd.Linux;
using Lmkd.Tests.Notify;
using Microsoft.Extensions.Logging;

namespace Lmkd.Tests.Hooks;

/// <summary>The hook runner with real programs: /bin/sh scripts that report what they were given.</summary>
public sealed unsafe class PostKillHookTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lmkd-hook-").FullName;
    private readonly LmkdMetrics _metrics = new();
    private readonly CollectingLogger _log = new();

    /// <summary>Writes its arguments, its LMKD_* environment and its capabilities next to $1, and says hello.</summary>
    private string ReportingHook()
    {
        var path = Path.Combine(_dir, "report.sh");
        File.WriteAllText(path, """
            #!/bin/sh
            out="$1"; shift
            printf '%s\n' "$@" > "$out.args"
            env | grep '^LMKD_' | sort > "$out.env"
            grep '^Cap' /proc/self/status > "$out.caps"
            echo "hook says hi"
            echo "and bye" >&2
            """.Replace("\r", ""));
        if (OperatingSystem.IsLinux())
            File.SetUnixFileMode(path, (UnixFileMode)0b111_101_101);
        return path;
    }

    private HooksOptions Options(string program, int timeoutMs = 10_000, params string[] args) =>
        new() { PostKill = program, PostKillArgs = [.. args], PostKillTimeoutMs = timeoutMs };

    private static HooksOptions Shell(string script, int timeoutMs = 10_000) =>
        new() { PostKill = "/bin/sh", PostKillArgs = ["-c", script], PostKillTimeoutMs = timeoutMs };

    private double Value(string sample) => KillPublisherTests.Value(_metrics, sample);

    private static bool WaitUntil(Func<bool> condition, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while (!condition() && sw.Elapsed < timeout)
            Thread.Sleep(10);
        return condition();
    }

    private bool RunToEnd(PostKillHook hook, FinishedKill kill)
    {
        Assert.True(hook.TryRun(kill));
        return WaitUntil(() => !hook.IsBusy, TimeSpan.FromSeconds(20));
    }

    [Fact]
    public void The_hook_gets_the_kill_in_its_environment_and_its_arguments_verbatim_with_no_shell_in_between()
    {
        string outFile = Path.Combine(_dir, "out");
        string pwned = Path.Combine(_dir, "pwned");
        string[] args = [outFile, "two words", $"$(touch {pwned})", ";", "*", "", "'quoted'"];
        using var hook = new PostKillHook(Options(ReportingHook(), 10_000, args), _metrics, _log);
        var kill = KillPublisherTests.Kill(12, dryRun: true);

        Assert.True(RunToEnd(hook, kill));

        Assert.Equal(args[1..], File.ReadAllLines(outFile + ".args"));
        Assert.False(File.Exists(pwned), "an argument was run by a shell");
        var env = File.ReadAllLines(outFile + ".env").Select(l => l.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
        Assert.Equal(PostKillHook.Variables(kill).ToDictionary(), env);
        Assert.Equal("12", env["LMKD_KILL_ID"]);
        Assert.Equal("1", env["LMKD_DRY_RUN"]);
        Assert.Equal(("4012", "hog (a) b", "1000"), (env["LMKD_PID"], env["LMKD_COMM"], env["LMKD_UID"]));
        Assert.Equal(("/user.slice/app.scope", "900", "LOW_MEM_AND_THRASHING"), (env["LMKD_CGROUP"], env["LMKD_OOM_SCORE_ADJ"], env["LMKD_REASON"]));
        Assert.Equal((321 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture), env["LMKD_RSS_KB"]);
        Assert.Equal(("kill-then-reap", "ESRCH"), (env["LMKD_REAP_MODE"], env["LMKD_REAP_RESULT"]));
        Assert.Equal("2026-05-20T10:00:00.000Z", env["LMKD_TIME"]);

        Assert.Equal(1, Value("lmkd_post_kill_hook_runs_total{result=\"ok\"}"));
        Assert.Equal(1, Value("lmkd_post_kill_hook_duration_seconds_count"));
        var line = Assert.Single(_log.At(LogLevel.Information));
        Assert.Contains("kill 12", line);
        Assert.Contains("exit 0", line);
        Assert.Contains("hook says hi", line);
        Assert.Contains("and bye", line);
    }

    [Fact]
    public void A_hook_that_outlives_its_timeout_is_killed_with_the_processes_it_started()
    {
        string child = Path.Combine(_dir, "child");
        using var hook = new PostKillHook(Shell($"sleep 60 & echo $! > {child}; sleep 60", timeoutMs: 300), _metrics, _log);
        var sw = Stopwatch.StartNew();

        Assert.True(RunToEnd(hook, KillPublisherTests.Kill(1)));

        Assert.InRange(sw.Elapsed.TotalMilliseconds, 300, 5000);
        Assert.Equal(1, Value("lmkd_post_kill_hook_runs_total{result=\"timeout\"}"));
        int pid = int.Parse(File.ReadAllText(child).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(WaitUntil(() => Gone(pid), TimeSpan.FromSeconds(5)), $"the hook's child {pid} outlived it");
        Assert.Contains("killed after the 300 ms timeout", Assert.Single(_log.At(LogLevel.Warning)));
    }

    /// <summary>Gone, or a zombie nobody has reaped yet (orphans go to whichever reaper the machine has).</summary>
    private static bool Gone(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/stat").Split(") ")[1][0] == 'Z'; }
        catch (IOException) { return true; }
    }

    [Fact]
    public void One_hook_at_a_time_a_kill_that_comes_meanwhile_is_skipped_and_counted_not_queued()
    {
        string runs = Path.Combine(_dir, "runs");
        using var hook = new PostKillHook(Shell($"echo $LMKD_KILL_ID >> {runs}; sleep 0.5"), _metrics, _log);

        Assert.True(hook.TryRun(KillPublisherTests.Kill(1)));
        var sw = Stopwatch.StartNew();
        Assert.False(hook.TryRun(KillPublisherTests.Kill(2)));
        Assert.False(hook.TryRun(KillPublisherTests.Kill(3)));
        // Waiting for the running hook would take its 500 ms; the margin is for a loaded machine's scheduling.
        Assert.True(sw.Elapsed < TimeSpan.FromMilliseconds(250), "TryRun waited");
        Assert.Equal(2, Value("lmkd_post_kill_hook_skipped_total"));
        Assert.True(WaitUntil(() => !hook.IsBusy, TimeSpan.FromSeconds(10)));
        Assert.True(RunToEnd(hook, KillPublisherTests.Kill(4)));

        Assert.Equal(["1", "4"], File.ReadAllLines(runs));
        Assert.Equal(2, Value("lmkd_post_kill_hook_runs_total{result=\"ok\"}"));
        var skipped = _log.At(LogLevel.Warning).ToList();
        Assert.Equal(2, skipped.Count);
        Assert.Contains("kill 2", skipped[0]);
        Assert.Contains("kill 1 is still running", skipped[0]);
    }

    [Theory]
    [InlineData("exit 3", "exit 3")]
    [InlineData("kill -TERM $$", "killed by signal 15")]
    public void A_failing_hook_is_logged_with_its_exit_status_and_counted(string script, string status)
    {
        using var hook = new PostKillHook(Shell(script), _metrics, _log);
        Assert.True(RunToEnd(hook, KillPublisherTests.Kill(5)));
        Assert.Equal(1, Value("lmkd_post_kill_hook_runs_total{result=\"failed\"}"));
        Assert.Contains(status, Assert.Single(_log.At(LogLevel.Warning)));
    }

    [Fact]
    public void A_program_that_cannot_be_started_is_counted_and_the_next_kill_gets_its_hook()
    {
        using var hook = new PostKillHook(Options(Path.Combine(_dir, "missing")), _metrics, _log);
        Assert.True(RunToEnd(hook, KillPublisherTests.Kill(1)));
        Assert.Equal(1, Value("lmkd_post_kill_hook_runs_total{result=\"not_started\"}"));
        Assert.Contains("could not be started", Assert.Single(_log.At(LogLevel.Error)));

        hook.Update(Shell("true"));
        Assert.True(RunToEnd(hook, KillPublisherTests.Kill(2)));
        Assert.Equal(1, Value("lmkd_post_kill_hook_runs_total{result=\"ok\"}"));
    }

    [Fact]
    public void No_hook_configured_means_nothing_runs_and_nothing_is_counted()
    {
        using var hook = new PostKillHook(new HooksOptions(), _metrics, _log);
        Assert.False(hook.TryRun(KillPublisherTests.Kill(1)));
        Assert.Equal(0, Value("lmkd_post_kill_hook_skipped_total"));
        Assert.Empty(_log.Entries);
    }

    /// <summary>
    /// Root raises CAP_KILL as an ambient capability on one thread, as systemd's AmbientCapabilities=
    /// does for the unit: a program that thread starts inherits it, a hook started by the runner made
    /// there does not.
    /// </summary>
    [PrivilegedFact]
    public void The_hook_inherits_no_capability_even_while_Lmkd_holds_one_as_ambient()
    {
        const int CapKill = 5;
        string outFile = Path.Combine(_dir, "caps");
        Dictionary<string, string>? control = null, parent = null;
        string? raiseError = null;
        PostKillHook? hook = null;
        var thread = new Thread(() =>
        {
            raiseError = RaiseAmbient(CapKill);
            if (raiseError is not null)
                return;
            parent = Caps(File.ReadAllLines("/proc/thread-self/status"));
            using (var p = Process.Start(new ProcessStartInfo("/bin/grep", ["^Cap", "/proc/self/status"]) { RedirectStandardOutput = true })!)
            {
                control = Caps(p.StandardOutput.ReadToEnd().Split('\n'));
                p.WaitForExit();
            }
            // The runner's thread is created here, so it starts out with this thread's credentials.
            hook = new PostKillHook(Options(ReportingHook(), 10_000, outFile), _metrics, _log);
        });
        thread.Start();
        thread.Join();
        Assert.Null(raiseError);
        using (hook)
        {
            Assert.Null(hook!.CapabilityError);
            Assert.True(RunToEnd(hook, KillPublisherTests.Kill(1)));
        }

        Assert.Equal("0000000000000020", parent!["CapAmb"]);
        Assert.Equal("0000000000000020", control!["CapAmb"]);
        var caps = Caps(File.ReadAllLines(outFile + ".caps"));
        Assert.Equal("0000000000000000", caps["CapAmb"]);
        Assert.Equal("0000000000000000", caps["CapInh"]);
    }

    private static Dictionary<string, string> Caps(IEnumerable<string> lines) =>
        lines.Where(l => l.StartsWith("Cap", StringComparison.Ordinal)).Select(l => l.Split(':', 2)).ToDictionary(p => p[0], p => p[1].Trim());

    /// <summary>On the calling thread: the capability into the inheritable set, then into the ambient one.</summary>
    private static string? RaiseAmbient(int cap)
    {
        var header = new Native.CapHeader { Version = Native.LINUX_CAPABILITY_VERSION_3 };
        var data = stackalloc Native.CapData[2];
        if (Native.CapGet(&header, data) != 0)
            return "capget " + Native.Errno;
        data[0].Inheritable |= 1u << cap;
        if (Native.CapSet(&header, data) != 0)
            return "capset " + Native.Errno;
        return Native.Prctl(Native.PR_CAP_AMBIENT, Native.PR_CAP_AMBIENT_RAISE, (nuint)cap, 0, 0) == 0 ? null : "prctl " + Native.Errno;
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
