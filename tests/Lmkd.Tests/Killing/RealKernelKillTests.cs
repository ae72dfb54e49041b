using System.Diagnostics;
using Lmkd.Cli;
using Lmkd.Killing;
using Lmkd.Linux;
using Lmkd.Policies;
using Xunit.Abstractions;

namespace Lmkd.Tests.Killing;

/// <summary>
/// The kill path against the real kernel, on children these tests spawn (nothing else is ever
/// signalled). Each child holds at most a few tens of MiB.
/// </summary>
public class RealKernelKillTests(ITestOutputHelper output)
{
    private const int ESRCH = 3, EINVAL = 22;
    private static readonly IKernel Kernel = LinuxKernel.Instance;

    [PrivilegedFact]
    public void Probe_on_this_kernel_says_KillThenReap()
    {
        // No released kernel has PROCESS_MRELEASE_REAP_KILL yet (the REAP_KILL VM kernel says EBADF).
        Assert.Equal(ReapMode.KillThenReap, ReapKillSupport.Probe(Kernel, out int errno));
        Assert.Equal(EINVAL, errno);
    }

    [PrivilegedTheory]
    [InlineData(ReapMode.KillThenReap)]
    [InlineData(ReapMode.KillOnly)]
    [InlineData(ReapMode.ReapKill)] // unknown flag here: must fall back and still kill
    public void Kills_a_spawned_child_by_SIGKILL(ReapMode mode)
    {
        using var child = Spawn("sleep", "60");
        try
        {
            var victim = VictimOf(child);
            var r = new Killer(Kernel, mode, KillTestCommand.ReadStartTime).Kill(victim, dryRun: false, timeoutMs: 5000);
            output.WriteLine($"{mode}: {r}");

            Assert.Equal(KillOutcome.Killed, r.Outcome);
            Assert.Equal(0, r.SignalErrno);
            Assert.True(r.Exited, "pidfd never became readable");
            Assert.False(r.TimedOut);
            Assert.True(child.WaitForExit(5000));
            Assert.Equal(128 + Native.SIGKILL, child.ExitCode);
            switch (mode)
            {
                case ReapMode.KillOnly:
                    Assert.Equal(KillResult.NotAttempted, r.ReapErrno);
                    break;
                case ReapMode.KillThenReap:
                    Assert.Null(r.FallbackReason);
                    Assert.Contains(r.ReapErrno, new[] { 0, ESRCH });
                    break;
                case ReapMode.ReapKill:
                    Assert.Equal(ReapMode.KillThenReap, r.ModeUsed);
                    Assert.Equal("EINVAL", r.FallbackReason);
                    Assert.Contains(r.ReapErrno, new[] { 0, ESRCH });
                    break;
            }
        }
        finally
        {
            KillIfAlive(child);
        }
    }

    [PrivilegedFact]
    public void A_wrong_start_time_is_refused_and_the_child_survives()
    {
        using var child = Spawn("sleep", "60");
        try
        {
            var victim = VictimOf(child) with { StartTime = VictimOf(child).StartTime + 1 };
            var r = new Killer(Kernel, ReapMode.KillThenReap, KillTestCommand.ReadStartTime).Kill(victim, false, 1000);

            Assert.Equal(KillOutcome.IdentityChanged, r.Outcome);
            Assert.Equal(KillResult.NotAttempted, r.SignalErrno);
            Assert.False(child.WaitForExit(300), "the child died although its identity did not match");
        }
        finally
        {
            KillIfAlive(child);
        }
    }

    [PrivilegedFact]
    public void A_victim_that_already_exited_is_Vanished_and_nothing_is_signalled()
    {
        // Long enough to read its start time, short enough to be gone before the kill.
        using var child = Spawn("sleep", "0.2");
        var victim = VictimOf(child);
        Assert.True(child.WaitForExit(5000));
        Assert.Equal(0, child.ExitCode);

        var r = new Killer(Kernel, ReapMode.KillThenReap, KillTestCommand.ReadStartTime).Kill(victim, false, 1000);
        output.WriteLine(r.ToString());
        // If the pid was recycled meanwhile, the identity check refuses it: either way no signal goes out.
        Assert.Contains(r.Outcome, new[] { KillOutcome.Vanished, KillOutcome.IdentityChanged });
        Assert.Equal(KillResult.NotAttempted, r.SignalErrno);
    }

    [PrivilegedFact]
    public void Probe_and_kill_dry_run_leave_the_child_alive()
    {
        using var child = Spawn("sleep", "60");
        try
        {
            var r = new Killer(Kernel, ReapMode.KillThenReap, KillTestCommand.ReadStartTime).Kill(VictimOf(child), dryRun: true, 1000);
            Assert.Equal(KillOutcome.DryRun, r.Outcome);
            Assert.False(child.WaitForExit(200));
        }
        finally
        {
            KillIfAlive(child);
        }
    }

    [PrivilegedFact]
    public void Kill_test_end_to_end_with_a_shell_child_reports_the_fallback()
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int rc = KillTestCommand.Run(["--json", "--timeout-ms", "5000"], stdout, stderr, ShellChild);
        output.WriteLine(stdout.ToString() + stderr);

        Assert.Equal(0, rc);
        using var doc = System.Text.Json.JsonDocument.Parse(stdout.ToString());
        var root = doc.RootElement;
        Assert.Equal("EINVAL", root.GetProperty("probeErrnoName").GetString());
        Assert.Equal("KillThenReap", root.GetProperty("modeUsed").GetString());
        Assert.Equal("REAP_KILL not supported (probe EINVAL)", root.GetProperty("fallbackReason").GetString());
        Assert.Equal("SIGKILL", root.GetProperty("childExitSignal").GetString());
        Assert.Equal(137, root.GetProperty("childExitCode").GetInt32());
        Assert.Contains(root.GetProperty("reapErrno").GetString(), new[] { "OK", "ESRCH" });
        Assert.True(root.GetProperty("exited").GetBoolean());
    }

    [PrivilegedFact]
    public void Kill_test_forced_to_ReapKill_shows_the_EINVAL_fallback_in_text()
    {
        var stdout = new StringWriter();
        int rc = KillTestCommand.Run(["--mode", "reap-kill"], stdout, TextWriter.Null, ShellChild);
        string text = stdout.ToString();
        output.WriteLine(text);

        Assert.Equal(0, rc);
        Assert.Contains("mode used:       KillThenReap (fallback: REAP_KILL refused: EINVAL)", text);
        Assert.Contains("child exit:      SIGKILL (exit code 137)", text);
    }

    [HogFact]
    public void Kills_the_lmkd_hog_and_reports_reap_and_exit()
    {
        using var dir = new TempDir();
        string ready = Path.Combine(dir.Path, "ready");
        using var child = Spawn(HogFactAttribute.Dotnet, HogFactAttribute.LmkdDll, "hog", "--mb", "32", "--ready-file", ready, "--oom-score-adj", "1000");
        try
        {
            Assert.True(SpinWait.SpinUntil(() => File.Exists(ready) || child.HasExited, TimeSpan.FromSeconds(30)) && !child.HasExited, "hog not ready");
            var victim = VictimOf(child);
            var r = new Killer(Kernel, ReapKillSupport.Probe(Kernel, out _), KillTestCommand.ReadStartTime).Kill(victim, false, 5000);
            output.WriteLine(r.ToString());

            Assert.Equal(KillOutcome.Killed, r.Outcome);
            Assert.Contains(r.ReapErrno, new[] { 0, ESRCH });
            Assert.True(r.Exited);
            Assert.True(child.WaitForExit(5000));
            Assert.Equal(137, child.ExitCode);
        }
        finally
        {
            KillIfAlive(child);
        }
    }

    [HogFact]
    public void Kill_test_end_to_end_with_the_lmkd_hog()
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int rc = KillTestCommand.Run(["--mb", "32"], stdout, stderr);
        output.WriteLine(stdout.ToString() + stderr);

        Assert.Equal(0, rc);
        Assert.Contains("child exit:      SIGKILL (exit code 137)", stdout.ToString());
        Assert.Contains("(fallback: REAP_KILL not supported (probe EINVAL))", stdout.ToString());
    }

    /// <summary>A child that holds nearly nothing, for the kill path itself: sh writes its pid, then becomes sleep.</summary>
    private static ProcessStartInfo ShellChild(int mb, string readyFile)
    {
        var psi = new ProcessStartInfo("/bin/sh");
        foreach (string a in new[] { "-c", "echo $$ > \"$1.tmp\" && mv \"$1.tmp\" \"$1\" && exec sleep 60", "sh", readyFile })
            psi.ArgumentList.Add(a);
        return psi;
    }

    private static Process Spawn(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in args)
            psi.ArgumentList.Add(a);
        return Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {file}");
    }

    private static ProcessInfo VictimOf(Process p) => new()
    {
        Pid = p.Id,
        StartTime = KillTestCommand.ReadStartTime(p.Id) ?? throw new InvalidOperationException("no start time"),
    };

    private static void KillIfAlive(Process p)
    {
        if (!p.HasExited)
        {
            p.Kill();
            p.WaitForExit();
        }
    }
}

/// <summary>
/// A privileged test that runs the real <c>lmkd hog</c> through <c>dotnet lmkd.dll</c>.
/// </summary>
public sealed class HogFactAttribute : FactAttribute
{
    public static string Dotnet => Environment.ProcessPath is { } p && Path.GetFileNameWithoutExtension(p) == "dotnet" ? p : "dotnet";
    public static string LmkdDll => Path.Combine(AppContext.BaseDirectory, "lmkd.dll");

    public HogFactAttribute()
    {
        Skip = Privileged.SkipReason();
    }
}
