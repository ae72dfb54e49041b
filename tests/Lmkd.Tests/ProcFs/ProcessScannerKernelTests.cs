using System.Diagnostics;
using Lmkd.ProcFs;

namespace Lmkd.Tests.ProcFs;

/// <summary>The scanner and readers against the real kernel. Children are small `sleep` processes, killed in finally.</summary>
public class ProcessScannerKernelTests
{
    private static Process Spawn(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { UseShellExecute = false };
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        return Process.Start(psi)!;
    }

    private static void KillAll(IEnumerable<Process> children)
    {
        foreach (var c in children)
        {
            try
            {
                c.Kill();
                c.WaitForExit(5000);
            }
            catch (InvalidOperationException)
            {
            }
            c.Dispose();
        }
    }

    /// <summary>Waits until the child has exec'd (comm is no longer the parent's).</summary>
    private static void WaitForComm(int pid, string comm)
    {
        var sw = Stopwatch.StartNew();
        while (sw.ElapsedMilliseconds < 5000)
        {
            try
            {
                if (File.ReadAllText($"/proc/{pid}/comm").Trim() == comm)
                    return;
            }
            catch (IOException)
            {
            }
            Thread.Sleep(5);
        }
        throw new TimeoutException($"pid {pid} never became {comm}");
    }

    /// <summary>Start time parsed the naive way, independently of the scanner.</summary>
    private static ulong StartTimeOf(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        return ulong.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[19]);
    }

    private static string ExpectedCgroup(int pid)
    {
        var lines = File.ReadAllLines($"/proc/{pid}/cgroup");
        var memory = lines.FirstOrDefault(l => l.Split(':')[1].Split(',').Contains("memory"));
        return (memory ?? lines.First(l => l.StartsWith("0::", StringComparison.Ordinal))).Split(':', 3)[2];
    }

    [PrivilegedFact]
    public void Scan_sees_children_with_their_identity_adj_and_memory()
    {
        var adjs = new[] { 100, 500, 900 };
        var children = new List<Process>();
        try
        {
            foreach (int adj in adjs)
            {
                var c = Spawn("sleep", "60");
                children.Add(c);
                File.WriteAllText($"/proc/{c.Id}/oom_score_adj", adj.ToString());
            }
            var viaSh = Spawn("sh", "-c", "exec sleep 61");
            children.Add(viaSh);
            WaitForComm(viaSh.Id, "sleep");
            foreach (var c in children)
                WaitForComm(c.Id, "sleep");

            var scanner = new ProcessScanner();
            var byPid = scanner.Scan().ToDictionary(p => p.Pid);
            string sleepExe = new FileInfo($"/proc/{children[0].Id}/exe").LinkTarget!;

            for (int i = 0; i < children.Count; i++)
            {
                int pid = children[i].Id;
                Assert.True(byPid.TryGetValue(pid, out var p), $"pid {pid} missing from the scan");
                Assert.Equal(StartTimeOf(pid), p!.StartTime);
                Assert.Equal(p.StartTime, scanner.ReadStartTime(pid));
                Assert.Equal(0u, p.Uid);
                Assert.Equal("sleep", p.Comm);
                Assert.Equal(sleepExe, p.ExePath);
                Assert.Equal(ExpectedCgroup(pid), p.CgroupPath);
                Assert.Equal(i < adjs.Length ? adjs[i] : 0, p.OomScoreAdj);
                Assert.Equal(p.OomScoreAdj, scanner.ReadOomScoreAdj(pid));
                Assert.True(p.RssFileBytes > 0 && p.RssAnonBytes > 0, $"rss {p.RssAnonBytes}/{p.RssFileBytes}");
                Assert.Contains(p.State, "SR");
                Assert.Equal(p.Pid, scanner.Read(pid)!.Pid);
            }
        }
        finally
        {
            KillAll(children);
        }
    }

    [PrivilegedFact]
    public void A_process_that_exits_is_skipped_quietly()
    {
        var scanner = new ProcessScanner();
        var child = Spawn("sleep", "60");
        int pid = child.Id;
        ulong? start;
        try
        {
            WaitForComm(pid, "sleep");
            start = scanner.ReadStartTime(pid);
            Assert.NotNull(start);
        }
        finally
        {
            KillAll([child]);
        }
        Assert.Null(scanner.Read(pid));
        Assert.Null(scanner.ReadStartTime(pid));
        Assert.Null(scanner.ReadOomScoreAdj(pid));
        Assert.DoesNotContain(scanner.Scan(), p => p.Pid == pid);
    }

    [PrivilegedFact]
    public void Scans_while_processes_come_and_go_never_fail()
    {
        // A shell that keeps forking short-lived children: some exit between our reads of their files.
        var churn = Spawn("sh", "-c", "while :; do /bin/true & /bin/true; done");
        try
        {
            var scanner = new ProcessScanner();
            for (int i = 0; i < 30; i++)
            {
                var procs = scanner.Scan();
                Assert.NotEmpty(procs);
                Assert.All(procs, p => Assert.True(p.Pid > 0 && p.StartTime > 0));
                Assert.Equal(scanner.LastScanCounts.Entries, scanner.LastScanCounts.Returned + scanner.LastScanCounts.Skipped + scanner.LastScanCounts.Vanished);
            }
        }
        finally
        {
            KillAll([churn]);
        }
    }

    [PrivilegedFact]
    public void A_zombie_is_not_a_candidate()
    {
        // sleep 60 never waits for its child, so the exited "true" stays a zombie under it.
        var parent = Spawn("sh", "-c", "/bin/true & exec sleep 60");
        try
        {
            WaitForComm(parent.Id, "sleep");
            int zombie = 0;
            var sw = Stopwatch.StartNew();
            while (zombie == 0 && sw.ElapsedMilliseconds < 5000)
            {
                var children = File.ReadAllText($"/proc/{parent.Id}/task/{parent.Id}/children").Split(' ', StringSplitOptions.RemoveEmptyEntries);
                foreach (var c in children)
                {
                    var stat = File.ReadAllText($"/proc/{c}/stat");
                    if (stat[(stat.LastIndexOf(')') + 2)] == 'Z')
                        zombie = int.Parse(c);
                }
                Thread.Sleep(10);
            }
            Assert.NotEqual(0, zombie);
            var scanner = new ProcessScanner();
            Assert.Null(scanner.Read(zombie));
            Assert.NotNull(scanner.ReadStartTime(zombie));
            Assert.DoesNotContain(scanner.Scan(), p => p.Pid == zombie);
            // Reported as a pid that stays a non-candidate, with the kernel threads (kthreadd is pid 2).
            Assert.Contains(zombie, scanner.LastNeverCandidates);
            Assert.Contains(2, scanner.LastNeverCandidates);
            Assert.DoesNotContain(parent.Id, scanner.LastNeverCandidates);
        }
        finally
        {
            KillAll([parent]);
        }
    }

    [Fact]
    public void Real_system_scan_has_processes_and_no_kernel_threads()
    {
        var scanner = new ProcessScanner();
        var procs = scanner.Scan();
        Assert.NotEmpty(procs);
        Assert.DoesNotContain(procs, p => p.Pid == 2);
        Assert.Contains(procs, p => p.Pid == Environment.ProcessId);
        foreach (var p in procs)
        {
            // Independently: no PF_KTHREAD, not a child of kthreadd (when the process is still there).
            string stat;
            try
            {
                stat = File.ReadAllText($"/proc/{p.Pid}/stat");
            }
            catch (IOException)
            {
                continue;
            }
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            Assert.NotEqual("2", fields[1]);
            Assert.Equal(0u, uint.Parse(fields[6]) & 0x00200000);
        }
    }

    [Fact]
    public void SystemMemoryReader_steady_state_reads_allocate_nothing()
    {
        using var reader = new SystemMemoryReader();
        for (int i = 0; i < 20; i++)
            reader.Read();
        long before = GC.GetAllocatedBytesForCurrentThread();
        long sum = 0;
        for (int i = 0; i < 1000; i++)
            sum += reader.Read().TotalKb;
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
        Assert.True(sum > 0);
        var s = reader.Read();
        Assert.True(s.Watermarks.IsKnown);
        Assert.True(s.FreeKb > 0 && s.FreeKb <= s.TotalKb);
    }

    [PrivilegedFact]
    public void Cgroup_scope_on_the_real_kernel()
    {
        string rel = $"lmkd-procfs-test-{Environment.ProcessId}";
        var location = CgroupPaths.Resolve("/sys/fs/cgroup", rel);
        Assert.NotEqual(CgroupLayout.None, location.Layout);
        var dirs = new[] { location.V1MemoryDirectory, location.V2Directory }.OfType<string>().ToList();
        Process? child = null;
        try
        {
            foreach (var d in dirs)
                Directory.CreateDirectory(d);
            if (location.V1MemoryDirectory is { } v1)
                File.WriteAllText(Path.Combine(v1, "memory.limit_in_bytes"), (64 << 20).ToString());
            else
                File.WriteAllText(Path.Combine(location.V2Directory!, "memory.max"), (64 << 20).ToString());

            child = Spawn("sleep", "60");
            WaitForComm(child.Id, "sleep");
            foreach (var d in dirs)
                File.WriteAllText(Path.Combine(d, "cgroup.procs"), child.Id.ToString());

            using var reader = CgroupMemoryReader.Open(location);
            var s = reader.Read();
            Assert.Equal(64 * 1024, s.TotalKb);
            Assert.InRange(s.FreeKb, 1, 64 * 1024);
            Assert.Equal(0, reader.ReadOomKills());
            Assert.Equal(655, s.Watermarks.MinKb);

            var inScope = new ProcessScanner().Scan(cg => cg == "/" + rel);
            Assert.Equal([child.Id], inScope.Select(p => p.Pid));
        }
        finally
        {
            if (child is not null)
                KillAll([child]);
            foreach (var d in dirs)
            {
                for (int i = 0; i < 50 && Directory.Exists(d); i++)
                {
                    try
                    {
                        Directory.Delete(d);
                    }
                    catch (IOException)
                    {
                        Thread.Sleep(20); // the killed child may still be leaving the cgroup
                    }
                }
            }
        }
    }
}
