using Lmkd.Daemon;
using Lmkd.Policies;

namespace Lmkd.Tests.Daemon;

public sealed class CandidateCacheTests
{
    private const int Self = 4242;

    private static ProcessInfo P(int pid, int adj, long rssMb, ulong start = 100) => new()
    {
        Pid = pid,
        StartTime = start + (ulong)pid,
        OomScoreAdj = adj,
        RssAnonBytes = rssMb << 20,
        Comm = "p" + pid,
    };

    /// <summary>A /proc that has moved on since the scan: reads return what is true now.</summary>
    private sealed class Now(params ProcessInfo[] processes)
    {
        public readonly Dictionary<int, ProcessInfo> ByPid = processes.ToDictionary(p => p.Pid);
        public readonly List<int> Reads = [];

        public ProcessInfo? Read(int pid)
        {
            Reads.Add(pid);
            return ByPid.GetValueOrDefault(pid);
        }
    }

    [Fact]
    public void A_process_that_grew_since_the_scan_is_picked_by_its_size_now()
    {
        var stale = new[] { P(10, 900, 100), P(11, 900, 20), P(12, 0, 500) };
        var now = new Now(P(10, 900, 100), P(11, 900, 300), P(12, 0, 500));
        Assert.Equal(11, CandidateCache.Freshen(stale, now.Read, 0, RankingRules.None, Self)!.Pid);
        // Only the top bucket is re-read: the adj 0 process is not touched.
        Assert.Equal([10, 11], now.Reads.Order().ToArray());
    }

    [Fact]
    public void Vanished_and_recycled_pids_drop_out_and_the_next_bucket_is_tried()
    {
        var stale = new[] { P(10, 900, 100), P(11, 900, 90), P(12, 500, 50) };
        // 10 is gone; 11 is a new process under the same pid (another start time).
        var now = new Now(P(11, 900, 90, start: 999), P(12, 500, 50));
        Assert.Equal(12, CandidateCache.Freshen(stale, now.Read, 0, RankingRules.None, Self)!.Pid);
    }

    [Fact]
    public void A_process_whose_oom_score_adj_fell_below_the_minimum_is_passed_over()
    {
        var stale = new[] { P(10, 900, 100), P(11, 900, 50) };
        var now = new Now(P(10, 0, 100), P(11, 900, 50));
        Assert.Equal(11, CandidateCache.Freshen(stale, now.Read, 701, RankingRules.None, Self)!.Pid);
    }

    [Fact]
    public void When_the_whole_top_bucket_fell_below_the_minimum_the_next_bucket_gives_the_victim()
    {
        var stale = new[] { P(10, 900, 100), P(11, 900, 90), P(12, 800, 50), P(13, 100, 500) };
        var now = new Now(P(10, 0, 100), P(11, 0, 90), P(12, 800, 50), P(13, 100, 500));
        Assert.Equal(12, CandidateCache.Freshen(stale, now.Read, 701, RankingRules.None, Self)!.Pid);
        Assert.DoesNotContain(13, now.Reads); // below the minimum in the list: never read
    }

    [Fact]
    public void Nobody_left_gives_null_so_the_caller_scans_in_full()
    {
        var stale = new[] { P(10, 900, 100), P(11, 800, 50) };
        Assert.Null(CandidateCache.Freshen(stale, new Now().Read, 0, RankingRules.None, Self));
    }

    [Fact]
    public void Re_reads_are_bounded()
    {
        var stale = Enumerable.Range(1, 500).Select(i => P(i, 900, i)).ToArray();
        var now = new Now(stale);
        Assert.NotNull(CandidateCache.Freshen(stale, now.Read, 0, RankingRules.None, Self, maxReads: 16));
        Assert.Equal(16, now.Reads.Count);
    }

    [Fact]
    public void Never_kill_rules_still_hold_on_fresh_figures()
    {
        var stale = new[] { P(1, 1000, 900), P(Self, 1000, 800), P(20, 900, 10) };
        var now = new Now(stale);
        Assert.Equal(20, CandidateCache.Freshen(stale, now.Read, 0, RankingRules.None, Self)!.Pid);
    }

    [Fact]
    public void Processes_started_since_the_list_are_read_and_filtered_by_scope()
    {
        var list = new[] { P(10, 900, 100) };
        var now = new Now(P(10, 900, 100), P(20, 900, 300) with { CgroupPath = "/scope/a" }, P(30, 900, 900) with { CgroupPath = "/elsewhere" });
        var merged = CandidateCache.WithNewcomers(list, [10, 20, 30, 40], now.Read, cg => cg.StartsWith("/scope", StringComparison.Ordinal));
        Assert.Equal([10, 20], merged.Select(p => p.Pid).ToArray());
        // The known pid is not read again here; 40 is read and found gone.
        Assert.Equal([20, 30, 40], now.Reads.ToArray());
    }

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
