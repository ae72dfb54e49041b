using System.Text;
using Lmkd.ProcFs;

namespace Lmkd.Tests.ProcFs;

public class ProcessScannerFixtureTests
{
    private static string Comm(StatFields f) => Encoding.UTF8.GetString(f.Comm);

    [Fact]
    public void Stat_comm_runs_from_the_first_open_paren_to_the_last_close_paren()
    {
        Assert.True(ProcStat.TryParse(Fixtures.Bytes("proc/101/stat"), out var f));
        Assert.Equal(101, f.Pid);
        Assert.Equal("a) R 1 (b\n", Comm(f));
        Assert.Equal('S', f.State);
        Assert.Equal(1, f.Ppid);
        Assert.Equal(4194304u, f.Flags);
        Assert.Equal(66901UL, f.StartTime);
        Assert.False(f.IsKernelThread);
    }

    [Theory]
    [InlineData("proc/102/stat", "my proc (x) 1 2")]
    [InlineData("proc/103/stat", "")]
    [InlineData("proc/100/stat", "bash")]
    public void Stat_comm_with_spaces_parens_or_nothing(string file, string comm)
    {
        Assert.True(ProcStat.TryParse(Fixtures.Bytes(file), out var f));
        Assert.Equal(comm, Comm(f));
        Assert.Equal(66901UL, f.StartTime);
    }

    [Theory]
    [InlineData("proc/107/stat")] // truncated before starttime
    [InlineData("proc/111/stat")] // starttime beyond ulong
    [InlineData("proc/113/stat")] // empty
    public void Stat_rejects_truncated_empty_or_overflowing(string file) =>
        Assert.False(ProcStat.TryParse(Fixtures.Bytes(file), out _));

    [Theory]
    [InlineData("")]
    [InlineData("1 (x")]
    [InlineData("1 x) S 1")]
    [InlineData("(x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5")]
    [InlineData("1 (x) SS 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5")]
    [InlineData("1 (x) S 1 1 1 0 -1 99999999999 0 0 0 0 0 0 0 0 20 0 1 0 5")]
    public void Stat_rejects_malformed(string text) =>
        Assert.False(ProcStat.TryParse(Fixtures.Utf8(text), out _));

    [Fact]
    public void Stat_minimal_line_ending_at_starttime_parses()
    {
        Assert.True(ProcStat.TryParse("7 (x) R 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5"u8, out var f));
        Assert.Equal(5UL, f.StartTime);
        Assert.Equal('R', f.State);
    }

    [Fact]
    public void Stat_flags_kernel_threads_and_zombies()
    {
        Assert.True(ProcStat.TryParse(Fixtures.Bytes("proc/2/stat"), out var kthreadd));
        Assert.True(kthreadd.IsKernelThread);
        Assert.True(ProcStat.TryParse(Fixtures.Bytes("proc/105/stat"), out var kworker));
        Assert.True(kworker.IsKernelThread);
        Assert.True(ProcStat.TryParse(Fixtures.Bytes("proc/106/stat"), out var child));
        Assert.True(child.IsKernelThread); // ppid 2 even without PF_KTHREAD
        Assert.True(ProcStat.TryParse(Fixtures.Bytes("proc/104/stat"), out var zombie));
        Assert.True(zombie.IsZombie);
    }

    [Fact]
    public void Status_reads_real_uid_and_memory_in_bytes()
    {
        Assert.True(ProcStatus.TryParse(Fixtures.Bytes("proc/100/status"), out var s));
        Assert.Equal(1000u, s.Uid);
        Assert.Equal(2048L * 1024, s.RssAnonBytes);
        Assert.Equal(4096L * 1024, s.RssFileBytes);
        Assert.Equal(16L * 1024, s.RssShmemBytes);
        Assert.Equal(8L * 1024, s.SwapBytes);
        Assert.True(s.HasMm);
    }

    [Fact]
    public void Status_without_rss_lines_has_no_mm()
    {
        Assert.True(ProcStatus.TryParse(Fixtures.Bytes("proc/105/status"), out var s));
        Assert.False(s.HasMm);
        Assert.False(ProcStatus.TryParse(""u8, out _));
        Assert.False(ProcStatus.TryParse("Name:\tx\nUid:\n"u8, out _));
    }

    [Fact]
    public void Status_huge_values_saturate_so_sums_cannot_overflow()
    {
        Assert.True(ProcStatus.TryParse(Fixtures.Bytes("proc/110/status"), out var s));
        Assert.Equal(ProcessScanner.MaxMemoryBytes, s.RssAnonBytes);
        Assert.Equal(ProcessScanner.MaxMemoryBytes, s.RssFileBytes);
        Assert.True(s.RssAnonBytes + s.RssFileBytes + s.RssShmemBytes + s.SwapBytes > 0);
    }

    [Fact]
    public void Status_later_lines_win_over_lines_forged_earlier()
    {
        Assert.True(ProcStatus.TryParse(Fixtures.Bytes("proc/112/status"), out var s));
        Assert.Equal(4242u, s.Uid);
        Assert.Equal(108L * 1024, s.RssAnonBytes);
    }

    [Theory]
    [InlineData("9:name=systemd:/user.slice\n5:cpu,cpuacct:/\n4:memory:/user.slice/app\n0::/\n", true, "/user.slice/app")]
    [InlineData("9:name=systemd:/user.slice\n5:cpu,cpuacct:/\n4:memory:/user.slice/app\n0::/\n", false, "/")]
    [InlineData("0::/system.slice/foo.service\n", true, "/system.slice/foo.service")]
    [InlineData("0::/system.slice/foo.service\n", false, "/system.slice/foo.service")]
    [InlineData("4:memory:/only/v1\n", false, "/only/v1")]
    [InlineData("3:cpu,memory,blkio:/joint\n0::/v2\n", true, "/joint")]
    [InlineData("4:memory_x:/no\n0::/a:b:c\n", true, "/a:b:c")]
    [InlineData("0::/truncated", true, "/truncated")]
    [InlineData("1:name=memory:/named\n0::/v2\n", true, "/v2")]
    public void Cgroup_path_rule(string content, bool preferV1, string expected) =>
        Assert.Equal(expected, ProcCgroup.ParsePath(Fixtures.Utf8(content), preferV1));

    [Theory]
    [InlineData("")]
    [InlineData("garbage\n")]
    [InlineData("0:\n")]
    [InlineData("5:cpu:/x\n")]
    public void Cgroup_path_absent(string content) =>
        Assert.Null(ProcCgroup.ParsePath(Fixtures.Utf8(content), true));

    private static TempDir ProcTreeWithExeLinks()
    {
        var tree = TempDir.CopyOf("proc");
        File.CreateSymbolicLink(tree.PathOf("100/exe"), "/usr/bin/bash");
        File.CreateSymbolicLink(tree.PathOf("101/exe"), "/opt/odd dir/a) R (b");
        File.CreateSymbolicLink(tree.PathOf("self"), "100");
        return tree;
    }

    [Fact]
    public void Scan_of_a_hostile_tree_returns_exactly_the_user_processes()
    {
        using var tree = ProcTreeWithExeLinks();
        var scanner = new ProcessScanner(tree.Root);
        var procs = scanner.Scan().OrderBy(p => p.Pid).ToList();

        Assert.Equal(new[] { 1, 100, 101, 102, 103, 110, 112, 115, 117 }, procs.Select(p => p.Pid));
        Assert.All(procs, p => Assert.False(p.IsKernelThread));

        var bash = procs.Single(p => p.Pid == 100);
        Assert.Equal("bash", bash.Comm);
        Assert.Equal("/usr/bin/bash", bash.ExePath);
        Assert.Equal("/user.slice/app", bash.CgroupPath); // v1 memory line preferred
        Assert.Equal(200, bash.OomScoreAdj);
        Assert.Equal(1000u, bash.Uid);
        Assert.Equal(66901UL, bash.StartTime);
        Assert.Equal('S', bash.State);
        Assert.Equal((2048L + 4096 + 16) * 1024, bash.RssBytes);
        Assert.Equal(8L * 1024, bash.SwapBytes);

        var hostile = procs.Single(p => p.Pid == 101);
        Assert.Equal("a) R 1 (b\n", hostile.Comm);
        Assert.Equal("/opt/odd dir/a) R (b", hostile.ExePath);
        Assert.Equal(300, hostile.OomScoreAdj);

        Assert.Equal("my proc (x) 1 2", procs.Single(p => p.Pid == 102).Comm);
        Assert.Equal(-17, procs.Single(p => p.Pid == 102).OomScoreAdj);
        Assert.Equal("", procs.Single(p => p.Pid == 103).Comm);
        Assert.Null(procs.Single(p => p.Pid == 103).ExePath);
        Assert.Equal("/system.slice/foo.service", procs.Single(p => p.Pid == 110).CgroupPath);
        Assert.Equal(4242u, procs.Single(p => p.Pid == 112).Uid);
        Assert.Equal("/", procs.Single(p => p.Pid == 115).CgroupPath);
        Assert.Equal("/init.scope", procs.Single(p => p.Pid == 1).CgroupPath);

        // A namespace init is returned (the ranking decides what to do with it), and marked.
        Assert.True(procs.Single(p => p.Pid == 117).IsNamespaceInit);
        Assert.All(procs.Where(p => p.Pid != 117), p => Assert.False(p.IsNamespaceInit));

        var counts = scanner.LastScanCounts;
        Assert.Equal(9, counts.Returned);
        Assert.Equal(counts.Entries, counts.Returned + counts.Skipped + counts.Vanished);
        Assert.Equal(1, counts.Vanished); // 109 lost its oom_score_adj
    }

    [Fact]
    public void Scan_applies_the_cgroup_filter()
    {
        using var tree = ProcTreeWithExeLinks();
        var procs = new ProcessScanner(tree.Root).Scan(cg => cg.StartsWith("/system.slice/", StringComparison.Ordinal));
        Assert.Equal(new[] { 110, 112 }, procs.Select(p => p.Pid).Order());
    }

    [Fact]
    public void Scan_with_v2_preference_takes_the_0_line()
    {
        using var tree = ProcTreeWithExeLinks();
        var bash = new ProcessScanner(tree.Root, preferV1Memory: false).Scan().Single(p => p.Pid == 100);
        Assert.Equal("/", bash.CgroupPath);
    }

    [Fact]
    public void Rescan_of_unchanged_processes_reuses_the_strings()
    {
        using var tree = ProcTreeWithExeLinks();
        var scanner = new ProcessScanner(tree.Root);
        var first = scanner.Scan().ToDictionary(p => p.Pid);
        var second = scanner.Scan().ToDictionary(p => p.Pid);
        foreach (var (pid, p) in second)
        {
            Assert.Same(first[pid].Comm, p.Comm);
            Assert.Same(first[pid].CgroupPath, p.CgroupPath);
            Assert.Same(first[pid].ExePath, p.ExePath);
        }
    }

    [Fact]
    public void Read_one_and_the_cheap_readers()
    {
        using var tree = ProcTreeWithExeLinks();
        var scanner = new ProcessScanner(tree.Root + "/");
        Assert.Equal("bash", scanner.Read(100)!.Comm);
        Assert.Null(scanner.Read(104));   // zombie
        Assert.Null(scanner.Read(105));   // kernel thread
        Assert.Null(scanner.Read(109));   // gone mid-read
        Assert.Null(scanner.Read(4242));  // never existed
        Assert.Null(scanner.Read(-1));
        Assert.Equal(66901UL, scanner.ReadStartTime(100));
        Assert.Equal(66901UL, scanner.ReadStartTime(104)); // identity check works on a zombie too
        Assert.Null(scanner.ReadStartTime(107));
        Assert.Null(scanner.ReadStartTime(4242));
        Assert.Equal(-17, scanner.ReadOomScoreAdj(102));
        Assert.Null(scanner.ReadOomScoreAdj(109));
        Assert.Null(scanner.ReadOomScoreAdj(114));
    }

    [Fact]
    public void Scan_of_a_missing_root_throws()
    {
        Assert.Throws<IOException>(() => new ProcessScanner("/nonexistent-lmkd-root").Scan());
    }
}
