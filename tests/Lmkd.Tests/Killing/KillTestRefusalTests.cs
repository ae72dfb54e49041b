using System.Diagnostics;
using Lmkd.Cli;
using Lmkd.Linux;
using Lmkd.ProcFs;

namespace Lmkd.Tests.Killing;

/// <summary>
/// <c>lmkd kill-test --victim-pid</c> obeys the daemon's never-kill rules, case by case against real
/// processes: the children these tests spawn (each a 'sleep'), and pid 1, a kernel thread and this
/// test process, which are refused before anything is signalled.
/// </summary>
public sealed class KillTestRefusalTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly List<Process> _children = [];
    private readonly List<string> _overlays = [];

    /// <summary>case, --force, exit code, what stderr says (null: nothing).</summary>
    public static TheoryData<string, bool, int, string?> Cases => new()
    {
        { "plain", false, 0, null },
        { "init", false, 2, "pid 1 (" },
        { "init", true, 2, "is init: Lmkd never kills it, and --force does not change that" },
        { "kernel-thread", false, 2, "is a kernel thread" },
        { "kernel-thread", true, 2, "is a kernel thread: Lmkd never kills one, and --force does not change that" },
        { "this-command", false, 2, "is this kill-test command itself" },
        { "this-command", true, 2, "is this kill-test command itself" },
        { "lmkd-daemon", false, 2, "is an Lmkd daemon (it runs a lmkd-monitor thread): Lmkd never kills itself; --force kills it anyway" },
        { "lmkd-daemon", true, 0, "--force: killing although pid" },
        { "oom-disabled", false, 2, "has oom_score_adj -1000, the kernel's own never-kill mark" },
        { "oom-disabled", true, 0, "--force: killing although" },
        { "protected-uid", false, 2, "protected by Lmkd:Protect:Uids; --force kills it anyway" },
        { "protected-uid", true, 0, "protected by Lmkd:Protect:Uids" },
        { "protected-exe", false, 2, "protected by Lmkd:Protect:ExePaths; --force kills it anyway" },
        { "protected-exe", true, 0, "protected by Lmkd:Protect:ExePaths" },
        { "protected-cgroup", false, 2, "protected by Lmkd:Protect:Cgroups; --force kills it anyway" },
        { "protected-cgroup", true, 0, "protected by Lmkd:Protect:Cgroups" },
    };

    [PrivilegedTheory]
    [MemberData(nameof(Cases))]
    public void Victim_pid_obeys_the_never_kill_rules(string kind, bool force, int expectedExit, string? expectedMessage)
    {
        string config = Path.Combine(_dir.Path, "appsettings.json");
        File.WriteAllText(config, "{}"); // defaults: nothing protected but what each case adds
        Process? child = null;
        int pid;
        var switches = new List<string>();
        switch (kind)
        {
            case "init":
                pid = 1;
                break;
            case "kernel-thread":
                pid = AnyKernelThread();
                break;
            case "this-command":
                pid = Environment.ProcessId;
                break;
            case "lmkd-daemon":
                // Its comm is the name it was run by: the monitor thread's name, as the daemon's main thread would not be.
                string posing = Path.Combine(_dir.Path, OperatorVictimCheck.DaemonThreadName);
                File.CreateSymbolicLink(posing, "/usr/bin/sleep");
                child = Spawn(posing);
                pid = child.Id;
                break;
            case "oom-disabled":
                // Lowering oom_score_adj needs CAP_SYS_RESOURCE, which this machine lacks: the child's /proc
                // entry is seen through a ProcRoot that says -1000 and passes everything else through.
                child = Spawn("/usr/bin/sleep");
                pid = child.Id;
                switches.Add("--Lmkd:ProcRoot=" + ProcOverlay(pid, "oom_score_adj", "-1000\n"));
                break;
            default:
                child = Spawn("/usr/bin/sleep");
                pid = child.Id;
                var seen = new ProcessScanner().Read(pid) ?? throw new InvalidOperationException("child unreadable");
                if (kind == "protected-uid")
                    switches.Add($"--Lmkd:Protect:Uids:0={seen.Uid}");
                else if (kind == "protected-exe")
                    switches.Add($"--Lmkd:Protect:ExePaths:0={seen.ExePath}");
                else if (kind == "protected-cgroup")
                    switches.Add($"--Lmkd:Protect:Cgroups:0={seen.CgroupPath}");
                break;
        }

        var stdout = new StringWriter();
        var stderr = new StringWriter();
        string[] args = ["--victim-pid", pid.ToString(System.Globalization.CultureInfo.InvariantCulture), "--timeout-ms", "5000", "--config", config, .. switches, .. (force ? new[] { "--force" } : [])];
        int exit = KillTestCommand.Run(args, stdout, stderr);

        Assert.True(exit == expectedExit, $"exit {exit}, expected {expectedExit}; stderr: {stderr}; stdout: {stdout}");
        if (expectedMessage is null)
            Assert.Equal("", stderr.ToString());
        else
            Assert.Contains(expectedMessage, stderr.ToString());
        if (child is not null)
        {
            if (expectedExit == 0)
            {
                Assert.True(child.WaitForExit(10_000), "the victim is still alive");
                Assert.Equal(128 + Native.SIGKILL, child.ExitCode);
                Assert.Contains("outcome:         Killed", stdout.ToString());
            }
            else
            {
                Assert.False(child.HasExited, "a refused victim was signalled");
                Assert.Equal("", stdout.ToString());
            }
        }
    }

    [PrivilegedFact]
    public void An_invalid_configuration_refuses_with_78_and_signals_nothing()
    {
        var child = Spawn("/usr/bin/sleep");
        var stderr = new StringWriter();
        int exit = KillTestCommand.Run(["--victim-pid", child.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), "--Lmkd:Kill:TimeoutMs=-5"], TextWriter.Null, stderr);
        Assert.Equal(78, exit);
        Assert.Contains("Lmkd:Kill:TimeoutMs", stderr.ToString());
        Assert.False(child.HasExited);
    }

    [Theory]
    [InlineData("--force")]
    [InlineData("--config", "/etc/lmkd/appsettings.json")]
    [InlineData("--Lmkd:Protect:Uids:0=0")]
    public void Never_kill_options_without_a_victim_pid_are_a_usage_error(params string[] args)
    {
        var stderr = new StringWriter();
        Assert.Equal(2, KillTestCommand.Run(args, TextWriter.Null, stderr));
        Assert.Contains("go with --victim-pid", stderr.ToString());
    }

    [PrivilegedFact]
    public void A_pid_that_does_not_exist_fails_with_1()
    {
        var stderr = new StringWriter();
        Assert.Equal(1, KillTestCommand.Run(["--victim-pid", int.MaxValue.ToString(System.Globalization.CultureInfo.InvariantCulture)], TextWriter.Null, stderr));
        Assert.Contains($"no process {int.MaxValue}", stderr.ToString());
    }

    private Process Spawn(string program)
    {
        var child = Process.Start(new ProcessStartInfo(program, "60") { UseShellExecute = false })!;
        _children.Add(child);
        // Until its exec is done the child still shows the test host's comm and exe.
        Assert.True(SpinWait.SpinUntil(() => ReadOrEmpty($"/proc/{child.Id}/comm").Trim() == Path.GetFileName(program), TimeSpan.FromSeconds(10)));
        return child;
    }

    /// <summary>A /proc of symlinks to the real one, for pid 1 and <paramref name="pid"/>, where one file of the pid says something else.</summary>
    private string ProcOverlay(int pid, string file, string content)
    {
        string root = Path.Combine(_dir.Path, "proc");
        Directory.CreateDirectory(root);
        Directory.CreateSymbolicLink(Path.Combine(root, "1"), "/proc/1");
        string dir = Directory.CreateDirectory(Path.Combine(root, pid.ToString(System.Globalization.CultureInfo.InvariantCulture))).FullName;
        foreach (var entry in new DirectoryInfo($"/proc/{pid}").EnumerateFileSystemInfos())
        {
            string at = Path.Combine(dir, entry.Name);
            if (entry.Name == file)
                File.WriteAllText(at, content);
            else if (entry.Name == "exe")
                File.CreateSymbolicLink(at, entry.LinkTarget!); // read as a link: the same target
            else if (entry.LinkTarget is null) // cwd and root stay out: links into real directories
                File.CreateSymbolicLink(at, entry.FullName);
        }
        _overlays.Add(root);
        return root;
    }

    /// <summary>Removes an overlay link by link (unlink never follows one), never recursing into what a link points at.</summary>
    private static void RemoveOverlay(string root)
    {
        foreach (var dir in new DirectoryInfo(root).EnumerateFileSystemInfos())
        {
            if (dir.LinkTarget is null && dir is DirectoryInfo d)
            {
                foreach (var entry in d.EnumerateFileSystemInfos())
                    File.Delete(entry.FullName);
                d.Delete();
            }
            else
            {
                File.Delete(dir.FullName);
            }
        }
        Directory.Delete(root);
    }

    private static int AnyKernelThread()
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid))
                continue;
            byte[] stat;
            try
            {
                stat = File.ReadAllBytes(Path.Combine(dir, "stat"));
            }
            catch (IOException)
            {
                continue;
            }
            if (ProcStat.TryParse(stat, out var fields) && fields.IsKernelThread)
                return pid;
        }
        throw new InvalidOperationException("no kernel thread in /proc");
    }

    private static string ReadOrEmpty(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (IOException)
        {
            return "";
        }
    }

    public void Dispose()
    {
        foreach (var c in _children)
        {
            try
            {
                if (!c.HasExited)
                {
                    c.Kill();
                    c.WaitForExit();
                }
            }
            catch (InvalidOperationException)
            {
            }
            c.Dispose();
        }
        foreach (var root in _overlays)
            RemoveOverlay(root);
        _dir.Dispose();
    }
}
