using BenchmarkDotNet.Attributes;
using Lmkd.Linux;
using Lmkd.ProcFs;

namespace Lmkd.Benchmarks;

/// <summary>
/// Where a /proc scan's time goes: one file read for every process on the machine (~2,000), through a
/// directory fd as ProcessScanner does. "dir" is opening and closing /proc/&lt;pid&gt; alone: the floor
/// every other row includes. Kernel work, not parsing: nothing here parses.
/// </summary>
[MemoryDiagnoser]
public unsafe class ProcFileCostBenchmarks
{
    private int[] _pids = [];
    private readonly ProcFileReader _reader = new(4096);
    private readonly byte[] _link = new byte[4097];

    [Params("dir", "stat", "cgroup", "status", "oom_score_adj", "exe")]
    public string File { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        IdleProcesses.Shared(DecisionToSignalBenchmarks.TargetProcesses);
        _pids = Directory.EnumerateDirectories("/proc").Select(Path.GetFileName)
            .Select(n => int.TryParse(n, out int p) ? p : 0).Where(p => p > 0).ToArray();
    }

    [Benchmark(Description = "open /proc/<pid> + read one file, every process")]
    public int ReadOneFileOfEveryProcess()
    {
        int ok = 0;
        Span<byte> name = stackalloc byte[32];
        int nameLen = System.Text.Encoding.ASCII.GetBytes(File, name);
        name[nameLen] = 0;
        Span<byte> path = stackalloc byte[32];
        foreach (int pid in _pids)
        {
            pid.TryFormat(path, out int n);
            path[n] = 0;
            int dirFd;
            fixed (byte* p = path)
                dirFd = Native.OpenAt(ProcRootFd, p, Native.O_RDONLY | Native.O_CLOEXEC);
            if (dirFd < 0)
                continue;
            if (File == "dir")
                ok++;
            else if (File == "exe")
            {
                fixed (byte* l = _link)
                fixed (byte* e = name)
                    ok += Native.ReadLinkAt(dirFd, e, l, (nuint)_link.Length) > 0 ? 1 : 0;
            }
            else if (_reader.ReadAt(dirFd, name[..(nameLen + 1)], out _) == ProcReadStatus.Ok)
                ok++;
            Native.Close(dirFd);
        }
        return ok;
    }

    private static int s_procFd = -1;

    private static int ProcRootFd => s_procFd >= 0 ? s_procFd : s_procFd = ProcFileReader.OpenPath("/proc", out _);
}
