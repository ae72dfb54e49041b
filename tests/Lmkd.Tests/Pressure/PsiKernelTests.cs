using System.Diagnostics;
using Lmkd.Policies;
using Lmkd.Pressure;

namespace Lmkd.Tests.Pressure;

/// <summary>PsiMonitor against the real kernel. Real pressure is only ever created inside a TestCgroup.</summary>
[Collection(RealKernelCollection.Name)]
public class PsiKernelTests
{
    private const string SystemMemory = "/proc/pressure/memory";

    [PrivilegedFact]
    public void A_1s_window_is_accepted_as_is_or_widened_to_2s()
    {
        using var m = new PsiMonitor(SystemMemory, [new PsiLevelConfig("medium", PsiKind.Some, 70, 1000)]);
        m.Arm();
        Console.WriteLine(m.Description);
        var level = m.Levels[0];
        // Here (no CAP_SYS_RESOURCE) the kernel wants multiples of 2 s; with the capability 1 s stays.
        if (m.Mode == TriggerMode.WidenedTrigger)
            Assert.Equal((140_000L, 2_000_000L), (level.StallUs, level.WindowUs));
        else
            Assert.Equal((TriggerMode.Trigger, 70_000L, 1_000_000L), (m.Mode, level.StallUs, level.WindowUs));
    }

    [PrivilegedFact]
    public void A_2s_window_is_accepted_and_waiting_without_pressure_times_out()
    {
        using var m = new PsiMonitor(SystemMemory,
            [new PsiLevelConfig("medium", PsiKind.Some, 150, 2000), new PsiLevelConfig("critical", PsiKind.Full, 700, 2000)]);
        m.Arm();
        Assert.Equal(TriggerMode.Trigger, m.Mode);
        Assert.Equal(2_000_000L, m.Levels[1].WindowUs);
        var start = Stopwatch.StartNew();
        Assert.Equal(WaitStatus.Timeout, m.Wait(300).Status);
        Assert.InRange(start.ElapsedMilliseconds, 250, 2000);
        Assert.True(m.ReadSnapshot().SomeTotalUs >= 0);
    }

    [PrivilegedFact]
    public void Steady_state_wait_and_snapshot_do_not_allocate_with_triggers()
    {
        using var m = new PsiMonitor(SystemMemory, [new PsiLevelConfig("medium", PsiKind.Some, 150, 2000)]);
        m.Arm();
        using var wake = new EventFd();
        for (int i = 0; i < 20; i++)
        {
            m.Wait(0, wake.Fd);
            m.ReadSnapshot();
        }
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            m.Wait(0, wake.Fd);
            m.ReadSnapshot();
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [PrivilegedFact]
    public void Wake_fd_interrupts_a_trigger_wait()
    {
        using var m = new PsiMonitor(SystemMemory, [new PsiLevelConfig("medium", PsiKind.Some, 150, 2000)]);
        m.Arm();
        using var wake = new EventFd();
        wake.Signal();
        Assert.Equal(WaitStatus.Woken, m.Wait(5000, wake.Fd).Status);
        Assert.True(wake.Drain());
        Assert.Equal(WaitStatus.Timeout, m.Wait(10, wake.Fd).Status);
    }

    [PrivilegedFact]
    public void Forced_sampling_works_on_the_real_file()
    {
        using var m = new PsiMonitor(SystemMemory, [new PsiLevelConfig("medium", PsiKind.Some, 100, 1000)],
            new PsiMonitorOptions { ForceSampling = true, SampleMinIntervalMs = 10, SampleMaxIntervalMs = 50 });
        m.Arm();
        Assert.Equal(TriggerMode.Sampling, m.Mode);
        Assert.Equal(1_000_000L, m.Levels[0].WindowUs); // sampling is not bound to 2 s multiples
        Assert.Equal(WaitStatus.Timeout, m.Wait(200).Status);
        Assert.True(m.TryReadSnapshot(out _, out int errno), $"errno {errno}");
    }

    [PrivilegedFact]
    public void Real_pressure_in_a_test_cgroup_fires_the_trigger()
    {
        if (!TestCgroup.IsSupported)
            Assert.Fail("no usable cgroup layout");
        string data = Path.Combine(Path.GetTempPath(), $"lmkd-psi-thrash-{Environment.ProcessId}.dat");
        using var cg = TestCgroup.Create("lmkd-psi", 128L << 20);
        try
        {
            using var m = new PsiMonitor(cg.MemoryPressurePath, [new PsiLevelConfig("medium", PsiKind.Some, 50, 2000)]);
            m.Arm();
            Assert.NotEqual(TriggerMode.Sampling, m.Mode);
            Assert.Equal(WaitStatus.Timeout, m.Wait(0).Status);

            // The file is written from inside the cgroup so its page cache is charged there, and written
            // before the wait starts: on a busy machine the write alone can take seconds.
            using (var writer = cg.StartShell($"dd if=/dev/zero of='{data}' bs=1M count=256 conv=fsync status=none"))
                Assert.True(writer.WaitForExit(60_000) && writer.ExitCode == 0, "writing the data file failed");
            // Two readers of a 256 MiB file in 128 MiB thrash the page cache (about 15% stall here) without an OOM kill.
            using var workload = cg.StartShell(
                $"(while :; do cat '{data}'; done) & (sleep 0.3; while :; do cat '{data}'; done) & wait");

            var sw = Stopwatch.StartNew();
            var r = m.Wait(20_000);
            var snapshot = m.ReadSnapshot();
            Assert.True(r.Status == WaitStatus.Fired,
                $"{r.Status} after {sw.ElapsedMilliseconds} ms; some total {snapshot.SomeTotalUs} us; oom kills {cg.OomKillCount()}");
            Assert.Equal(PressureLevel.Medium, r.Level);
            Assert.True(snapshot.SomeTotalUs >= 50_000);
            Console.WriteLine($"PSI trigger fired after {sw.ElapsedMilliseconds} ms; some avg10 {snapshot.SomeAvg10}");
        }
        finally
        {
            cg.Dispose();
            File.Delete(data);
        }
    }

    [PrivilegedFact]
    public void Removing_the_watched_cgroup_reports_scope_gone()
    {
        if (!TestCgroup.IsSupported)
            Assert.Fail("no usable cgroup layout");
        using var cg = TestCgroup.Create("lmkd-psi-gone");
        using var triggers = new PsiMonitor(cg.MemoryPressurePath, [new PsiLevelConfig("medium", PsiKind.Some, 50, 2000)]);
        using var sampling = new PsiMonitor(cg.MemoryPressurePath, [new PsiLevelConfig("medium", PsiKind.Some, 50, 2000)],
            new PsiMonitorOptions { ForceSampling = true, SampleMinIntervalMs = 5, SampleMaxIntervalMs = 20 });
        triggers.Arm();
        sampling.Arm();
        Assert.Equal(WaitStatus.Timeout, triggers.Wait(0).Status);

        cg.Dispose();

        var sw = Stopwatch.StartNew();
        Assert.Equal(WaitStatus.ScopeGone, triggers.Wait(5000).Status);
        Assert.InRange(sw.ElapsedMilliseconds, 0, 1000);
        Assert.Equal(WaitStatus.ScopeGone, triggers.Wait(5000).Status); // final, and immediate
        Assert.Equal(WaitStatus.ScopeGone, sampling.Wait(5000).Status);
        Assert.InRange(sw.ElapsedMilliseconds, 0, 2000);
        Assert.False(triggers.TryReadSnapshot(out _, out int errno));
        Assert.Equal(Lmkd.Linux.Native.ENODEV, errno);
    }
}
