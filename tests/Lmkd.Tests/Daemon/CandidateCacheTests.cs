using Lmkd.Daemon;
using Lmkd.Policies;

namespace Lmkd.Tests.Daemon;

public sealed class CandidateCacheTests
{
    [PrivilegedFact]
    public void The_scanner_thread_publishes_a_list_of_this_machine()
    {
        using var scope = Scope.Open(new Lmkd.Configuration.LmkdOptions());
        using var cache = new CandidateCache("/proc", scope);
        var snapshot = cache.RefreshNow();
        Assert.Contains(snapshot.Processes, p => p.Pid == Environment.ProcessId);
        cache.RequestRefresh();
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (ReferenceEquals(cache.Latest, snapshot) && sw.Elapsed < TimeSpan.FromSeconds(10))
            Thread.Sleep(10);
        Assert.NotSame(snapshot, cache.Latest);
    }
}

public sealed class CandidateCacheSweepTests
{
    [Fact]
    public void While_refreshes_are_asked_for_sizes_are_swept_between_scans_and_the_sweeps_stop_after()
    {
        using var world = new LoopWorld((500, 0, 10), (501, 0, 10));
        using var scope = Scope.Open(new Lmkd.Configuration.LmkdOptions { ProcRoot = world.ProcRoot, CgroupRoot = Path.Combine(world.ProcRoot, "no-cgroups") });
        using var cache = new CandidateCache(world.ProcRoot, scope);
        cache.RequestRefresh();
        Assert.True(LoopWorld.WaitUntil(() => cache.Latest is not null, TimeSpan.FromSeconds(5)));
        var scanned = cache.Latest!;

        // 501 leaks: its statm says 800 MiB now, and nothing asks for another scan.
        LoopWorld.WriteProcess(world.ProcRoot, 501, 0, 800);
        Assert.True(LoopWorld.WaitUntil(() => Size(cache.Latest!, 501) == 800L << 20, TimeSpan.FromSeconds(2)),
            $"501 still listed at {Size(cache.Latest!, 501) >> 20} MiB");
        var swept = cache.Latest!;
        Assert.Equal(scanned.TakenAtMs, swept.TakenAtMs); // a sweep, not a scan
        Assert.True(swept.SizesAtMs > scanned.SizesAtMs);
        Assert.Same(scanned.Processes.Single(p => p.Pid == 500), swept.Processes.Single(p => p.Pid == 500)); // unchanged: same record

        // No request for a while: the sweeps stop (nothing is read while memory is fine).
        Thread.Sleep(CandidateCache.SweepWhileRequestedMs + 3 * CandidateCache.SweepIntervalMs);
        var quiet = cache.Latest;
        Thread.Sleep(4 * CandidateCache.SweepIntervalMs);
        Assert.Same(quiet, cache.Latest);
    }

    private static long Size(CandidateCache.Snapshot s, int pid) => s.Processes.Single(p => p.Pid == pid).RssBytes;
}
