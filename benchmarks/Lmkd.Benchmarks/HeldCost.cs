using System.Diagnostics;
using System.Globalization;
using Lmkd.Cli;

namespace Lmkd.Benchmarks;

/// <summary>
/// `held [--seconds N (60)] [--limit-mb N (384)] [--left-pct P (4.5)]`: what watching a cgroup that is
/// full but steady costs the daemon. The headroom watch samples faster the closer headroom is to the
/// floor (every 10 ms near it), and a full but healthy cgroup may stay there for days. One daemon scoped
/// to one memory-limited test cgroup, measured twice in the same run: held with half its limit left (the
/// baseline, sampled about once a second), then held with P % left. For each hold: the daemon's CPU time
/// (utime + stime of /proc/PID/stat, 10 ms ticks), its monitor thread's wake-ups (voluntary context
/// switches of lmkd-monitor) and the ratio to the baseline. Nothing needs to die here: a kill by Lmkd or
/// by the kernel fails the run. Everything made is removed, also on failure or Ctrl-C.
/// </summary>
public static class HeldCost
{
    private const string Usage = "usage: held [--seconds N (60)] [--limit-mb N (384)] [--left-pct P (4.5)]";
    private const double BaselineLeftPct = 50;
    private const long TicksPerSecond = 100; // USER_HZ: what /proc reports times in, whatever the kernel's HZ

    private sealed record Hold(string Name, double TargetPct, double LowestPct, double HighestPct, double CpuMs, long Wakes, double Seconds, string ByThread);

    public static int Run(string[] args)
    {
        int seconds = 60, limitMb = 384;
        double leftPct = 4.5;
        for (int i = 0; i < args.Length; i++)
        {
            string? value = i + 1 < args.Length ? args[i + 1] : null;
            bool isInt = int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int n);
            bool isNum = double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double d);
            switch (args[i])
            {
                case "--seconds" when isInt && n is >= 10 and <= 3600: seconds = n; i++; break;
                case "--limit-mb" when isInt && n is >= 128 and <= 4096: limitMb = n; i++; break;
                case "--left-pct" when isNum && d is >= 1.5 and <= 20: leftPct = d; i++; break;
                default:
                    Console.Error.WriteLine(Usage);
                    return 2;
            }
        }
        if (Environment.UserName != "root" || !SandboxCgroup.IsSupported)
        {
            Console.Error.WriteLine("held: needs root and a usable cgroup layout (v1 memory + v2, or v2 with memory)");
            return 1;
        }

        using var stop = new StopSignals();
        var lmkd = LmkdCommand.FromEnvironment();
        var growers = new List<Process>();
        var stopFiles = new List<string>();
        try
        {
            using var cg = SandboxCgroup.Create("lmkd-bench-held", (long)limitMb << 20);
            var env = new Dictionary<string, string> { ["DBUS_SYSTEM_BUS_ADDRESS"] = "unix:path=/nonexistent/lmkd-bench/system_bus_socket" };
            using var daemon = DaemonChild.Start(lmkd.StartInfo("run", "--Lmkd:Scope:Cgroup=" + cg.RelativePath,
                "--Lmkd:Metrics:Enabled=false", "--Lmkd:SelfProtection:LockMemory=false", "--Lmkd:Status:Socket="), env);
            if (!daemon.WaitReady(TimeSpan.FromSeconds(30), stop.Token))
            {
                Console.WriteLine("held: the daemon did not start:\n" + daemon.Output);
                return 1;
            }
            int monitor = MonitorThread(daemon.Pid);
            Console.WriteLine($"daemon: {lmkd.Describe} (pid {daemon.Pid}, monitor thread {monitor}); cgroup {cg.RelativePath}, {limitMb} MiB; {Environment.ProcessorCount} CPUs; kernel {File.ReadAllText("/proc/sys/kernel/osrelease").Trim()}");

            var holds = new List<Hold>();
            foreach (var (name, target) in new[] { ("baseline", BaselineLeftPct), ("near the floor", leftPct) })
            {
                if (stop.IsCancellationRequested)
                    break;
                // Each hold gets a grower of its own, stopped by its own file once headroom is under the target.
                string stopFile = Path.Combine(Path.GetTempPath(), $"lmkd-bench-held-{Guid.NewGuid():N}.stop");
                stopFiles.Add(stopFile);
                growers.Add(cg.StartHog(lmkd.Shell, $"--mb 8 --grow-mb 2 --every-ms 100 --max-mb {2 * limitMb} --stop-file {SelfCommand.Quote(stopFile)}", stop: stop.Token));
                var fill = Stopwatch.StartNew();
                while (cg.HeadroomPct() >= target && fill.Elapsed < TimeSpan.FromSeconds(120) && !stop.IsCancellationRequested)
                    Thread.Sleep(20);
                File.WriteAllText(stopFile, "");
                if (stop.IsCancellationRequested)
                    break;
                // The fill rate the daemon measured decays to nothing before the hold is timed.
                Thread.Sleep(3000);
                holds.Add(Measure(name, target, seconds, cg, daemon.Pid, monitor, stop.Token));
            }
            if (stop.IsCancellationRequested)
            {
                Console.WriteLine("interrupted; cleaned up");
                return 130;
            }

            int kills = daemon.EventsLike("Kill {KillId}").Count();
            long oomKills = cg.OomKillCount();
            bool alive = growers.All(g => !g.HasExited);
            daemon.Terminate(TimeSpan.FromSeconds(5));
            Print(holds);
            Console.WriteLine();
            Console.WriteLine($"Lmkd kills: {kills}; kernel OOM kills: {oomKills}; every process alive: {(alive ? "yes" : "no")} (none of them had to die)");
            return kills == 0 && oomKills == 0 && alive && holds.Count == 2 ? 0 : 1;
        }
        catch (Exception) when (stop.IsCancellationRequested)
        {
            // A signal during a start-up wait (the daemon's, a grower's): the finally below cleans up.
            Console.WriteLine("interrupted; cleaned up");
            return 130;
        }
        finally
        {
            foreach (var g in growers)
            {
                if (!g.HasExited)
                    g.Kill();
                g.Dispose();
            }
            foreach (string f in stopFiles)
                File.Delete(f);
        }
    }

    private static Hold Measure(string name, double target, int seconds, SandboxCgroup cg, int pid, int monitor, CancellationToken stop)
    {
        double lowest = 100, highest = 0;
        long cpu0 = CpuTicks(pid), wakes0 = VoluntarySwitches(pid, monitor);
        var threads0 = TicksByThread(pid);
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(seconds) && !stop.IsCancellationRequested)
        {
            double pct = cg.HeadroomPct();
            lowest = Math.Min(lowest, pct);
            highest = Math.Max(highest, pct);
            Thread.Sleep(500);
        }
        double elapsed = sw.Elapsed.TotalSeconds;
        long cpu = CpuTicks(pid) - cpu0, wakes = VoluntarySwitches(pid, monitor) - wakes0;
        var byThread = TicksByThread(pid)
            .Select(t => (t.Key, Ticks: t.Value - threads0.GetValueOrDefault(t.Key)))
            .Where(t => t.Ticks > 0)
            .OrderByDescending(t => t.Ticks)
            .Select(t => $"{t.Key} {t.Ticks * 1000 / TicksPerSecond}");
        return new Hold(name, target, lowest, highest, cpu * 1000.0 / TicksPerSecond, wakes, elapsed, string.Join(", ", byThread));
    }

    private static void Print(List<Hold> holds)
    {
        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine();
        Console.WriteLine("| hold | headroom (lowest - highest) | seconds | daemon CPU (ms) | CPU per minute (ms) | share of one CPU | monitor wake-ups per second | CPU against the baseline | CPU by thread (ms) |");
        Console.WriteLine("|---|---|---:|---:|---:|---:|---:|---:|---|");
        double baseline = holds.Count > 0 ? holds[0].CpuMs / holds[0].Seconds : double.NaN;
        foreach (var h in holds)
        {
            double perSecond = h.CpuMs / h.Seconds;
            string ratio = baseline > 0 ? (perSecond / baseline).ToString("F1", inv) : "- (baseline under one tick)";
            Console.WriteLine(string.Create(inv,
                $"| {h.Name} (under {h.TargetPct:0.#} % left) | {h.LowestPct:F1} - {h.HighestPct:F1} % | {h.Seconds:F0} | {h.CpuMs:F0} | {perSecond * 60:F0} | {perSecond / 10:F2} % | {h.Wakes / h.Seconds:F1} | {ratio} | {h.ByThread} |"));
        }
        Console.WriteLine();
        Console.WriteLine("(CPU: utime + stime of the daemon's /proc/PID/stat, all threads, in 10 ms ticks; wake-ups: the monitor thread's voluntary context switches)");
    }

    private static long CpuTicks(int pid) => StatTicks($"/proc/{pid}/stat");

    /// <summary>CPU ticks of the daemon's live threads, summed by thread name (threads of one name, such as the thread pool's, together).</summary>
    private static Dictionary<string, long> TicksByThread(int pid)
    {
        var byName = new Dictionary<string, long>();
        foreach (string task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
        {
            try
            {
                string name = File.ReadAllText(Path.Combine(task, "comm")).Trim();
                byName[name] = byName.GetValueOrDefault(name) + StatTicks(Path.Combine(task, "stat"));
            }
            catch (IOException)
            {
                // The thread ended between the listing and the read.
            }
        }
        return byName;
    }

    /// <summary>utime + stime (fields 14 and 15) of a stat file, after the comm's closing parenthesis.</summary>
    private static long StatTicks(string path)
    {
        string stat = File.ReadAllText(path);
        string[] rest = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        // rest[0] is field 3 (state): field N is rest[N - 3].
        return long.Parse(rest[14 - 3], CultureInfo.InvariantCulture) + long.Parse(rest[15 - 3], CultureInfo.InvariantCulture);
    }

    private static int MonitorThread(int pid)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(5))
        {
            foreach (string task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
                if (File.ReadAllText(Path.Combine(task, "comm")).Trim() == "lmkd-monitor")
                    return int.Parse(Path.GetFileName(task), CultureInfo.InvariantCulture);
            Thread.Sleep(50);
        }
        throw new InvalidOperationException($"no lmkd-monitor thread in /proc/{pid}/task");
    }

    private static long VoluntarySwitches(int pid, int tid)
    {
        foreach (string line in File.ReadLines($"/proc/{pid}/task/{tid}/status"))
            if (line.StartsWith("voluntary_ctxt_switches:", StringComparison.Ordinal))
                return long.Parse(line.AsSpan(line.IndexOf(':') + 1).Trim(), CultureInfo.InvariantCulture);
        throw new InvalidOperationException($"no voluntary_ctxt_switches in /proc/{pid}/task/{tid}/status");
    }
}
