using System.Diagnostics;

namespace Lmkd.Cli;

/// <summary>
/// A throw-away memory-limited cgroup for the demo and the tests: real memory pressure without touching the rest
/// of the machine. On a hybrid host (this one): a v1 memcg under /sys/fs/cgroup/memory that holds the limit, plus a v2
/// cgroup of the same name under /sys/fs/cgroup/unified that has the PSI files; processes go into both. On a
/// pure-v2 host: one cgroup under /sys/fs/cgroup with memory.max. Dispose kills everything inside and removes it.
/// </summary>
public sealed class SandboxCgroup : IDisposable
{
    public const string V1MemoryRoot = "/sys/fs/cgroup/memory";
    public const string HybridV2Root = "/sys/fs/cgroup/unified";
    public const string PureV2Root = "/sys/fs/cgroup";

    private static int s_counter;
    private bool _disposed;
    private readonly List<SandboxCgroup> _children = [];

    private SandboxCgroup(string name, string? v1Path, string v2Path)
    {
        Name = name;
        V1Path = v1Path;
        V2Path = v2Path;
    }

    public string Name { get; }
    /// <summary>The v1 memcg directory, or null on a pure-v2 host.</summary>
    public string? V1Path { get; }
    /// <summary>The v2 cgroup directory (PSI files; on pure v2 also the memory limit).</summary>
    public string V2Path { get; }
    public bool IsPureV2 => V1Path is null;
    public string MemoryPressurePath => Path.Combine(V2Path, "memory.pressure");

    /// <summary>Whether this host has a layout SandboxCgroup knows how to use.</summary>
    public static bool IsSupported => IsPureV2Host || IsHybridHost;

    private static bool IsPureV2Host =>
        File.Exists(Path.Combine(PureV2Root, "cgroup.controllers"))
        && File.ReadAllText(Path.Combine(PureV2Root, "cgroup.controllers")).Split(' ', '\n').Contains("memory");

    private static bool IsHybridHost =>
        File.Exists(Path.Combine(V1MemoryRoot, "memory.limit_in_bytes"))
        && File.Exists(Path.Combine(HybridV2Root, "cgroup.procs"));

    /// <summary>Creates the cgroup(s) with a memory limit; the name is made unique per call.</summary>
    public static SandboxCgroup Create(string prefix = "lmkd-sandbox", long limitBytes = 128L << 20)
    {
        string name = $"{prefix}-{Environment.ProcessId}-{Interlocked.Increment(ref s_counter)}";
        SandboxCgroup cg;
        if (IsPureV2Host)
        {
            // Children only get memory.max when the root delegates the memory controller.
            string subtree = Path.Combine(PureV2Root, "cgroup.subtree_control");
            if (!File.ReadAllText(subtree).Split(' ', '\n').Contains("memory"))
                File.WriteAllText(subtree, "+memory");
            cg = new SandboxCgroup(name, null, Path.Combine(PureV2Root, name));
            Directory.CreateDirectory(cg.V2Path);
        }
        else if (IsHybridHost)
        {
            cg = new SandboxCgroup(name, Path.Combine(V1MemoryRoot, name), Path.Combine(HybridV2Root, name));
            Directory.CreateDirectory(cg.V1Path!);
            Directory.CreateDirectory(cg.V2Path);
        }
        else
        {
            throw new InvalidOperationException("no usable cgroup layout (need v1 memcg + v2, or pure v2 with memory)");
        }

        try
        {
            cg.SetLimit(limitBytes);
        }
        catch
        {
            cg.Dispose();
            throw;
        }
        return cg;
    }

    /// <summary>
    /// A child cgroup (no limit of its own) in both hierarchies, removed with its parent. Lets a test
    /// put one process in a cgroup that Lmkd:Protect:Cgroups names.
    /// </summary>
    public SandboxCgroup Child(string name)
    {
        var child = new SandboxCgroup($"{Name}/{name}", V1Path is null ? null : Path.Combine(V1Path, name), Path.Combine(V2Path, name));
        if (child.V1Path is not null)
            Directory.CreateDirectory(child.V1Path);
        Directory.CreateDirectory(child.V2Path);
        _children.Add(child);
        return child;
    }

    /// <summary>The cgroup path as processes see it in /proc/&lt;pid&gt;/cgroup, and as Lmkd:Scope:Cgroup takes it.</summary>
    public string RelativePath => "/" + Name;

    public void SetLimit(long bytes)
    {
        if (V1Path is not null)
            File.WriteAllText(Path.Combine(V1Path, "memory.limit_in_bytes"), bytes.ToString());
        else
            File.WriteAllText(Path.Combine(V2Path, "memory.max"), bytes.ToString());
    }

    private IEnumerable<string> ProcsFiles()
    {
        if (V1Path is not null)
            yield return Path.Combine(V1Path, "cgroup.procs");
        yield return Path.Combine(V2Path, "cgroup.procs");
    }

    /// <summary>Moves a process into the cgroup (both hierarchies on a hybrid host).</summary>
    public void AddPid(int pid)
    {
        foreach (string procs in ProcsFiles())
            File.WriteAllText(procs, pid.ToString());
    }

    /// <summary>The processes in the cgroup (union over both hierarchies).</summary>
    public IReadOnlyList<int> Pids()
    {
        var pids = new SortedSet<int>();
        foreach (string procs in ProcsFiles())
        {
            if (!File.Exists(procs))
                continue;
            foreach (string line in File.ReadAllLines(procs))
                if (int.TryParse(line, out int pid))
                    pids.Add(pid);
        }
        return [.. pids];
    }

    /// <summary>OOM kills inside the cgroup so far: v1 memory.oom_control, else v2 memory.events "oom_kill".</summary>
    public long OomKillCount()
    {
        string file = V1Path is not null
            ? Path.Combine(V1Path, "memory.oom_control")
            : Path.Combine(V2Path, "memory.events");
        foreach (string line in File.ReadAllLines(file))
            if (line.StartsWith("oom_kill ", StringComparison.Ordinal) && long.TryParse(line.AsSpan(9), out long n))
                return n;
        return 0;
    }

    /// <summary>Headroom as Lmkd's cgroup scope computes it (limit - usage + clean inactive file), as a percentage of the limit.</summary>
    public double HeadroomPct()
    {
        using var reader = new ProcFs.CgroupMemoryReader(V2Path, V1Path);
        var s = reader.Read();
        return s.HeadroomKb * 100.0 / s.TotalKb;
    }

    /// <summary>
    /// Starts `sh -c script` inside the cgroup: the shell moves itself in before running the script, so every
    /// allocation of the workload is charged here. Output goes to /dev/null.
    /// </summary>
    public Process StartShell(string script)
    {
        string enter = string.Join("; ", ProcsFiles().Select(p => $"echo $$ > '{p}'"));
        var psi = new ProcessStartInfo("/bin/sh")
        {
            UseShellExecute = false,
            RedirectStandardOutput = false,
            RedirectStandardError = false,
        };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add($"{enter} || exit 97; exec >/dev/null 2>&1; {script}");
        return Process.Start(psi) ?? throw new InvalidOperationException("sh did not start");
    }

    /// <summary>
    /// Starts `lmkd hog HOGARGS` inside the cgroup (<paramref name="lmkdCommand"/>: the shell words
    /// that run an lmkd) and returns once its initial memory is resident (its ready file appeared).
    /// The process is the hog itself: the shell execs it. Throws when the hog exits before it is ready.
    /// </summary>
    public Process StartHog(string lmkdCommand, string hogArgs, TimeSpan? timeout = null, CancellationToken stop = default)
    {
        string ready = Path.Combine(Path.GetTempPath(), $"lmkd-hog-{Guid.NewGuid():N}.ready");
        var hog = StartShell($"exec {lmkdCommand} hog {hogArgs} --ready-file {SelfCommand.Quote(ready)}");
        var sw = Stopwatch.StartNew();
        var limit = timeout ?? TimeSpan.FromSeconds(30);
        try
        {
            while (!File.Exists(ready))
            {
                if (hog.HasExited)
                    throw new InvalidOperationException($"lmkd hog {hogArgs} exited with {hog.ExitCode} before it was ready");
                if (sw.Elapsed > limit || stop.IsCancellationRequested)
                    throw new TimeoutException($"lmkd hog {hogArgs} not ready after {sw.Elapsed.TotalSeconds:F0} s");
                Thread.Sleep(20);
            }
            return hog;
        }
        catch
        {
            if (!hog.HasExited)
                hog.Kill();
            hog.Dispose();
            throw;
        }
        finally
        {
            File.Delete(ready);
        }
    }

    /// <summary>SIGKILLs everything inside (cgroup.kill where the kernel has it) and waits until it is empty.</summary>
    public void KillAll(TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (true)
        {
            var pids = Pids();
            if (pids.Count == 0)
                return;
            string cgroupKill = Path.Combine(V2Path, "cgroup.kill");
            if (File.Exists(cgroupKill))
                TryIgnore(() => File.WriteAllText(cgroupKill, "1"));
            foreach (int pid in pids)
                TryIgnore(() =>
                {
                    using var p = Process.GetProcessById(pid);
                    p.Kill();
                });
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"cgroup {Name} still holds {string.Join(',', pids)}");
            Thread.Sleep(20);
        }
    }

    /// <summary>Removes the cgroup directories (they must be empty: call <see cref="KillAll"/> first).</summary>
    public void Remove()
    {
        foreach (string? dir in new[] { V2Path, V1Path })
        {
            if (dir is null)
                continue;
            for (int attempt = 0; Directory.Exists(dir); attempt++)
            {
                try
                {
                    Directory.Delete(dir); // rmdir(2): cgroup directories go away with their control files
                }
                catch (IOException) when (attempt < 50)
                {
                    Thread.Sleep(20); // EBUSY while the last killed task finishes exiting
                }
            }
        }
    }

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        try
        {
            foreach (var child in _children)
                child.Dispose();
            KillAll();
        }
        finally
        {
            Remove();
        }
    }

    private static void TryIgnore(Action action)
    {
        try
        {
            action();
        }
        catch (Exception e) when (e is IOException or ArgumentException or InvalidOperationException
                                       or UnauthorizedAccessException or System.ComponentModel.Win32Exception)
        {
            // The process left by itself, or the kernel lacks the file: both fine while emptying a cgroup.
        }
    }
}
