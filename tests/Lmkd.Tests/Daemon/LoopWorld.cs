using System.Globalization;
using System.Text;
using Lmkd.Configuration;
using Lmkd.Daemon;
using Lmkd.Hosting;

using Lmkd.Pressure;
using Lmkd.Tests.Killing;
using Lmkd.Tests.ProcFs;
using TempDir = Lmkd.Tests.ProcFs.TempDir;

namespace Lmkd.Tests.Daemon;

/// <summary>
/// The real monitor loop on a fixture /proc it cannot tell from the kernel's: a whole-machine scope
/// of 1 GiB whose meminfo the test rewrites in place (the loop keeps its files open and preads them,
/// as it does /proc), a PSI file it samples, processes as directories, and the kill path's syscalls
/// answered by <see cref="FakeKernel"/>. Faults are injected at those edges only.
/// </summary>
internal sealed class LoopWorld : IDisposable
{
    public const long TotalKb = 1L << 20;
    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    private readonly TempDir _dir = new();
    private readonly object _memGate = new();
    private long _availableKb = 600L << 10;
    private long _fallKbPerTick;
    private bool _garbage;
    private readonly Thread _filler;
    private volatile bool _disposed;

    public FakeKernel Kernel { get; } = new();
    public LmkdMetrics Metrics { get; } = new();
    public CollectingLogger Log { get; } = new();
    public List<string> Notified { get; } = [];
    public ServiceNotifier Notifier { get; }
    public MonitorLoop Loop { get; }
    public string ProcRoot => _dir.Root;

    /// <param name="victims">(pid, oom_score_adj, RSS MiB) of the processes in the scope.</param>
    public LoopWorld(params (int Pid, int Adj, int RssMb)[] victims)
    {
        Directory.CreateDirectory(_dir.PathOf("pressure"));
        File.WriteAllText(_dir.PathOf("pressure/memory"),
            "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
        File.Copy(Fixtures.Path("system/vmstat"), _dir.PathOf("vmstat"));
        File.Copy(Fixtures.Path("system/zoneinfo"), _dir.PathOf("zoneinfo"));
        File.WriteAllText(_dir.PathOf("swaps"), "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n");
        WriteMeminfo();
        foreach (var (pid, adj, rss) in victims)
            AddProcess(pid, adj, rss);

        Notifier = new ServiceNotifier(m => { lock (Notified) Notified.Add(m); }, watchdogUsec: 1_000_000);
        var options = new LmkdOptions
        {
            ProcRoot = _dir.Root,
            CgroupRoot = _dir.PathOf("no-cgroups"),
            Kill = new KillOptions { Mode = "kill-then-reap", TimeoutMs = 100 },
            SelfProtection = new SelfProtectionOptions { RealtimePriority = 0, LockMemory = false, OomScoreAdj = false },
        };
        options.Psi.Levels = PsiOptions.DefaultLevels();
        var scope = Scope.Open(options);
        Loop = new MonitorLoop(options, scope, Notifier, Metrics, Log, Kernel, new PsiMonitorOptions { ForceSampling = true });
        // A killed process is gone, and what it held comes back.
        Kernel.DuringSignal = pid =>
        {
            RemoveProcess(pid);
            lock (_memGate)
                (_availableKb, _fallKbPerTick) = (600L << 10, KeepFalling ? _fallKbPerTick : 0);
            WriteMeminfo();
        };
        _filler = new Thread(Fill) { IsBackground = true, Name = "loop-world-filler" };
        _filler.Start();
        Notifier.Ready("test");
        Loop.Start();
    }

    /// <summary>After a kill, memory fills again at the same rate (another hog, a respawn): one kill after another.</summary>
    public bool KeepFalling { get; set; }

    /// <summary>Committed memory grows at this rate (MemAvailable falls, down to a floor of 2 %), from now until a kill.</summary>
    public void StartFalling(int mibPerSec)
    {
        lock (_memGate)
            _fallKbPerTick = mibPerSec * 1024L / 20;
    }

    /// <summary>meminfo reads as something no parser accepts (a failing kernel, a broken fixture).</summary>
    public void Garble(bool on)
    {
        lock (_memGate)
            _garbage = on;
        WriteMeminfo();
    }

    public long FaultCount(string kind) => Metric($"lmkd_faults_total{{kind=\"{kind}\"}}");

    /// <summary>One series of the exposition, e.g. lmkd_reapers_abandoned_total; 0 when absent.</summary>
    public long Metric(string series)
    {
        using var ms = new MemoryStream();
        Metrics.Registry.CollectAndExportAsTextAsync(ms).GetAwaiter().GetResult();
        string prefix = series + " ";
        var line = Encoding.UTF8.GetString(ms.ToArray()).Split('\n').FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal));
        return line is null ? 0 : (long)double.Parse(line[prefix.Length..], C);
    }

    public int[] SignalledPids()
    {
        lock (Kernel.Calls)
            return [.. Kernel.Signalled];
    }

    public string[] Messages()
    {
        lock (Notified)
            return [.. Notified];
    }

    public static bool WaitUntil(Func<bool> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
                return false;
            Thread.Sleep(20);
        }
        return true;
    }

    public void AddProcess(int pid, int adj, int rssMb) => WriteProcess(_dir.Root, pid, adj, rssMb);

    /// <summary>A user process as /proc shows one, under <paramref name="procRoot"/>; its cgroup is /workers.</summary>
    public static void WriteProcess(string procRoot, int pid, int adj, int rssMb)
    {
        string d = Path.Combine(procRoot, pid.ToString(C));
        Directory.CreateDirectory(d);
        long pages = rssMb * 256L;
        File.WriteAllText(Path.Combine(d, "stat"),
            $"{pid} (worker{pid}) S 1 {pid} {pid} 0 -1 4194304 137 0 0 0 0 0 0 0 20 0 1 0 {5000 + pid} {pages * 4096} {pages} 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n");
        File.WriteAllText(Path.Combine(d, "statm"), $"{pages} {pages} 0 1 0 {pages} 0\n");
        File.WriteAllText(Path.Combine(d, "status"),
            $"Name:\tworker{pid}\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t{pid}\nNgid:\t0\nPid:\t{pid}\nPPid:\t1\nTracerPid:\t0\n" +
            "Uid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\n" +
            $"NSpid:\t{pid}\nVmRSS:\t{rssMb * 1024} kB\nRssAnon:\t{rssMb * 1024} kB\nRssFile:\t0 kB\nRssShmem:\t0 kB\nVmSwap:\t0 kB\nThreads:\t1\n");
        File.WriteAllText(Path.Combine(d, "oom_score_adj"), adj.ToString(C) + "\n");
        File.WriteAllText(Path.Combine(d, "cgroup"), "0::/workers\n");
    }

    public void RemoveProcess(int pid)
    {
        try
        {
            Directory.Delete(_dir.PathOf(pid.ToString(C)), recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }

    private void Fill()
    {
        while (!_disposed)
        {
            Thread.Sleep(50);
            lock (_memGate)
            {
                if (_fallKbPerTick == 0)
                    continue;
                _availableKb = Math.Max(TotalKb / 50, _availableKb - _fallKbPerTick);
            }
            WriteMeminfo();
        }
    }

    // Rewritten in place at a fixed length, as the kernel's file reads: the loop's open descriptor
    // sees each new content whole, never a truncated file.
    private void WriteMeminfo()
    {
        string text;
        lock (_memGate)
        {
            long avail = _availableKb;
            text = _garbage
                ? new string('#', 40) + "\nnot meminfo at all\n"
                : string.Create(C, $"MemTotal:       {TotalKb,12} kB\nMemFree:        {avail,12} kB\nMemAvailable:   {avail,12} kB\n") +
                  "Buffers:                   0 kB\nCached:                    0 kB\nSwapCached:                0 kB\n" +
                  "Active(file):              0 kB\nInactive(file):            0 kB\nSwapTotal:                 0 kB\nSwapFree:                  0 kB\n" +
                  "Dirty:                     0 kB\nWriteback:                 0 kB\n" +
                  string.Create(C, $"AnonPages:      {TotalKb - avail,12} kB\n") + "Shmem:                     0 kB\nSReclaimable:              0 kB\n";
            text = text.PadRight(1024, ' ');
            using var h = File.OpenHandle(_dir.PathOf("meminfo"), FileMode.OpenOrCreate, FileAccess.Write);
            RandomAccess.Write(h, Encoding.ASCII.GetBytes(text), 0);
        }
    }

    public void Dispose()
    {
        _disposed = true;
        Kernel.DuringMrelease = null;
        Loop.Stop(TimeSpan.FromSeconds(1));
        Loop.Dispose();
        _filler.Join();
        _dir.Dispose();
    }
}
