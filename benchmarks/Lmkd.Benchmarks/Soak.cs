using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using Lmkd.Cli;

namespace Lmkd.Benchmarks;

/// <summary>
/// `soak --binary PATH [--episodes N] [--limit-mb N] [--lock-memory auto|on|off] [--daemon-pid-file PATH]`:
/// N consecutive pressure episodes against one running daemon (issue 10's soak), run by scripts/soak.sh.
/// One memory-limited test cgroup, swap off inside it; the real daemon scoped to it (it runs outside
/// the cgroup, so its own memory is never the pressure's); then, N times, one `lmkd hog` at
/// oom_score_adj 900, the cgroup's only process, growing anonymous memory into the limit (~200 MiB/s):
/// one kill resolves it. Each episode checks that the hog died of SIGKILL, that the daemon logged
/// exactly one kill, of that pid, and that the kernel's OOM killer did not act (v1 memory.oom_control /
/// v2 memory.events oom_kill); then waits until the cgroup is empty and the daemon has closed the
/// episode (its "gave back" event, one second after the exit, when its post-kill polling window
/// ends) and records the daemon's VmRSS, threads and open fds. Prints a row per episode, a summary and
/// PASS/FAIL against: one Lmkd kill per episode, no kernel OOM kill, RSS at the end at most 10 % above
/// RSS after episode 1, threads and open fds at the end no more than at the start. Exit 0 on PASS, 1 on
/// FAIL, 2 on bad arguments, 130 when interrupted. Everything made is removed, also on failure, Ctrl-C,
/// SIGTERM or SIGHUP. The pressure never leaves the cgroup.
/// --binary: the native lmkd (artifacts/aot/lmkd), or an lmkd.dll, which runs under this dotnet host (JIT).
/// </summary>
public static class Soak
{
    private const string Usage =
        "usage: soak --binary PATH (lmkd or lmkd.dll) [--episodes N (50)] [--limit-mb N (384)] [--lock-memory auto|on|off (auto)] [--gen0-kib N (1024; 0: the runtime's default)] [--daemon-pid-file PATH] [--daemon-log PATH]";

    // Each step 4 MiB every 20 ms: ~200 MiB/s nominal (the page faults make it a little slower), the
    // fastest rate PressureScenarioTests proves, in the 384 MiB limit they prove it in (about two seconds to fill).
    private const string HogGrowth = "--mb 16 --grow-mb 4 --every-ms 20";
    private static readonly TimeSpan EpisodeTimeout = TimeSpan.FromSeconds(30);
    /// <summary>RSS at the end may be at most this much above RSS after episode 1.</summary>
    private const double RssGrowthBound = 0.10;

    private sealed record Sample(long RssKb, long LockedKb, int Threads, int Fds);

    private sealed record Episode(int Number, int HogPid, string Outcome, int Kills, string Reason, double HeadroomPct, int? Signal,
        long OomKills, double FillMs, double TotalMs, double DecisionToSignalMs, double SignalToExitMs, Sample After, string? Error);

    public static int Run(string[] args)
    {
        int episodes = 50, limitMb = 384, gen0Kib = 1024;
        string? binary = null, pidFile = null, logFile = null, lockMode = "auto";
        for (int i = 0; i < args.Length; i++)
        {
            string? value = i + 1 < args.Length ? args[i + 1] : null;
            bool isInt = int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int n);
            switch (args[i])
            {
                case "--episodes" when isInt && n is >= 1 and <= 10_000: episodes = n; i++; break;
                case "--limit-mb" when isInt && n is >= 64 and <= 2048: limitMb = n; i++; break;
                case "--gen0-kib" when isInt && n is 0 or (>= 256 and <= 1_048_576): gen0Kib = n; i++; break;
                case "--binary" when value is { Length: > 0 }: binary = Path.GetFullPath(value); i++; break;
                case "--daemon-pid-file" when value is { Length: > 0 }: pidFile = value; i++; break;
                case "--daemon-log" when value is { Length: > 0 }: logFile = Path.GetFullPath(value); i++; break;
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
        // The production setting (appsettings.json; the unit grants CAP_IPC_LOCK) where it can work:
        // with mlockall(MCL_CURRENT|MCL_FUTURE|MCL_ONFAULT) every page the daemon ever touches stays
        // resident, so VmRSS is the high-water mark of what it uses and no growth hides behind reclaim.
        bool lockMemory = lockMode switch
        {
            "on" => true,
            "off" => false,
            _ => Lmkd.Hosting.SelfProtection.HasCapability(14), // CAP_IPC_LOCK
        };

        using var stop = new StopSignals(PosixSignal.SIGHUP);
        try
        {
            return RunSoak(LmkdCommand.For(binary), episodes, limitMb, gen0Kib, lockMemory, pidFile, logFile, stop.Token);
        }
        catch (Exception e) when (!stop.IsCancellationRequested)
        {
            // Caught here so that every finally below (the daemon, the hog, the cgroup) has run.
            Console.WriteLine($"soak: FAIL: {e.GetType().Name}: {e.Message}");
            return 1;
        }
        catch (Exception) when (stop.IsCancellationRequested)
        {
            Console.WriteLine("soak: interrupted; the daemon is stopped and the cgroup removed");
            return 130;
        }
    }

    private static int RunSoak(LmkdCommand lmkd, int episodes, int limitMb, int gen0Kib, bool lockMemory, string? pidFile, string? logFile, CancellationToken stop)
    {
        using var cg = SandboxCgroup.Create("lmkd-soak", (long)limitMb << 20);
        string swap = NoSwap(cg, (long)limitMb << 20);
        var psi = lmkd.StartInfo(
            "run", "--Lmkd:Scope:Cgroup=" + cg.RelativePath, "--Lmkd:Metrics:Enabled=false",
            "--Lmkd:SelfProtection:LockMemory=" + (lockMemory ? "true" : "false"));
        // As the tests do: kill notifications go to a bus that is not there (the daemon retries with a
        // back-off and kills on), never to this machine's system bus.
        var env = new Dictionary<string, string> { ["DBUS_SYSTEM_BUS_ADDRESS"] = "unix:path=/nonexistent/lmkd-soak/system_bus_socket" };
        // A small gen0 budget, so the daemon's GC collects during the soak. With the runtime's default
        // (several MiB here) no collection comes within 50 episodes: the ~75 kB the daemon allocates per
        // episode (log events, scans) then lands on fresh pages, which mlockall keeps resident, and RSS
        // rises steadily without any leak (measured: with 1 MiB it is flat after the first collection).
        // With collections, what stays is what is live: growth past the bound is a leak.
        if (gen0Kib > 0)
            env["DOTNET_GCgen0size"] = ((long)gen0Kib * 1024).ToString("x", CultureInfo.InvariantCulture); // hex, as the runtime reads it
        using var daemon = DaemonChild.Start(psi, env);
        try
        {
            return RunEpisodes(lmkd, episodes, limitMb, gen0Kib, lockMemory, pidFile, logFile is null ? null : Path.GetDirectoryName(logFile), cg, swap, daemon, stop);
        }
        finally
        {
            // Everything the daemon wrote (JSON lines), for a look at an episode that failed.
            if (logFile is not null)
            {
                Directory.CreateDirectory(Path.GetDirectoryName(logFile)!);
                File.WriteAllText(logFile, daemon.Output + "\n");
                Console.WriteLine($"daemon log: {logFile}");
            }
        }
    }

    private static int RunEpisodes(LmkdCommand lmkd, int episodes, int limitMb, int gen0Kib, bool lockMemory, string? pidFile, string? diagDir, SandboxCgroup cg, string swap,
        DaemonChild daemon, CancellationToken stop)
    {
        // For scripts/soak.sh, which removes what a driver killed outright left behind: the pid and its
        // start time (field 22 of /proc/PID/stat), so a recycled pid is never taken for the daemon.
        if (pidFile is not null)
            File.WriteAllText(pidFile, $"{daemon.Pid} {StartTime(daemon.Pid)}\n");
        if (!daemon.WaitReady(TimeSpan.FromSeconds(60), stop))
        {
            stop.ThrowIfCancellationRequested();
            throw new InvalidOperationException("the daemon did not start:\n" + daemon.Output);
        }
        // Let start-up finish (the first scan, the warm-up, the bus's first attempt) before counting.
        if (stop.WaitHandle.WaitOne(1000))
            stop.ThrowIfCancellationRequested();
        var start = Measure(daemon.Pid);
        string memoryLock = daemon.EventsLike("Self-protection:").Select(e => e.GetProperty("MemoryLock").GetString()).FirstOrDefault() ?? "?";
        int startupEvents = daemon.Events.Count;

        Console.WriteLine($"soak: {episodes} episodes; daemon {lmkd.Describe} (pid {daemon.Pid}), memory lock {(lockMemory ? "on" : "off")}: {memoryLock}; " +
                          (gen0Kib > 0 ? $"GC gen0 budget {gen0Kib} KiB (DOTNET_GCgen0size)" : "GC gen0 budget: the runtime's default"));
        Console.WriteLine($"cgroup {cg.RelativePath}: {limitMb} MiB, {(cg.IsPureV2 ? "cgroup v2" : "hybrid: v1 memcg + v2 for PSI")}, {swap}; " +
                          $"each episode one `lmkd hog {HogGrowth} --max-mb {2 * limitMb} --oom-score-adj 900`; kernel {File.ReadAllText("/proc/sys/kernel/osrelease").Trim()}, {Environment.ProcessorCount} CPUs");
        Console.WriteLine($"start: RSS {start.RssKb} kB (locked {start.LockedKb} kB), {start.Threads} threads, {start.Fds} open fds");
        Console.WriteLine();
        Console.WriteLine("| episode | hog pid | Lmkd kills | reason | headroom at decision | exit signal | kernel OOM kills | fill (ms) | episode (ms) | decision->signal (ms) | signal->exit (ms) | RSS (kB) | threads | fds |");
        Console.WriteLine("|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");

        var results = new List<Episode>();
        var clock = Stopwatch.StartNew();
        for (int n = 1; n <= episodes && !stop.IsCancellationRequested && !daemon.HasExited; n++)
        {
            var ep = RunEpisode(n, lmkd, limitMb, cg, daemon, stop);
            stop.ThrowIfCancellationRequested();
            results.Add(ep);
            // The daemon's mappings after episode 1 and at the end: where RSS grew, mapping by mapping.
            if (diagDir is not null && (n == 1 || n == episodes) && !daemon.HasExited)
                File.Copy($"/proc/{daemon.Pid}/smaps", Path.Combine(diagDir, n == 1 ? "smaps-after-1.txt" : "smaps-end.txt"), overwrite: true);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {ep.Number} | {ep.HogPid} | {ep.Kills} | {ep.Reason} | {ep.HeadroomPct:F1} % | {(ep.Signal is int s ? s.ToString(CultureInfo.InvariantCulture) : "-")} | {ep.OomKills} | {ep.FillMs:F0} | {ep.TotalMs:F0} | {ep.DecisionToSignalMs:F2} | {ep.SignalToExitMs:F2} | {ep.After.RssKb} | {ep.After.Threads} | {ep.After.Fds} |"));
            if (ep.Error is not null)
                Console.WriteLine($"episode {n}: {ep.Error}");
        }
        double elapsedS = clock.Elapsed.TotalSeconds;
        stop.ThrowIfCancellationRequested();
        bool daemonAlive = !daemon.HasExited;
        var end = daemonAlive ? Measure(daemon.Pid) : null;

        // Anything the daemon logged at Warning or above after start-up (a fault, a kill not done, no
        // victim). The respawn watch's notes are expected: every hog has the same parent (this driver)
        // and executable, so from the third episode on each kill is a "respawn loop" whose parent is
        // outside the scope, and the hog is killed as before. They are counted apart.
        var warnings = daemon.Events.Skip(startupEvents)
            .Where(e => e.TryGetProperty("@l", out var l) && l.GetString() is "Warning" or "Error" or "Fatal" or "Critical")
            .ToList();
        int respawnNotes = warnings.Count(e => DaemonChild.Template(e).StartsWith("Respawn loop", StringComparison.Ordinal));
        var complaints = warnings.Where(e => !DaemonChild.Template(e).StartsWith("Respawn loop", StringComparison.Ordinal))
            .Select(DaemonChild.Render).ToList();

        // The daemon stops as the unit stops it: SIGTERM, then its bounded shutdown.
        int exitCode = -1;
        double stopMs = double.NaN;
        if (daemonAlive)
        {
            stopMs = daemon.Terminate(TimeSpan.FromSeconds(10)).TotalMilliseconds;
            exitCode = daemon.ExitCode;
        }
        return Summarize(episodes, results, start, end, elapsedS, daemon, complaints, respawnNotes, exitCode, stopMs);
    }

    private static Episode RunEpisode(int n, LmkdCommand lmkd, int limitMb, SandboxCgroup cg, DaemonChild daemon, CancellationToken stop)
    {
        var sw = Stopwatch.StartNew();
        long oomBefore = cg.OomKillCount();
        int killsBefore = Kills(daemon).Count();
        Process? hog = null;
        try
        {
            // --max-mb twice the limit: the hog can only stop at the cgroup's limit, yet never grows
            // without bound should the limit not hold.
            hog = cg.StartHog(lmkd.Shell, $"{HogGrowth} --max-mb {2 * limitMb} --oom-score-adj 900", stop: stop);
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
            stop.WaitHandle.WaitOne(200);

            int? signal = died && hog.ExitCode > 128 ? hog.ExitCode - 128 : null;
            long oomKills = cg.OomKillCount() - oomBefore;
            // Every kill attempt the daemon logged in the episode, done or not.
            var kills = Kills(daemon).Skip(killsBefore).ToList();
            var decided = logged
                ? daemon.EventsLike("Kill {KillId} decided").FirstOrDefault(e => e.GetProperty("KillId").GetInt64() == killId)
                : default;
            double headroom = decided.ValueKind == JsonValueKind.Object ? Number(decided, "HeadroomPct") : double.NaN;
            string outcome = logged ? kill.GetProperty("Outcome").GetString() ?? "?" : "-";
            string? error = null;
            if (!died)
                error = $"the hog was still alive after {EpisodeTimeout.TotalSeconds:F0} s";
            else if (oomKills > 0)
                error = $"the kernel's OOM killer acted ({oomKills} kills)";
            else if (signal != 9)
                error = $"the hog ended with exit code {hog.ExitCode}, not SIGKILL";
            else if (!logged)
                error = $"no kill event for pid {hogPid}";
            else if (outcome != "done")
                error = $"kill {killId} of pid {hogPid}: {outcome}";
            else if (kills.Count != 1)
                error = $"{kills.Count} kills logged in the episode: {string.Join(", ", kills.Select(k => $"pid {k.GetProperty("Pid").GetInt32()} {k.GetProperty("Outcome").GetString()}"))}";
            else if (!closed)
                error = $"no 'gave back' event for kill {killId}";
            else if (!empty)
                error = $"the cgroup still holds {string.Join(',', cg.Pids())}";
            return new Episode(n, hogPid, outcome, kills.Count, logged ? kill.GetProperty("Reason").GetString() ?? "?" : "-", headroom,
                signal, oomKills, fillMs, sw.Elapsed.TotalMilliseconds,
                logged ? Number(kill, "DecisionToSignalMs") : double.NaN,
                logged ? Number(kill, "SignalToExitMs") : double.NaN,
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
        DaemonChild daemon, List<string> complaints, int respawnNotes, int exitCode, double stopMs)
    {
        var inv = CultureInfo.InvariantCulture;
        int lmkdKills = results.Sum(e => e.Kills);
        int episodesKilledByLmkd = results.Count(e => e.Kills == 1 && e.Signal == 9 && e.Outcome == "done");
        long oomKills = results.Sum(e => e.OomKills);
        var failed = results.Where(e => e.Error is not null).ToList();
        var first = results.FirstOrDefault()?.After;
        var reasons = string.Join(", ", results.Where(e => e.Kills > 0).GroupBy(e => e.Reason).Select(g => $"{g.Key} {g.Count()}"));
        double ratio = first is not null && end is not null && first.RssKb > 0 ? (double)end.RssKb / first.RssKb : double.NaN;
        long maxRss = results.Count > 0 ? results.Max(e => e.After.RssKb) : 0;
        // Least-squares slope of RSS over episodes 2..N: a leak shows as a steady rise per episode.
        var tail = results.Skip(1).Where(e => e.After.RssKb > 0).ToList();
        double slope = double.NaN;
        if (tail.Count >= 2)
        {
            double mx = tail.Average(e => (double)e.Number), my = tail.Average(e => (double)e.After.RssKb);
            double sxx = tail.Sum(e => (e.Number - mx) * (e.Number - mx));
            slope = sxx > 0 ? tail.Sum(e => (e.Number - mx) * (e.After.RssKb - my)) / sxx : double.NaN;
        }

        bool killsOk = results.Count == episodes && lmkdKills == episodes && episodesKilledByLmkd == episodes && failed.Count == 0;
        bool oomOk = oomKills == 0;
        bool rssOk = !double.IsNaN(ratio) && ratio <= 1 + RssGrowthBound;
        bool threadsOk = end is not null && end.Threads <= start.Threads;
        bool fdsOk = end is not null && end.Fds <= start.Fds;
        bool pass = killsOk && oomOk && rssOk && threadsOk && fdsOk;

        static string Verdict(bool ok) => ok ? "ok" : "FAIL";
        var ms = results.Select(e => e.TotalMs).Order().ToArray();
        var fill = results.Select(e => e.FillMs).Order().ToArray();
        var d2s = results.Where(e => !double.IsNaN(e.DecisionToSignalMs)).Select(e => e.DecisionToSignalMs).Order().ToArray();
        var s2e = results.Where(e => !double.IsNaN(e.SignalToExitMs)).Select(e => e.SignalToExitMs).Order().ToArray();
        var headroom = results.Where(e => !double.IsNaN(e.HeadroomPct)).Select(e => e.HeadroomPct).Order().ToArray();
        Console.WriteLine();
        Console.WriteLine("soak summary:");
        Console.WriteLine(string.Create(inv, $"  episodes:          {results.Count} of {episodes} in {elapsedS:F0} s; per episode median {Median(ms) / 1000:F2} s, min {Min(ms) / 1000:F2} s, max {Max(ms) / 1000:F2} s (the hog's start and fill until its SIGKILL: median {Median(fill):F0} ms; then the daemon's 1 s post-kill window)"));
        Console.WriteLine($"  kills by Lmkd:     {lmkdKills} (expected {episodes}: one per episode, the hog, the cgroup's only process; {episodesKilledByLmkd} episodes ended by Lmkd's SIGKILL of their hog){(reasons.Length > 0 ? "; reasons: " + reasons : "")}  {Verdict(killsOk)}");
        Console.WriteLine($"  kernel OOM kills:  {oomKills} (the cgroup's oom_kill counter, over all episodes)  {Verdict(oomOk)}");
        Console.WriteLine(string.Create(inv, $"  daemon RSS:        {first?.RssKb ?? 0} kB after episode 1, {end?.RssKb ?? 0} kB at the end: ratio {ratio:F3} (bound: at most {1 + RssGrowthBound:F2}); at start {start.RssKb} kB, highest after an episode {maxRss} kB, trend over episodes 2-{results.Count} {slope:+0.0;-0.0;0.0} kB per episode  {Verdict(rssOk)}"));
        Console.WriteLine($"  daemon threads:    {start.Threads} at start, {end?.Threads.ToString(inv) ?? "-"} at the end (bound: no more than at start)  {Verdict(threadsOk)}");
        Console.WriteLine($"  daemon open fds:   {start.Fds} at start, {end?.Fds.ToString(inv) ?? "-"} at the end (bound: no more than at start)  {Verdict(fdsOk)}");
        if (headroom.Length > 0)
            Console.WriteLine(string.Create(inv, $"  headroom at decision: median {Median(headroom):F1} %, min {Min(headroom):F1} %, max {Max(headroom):F1} % of the limit"));
        if (d2s.Length > 0)
            Console.WriteLine(string.Create(inv, $"  decision->signal:  median {Median(d2s):F2} ms, max {Max(d2s):F2} ms; signal->exit: median {Median(s2e):F2} ms, max {Max(s2e):F2} ms"));
        Console.WriteLine($"  daemon warnings and errors after start-up: {complaints.Count} (and {respawnNotes} respawn-loop notes: every hog has this driver as its parent, outside the scope, so the hog is killed as usual)");
        foreach (var c in complaints.Take(5))
            Console.WriteLine("    " + c);
        foreach (var e in failed.Take(10))
            Console.WriteLine($"  episode {e.Number} failed: {e.Error}");
        if (end is null)
            Console.WriteLine($"  the daemon exited (code {daemon.ExitCode}) during the soak; its last output:\n{string.Join('\n', daemon.Output.Split('\n').TakeLast(20))}");
        else
            Console.WriteLine(string.Create(inv, $"  daemon stop:       SIGTERM -> exit {exitCode} in {stopMs:F0} ms"));
        // One line for scripts and the CI test: every figure the verdict rests on.
        Console.WriteLine(string.Create(inv,
            $"soak result: episodes={results.Count} expected={episodes} lmkd_kills={lmkdKills} killed_by_lmkd={episodesKilledByLmkd} kernel_oom_kills={oomKills} " +
            $"rss_start_kb={start.RssKb} rss_after_1_kb={first?.RssKb ?? 0} rss_end_kb={end?.RssKb ?? 0} rss_max_kb={maxRss} " +
            $"threads_start={start.Threads} threads_end={end?.Threads ?? -1} fds_start={start.Fds} fds_end={end?.Fds ?? -1} " +
            $"episode_median_ms={Median(ms):F0} episode_max_ms={Max(ms):F0} complaints={complaints.Count} daemon_pid={daemon.Pid}"));
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
                return SwapTotalKb() == 0 ? "no swap on the machine" : "no memsw accounting (swap as the machine has it)";
            File.WriteAllText(memsw, limitBytes.ToString(CultureInfo.InvariantCulture));
            return "memory.memsw.limit_in_bytes = the limit (no swap)";
        }
        string swapMax = Path.Combine(cg.V2Path, "memory.swap.max");
        if (!File.Exists(swapMax))
            return SwapTotalKb() == 0 ? "no swap on the machine" : "no memory.swap.max (swap as the machine has it)";
        File.WriteAllText(swapMax, "0");
        return "memory.swap.max 0";
    }

    private static long SwapTotalKb()
    {
        foreach (string line in File.ReadLines("/proc/meminfo"))
            if (line.StartsWith("SwapTotal:", StringComparison.Ordinal))
                return Kb(line);
        return 0;
    }

    /// <summary>Every kill result the daemon logged ("Kill N done", "Kill N not done", ...), in order.</summary>
    private static IEnumerable<JsonElement> Kills(DaemonChild d) =>
        d.Events.Where(e => DaemonChild.Template(e) is var t
                            && (t.StartsWith("Kill {KillId} {Outcome}", StringComparison.Ordinal) || t.StartsWith("Kill {KillId} not done", StringComparison.Ordinal)));

    private static bool TryFindKill(DaemonChild d, int pid, out JsonElement kill)
    {
        foreach (var e in Kills(d))
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

    /// <summary>A number property of an event, NaN where the event has none ("not done" events carry no latencies).</summary>
    private static double Number(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : double.NaN;

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

    /// <summary>Field 22 of /proc/PID/stat (after the parenthesised comm, which may hold anything).</summary>
    private static string StartTime(int pid)
    {
        string stat = File.ReadAllText($"/proc/{pid}/stat");
        string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return fields[19]; // fields[0] is field 3 (state)
    }

    private static long Kb(string line) =>
        long.Parse(line.AsSpan(line.IndexOf(':') + 1).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture);

    private static double Median(double[] sorted) =>
        sorted.Length == 0 ? double.NaN : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;

    private static double Min(double[] sorted) => sorted.Length == 0 ? double.NaN : sorted[0];
    private static double Max(double[] sorted) => sorted.Length == 0 ? double.NaN : sorted[^1];
}
