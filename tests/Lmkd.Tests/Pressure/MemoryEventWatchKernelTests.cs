using System.Diagnostics;
using Lmkd.Policies;
using Lmkd.Pressure;
using Lmkd.ProcFs;
using Lmkd.Tests.EndToEnd;

namespace Lmkd.Tests.Pressure;

/// <summary>
/// The kernel's wake-ups on a cgroup's memory, on whichever cgroup layout this host has: a v1 usage
/// threshold (cgroup.event_control + eventfd) on hybrid hosts, memory.events (POLLPRI) on pure v2.
/// </summary>
[Collection(RealKernelCollection.Name)]
public class MemoryEventWatchKernelTests
{
    [PrivilegedFact]
    public void Memory_moving_past_the_watch_wakes_the_monitor()
    {
        if (!TestCgroup.IsSupported)
            Assert.Fail("no usable cgroup layout");
        using var cg = TestCgroup.Create("lmkd-memev", 128L << 20);
        // v1: a threshold at 50 % of the limit; v2: memory.events, which changes when usage hits the limit.
        using var watch = MemoryEventWatch.Open(cg.IsPureV2 ? cg.V2Path : null, cg.V1Path, 128L << 20, 50, out string why);
        if (watch is null)
        {
            Assert.Fail(why);
            return;
        }
        Console.WriteLine(watch.Description);
        using var psi = new PsiMonitor(cg.MemoryPressurePath, [new PsiLevelConfig("medium", PsiKind.Some, 150, 2000)]);
        psi.Arm();
        using var reader = new CgroupMemoryReader(cg.V2Path, cg.V1Path);
        reader.Read();
        if (!cg.IsPureV2)
            Assert.True(watch.AllowsSlowSampling(reader.LastUsageBytes, reader.LastLimitBytes), "an empty cgroup is below the threshold");
        Assert.Equal(WaitStatus.Timeout, psi.Wait(200, -1, watch.Fd, watch.Events).Status);

        // v1: 80 MiB crosses the 64 MiB threshold. v2: 160 MiB of file cache meets the 128 MiB limit (max event).
        using var workload = cg.StartShell(cg.IsPureV2
            ? "head -c 167772160 /dev/zero > /tmp/lmkd-memev.$$ ; cat /tmp/lmkd-memev.$$ > /dev/null; rm -f /tmp/lmkd-memev.$$; sleep 30"
            : $"exec {Workload.LmkdCommand()} hog --mb 80");
        var sw = Stopwatch.StartNew();
        WaitResult r;
        do
            r = psi.Wait(10_000, -1, watch.Fd, watch.Events);
        while (r.Status == WaitStatus.Fired && sw.Elapsed < TimeSpan.FromSeconds(10));
        Assert.Equal(WaitStatus.MemoryEvent, r.Status);
        Console.WriteLine($"memory event after {sw.ElapsedMilliseconds} ms");
        watch.Drain();
        if (!cg.IsPureV2)
        {
            reader.Read();
            Assert.False(watch.AllowsSlowSampling(reader.LastUsageBytes, reader.LastLimitBytes), "usage above the threshold must be sampled");
            // Drained: no new event while usage stays above it.
            Assert.Equal(WaitStatus.Timeout, psi.Wait(300, -1, watch.Fd, watch.Events).Status);
            // A new limit gets a new threshold.
            cg.SetLimit(256L << 20);
            reader.Read();
            watch.Rearm(reader.LastLimitBytes, 50);
            Assert.Equal(128L << 20, watch.ThresholdBytes);
            Assert.True(watch.AllowsSlowSampling(reader.LastUsageBytes, reader.LastLimitBytes));
        }
    }

    [PrivilegedFact]
    public void No_limit_no_threshold_and_a_missing_cgroup_is_refused_with_a_reason()
    {
        if (!TestCgroup.IsSupported)
            Assert.Fail("no usable cgroup layout");
        using var cg = TestCgroup.Create("lmkd-memev");
        if (!cg.IsPureV2)
        {
            Assert.Null(MemoryEventWatch.Open(null, cg.V1Path, long.MaxValue, 50, out string why));
            Assert.Contains("no memory limit", why);
        }
        Assert.Null(MemoryEventWatch.Open(cg.IsPureV2 ? "/nonexistent/cgroup" : null, cg.IsPureV2 ? null : "/nonexistent/cgroup", 1L << 30, 50, out string missing));
        Assert.Contains("/nonexistent/cgroup", missing);
    }
}
