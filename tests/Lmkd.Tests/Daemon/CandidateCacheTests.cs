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
