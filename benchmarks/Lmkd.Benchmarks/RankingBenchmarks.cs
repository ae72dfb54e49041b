using BenchmarkDotNet.Attributes;
using Lmkd.Policies;

namespace Lmkd.Benchmarks;

/// <summary>The ranking alone over 2,000 synthetic processes, with protection and preference rules in force.</summary>
[MemoryDiagnoser]
public class RankingBenchmarks
{
    private ProcessInfo[] _candidates = [];
    private readonly RankingRules _rules = new()
    {
        ProtectedUids = [0],
        ProtectedExePaths = ["/usr/lib/systemd/**"],
        ProtectedCgroups = ["/system.slice/sshd.service"],
        PreferredCgroups = ["/user.slice/batch"],
    };

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(42); // fixed: every run ranks the same population
        _candidates = new ProcessInfo[2000];
        for (int i = 0; i < _candidates.Length; i++)
        {
            _candidates[i] = new ProcessInfo
            {
                Pid = 1000 + i,
                StartTime = (ulong)rng.Next(1, 1_000_000),
                Uid = (uint)(i % 5 == 0 ? 0 : 1000 + i % 3),
                Comm = "proc" + i,
                ExePath = i % 7 == 0 ? "/usr/lib/systemd/systemd-journald" : "/usr/bin/app" + i % 50,
                CgroupPath = i % 11 == 0 ? "/user.slice/batch/job" + i : "/user.slice/user-1000.slice/app-" + i % 40 + ".scope",
                OomScoreAdj = rng.Next(-100, 1001),
                RssAnonBytes = rng.Next(1, 1 << 20) * 4096L,
                RssFileBytes = rng.Next(0, 1 << 16) * 4096L,
            };
        }
    }

    [Benchmark(Description = "VictimRanking.Pick, 2,000 synthetic")]
    public ProcessInfo? Pick() => VictimRanking.Pick(_candidates, 0, _rules, 1);

    [Benchmark(Description = "VictimRanking.Rank (full order, for logs), 2,000 synthetic")]
    public int Rank() => VictimRanking.Rank(_candidates, 0, _rules, 1).Ranked.Count;
}
