using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using Lmkd.Cli;

namespace Lmkd.Benchmarks;

/// <summary>
/// `soak --binary PATH [--episodes N] [--limit-mb N] [--lock-memory auto|on|off] [--daemon-pid-file PATH]`:
/// N consecutive pressure episodes against one running daemon (issue 10's soak). One memory-limited
/// test cgroup, swap off inside it; the real daemon scoped to it; then, N times, one `lmkd hog` at
/// oom_score_adj 900, the cgroup's only process, growing anonymous memory into the limit (~200 MiB/s):
/// one kill resolves it. Each episode checks that the hog died of SIGKILL, that the daemon logged
/// exactly one kill, of that pid, and that the kernel's OOM killer did not act (v1 memory.oom_control /
/// v2 memory.events oom_kill); then waits until the cgroup is empty and the daemon has closed the
/// episode (its "gave back" event, one second after the exit, when its post-kill polling window
/// ends) and records the daemon's VmRSS, threads and open fds. Prints a summary and PASS/FAIL
/// against: one kill per episode, no kernel OOM kill, RSS at the end within 10 % of RSS after
/// episode 1, threads and fds at the end equal to those at the start. Exit 0 on PASS, 1 on FAIL.
/// Everything made is removed, also on failure, Ctrl-C or SIGTERM. The pressure never leaves the cgroup.
/// </summary>
public static class Soak
{
    private const string Usage =
        "usage: soak --binary PATH [--episodes N (50)] [--limit-mb N (192)] [--lock-memory auto|on|off (auto)] [--daemon-pid-file PATH]";

    // Each step 4 MiB every 20 ms: ~200 MiB/s nominal (the page faults make it a little slower), the
    // fastest rate PressureScenarioTests proves; 192 MiB fill in about a second.
    private const string HogGrowth = "--mb 16 --grow-mb 4 --every-ms 20";
    private static readonly TimeSpan EpisodeTimeout = TimeSpan.FromSeconds(30);
    private const double RssTolerance = 0.10;

    private sealed record Sample(long RssKb, long LockedKb, int Threads, int Fds);

    private sealed record Episode(int Number, int HogPid, string Outcome, int Kills, string Reason, int? Signal,
        long OomKills, double FillMs, double TotalMs, double DecisionToSignalMs, double SignalToExitMs, Sample After, string? Error);

    public static int Run(string[] args)
    {
        int episodes = 50, limitMb = 192;
        string? binary = null, pidFile = null, lockMode = "auto";
        for (int i = 0; i < args.Length; i++)
        {
            string? value = i + 1 < args.Length ? args[i + 1] : null;
            bool isInt = int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int n);
            switch (args[i])
            {
                case "--episodes" when isInt && n is >= 1 and <= 10_000: episodes = n; i++; break;
                case "--limit-mb" when isInt && n is >= 64 and <= 2048: limitMb = n; i++; break;
                case "--binary" when value is { Length: > 0 }: binary = Path.GetFullPath(value); i++; break;
                case "--daemon-pid-file" when value is { Length: > 0 }: pidFile = value; i++; break;
                case "--lock-memory" when value is "auto" or "on" or "off": lockMode = value; i++; break;
                default:
                    Console.Error.WriteLine(Usage);
                    return 2;
            }
        }
        if (binary is null || !File.Exists(binary))
        {
            Console.Error.WriteLine($"soak: no lmkd binary ({binary ?? "--binary is required"})");
            Console.Error.WriteLine(Usage);
            return 2;
        }
        if (Environment.UserName != "root" || !SandboxCgroup.IsSupported)
        {
            Console.Error.WriteLine("soak: needs root and a usable cgroup layout (v1 memory + v2, or v2 with memory)");
            return 1;
        }
        // The production setting (appsettings.json, the unit grants CAP_IPC_LOCK) where it can work:
        // with mlockall(MCL_CURRENT|MCL_FUTURE|MCL_ONFAULT) every page the daemon ever touches stays
        // resident, so VmRSS is the high-water mark of what it uses and no growth hides behind reclaim.
        bool lockMemory = lockMode switch
        {
            "on" => true,
            "off" => false,
            _ => Lmkd.Hosting.SelfProtection.HasCapability(14), // CAP_IPC_LOCK
        };

        using var stop = new CancellationTokenSource();
        ConsoleCancelEventHandler onCtrlC = (_, e) => { e.Cancel = true; stop.Cancel(); };
        Console.CancelKeyPress += onCtrlC;
        using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
        try
        {
            return RunSoak(binary, episodes, limitMb, lockMemory, pidFile, stop.Token);
        }
        catch (Exception e) when (!stop.IsCancellationRequested)
        {
            // Caught here so that every finally below (the daemon, the hog, the cgroup) has run.
            Console.WriteLine($"soak: FAIL: {e.GetType().Name}: {e.Message}");
            return 1;
        }
        catch (Exception) when (stop.IsCancellationRequested)
        {
            Console.WriteLine("soak: interrupted; cleaned up");
            return 130;
        }
        finally
        {
            Console.CancelKeyPress -= onCtrlC;
        }
    }

    private static int RunSoak(string binary, int episodes, int limitMb, bool lockMemory, string? pidFile, CancellationToken stop)
    {
        using var cg = SandboxCgroup.Create("lmkd-soak", (long)limitMb << 20);
        string swap = NoSwap(cg, (long)limitMb << 20);
        var psi = new ProcessStartInfo(binary)
        {
            ArgumentList =
            {
                "run", "--Lmkd:Scope:Cgroup=" + cg.RelativePath, "--Lmkd:Metrics:Enabled=false",
                "--Lmkd:SelfProtection:LockMemory=" + (lockMemory ? "true" : "false"),
            },
        };
        // As the tests do: kill notifications go to a bus that is not there (the daemon retries with a
        // back-off and kills on), never to this machine's system bus.
        var env = new Dictionary<string, string> { ["DBUS_SYSTEM_BUS_ADDRESS"] = "unix:path=/nonexistent/lmkd-soak/system_bus_socket" };
        using var daemon = DaemonChild.Start(psi, env);
        if (pidFile is not null)
            File.WriteAllText(pidFile, daemon.Pid.ToString(CultureInfo.InvariantCulture) + "\n");
        if (!daemon.WaitReady(TimeSpan.FromSeconds(30), stop))
            throw new InvalidOperationException("the daemon did not start:\n" + daemon.Output);
        // Let start-up finish (the first scan, the warm-up, the bus's first attempt) before counting.
        Thread.Sleep(1000);
        var start = Measure(daemon.Pid);
        string memoryLock = daemon.EventsLike("Self-protection:").Select(e => e.GetProperty("MemoryLock").GetString()).FirstOrDefault() ?? "?";
        int startupEvents = daemon.Events.Count;

        Console.WriteLine($"soak: {episodes} episodes; daemon {binary} (pid {daemon.Pid}), memory lock {(lockMemory ? "on" : "off")}: {memoryLock}");
        Console.WriteLine($"cgroup {cg.RelativePath}: {limitMb} MiB, {(cg.IsPureV2 ? "cgroup v2" : "hybrid: v1 memcg + v2 for PSI")}, {swap}; " +
                          $"each episode one `lmkd hog {HogGrowth} --oom-score-adj 900`; kernel {File.ReadAllText("/proc/sys/kernel/osrelease").Trim()}, {Environment.ProcessorCount} CPUs");
        Console.WriteLine($"start: RSS {start.RssKb} kB (locked {start.LockedKb} kB), {start.Threads} threads, {start.Fds} open fds");
        Console.WriteLine();
        Console.WriteLine("| episode | hog pid | Lmkd kills | reason | exit signal | kernel OOM kills | fill (ms) | episode (ms) | decision->signal (ms) | signal->exit (ms) | RSS (kB) | threads | fds |");
        Console.WriteLine("|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");

        var results = new List<Episode>();
        var clock = Stopwatch.StartNew();
        for (int n = 1; n <= episodes && !stop.IsCancellationRequested && !daemon.HasExited; n++)
        {
            var ep = RunEpisode(n, binary, cg, daemon, stop);
            results.Add(ep);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {ep.Number} | {ep.HogPid} | {ep.Kills} | {ep.Reason} | {(ep.Signal is int s ? s.ToString(CultureInfo.InvariantCulture) : "-")} | {ep.OomKills} | {ep.FillMs:F0} | {ep.TotalMs:F0} | {ep.DecisionToSignalMs:F2} | {ep.SignalToExitMs:F2} | {ep.After.RssKb} | {ep.After.Threads} | {ep.After.Fds} |"));
            if (ep.Error is not null)
                Console.WriteLine($"episode {n}: {ep.Error}");
        }
        double elapsedS = clock.Elapsed.TotalSeconds;
        stop.ThrowIfCancellationRequested();
        bool daemonAlive = !daemon.HasExited;
        var end = daemonAlive ? Measure(daemon.Pid) : null;

        // Anything the daemon logged at Warning or above after start-up (a fault, a kill not done, no victim).
        var complaints = daemon.Events.Skip(startupEvents)
            .Where(e => e.TryGetProperty("@l", out var l) && l.GetString() is "Warning" or "Error" or "Fatal")
            .Select(DaemonChild.Render).ToList();
        return Summarize(episodes, results, start, end, elapsedS, daemon, complaints);
    }

    private static Episode RunEpisode(int n, string binary, SandboxCgroup cg, DaemonChild daemon, CancellationToken stop)
    {
        var sw = Stopwatch.StartNew();
        long oomBefore = cg.OomKillCount();
        int killsBefore = KillsDone(daemon).Count();
        Process? hog = null;
        try
        {
            hog = cg.StartHog(SelfCommand.Quote(binary), $"{HogGrowth} --max-mb {4096} --oom-score-adj 900", stop: stop);
            int hogPid = hog.Id;
            var filling = Stopwatch.StartNew();
            bool died = SpinUntil(() => hog.HasExited, EpisodeTimeout, stop, pollMs: 5);
            double fillMs = filling.Elapsed.TotalMilliseconds;
            // The kill event follows the exit (the reaper waits for the pidfd); the episode ends with the
            // daemon's "gave back" event one second after the exit, when its post-kill polling window closes.
            var kill = default(JsonElement);
            bool logged = died && daemon.WaitFor(d => TryFindKill(d, hogPid, out kill), TimeSpan.FromSeconds(5), stop);
            long killId = logged ? kill.GetProperty("KillId").GetInt64() : -1;
            bool closed = logged && daemon.WaitFor(d => d.EventsLike("Kill {KillId} gave back").Any(e => e.GetProperty("KillId").GetInt64() == killId),
                TimeSpan.FromSeconds(5), stop);
            bool empty = SpinUntil(() => cg.Pids().Count == 0, TimeSpan.FromSeconds(5), stop);
            // A little past the window, so the next episode meets a daemon at rest.
            Thread.Sleep(200);

            int? signal = died && hog.ExitCode > 128 ? hog.ExitCode - 128 : null;
            long oomKills = cg.OomKillCount() - oomBefore;
            var kills = KillsDone(daemon).Skip(killsBefore).ToList();
            var notDone = daemon.EventsLike("Kill {KillId} not done").Count();
            string? error = null;
            if (!died)
                error = $"the hog was still alive after {EpisodeTimeout.TotalSeconds:F0} s";
            else if (oomKills > 0)
                error = $"the kernel's OOM killer acted ({oomKills} kills)";
            else if (signal != 9)
                error = $"the hog ended with exit code {hog.ExitCode}, not SIGKILL";
            else if (!logged)
                error = $"no kill event for pid {hogPid}";
            else if (kills.Count != 1)
                error = $"{kills.Count} kills logged in the episode: {string.Join(", ", kills.Select(k => k.GetProperty("Pid").GetInt32()))}";
            else if (!closed)
                error = $"no 'gave back' event for kill {killId}";
            else if (!empty)
                error = $"the cgroup still holds {string.Join(',', cg.Pids())}";
            if (error is not null && notDone > 0)
                error += $" ({notDone} 'not done' kill events so far)";
            return new Episode(n, hogPid, logged ? kill.GetProperty("Outcome").GetString() ?? "?" : "-", kills.Count,
                logged ? kill.GetProperty("Reason").GetString() ?? "?" : "-", signal, oomKills, fillMs, sw.Elapsed.TotalMilliseconds,
                logged ? kill.GetProperty("DecisionToSignalMs").GetDouble() : double.NaN,
                logged ? kill.GetProperty("SignalToExitMs").GetDouble() : double.NaN,
                daemon.HasExited ? new Sample(0, 0, 0, 0) : Measure(daemon.Pid), error);
        }
        finally
        {
            if (hog is not null)
            {
                if (!hog.HasExited)
                    hog.Kill();
                hog.WaitForExit(5000);
                hog.Dispose();
            }
        }
    }

    private static int Summarize(int episodes, List<Episode> results, Sample start, Sample? end, double elapsedS,
        DaemonChild daemon, List<string> complaints)
    {
        int lmkdKills = results.Sum(e => e.Kills);
        int episodesKilledByLmkd = results.Count(e => e.Kills == 1 && e.Signal == 9 && e.Outcome == "done");
        long oomKills = results.Sum(e => e.OomKills);
        var failed = results.Where(e => e.Error is not null).ToList();
        var first = results.FirstOrDefault()?.After;
        var reasons = string.Join(", ", results.Where(e => e.Kills > 0).GroupBy(e => e.Reason).Select(g => $"{g.Key} {g.Count()}"));
        double ratio = first is not null && end is not null && first.RssKb > 0 ? (double)end.RssKb / first.RssKb : double.NaN;
        long maxRss = results.Count > 0 ? results.Max(e => e.After.RssKb) : 0;

        bool killsOk = results.Count == episodes && lmkdKills == episodes && episodesKilledByLmkd == episodes && failed.Count == 0;
        bool oomOk = oomKills == 0;
        bool rssOk = !double.IsNaN(ratio) && Math.Abs(ratio - 1) <= RssTolerance;
        bool threadsOk = end is not null && end.Threads == start.Threads;
        bool fdsOk = end is not null && end.Fds == start.Fds;
        bool pass = killsOk && oomOk && rssOk && threadsOk && fdsOk;

        static string Verdict(bool ok) => ok ? "ok" : "FAIL";
        var ms = results.Select(e => e.TotalMs).Order().ToArray();
        var fill = results.Select(e => e.FillMs).Order().ToArray();
        var d2s = results.Where(e => !double.IsNaN(e.DecisionToSignalMs)).Select(e => e.DecisionToSignalMs).Order().ToArray();
        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine();
        Console.WriteLine("soak summary:");
        Console.WriteLine(string.Create(inv, $"  episodes:          {results.Count} of {episodes} in {elapsedS:F0} s; per episode median {Median(ms) / 1000:F2} s, max {Max(ms) / 1000:F2} s (of which the hog's fill until its SIGKILL: median {Median(fill):F0} ms)"));
        Console.WriteLine($"  kills by Lmkd:     {lmkdKills} (expected {episodes}: one per episode, the hog, the cgroup's only process; {episodesKilledByLmkd} episodes ended by Lmkd's SIGKILL of their hog){(reasons.Length > 0 ? "; reasons: " + reasons : "")}  {Verdict(killsOk)}");
        Console.WriteLine($"  kernel OOM kills:  {oomKills}  {Verdict(oomOk)}");
        Console.WriteLine(string.Create(inv, $"  daemon RSS:        {first?.RssKb ?? 0} kB after episode 1, {end?.RssKb ?? 0} kB at the end: ratio {ratio:F3} (limit 1 ± {RssTolerance:F2}); at start {start.RssKb} kB, highest after an episode {maxRss} kB  {Verdict(rssOk)}"));
        Console.WriteLine($"  daemon threads:    {start.Threads} at start, {end?.Threads.ToString(inv) ?? "-"} at the end  {Verdict(threadsOk)}");
        Console.WriteLine($"  daemon open fds:   {start.Fds} at start, {end?.Fds.ToString(inv) ?? "-"} at the end  {Verdict(fdsOk)}");
        if (d2s.Length > 0)
            Console.WriteLine(string.Create(inv, $"  decision->signal:  median {Median(d2s):F2} ms, max {Max(d2s):F2} ms"));
        Console.WriteLine($"  daemon warnings and errors after start-up: {complaints.Count}");
        foreach (var c in complaints.Take(5))
            Console.WriteLine("    " + c);
        foreach (var e in failed.Take(10))
            Console.WriteLine($"  episode {e.Number} failed: {e.Error}");
        if (end is null)
            Console.WriteLine($"  the daemon exited (code {daemon.ExitCode}); its last output:\n{string.Join('\n', daemon.Output.Split('\n').TakeLast(20))}");
        Console.WriteLine($"soak: {(pass ? "PASS" : "FAIL")}");
        return pass ? 0 : 1;
    }

    /// <summary>Swap off inside the cgroup, where the kernel lets us say so: a hog must meet the limit, never the machine's swap.</summary>
    private static string NoSwap(SandboxCgroup cg, long limitBytes)
    {
        if (cg.V1Path is { } v1)
        {
            string memsw = Path.Combine(v1, "memory.memsw.limit_in_bytes");
            if (!File.Exists(memsw))
                return "no memsw accounting (swap as the machine has it)";
            File.WriteAllText(memsw, limitBytes.ToString(CultureInfo.InvariantCulture));
            return "memory.memsw.limit_in_bytes = the limit (no swap)";
        }
        string swapMax = Path.Combine(cg.V2Path, "memory.swap.max");
        if (!File.Exists(swapMax))
            return "no memory.swap.max (swap as the machine has it)";
        File.WriteAllText(swapMax, "0");
        return "memory.swap.max 0";
    }

    private static IEnumerable<JsonElement> KillsDone(DaemonChild d) =>
        d.EventsLike("Kill {KillId} {Outcome}").Where(e => e.GetProperty("Outcome").GetString() == "done");

    private static bool TryFindKill(DaemonChild d, int pid, out JsonElement kill)
    {
        foreach (var e in d.EventsLike("Kill {KillId} {Outcome}"))
        {
            if (e.GetProperty("Pid").GetInt32() == pid)
            {
                kill = e;
                return true;
            }
        }
        kill = default;
        return false;
    }

    private static bool SpinUntil(Func<bool> condition, TimeSpan timeout, CancellationToken stop, int pollMs = 20)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (sw.Elapsed > timeout || stop.IsCancellationRequested)
                return false;
            Thread.Sleep(pollMs);
        }
        return true;
    }

    /// <summary>VmRSS and Threads from /proc/PID/status, "Locked:" from smaps_rollup, entries of /proc/PID/fd.</summary>
    private static Sample Measure(int pid)
    {
        long rss = 0, locked = 0;
        int threads = 0;
        foreach (string line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                rss = Kb(line);
            else if (line.StartsWith("Threads:", StringComparison.Ordinal))
                threads = int.Parse(line.AsSpan(8).Trim(), CultureInfo.InvariantCulture);
        }
        foreach (string line in File.ReadLines($"/proc/{pid}/smaps_rollup"))
            if (line.StartsWith("Locked:", StringComparison.Ordinal))
                locked = Kb(line);
        int fds = Directory.GetFileSystemEntries($"/proc/{pid}/fd").Length;
        return new Sample(rss, locked, threads, fds);
    }

    private static long Kb(string line) =>
        long.Parse(line.AsSpan(line.IndexOf(':') + 1).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture);

    private static double Median(double[] sorted) =>
        sorted.Length == 0 ? double.NaN : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;

    private static double Max(double[] sorted) => sorted.Length == 0 ? double.NaN : sorted[^1];
}
