using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Lmkd.Tests.Service;

/// <summary>deploy/systemd/lmkd.service, checked by systemd's own analyzers (offline: no running systemd needed).</summary>
public sealed partial class SystemdUnitTests
{
    /// <summary>systemd-oomd's own unit rates 2.0; Lmkd's must not be more exposed.</summary>
    private const double MaxExposure = 2.0;

    internal static string RepoFile(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Lmkd.slnx")))
                return Path.Combine(dir.FullName, relative);
        throw new FileNotFoundException("repository root (Lmkd.slnx) not found above " + AppContext.BaseDirectory);
    }

    private static string UnitText => File.ReadAllText(RepoFile("deploy/systemd/lmkd.service"));

    private static (int Code, string Output) Run(params string[] args)
    {
        var psi = new ProcessStartInfo(Tools.SystemdAnalyze) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        psi.Environment["SYSTEMD_COLORS"] = "0";
        psi.Environment["SYSTEMD_PAGER"] = "";
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout + stderr.Result);
    }

    /// <summary>The unit as installed, except that ExecStart names a binary that exists here (verify checks it is executable).</summary>
    private static string CopyWithBuiltBinary(string dir)
    {
        var binary = Environment.GetEnvironmentVariable("LMKD_BINARY") is { Length: > 0 } b ? b : Path.Combine(AppContext.BaseDirectory, "lmkd");
        Assert.True(File.Exists(binary), binary + " is missing");
        var text = UnitText.Replace("ExecStart=/usr/local/bin/lmkd ", $"ExecStart={binary} ", StringComparison.Ordinal);
        Assert.NotEqual(UnitText, text);
        var path = Path.Combine(dir, "lmkd.service");
        File.WriteAllText(path, text);
        return path;
    }

    [ToolFact(Tools.SystemdAnalyze)]
    public void Verify_passes()
    {
        var dir = Directory.CreateTempSubdirectory("lmkd-unit-").FullName;
        try
        {
            var (code, output) = Run("verify", "--man=no", CopyWithBuiltBinary(dir));
            Assert.True(code == 0 && output.Trim().Length == 0, $"systemd-analyze verify: exit {code}\n{output}");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [ToolFact(Tools.SystemdAnalyze)]
    public void Security_exposure_is_at_most_that_of_systemd_oomd()
    {
        var (code, output) = Run("security", "--offline=yes", "--no-pager", RepoFile("deploy/systemd/lmkd.service"));
        Assert.True(code == 0, $"systemd-analyze security: exit {code}\n{output}");
        var m = ExposureLine().Match(output);
        Assert.True(m.Success, "no exposure level in:\n" + output);
        double exposure = double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.True(exposure <= MaxExposure, $"exposure {exposure} > {MaxExposure}:\n{output}");
    }

    [ToolFact(Tools.SystemdAnalyze)]
    public void The_syscall_filter_allows_the_kill_path_by_name_and_denies_none_of_it()
    {
        // The kill path, then what self-protection and the hook thread need (capset: emptying its inheritable set).
        string[] killPath = ["pidfd_open", "pidfd_send_signal", "process_mrelease", "mlockall", "sched_setscheduler", "capset"];
        var lines = UnitText.Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith("SystemCallFilter=", StringComparison.Ordinal)).ToList();
        var allowed = lines.Where(l => !l.StartsWith("SystemCallFilter=~", StringComparison.Ordinal))
            .SelectMany(l => l["SystemCallFilter=".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToHashSet();
        foreach (var call in killPath[..3])
            Assert.Contains(call, allowed);

        // systemd applies allow and deny lines in order; a later deny of a group holding a kill-path call
        // would remove it again. Expand each denied group with systemd's own tables.
        var denied = lines.Where(l => l.StartsWith("SystemCallFilter=~", StringComparison.Ordinal))
            .SelectMany(l => l["SystemCallFilter=~".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToList();
        foreach (var group in denied)
        {
            var members = group.StartsWith('@') ? GroupMembers(group) : [group];
            foreach (var call in killPath)
            {
                // Denied in a group but allowed again on a later line is fine (systemd: last one wins).
                bool reallowedLater = lines.SkipWhile(l => !l.Contains(group, StringComparison.Ordinal)).Skip(1)
                    .Any(l => !l.StartsWith("SystemCallFilter=~", StringComparison.Ordinal) && l.Split('=', ' ').Contains(call));
                Assert.False(members.Contains(call) && !reallowedLater, $"{call} is denied by {group}");
            }
        }
    }

    [Fact]
    public void The_unit_keeps_the_promises_of_the_issue()
    {
        var text = UnitText;
        foreach (var setting in new[] { "Type=notify", "WatchdogSec=", "OOMScoreAdjust=-1000", "MemoryMin=", "MemoryLow=", "Restart=always",
                     "NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes", "ExecReload=", "--config /etc/lmkd/appsettings.json" })
            Assert.Contains(setting, text);
        var caps = text.Split('\n').Single(l => l.StartsWith("CapabilityBoundingSet=", StringComparison.Ordinal))["CapabilityBoundingSet=".Length..].Split(' ');
        Assert.Equal(["CAP_KILL", "CAP_IPC_LOCK", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_PTRACE"], caps);
        // Each capability is justified in a comment.
        foreach (var cap in caps)
            Assert.Matches(new Regex($"^# {cap}: ", RegexOptions.Multiline), text);
    }

    /// <summary>The calls of a syscall group, nested groups expanded (systemd-analyze lists them by name).</summary>
    private static HashSet<string> GroupMembers(string group)
    {
        var (code, output) = Run("syscall-filter", "--no-pager", group);
        Assert.True(code == 0, output);
        var members = new HashSet<string>();
        foreach (var line in output.Split('\n').Skip(1).Select(l => l.Trim()))
        {
            if (line.StartsWith('@'))
                members.UnionWith(GroupMembers(line));
            else if (line.Length > 0 && !line.StartsWith('#') && !line.Contains(' '))
                members.Add(line);
        }
        return members;
    }

    [GeneratedRegex(@"Overall exposure level for \S+: ([0-9]+\.[0-9])")]
    private static partial Regex ExposureLine();
}
