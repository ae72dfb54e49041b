using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Lmkd.Cli;

namespace Lmkd.Benchmarks;

/// <summary>
/// `pressure [--runs N] [--procs N] [--limit-mb N] [--timeout-s N]`: the end-to-end scenario of
/// PressureScenarioTests, measured. Each run makes a memory-limited cgroup, starts the real daemon scoped
/// to it, two idle hogs at oom_score_adj 900 and a growing hog that thrashes the page cache, and reads the
/// latencies from the daemon's kill events. The machine is first filled to about --procs processes (idle
/// sleeps in their own cgroup) so the scan pays for a realistic /proc. Everything made is removed, also
/// on failure, Ctrl-C or SIGTERM. The pressure never leaves the cgroup.
/// </summary>
public static class PressureScenario
{
    private static readonly LmkdCommand Command = LmkdCommand.FromEnvironment();

    private const string Usage = "usage: pressure [--runs N (5)] [--procs N (2000, 0: as the machine is)] [--limit-mb N (384)] [--timeout-s N (90)]";

    private sealed record Kill(int Run, long Id, int Pid, string Victim, string Reason, double WakeToDecisionMs,
        double DecisionToSignalMs, double EventToSignalMs, double SignalToExitMs, int Processes);

    public static int Run(string[] args)
    {
        int runs = 5, procs = 2000, limitMb = 384, timeoutS = 90;
        for (int i = 0; i < args.Length; i++)
        {
            bool ok = i + 1 < args.Length && int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out int v) && v >= 0;
            int value = ok ? int.Parse(args[++i], CultureInfo.InvariantCulture) : 0;
            switch (args[i - (ok ? 1 : 0)])
            {
                case "--runs" when ok && value is >= 1 and <= 50: runs = value; break;
                case "--procs" when ok && value <= 20_000: procs = value; break;
                case "--limit-mb" when ok && value is >= 256 and <= 2048: limitMb = value; break;
                case "--timeout-s" when ok && value is >= 10 and <= 600: timeoutS = value; break;
                default:
                    Console.Error.WriteLine(Usage);
                    return 2;
            }
        }
        if (Environment.UserName != "root" || !SandboxCgroup.IsSupported)
        {
            Console.Error.WriteLine("pressure: needs root and a usable cgroup layout (v1 memory + v2, or v2 with memory)");
            return 1;
        }

        using var stop = new StopSignals();
        var kills = new List<Kill>();
        int failures = 0;
        // The idle sleeps end with this block, before the summary is printed.
        {
            using var idle = procs > 0 ? IdleProcesses.FillTo(procs) : null;
            Console.WriteLine($"machine: {IdleProcesses.CountProcesses()} processes ({idle?.Started ?? 0} idle sleeps added); {Environment.ProcessorCount} CPUs; kernel {File.ReadAllText("/proc/sys/kernel/osrelease").Trim()}");
            Console.WriteLine($"daemon: {Command.Describe}");
            for (int run = 1; run <= runs && !stop.IsCancellationRequested; run++)
            {
                var (runKills, error) = RunOnce(run, limitMb, timeoutS, stop.Token);
                kills.AddRange(runKills);
                if (error is not null)
                {
                    failures++;
                    Console.WriteLine($"run {run}: {error}");
                }
            }
        }
        if (stop.IsCancellationRequested)
        {
            Console.WriteLine("interrupted; cleaned up");
            return 130;
        }

        PrintKills(kills);
        PrintSummary("first kill of each run", kills.Where(k => k.Id == 1).ToList());
        PrintSummary("all kills", kills);
        return failures == 0 && kills.Count > 0 ? 0 : 1;
    }

    private static (List<Kill> Kills, string? Error) RunOnce(int run, int limitMb, int timeoutS, CancellationToken stop)
    {
        var kills = new List<Kill>();
        SandboxCgroup? cg = null;
        DaemonChild? daemon = null;
        var workloads = new List<Process>();
        string file = Path.Combine("/var/tmp", $"lmkd-bench-{Environment.ProcessId}-{run}.dat");
        try
        {
            cg = SandboxCgroup.Create("lmkd-bench-pressure", (long)limitMb << 20);
            // Written from inside the cgroup and dropped from the cache, so re-reading it charges the cgroup.
            using (var dd = cg.StartShell($"dd if=/dev/zero of={SelfCommand.Quote(file)} bs=1M count={limitMb / 2} conv=fsync status=none && dd if={SelfCommand.Quote(file)} iflag=nocache count=0 status=none"))
            {
                if (!dd.WaitForExit(60_000) || dd.ExitCode != 0)
                    return (kills, "writing the thrash file failed");
            }

            daemon = DaemonChild.Start(Command.StartInfo("run", "--Lmkd:Scope:Cgroup=" + cg.RelativePath,
                "--Lmkd:Metrics:Enabled=false", "--Lmkd:SelfProtection:LockMemory=false"));
            if (!daemon.WaitReady(TimeSpan.FromSeconds(30), stop))
                return (kills, "the daemon did not start:\n" + daemon.Output);

            workloads.Add(cg.StartHog(Command.Shell, "--mb 40 --oom-score-adj 900"));
            workloads.Add(cg.StartHog(Command.Shell, "--mb 60 --oom-score-adj 900"));
            var hog = cg.StartHog(Command.Shell, $"--mb 20 --grow-mb 2 --every-ms 100 --max-mb {limitMb * 6} --oom-score-adj 0 --read-file {SelfCommand.Quote(file)} --readers 2");
            workloads.Add(hog);
            int processes = IdleProcesses.CountProcesses();

            bool hogDead = daemon.WaitFor(_ => hog.HasExited, TimeSpan.FromSeconds(timeoutS), stop);
            Thread.Sleep(500); // the last kill event reaches the log after the victim's exit
            long oomKills = cg.OomKillCount();

            foreach (var e in daemon.EventsLike("Kill {KillId} {Outcome}"))
            {
                if (e.GetProperty("Outcome").GetString() != "done")
                    continue;
                kills.Add(new Kill(run, e.GetProperty("KillId").GetInt64(), e.GetProperty("Pid").GetInt32(),
                    e.GetProperty("Comm").GetString() ?? "?", e.GetProperty("Reason").GetString() ?? "?",
                    e.GetProperty("WakeToDecisionMs").GetDouble(), e.GetProperty("DecisionToSignalMs").GetDouble(),
                    e.GetProperty("EventToSignalMs").GetDouble(), e.GetProperty("SignalToExitMs").GetDouble(), processes));
            }
            if (stop.IsCancellationRequested)
                return (kills, "interrupted");
            if (kills.Count == 0)
                return (kills, "no kill within the timeout:\n" + daemon.Output);
            if (!hogDead)
                return (kills, $"the hog survived {timeoutS} s");
            if (oomKills > 0)
                return (kills, $"the kernel's OOM killer acted first ({oomKills} kills)");
            return (kills, null);
        }
        finally
        {
            daemon?.Dispose();
            foreach (var w in workloads)
            {
                if (!w.HasExited)
                    w.Kill();
                w.Dispose();
            }
            cg?.Dispose();
            File.Delete(file);
        }
    }

    private static void PrintKills(List<Kill> kills)
    {
        Console.WriteLine();
        Console.WriteLine("| run | kill | victim | reason | processes | first PSI event -> SIGKILL (ms) | wake -> decision (ms) | decision -> SIGKILL (ms) | SIGKILL -> exit (ms) |");
        Console.WriteLine("|---:|---:|---|---|---:|---:|---:|---:|---:|");
        foreach (var k in kills)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {k.Run} | {k.Id} | {k.Pid} ({k.Victim}) | {k.Reason} | {k.Processes} | {k.EventToSignalMs:F1} | {k.WakeToDecisionMs:F3} | {k.DecisionToSignalMs:F2} | {k.SignalToExitMs:F2} |"));
    }

    private static void PrintSummary(string title, List<Kill> kills)
    {
        if (kills.Count == 0)
            return;
        Console.WriteLine();
        Console.WriteLine($"{title} (n = {kills.Count}):");
        Console.WriteLine("| measure | median | max | target |");
        Console.WriteLine("|---|---:|---:|---|");
        Row("first PSI event -> SIGKILL (ms)", kills.Select(k => k.EventToSignalMs), "F1", "");
        Row("wake -> decision (ms)", kills.Select(k => k.WakeToDecisionMs), "F3", "< 1 ms");
        Row("decision -> SIGKILL (ms)", kills.Select(k => k.DecisionToSignalMs), "F2", "< 5 ms");
        Row("SIGKILL -> exit (ms)", kills.Select(k => k.SignalToExitMs), "F2", "");
        Row("processes on the machine", kills.Select(k => (double)k.Processes), "F0", "~2,000");
    }

    private static void Row(string name, IEnumerable<double> values, string format, string target)
    {
        var sorted = values.Order().ToArray();
        double median = sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
        Console.WriteLine($"| {name} | {median.ToString(format, CultureInfo.InvariantCulture)} | {sorted[^1].ToString(format, CultureInfo.InvariantCulture)} | {target} |");
    }
}
