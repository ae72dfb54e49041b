using System.Globalization;
using System.Text;
using Lmkd.Policies;
using Lmkd.ProcFs;

namespace Lmkd.Cli;

/// <summary>
/// The daemon's never-kill rules for a process an operator names (<c>lmkd kill-test --victim-pid</c>):
/// the process is read as the daemon's scanner reads it and judged by <see cref="VictimRanking"/>
/// itself, so the command refuses exactly what the daemon would never kill. pid 1, kernel threads
/// and the command itself stay refused with --force; Lmkd, oom_score_adj -1000, protected processes
/// and zombies are refused unless the operator adds --force.
/// </summary>
internal static class OperatorVictimCheck
{
    /// <summary>The name of the daemon's monitor thread (MonitorLoop): a process running one is an Lmkd daemon.</summary>
    internal const string DaemonThreadName = "lmkd-monitor";

    internal enum Verdict
    {
        Allowed,
        /// <summary>A never-kill rule applies; --force overrides it.</summary>
        Refused,
        /// <summary>pid 1, a kernel thread or this command: --force does not override it.</summary>
        AlwaysRefused,
        /// <summary>No such process, or its /proc files cannot be read.</summary>
        NotFound,
    }

    /// <param name="why">For a refusal, which rule and why, in words for the operator; else null.</param>
    public static Verdict Check(int pid, ProcessScanner scanner, RankingRules rules, out ProcessInfo? victim, out string? why)
    {
        ArgumentNullException.ThrowIfNull(scanner);
        ArgumentNullException.ThrowIfNull(rules);
        victim = null;
        why = null;
        string dir = Path.Combine(scanner.ProcRoot, pid.ToString(CultureInfo.InvariantCulture));
        byte[] statBytes;
        try
        {
            statBytes = File.ReadAllBytes(Path.Combine(dir, "stat"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            why = $"no process {pid} ({e.Message})";
            return Verdict.NotFound;
        }
        if (!ProcStat.TryParse(statBytes, out var stat))
        {
            why = $"cannot parse {dir}/stat";
            return Verdict.NotFound;
        }

        // The scanner skips kernel threads and zombies (they are never candidates): described from stat alone.
        var process = stat.IsKernelThread || stat.IsZombie
            ? new ProcessInfo { Pid = pid, StartTime = stat.StartTime, State = stat.State, Comm = Encoding.UTF8.GetString(stat.Comm), IsKernelThread = stat.IsKernelThread }
            : scanner.Read(pid);
        if (process is null)
        {
            why = $"cannot read the /proc files of pid {pid} (gone, or not readable)";
            return Verdict.NotFound;
        }
        victim = process;

        // The ranking's Self rule covers this command; a running daemon is Lmkd itself too.
        bool isCommand = pid == Environment.ProcessId;
        int self = isCommand || IsLmkdDaemon(dir) ? pid : Environment.ProcessId;
        var ranking = VictimRanking.Rank([process], minScoreAdj: -1000, rules, self);
        if (ranking.Rejected.Count == 0)
            return Verdict.Allowed;

        string name = $"pid {pid} ({Sanitize(process.Comm)})";
        switch (ranking.Rejected[0].Reason)
        {
            case ExclusionReason.Init:
                why = $"{name} is init: Lmkd never kills it, and --force does not change that (the kernel ignores SIGKILL sent to init from its own pid namespace, and its death would end the whole system)";
                return Verdict.AlwaysRefused;
            case ExclusionReason.KernelThread:
                why = $"{name} is a kernel thread: Lmkd never kills one, and --force does not change that (kernel threads ignore SIGKILL and hold no user memory)";
                return Verdict.AlwaysRefused;
            case ExclusionReason.Self when isCommand:
                why = $"{name} is this kill-test command itself: --force does not change that";
                return Verdict.AlwaysRefused;
            case ExclusionReason.Self:
                why = $"{name} is an Lmkd daemon (it runs a {DaemonThreadName} thread): Lmkd never kills itself";
                return Verdict.Refused;
            case ExclusionReason.OomDisabled:
                why = $"{name} has oom_score_adj -1000, the kernel's own never-kill mark: Lmkd never kills it";
                return Verdict.Refused;
            case ExclusionReason.ProtectedUid:
                why = $"{name} runs as uid {process.Uid}, protected by Lmkd:Protect:Uids";
                return Verdict.Refused;
            case ExclusionReason.ProtectedExe:
                why = $"{name} runs {process.ExePath}, protected by Lmkd:Protect:ExePaths";
                return Verdict.Refused;
            case ExclusionReason.ProtectedCgroup:
                why = $"{name} is in cgroup {process.CgroupPath}, protected by Lmkd:Protect:Cgroups";
                return Verdict.Refused;
            case ExclusionReason.Zombie:
                why = $"{name} is a zombie: it has exited already, there is nothing to kill";
                return Verdict.Refused;
            default:
                // No memory to free, for instance: not a never-kill rule, and kill-test reports what happens.
                return Verdict.Allowed;
        }
    }

    /// <summary>Whether the process runs the daemon's monitor thread. Readable by name only, so a process could pose as Lmkd: it only earns a refusal that --force overrides.</summary>
    private static bool IsLmkdDaemon(string processDir)
    {
        try
        {
            foreach (string task in Directory.EnumerateDirectories(Path.Combine(processDir, "task")))
            {
                if (File.ReadAllText(Path.Combine(task, "comm")).TrimEnd('\n') == DaemonThreadName)
                    return true;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Gone meanwhile, or unreadable: the kill path will say.
        }
        return false;
    }

    /// <summary>comm is chosen by the process: keep control characters out of the operator's terminal.</summary>
    private static string Sanitize(string s) => string.Concat(s.Select(c => char.IsControl(c) ? '?' : c));
}
