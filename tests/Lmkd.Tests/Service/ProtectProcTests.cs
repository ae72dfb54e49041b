using System.Diagnostics;
using System.Text.Json;
using Lmkd.Cli;
using Lmkd.Tests.EndToEnd;

namespace Lmkd.Tests.Service;

/// <summary>
/// The unit's ProtectProc=ptraceable mounts /proc with hidepid=ptraceable. It must hide nothing
/// from Lmkd, a non-root user with CAP_SYS_PTRACE, and it hides other users' processes from the
/// post-kill hook (the same user, no capabilities). Checked on such a /proc, mounted in a private
/// mount namespace, with the real `lmkd candidates`.
/// </summary>
[Collection(RealKernelCollection.Name)]
public sealed class ProtectProcTests
{
    [PrivilegedFact(Tools.Setpriv)]
    public void On_a_hidepid_ptraceable_proc_Lmkd_sees_every_process_and_a_process_without_capabilities_only_its_own_user_s()
    {
        var dir = Directory.CreateTempSubdirectory("lmkd-hidepid-").FullName;
        // Processes of two other users that must be visible to Lmkd and hidden from the hook, whatever
        // else runs on the host (a CI container may run only a handful).
        using var rootSleeper = Process.Start("sleep", "600");
        using var otherSleeper = Process.Start("setpriv", "--reuid=65533 --regid=65533 --clear-groups -- sleep 600");
        try
        {
            WaitForUid(otherSleeper.Id, 65533);
            var asRoot = Pids(Candidates(LmkdCommand("/proc")));
            string lmkdAsUnit = $"setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=+sys_ptrace --ambient-caps=+sys_ptrace -- {LmkdCommand(dir, LmkdProcess.CommandForOtherUser())}";
            string hookAsUnit = $"setpriv --reuid=65534 --regid=65534 --clear-groups -- {LmkdCommand(dir, LmkdProcess.CommandForOtherUser())}";
            var (unit, hook) = (Candidates($"unshare --mount --propagation private sh -c {SelfCommand.Quote($"mount -t proc -o hidepid=ptraceable proc {dir} && {lmkdAsUnit}")}"),
                Candidates($"unshare --mount --propagation private sh -c {SelfCommand.Quote($"mount -t proc -o hidepid=ptraceable proc {dir} && {hookAsUnit}")}"));

            // Every process root saw that still runs, the unit's Lmkd saw too. Pid 1 aside: it is never a
            // candidate, and a container's or sandbox's pid 1 may refuse ptrace even to CAP_SYS_PTRACE (this host's does).
            var seenByLmkd = Pids(unit);
            var missing = asRoot.Keys.Where(pid => pid != 1 && Directory.Exists($"/proc/{pid}") && !seenByLmkd.ContainsKey(pid)).ToList();
            Assert.Contains(rootSleeper.Id, asRoot.Keys);
            Assert.Contains(otherSleeper.Id, asRoot.Keys);
            Assert.Contains(rootSleeper.Id, seenByLmkd.Keys);
            Assert.Contains(otherSleeper.Id, seenByLmkd.Keys);
            Assert.True(missing.Count == 0, $"hidden from Lmkd: {string.Join(", ", missing.Take(20))}");
            // Without capabilities: only the user's own processes (the candidates command itself, and any other of uid 65534).
            var seen = Pids(hook);
            Assert.NotEmpty(seen);
            Assert.All(seen.Values, uid => Assert.Equal(65534u, uid));
            Assert.DoesNotContain(otherSleeper.Id, seen.Keys);
        }
        finally
        {
            rootSleeper.Kill();
            otherSleeper.Kill();
            Directory.Delete(dir);
        }
    }

    /// <summary>setpriv execs sleep in place: wait until the pid carries its new uid.</summary>
    private static void WaitForUid(int pid, uint uid)
    {
        for (int i = 0; i < 200; i++)
        {
            var status = File.ReadAllLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("Uid:", StringComparison.Ordinal));
            if (status is not null && status.Split('\t', StringSplitOptions.RemoveEmptyEntries)[1] == uid.ToString(System.Globalization.CultureInfo.InvariantCulture))
                return;
            Thread.Sleep(10);
        }
        Assert.Fail($"pid {pid} never took uid {uid}");
    }

    private static string LmkdCommand(string procRoot) => LmkdCommand(procRoot, Workload.LmkdCommand());

    private static string LmkdCommand(string procRoot, string lmkd) => $"{lmkd} candidates --json --Lmkd:ProcRoot={procRoot}";

    /// <summary>pid to uid of every process `lmkd candidates` listed, eligible or excluded.</summary>
    private static Dictionary<int, uint> Pids(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.GetProperty("candidates").EnumerateArray().ToDictionary(c => c.GetProperty("pid").GetInt32(), c => c.GetProperty("uid").GetUInt32());
    }

    private static string Candidates(string shellCommand)
    {
        var psi = new ProcessStartInfo("/bin/sh", ["-c", shellCommand]) { RedirectStandardOutput = true, RedirectStandardError = true };
        // LMKD_* would be configuration to lmkd; the test's own (LMKD_BINARY, LMKD_REQUIRE_PRIVILEGED) are not.
        foreach (var name in psi.Environment.Keys.Where(k => k.StartsWith("LMKD_", StringComparison.Ordinal)).ToList())
            psi.Environment.Remove(name);
        psi.Environment["HOME"] = "/nonexistent";
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(60_000), "lmkd candidates did not finish");
        Assert.True(p.ExitCode == 0, $"{shellCommand}: exit {p.ExitCode}\n{stderr.Result}");
        return stdout;
    }
}
