using System.Diagnostics;
using Lmkd.Cli;

namespace Lmkd.Benchmarks;

/// <summary>
/// Idle `sleep` processes that bring the machine to a target process count, so scans see a
/// realistically full /proc. They live in their own memory-limited cgroup: Dispose kills them all at
/// once (cgroup.kill) and removes it. They sleep 15 minutes, not an hour, so a benchmark killed
/// with SIGKILL leaves nothing behind for long.
/// </summary>
public sealed class IdleProcesses : IDisposable
{
    private readonly SandboxCgroup? _cgroup;
    private readonly Process? _spawner;

    public int Started { get; }

    private static IdleProcesses? s_shared;

    /// <summary>
    /// One set for the whole program: BenchmarkDotNet runs GlobalSetup/GlobalCleanup per benchmark case, and
    /// killed sleeps linger as zombies until init reaps them, so a set per case would leave the next case a
    /// /proc full of zombies instead of live processes. <see cref="DisposeShared"/> ends it (Program does).
    /// </summary>
    public static IdleProcesses Shared(int target) => s_shared ??= FillTo(target);

    public static void DisposeShared()
    {
        s_shared?.Dispose();
        s_shared = null;
    }

    private IdleProcesses(SandboxCgroup? cgroup, Process? spawner, int started)
    {
        _cgroup = cgroup;
        _spawner = spawner;
        Started = started;
    }

    /// <summary>Starts as many sleeps as needed for /proc to list about <paramref name="target"/> processes.</summary>
    public static IdleProcesses FillTo(int target, TimeSpan? timeout = null)
    {
        int missing = target - CountProcesses();
        if (missing <= 0)
            return new IdleProcesses(null, null, 0);

        // A limit, not an allocation: ~2,000 sleeps charge a few hundred MiB at most.
        var cg = SandboxCgroup.Create("lmkd-bench-idle", 4L << 30);
        Process? shell = null;
        try
        {
            shell = cg.StartShell($"i=0; while [ $i -lt {missing} ]; do sleep 900 & i=$((i+1)); done; wait");
            var sw = Stopwatch.StartNew();
            var limit = timeout ?? TimeSpan.FromSeconds(60);
            // The shell itself is one of the cgroup's processes.
            while (cg.Pids().Count < missing + 1)
            {
                if (shell.HasExited)
                    throw new InvalidOperationException($"the sleep spawner exited with {shell.ExitCode}");
                if (sw.Elapsed > limit)
                    throw new TimeoutException($"only {cg.Pids().Count - 1} of {missing} sleeps started in {limit}");
                Thread.Sleep(50);
            }
            return new IdleProcesses(cg, shell, missing);
        }
        catch
        {
            shell?.Dispose();
            cg.Dispose();
            throw;
        }
    }

    /// <summary>Entries of /proc that are pids: every process on the machine, kernel threads included.</summary>
    public static int CountProcesses()
    {
        int n = 0;
        foreach (string dir in Directory.EnumerateDirectories("/proc"))
        {
            string name = Path.GetFileName(dir);
            if (name.Length > 0 && char.IsAsciiDigit(name[0]))
                n++;
        }
        return n;
    }

    /// <summary>Live processes: /proc entries whose state is not Z or X (zombies linger until their parent reaps them).</summary>
    public static int CountLiveProcesses()
    {
        int n = 0;
        foreach (string dir in Directory.EnumerateDirectories("/proc"))
        {
            string name = Path.GetFileName(dir);
            if (name.Length == 0 || !char.IsAsciiDigit(name[0]))
                continue;
            try
            {
                string stat = File.ReadAllText(dir + "/stat");
                int close = stat.LastIndexOf(')');
                if (close > 0 && close + 2 < stat.Length && stat[close + 2] is not ('Z' or 'X'))
                    n++;
            }
            catch (IOException)
            {
            }
        }
        return n;
    }

    public void Dispose()
    {
        _cgroup?.Dispose();
        _spawner?.Dispose();
        // Wait (bounded) for init to reap the killed sleeps, so whatever runs next sees the machine as it was.
        var sw = Stopwatch.StartNew();
        while (Started > 0 && CountProcesses() > 500 && sw.Elapsed < TimeSpan.FromSeconds(10))
            Thread.Sleep(50);
    }
}
