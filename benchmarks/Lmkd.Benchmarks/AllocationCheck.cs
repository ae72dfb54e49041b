using System.Globalization;

namespace Lmkd.Benchmarks;

/// <summary>
/// `allocs [--wakeups N]`: the monitor thread's own allocations per wake-up, exactly. BenchmarkDotNet's
/// Allocated column counts the whole process (GC.GetTotalAllocatedBytes) and rounds to bytes per operation,
/// so a stray allocation on another thread shows up as "1 B". Here each step runs N times on one dedicated
/// thread, like lmkd's monitor thread, after a warm-up, and GC.GetAllocatedBytesForCurrentThread says what it allocated.
/// </summary>
public static class AllocationCheck
{
    public static int Run(string[] args)
    {
        int wakeups = args is ["--wakeups", var n] && int.TryParse(n, CultureInfo.InvariantCulture, out int v) && v > 0 ? v : 100_000;
        var bench = new WakeToDecisionBenchmarks();
        bench.Setup();
        var rows = new List<(string Step, long Bytes)>();
        try
        {
            var thread = new Thread(() =>
            {
                rows.Add(Measure(wakeups, () => bench.PsiReadSnapshot()) with { Step = "PsiMonitor.ReadSnapshot" });
                rows.Add(Measure(wakeups, () => bench.PsiWaitNoEvent()) with { Step = "PsiMonitor.Wait(0)" });
                rows.Add(Measure(wakeups, () => bench.SystemMemoryRead()) with { Step = "SystemMemoryReader.Read" });
                rows.Add(Measure(wakeups, () => bench.CgroupMemoryRead()) with { Step = "CgroupMemoryReader.Read" });
                rows.Add(Measure(wakeups, () => bench.PolicyEvaluate()) with { Step = "KillPolicy.Evaluate" });
                rows.Add(Measure(wakeups, () => bench.WakeUpMachine()) with { Step = "wake-up, machine scope" });
                rows.Add(Measure(wakeups, () => bench.WakeUpCgroup()) with { Step = "wake-up, cgroup scope" });
            }) { Name = "alloc-check" };
            thread.Start();
            thread.Join();
        }
        finally
        {
            bench.Cleanup();
        }
        Console.WriteLine($"| step (monitor thread, {wakeups:N0} calls after warm-up) | bytes allocated in total | bytes per call |");
        Console.WriteLine("|---|---:|---:|");
        foreach (var (step, bytes) in rows)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {step} | {bytes} | {(double)bytes / wakeups:F4} |"));
        return rows.All(r => r.Bytes == 0) ? 0 : 1;
    }

    private static (string Step, long Bytes) Measure(int count, Action step)
    {
        for (int i = 0; i < 1000; i++)
            step(); // warm-up: JIT tiers, buffers grown to fit
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < count; i++)
            step();
        return ("", GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
