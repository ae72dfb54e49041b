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

    public void Dispose()
    {
        _cgroup?.Dispose();
        _spawner?.Dispose();
    }
}
