using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Lmkd.ProcFs;

namespace Lmkd.Benchmarks;

/// <summary>
/// `scan [--procs 2000,10000] [--runs N]`: what a full /proc scan costs per process, at each machine size, against
/// two baselines measured in the same run: a C loop reading stat, status and oom_score_adj of every process
/// (naive-scan.c, compiled here with gcc), and <see cref="NaiveScanner"/> (the same files as the scanner, read with
/// File.ReadAllText and Split). The machine is filled with idle sleeps (<see cref="IdleProcesses"/>, their own cgroup,
/// removed at the end).
/// <para>Cold: the first look at freshly started processes, when the kernel must still create the dentries and
/// inodes of /proc/&lt;pid&gt; and of each file read; the daemon's first scan pays it, and so does every scan after
/// memory pressure made the kernel reclaim them. Each cold row gets a fresh set of processes. Warm: the rounds that
/// follow, interleaved (C loop, naive, scanner) so that a noisy neighbour slows all three alike; medians.</para>
/// <para>Wall time is what the daemon waits; thread CPU time is the work done, and the figure the ratios use: on a
/// shared machine the wall time also counts the time a neighbour held the CPU. No BenchmarkDotNet: a 10,000-process scan takes long enough to time directly, and each cold figure
/// exists only once per set of processes.</para>
/// </summary>
public static partial class ScanCost
{
    private readonly record struct Sample(int Processes, double WallNs, double CpuNs, double UserNs)
    {
        public double WallUs => WallNs / Processes / 1000;
        public double CpuUs => CpuNs / Processes / 1000;
        public double UserUs => UserNs / Processes / 1000;
    }

    public static int Run(string[] args)
    {
        int[] targets = [2000, 10000];
        int runs = 7;
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--procs" && i + 1 < args.Length)
                targets = args[++i].Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
            else if (args[i] == "--runs" && i + 1 < args.Length)
                runs = int.Parse(args[++i], CultureInfo.InvariantCulture);
            else
            {
                Console.Error.WriteLine("usage: scan [--procs 2000,10000] [--runs N]");
                return 2;
            }
        }
        CheckLimits(targets.Max());
        string cLoop = CompileCLoop();
        Console.CancelKeyPress += (_, _) => IdleProcesses.DisposeShared();

        var table = new List<string>
        {
            "| processes | scan | wall µs/process | CPU µs/process | of which user | CPU ratio to the C loop | CPU ratio to NaiveScanner |",
            "|---:|---|---:|---:|---:|---:|---:|",
        };
        // Compile the scanners' code before anything is timed (the daemon is AOT: its first scan has no JIT to pay).
        for (int i = 0; i < 30; i++)
        {
            new ProcessScanner(cgroupRoot: "/sys/fs/cgroup").Scan();
            new ProcessScanner().Scan();
            NaiveScanner.Scan();
        }
        foreach (int target in targets)
        {
            // Cold, each on processes no one has looked at yet.
            Sample cCold, scannerCold;
            using (var idle = IdleProcesses.FillTo(target, TimeSpan.FromSeconds(120)))
                cCold = RunCLoop(cLoop, 1)[0];
            var warmC = new List<Sample>();
            var warmNaive = new List<Sample>();
            // The daemon's scanner with the shipped configuration (no exe rule): cgroups from the cgroup tree, the exe
            // link only. Then what an exe protection adds (the executable's identity of every process, the mount
            // namespace where the path matches), the namespace of every process, and each process's cgroup file.
            var sshd = new Lmkd.Policies.RankingRules { ProtectedExePaths = ["/usr/sbin/sshd"] };
            var variants = new (string Name, ProcessScanner Scanner, List<Sample> Warm)[]
            {
                ("**ProcessScanner.Scan** (cgroups from the tree; no exe rule)", new ProcessScanner(cgroupRoot: "/sys/fs/cgroup") { ExePathRules = Lmkd.Policies.RankingRules.None }, []),
                ("ProcessScanner.Scan, an exe protection rule: every executable identified", new ProcessScanner(cgroupRoot: "/sys/fs/cgroup") { ExePathRules = sshd }, []),
                ("ProcessScanner.Scan, also every mount namespace read (ExePathRules unset)", new ProcessScanner(cgroupRoot: "/sys/fs/cgroup"), []),
                ("ProcessScanner.Scan, each process's cgroup file read (no tree walk)", new ProcessScanner() { ExePathRules = Lmkd.Policies.RankingRules.None }, []),
            };
            using (var idle = IdleProcesses.FillTo(target, TimeSpan.FromSeconds(120)))
            {
                var daemon = variants[0].Scanner;
                scannerCold = Time(() => daemon.Scan().Count, () => daemon.LastScanCounts.Entries);
                for (int r = 0; r < runs; r++)
                {
                    warmC.Add(RunCLoop(cLoop, 1)[0]);
                    warmNaive.Add(Time(() => NaiveScanner.Scan().Count, () => CountPids()));
                    foreach (var (_, scanner, warm) in variants)
                        warm.Add(Time(() => scanner.Scan().Count, () => scanner.LastScanCounts.Entries));
                }
                var counts = daemon.LastScanCounts;
                Console.WriteLine($"// {target}: /proc lists {counts.Entries} processes ({idle.Started} idle sleeps added); the scanner returns {counts.Returned}, cgroups from {counts.CgroupsWalked} cgroup.procs files");
            }
            var c = Median(warmC);
            var naive = Median(warmNaive);
            table.Add(Row(target, "C loop (stat+status+oom_score_adj), cold", cCold, cCold, null));
            table.Add(Row(target, "**ProcessScanner.Scan, cold**", scannerCold, cCold, null));
            table.Add(Row(target, "C loop (stat+status+oom_score_adj), warm", c, c, naive));
            table.Add(Row(target, "NaiveScanner (File.ReadAllText+Split), warm", naive, c, naive));
            foreach (var (name, _, warm) in variants)
                table.Add(Row(target, name + ", warm", Median(warm), c, naive));
        }
        foreach (var line in table)
            Console.WriteLine(line);
        return 0;
    }

    private static string Row(int target, string what, Sample s, Sample c, Sample? naive) => string.Create(CultureInfo.InvariantCulture,
        $"| {target:N0} | {what} | {s.WallUs:F1} | {s.CpuUs:F1} | {s.UserUs:F1} | {s.CpuUs / c.CpuUs:F2} | {(naive is { } n ? (s.CpuUs / n.CpuUs).ToString("F2", CultureInfo.InvariantCulture) : "")} |");

    private static Sample Median(List<Sample> samples)
    {
        var byWall = samples.OrderBy(s => s.WallNs / s.Processes).ToList();
        var byCpu = samples.OrderBy(s => s.CpuNs / s.Processes).ToList();
        var byUser = samples.OrderBy(s => s.UserNs / s.Processes).ToList();
        var m = byWall[byWall.Count / 2];
        var mc = byCpu[byCpu.Count / 2];
        var mu = byUser[byUser.Count / 2];
        // Medians per process of each measure, over one process count.
        return new Sample(m.Processes, m.WallNs, mc.CpuNs / mc.Processes * m.Processes, mu.UserNs / mu.Processes * m.Processes);
    }

    private static Sample Time(Func<int> scan, Func<int> processes)
    {
        long cpu0 = ThreadCpuNs(), user0 = ThreadUserNs();
        long t0 = Stopwatch.GetTimestamp();
        scan();
        double wall = Stopwatch.GetElapsedTime(t0).TotalNanoseconds;
        long cpu = ThreadCpuNs() - cpu0, user = ThreadUserNs() - user0;
        return new Sample(processes(), wall, cpu, user);
    }

    private static int CountPids() => IdleProcesses.CountProcesses();

    private static List<Sample> RunCLoop(string binary, int runs)
    {
        var psi = new ProcessStartInfo(binary) { RedirectStandardOutput = true, UseShellExecute = false };
        psi.ArgumentList.Add(runs.ToString(CultureInfo.InvariantCulture));
        using var p = Process.Start(psi)!;
        var samples = new List<Sample>();
        string? line;
        while ((line = p.StandardOutput.ReadLine()) is not null)
        {
            var f = line.Split(' ');
            samples.Add(new Sample(int.Parse(f[0], CultureInfo.InvariantCulture), double.Parse(f[1], CultureInfo.InvariantCulture),
                double.Parse(f[2], CultureInfo.InvariantCulture), double.Parse(f[3], CultureInfo.InvariantCulture)));
        }
        p.WaitForExit();
        if (p.ExitCode != 0 || samples.Count != runs)
            throw new InvalidOperationException($"naive-scan exited with {p.ExitCode} after {samples.Count} of {runs} runs");
        return samples;
    }

    /// <summary>gcc -O2 naive-scan.c into a temporary directory: the source is committed, never a binary.</summary>
    private static string CompileCLoop()
    {
        string source = Path.Combine(AppContext.BaseDirectory, "naive-scan.c");
        string dir = Directory.CreateTempSubdirectory("lmkd-scan-bench-").FullName;
        string binary = Path.Combine(dir, "naive-scan");
        var psi = new ProcessStartInfo("gcc") { UseShellExecute = false };
        foreach (var a in new[] { "-O2", "-o", binary, source })
            psi.ArgumentList.Add(a);
        using var gcc = Process.Start(psi) ?? throw new InvalidOperationException("gcc did not start");
        gcc.WaitForExit();
        if (gcc.ExitCode != 0)
            throw new InvalidOperationException($"gcc {source} failed ({gcc.ExitCode})");
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Directory.Delete(dir, recursive: true);
        return binary;
    }

    /// <summary>Refuses to start when the machine cannot hold the processes: pid_max, threads-max and RLIMIT_NPROC, with room to spare.</summary>
    private static void CheckLimits(int target)
    {
        long pidMax = long.Parse(File.ReadAllText("/proc/sys/kernel/pid_max").Trim(), CultureInfo.InvariantCulture);
        long threadsMax = long.Parse(File.ReadAllText("/proc/sys/kernel/threads-max").Trim(), CultureInfo.InvariantCulture);
        long threadsNow = Directory.EnumerateDirectories("/proc").Sum(d =>
        {
            try
            {
                return File.ReadLines(Path.Combine(d, "status")).Where(l => l.StartsWith("Threads:", StringComparison.Ordinal))
                    .Select(l => long.Parse(l.AsSpan(8).Trim(), CultureInfo.InvariantCulture)).FirstOrDefault();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return 0;
            }
        });
        long nproc = GetNprocLimit();
        long needed = target + 1000;
        if (pidMax < needed * 2 || threadsMax - threadsNow < needed * 2 || nproc < needed * 2)
            throw new InvalidOperationException($"not enough room for {target} processes: pid_max {pidMax}, threads-max {threadsMax} ({threadsNow} in use), RLIMIT_NPROC {nproc}");
    }

    private static long GetNprocLimit()
    {
        Span<ulong> limit = stackalloc ulong[2];
        unsafe
        {
            fixed (ulong* p = limit)
                return GetRLimit(6 /* RLIMIT_NPROC */, p) == 0 ? (long)Math.Min(limit[0], long.MaxValue) : -1;
        }
    }

    private static long ThreadCpuNs()
    {
        Span<long> ts = stackalloc long[2];
        unsafe
        {
            fixed (long* p = ts)
                ClockGetTime(3 /* CLOCK_THREAD_CPUTIME_ID */, p);
        }
        return ts[0] * 1_000_000_000 + ts[1];
    }

    /// <summary>User time of the calling thread (getrusage RUSAGE_THREAD): the share of a scan spent outside the kernel.</summary>
    private static long ThreadUserNs()
    {
        Span<long> usage = stackalloc long[18]; // struct rusage: ru_utime (timeval), ru_stime, 14 longs
        unsafe
        {
            fixed (long* p = usage)
                GetRUsage(1 /* RUSAGE_THREAD */, p);
        }
        return usage[0] * 1_000_000_000 + usage[1] * 1000;
    }

    [LibraryImport("libc", EntryPoint = "getrusage")]
    private static unsafe partial int GetRUsage(int who, long* usage);

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static unsafe partial int ClockGetTime(int clock, long* timespec);

    [LibraryImport("libc", EntryPoint = "getrlimit")]
    private static unsafe partial int GetRLimit(int resource, ulong* rlimit);
}
