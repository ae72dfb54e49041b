using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Lmkd.Cli;
using Lmkd.Tests.Service;
using Xunit.Abstractions;

namespace Lmkd.Tests.EndToEnd;

/// <summary>
/// A short soak through the real script, scripts/soak.sh: one daemon through ten consecutive pressure
/// episodes in a memory-limited cgroup the script makes and removes. The daemon under test is the
/// native binary from $LMKD_BINARY (CI's second pass, against the AOT publish), else the JIT build
/// beside the tests (`dotnet lmkd.dll`, as the other end-to-end tests run it): no publish step.
/// </summary>
[Collection(RealKernelCollection.Name)]
[Trait("Category", "EndToEnd")]
public sealed partial class SoakTests(ITestOutputHelper output)
{
    private const int Episodes = 10;
    // Ten episodes take ~30 s here (AOT ~25 s, JIT ~35 s); the script may first have to build the driver.
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(4);

    [PrivilegedFact]
    public void Ten_episodes_each_end_in_one_Lmkd_kill_with_no_kernel_OOM_kill_and_no_growth_of_the_daemon()
    {
        string native = Environment.GetEnvironmentVariable("LMKD_BINARY") ?? "";
        string binary = native.Length > 0 ? native : Path.Combine(AppContext.BaseDirectory, "lmkd.dll");
        var cgroupsBefore = SoakCgroups();

        var (code, text) = RunScript("--episodes", Episodes.ToString(CultureInfo.InvariantCulture), "--binary", binary);
        output.WriteLine(text);

        Assert.True(code == 0, $"scripts/soak.sh exited with {code}");
        var lines = text.Split('\n');
        Assert.Contains("soak: PASS", lines);
        Assert.Contains(lines, l => l.StartsWith("soak: 10 episodes; daemon " + (native.Length > 0 ? "native " : "JIT: "), StringComparison.Ordinal));

        var r = Figures(lines.Single(l => l.StartsWith("soak result: ", StringComparison.Ordinal)));
        Assert.Equal(Episodes, r["episodes"]);
        Assert.Equal(Episodes, r["lmkd_kills"]);
        Assert.Equal(Episodes, r["killed_by_lmkd"]);
        Assert.Equal(0, r["kernel_oom_kills"]);
        Assert.True(r["rss_after_1_kb"] > 0 && r["rss_end_kb"] <= r["rss_after_1_kb"] * 1.10,
            $"RSS grew from {r["rss_after_1_kb"]} kB after episode 1 to {r["rss_end_kb"]} kB");
        Assert.True(r["threads_end"] > 0 && r["threads_end"] <= r["threads_start"], $"threads {r["threads_start"]} -> {r["threads_end"]}");
        Assert.True(r["fds_end"] > 0 && r["fds_end"] <= r["fds_start"], $"fds {r["fds_start"]} -> {r["fds_end"]}");
        Assert.Equal(0, r["complaints"]);

        // One row per episode: one Lmkd kill, SIGKILL, no kernel OOM kill.
        var rows = lines.Select(l => Row().Match(l)).Where(m => m.Success).ToList();
        Assert.Equal(Enumerable.Range(1, Episodes), rows.Select(m => int.Parse(m.Groups["n"].Value, CultureInfo.InvariantCulture)));
        Assert.All(rows, m =>
        {
            Assert.Equal("1", m.Groups["kills"].Value);
            Assert.Equal("9", m.Groups["signal"].Value);
            Assert.Equal("0", m.Groups["oom"].Value);
        });

        // Nothing left behind: the daemon is gone, and so is every cgroup the soak made.
        Assert.False(Directory.Exists($"/proc/{r["daemon_pid"]}") && IsLmkdDaemon((int)r["daemon_pid"]), "the soak's daemon still runs");
        Assert.Empty(SoakCgroups().Except(cgroupsBefore));
    }

    // | episode | hog pid | Lmkd kills | reason | headroom | exit signal | kernel OOM kills | ...
    [GeneratedRegex(@"^\| (?<n>\d+) \| \d+ \| (?<kills>\d+) \| [^|]+ \| [^|]+ \| (?<signal>[-\d]+) \| (?<oom>\d+) \|")]
    private static partial Regex Row();

    private static Dictionary<string, double> Figures(string line) =>
        line["soak result: ".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(kv => kv.Split('='))
            .ToDictionary(kv => kv[0], kv => double.Parse(kv[1], CultureInfo.InvariantCulture));

    private (int Code, string Text) RunScript(params string[] args)
    {
        var psi = new ProcessStartInfo(SystemdUnitTests.RepoFile("scripts/soak.sh"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string a in args)
            psi.ArgumentList.Add(a);
        // The test host runs under MSBuild's environment (dotnet test); a build the script may start
        // must not inherit it.
        foreach (string name in psi.Environment.Keys.Where(k => k.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase)).ToList())
            psi.Environment.Remove(name);
        var text = new ConcurrentQueue<string>();
        using var p = new Process { StartInfo = psi };
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) text.Enqueue(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) text.Enqueue("stderr: " + e.Data); };
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        if (!p.WaitForExit(Timeout))
        {
            // SIGTERM first: the script has the driver stop the daemon and remove the cgroup.
            Signal(p.Id, 15);
            if (!p.WaitForExit(TimeSpan.FromSeconds(30)))
                p.Kill(entireProcessTree: true);
            p.WaitForExit();
            output.WriteLine(string.Join('\n', text));
            Assert.Fail($"scripts/soak.sh did not finish within {Timeout.TotalMinutes:F0} min");
        }
        p.WaitForExit(); // the end of the redirected output
        return (p.ExitCode, string.Join('\n', text));
    }

    private static HashSet<string> SoakCgroups()
    {
        var dirs = new HashSet<string>();
        foreach (string root in new[] { SandboxCgroup.V1MemoryRoot, SandboxCgroup.HybridV2Root, SandboxCgroup.PureV2Root })
            if (Directory.Exists(root))
                foreach (string dir in Directory.GetDirectories(root, "lmkd-soak-*"))
                    dirs.Add(dir);
        return dirs;
    }

    private static bool IsLmkdDaemon(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Split('\0').Contains("run");
        }
        catch (IOException)
        {
            return false;
        }
    }

    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int Signal(int pid, int signal);
}
