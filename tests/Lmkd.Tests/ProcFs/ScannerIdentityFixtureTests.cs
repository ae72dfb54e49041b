using Lmkd.Linux;
using Lmkd.Policies;
using Lmkd.ProcFs;

namespace Lmkd.Tests.ProcFs;

/// <summary>
/// The scanner's new facts from fixture trees: the executable's identity and link count, the mount namespace next to
/// pid 1's, NSpid, and cgroups taken from one walk of a cgroup tree. Their parsers, table-tested.
/// </summary>
public class ScannerIdentityFixtureTests
{
    // ---- parsers -----------------------------------------------------------------------------

    [Theory]
    [InlineData("NSpid:\t4711\t1\n", true)]
    [InlineData("NSpid:\t9\t4711\t1\n", true)]       // a nested container's init
    [InlineData("NSpid:\t1\n", false)]                // pid 1 of the reader's own namespace: Init, not a namespace init
    [InlineData("NSpid:\t4711\n", false)]
    [InlineData("NSpid:\t4711\t12\n", false)]         // a container's ordinary process
    [InlineData("NSpid:\t4711\t11\n", false)]
    [InlineData("", false)]                           // kernels before 4.1 print no NSpid
    public void Status_nspid_marks_a_namespace_init(string nspidLine, bool isInit)
    {
        var status = Fixtures.Utf8($"Name:\tx\nUid:\t0\t0\t0\t0\n{nspidLine}RssAnon:\t4 kB\nRssFile:\t4 kB\nRssShmem:\t0 kB\nVmSwap:\t0 kB\n");
        Assert.True(ProcStatus.TryParse(status, out var f));
        Assert.Equal(isInit, f.IsNamespaceInit);
        Assert.Equal(4096, f.RssAnonBytes);
    }

    [Fact]
    public void Status_figures_are_found_wherever_their_line_is()
    {
        // Swap before the Rss lines (no kernel prints it so): still every figure is read.
        var status = "Uid:\t7\t7\t7\t7\nNSpid:\t5\nVmSwap:\t8 kB\nRssAnon:\t1 kB\nRssFile:\t2 kB\nRssShmem:\t3 kB\n"u8;
        Assert.True(ProcStatus.TryParse(status, out var f));
        Assert.Equal((7u, 1024L, 2048L, 3072L, 8192L), (f.Uid, f.RssAnonBytes, f.RssFileBytes, f.RssShmemBytes, f.SwapBytes));
    }

    [Theory]
    [InlineData("mnt:[4026531841]", "mnt", 4026531841UL)]
    [InlineData("pid:[4026531836]", "pid", 4026531836UL)]
    [InlineData("mnt:[0]", "mnt", 0UL)]
    public void Namespace_link_gives_the_inode(string target, string type, ulong inode)
    {
        Assert.True(NamespaceLink.TryParse(Fixtures.Utf8(target), Fixtures.Utf8(type), out ulong got));
        Assert.Equal(inode, got);
    }

    [Theory]
    [InlineData("mnt:[4026531841]", "pid")]
    [InlineData("mnt:4026531841", "mnt")]
    [InlineData("mnt:[]", "mnt")]
    [InlineData("mnt:[12x]", "mnt")]
    [InlineData("mnt:[99999999999999999999]", "mnt")]
    [InlineData("", "mnt")]
    public void Namespace_link_rejects_anything_else(string target, string type) =>
        Assert.False(NamespaceLink.TryParse(Fixtures.Utf8(target), Fixtures.Utf8(type), out _));

    [Theory]
    [InlineData("/usr/sbin/sshd (deleted)", 0u, "/usr/sbin/sshd", true)]
    [InlineData("/usr/sbin/sshd (deleted)", 1u, "/usr/sbin/sshd (deleted)", false)] // a file may be named so
    [InlineData("/usr/sbin/sshd", 0u, "/usr/sbin/sshd", false)]
    [InlineData(" (deleted)", 0u, " (deleted)", false)]
    [InlineData("/a (deleted) (deleted)", 0u, "/a (deleted)", true)]
    public void Exe_link_drops_the_kernels_deleted_suffix_only_for_an_unlinked_file(string target, uint links, string path, bool deleted)
    {
        var former = ExeLink.FormerPath(Fixtures.Utf8(target), links, out bool wasDeleted);
        Assert.Equal(path, System.Text.Encoding.UTF8.GetString(former));
        Assert.Equal(deleted, wasDeleted);
    }

    [Fact]
    public void Cgroup_procs_lists_pids_and_skips_the_rest()
    {
        var pids = new List<int>();
        CgroupProcs.Parse("1\n42\n\nx\n-3\n0\n7"u8, pids);
        Assert.Equal([1, 42, 7], pids);
    }

    // ---- the executable and the mount namespace ------------------------------------------------

    private const string HostNs = "mnt:[4026531841]";

    /// <summary>The fixture tree; 100 runs a real file of the test (so statx has something to identify), 101 a missing one.</summary>
    private static (TempDir Tree, string Binary) TreeWithExecutables()
    {
        var tree = TempDir.CopyOf("proc");
        string bin = tree.PathOf("bin");
        Directory.CreateDirectory(bin);
        string binary = Path.Combine(bin, "protected");
        File.WriteAllText(binary, "#!/bin/sh\n");
        File.CreateSymbolicLink(tree.PathOf("100/exe"), binary);
        File.CreateSymbolicLink(tree.PathOf("101/exe"), Path.Combine(bin, "missing"));
        File.CreateSymbolicLink(tree.PathOf("self"), "100");
        return (tree, binary);
    }

    private static void MountNamespace(TempDir tree, int pid, string target)
    {
        Directory.CreateDirectory(tree.PathOf($"{pid}/ns"));
        File.CreateSymbolicLink(tree.PathOf($"{pid}/ns/mnt"), target);
    }

    [Fact]
    public void The_executables_identity_comes_through_the_exe_link()
    {
        var (tree, binary) = TreeWithExecutables();
        using (tree)
        {
            var scanner = new ProcessScanner(tree.Root);
            Assert.True(FileStat.TryIdentify(binary, out var expected));
            var p = scanner.Read(100)!;
            Assert.Equal(expected, p.ExeIdentity);
            Assert.Equal(binary, p.ExePath);
            Assert.False(p.ExeDeleted);
            Assert.False(p.ExeUnreadable);

            // A link to nothing: the path is known, the file is not; an absent link: nothing is.
            var dangling = scanner.Read(101)!;
            Assert.Null(dangling.ExeIdentity);
            Assert.True(dangling.ExeUnreadable);
            var none = scanner.Read(103)!;
            Assert.Null(none.ExePath);
            Assert.True(none.ExeUnreadable);
        }
    }

    [Fact]
    public void A_file_named_like_a_deleted_one_keeps_its_name()
    {
        var (tree, _) = TreeWithExecutables();
        using (tree)
        {
            string odd = tree.PathOf("bin/tool (deleted)");
            File.WriteAllText(odd, "");
            File.Delete(tree.PathOf("100/exe"));
            File.CreateSymbolicLink(tree.PathOf("100/exe"), odd);
            var p = new ProcessScanner(tree.Root).Read(100)!;
            Assert.Equal(odd, p.ExePath); // it exists (one link): " (deleted)" is part of its name
            Assert.False(p.ExeDeleted);
        }
    }

    [Fact]
    public void Mount_namespace_is_compared_with_pid_1s()
    {
        var (tree, _) = TreeWithExecutables();
        using (tree)
        {
            MountNamespace(tree, 1, HostNs);
            MountNamespace(tree, 100, HostNs);
            MountNamespace(tree, 101, "mnt:[4026532999]");
            var byPid = new ProcessScanner(tree.Root).Scan().ToDictionary(p => p.Pid);
            Assert.True(byPid[100].InInitMountNamespace);
            Assert.False(byPid[101].InInitMountNamespace);
            Assert.False(byPid[102].InInitMountNamespace); // no link to read: not shown to be the host's
        }
    }

    [Fact]
    public void Without_pid_1s_link_Lmkds_own_namespace_is_the_reference()
    {
        var (tree, _) = TreeWithExecutables();
        using (tree)
        {
            // pid 1's link unreadable (here: absent); "self" is 100.
            MountNamespace(tree, 100, "mnt:[4026532111]");
            MountNamespace(tree, 101, "mnt:[4026532111]");
            var byPid = new ProcessScanner(tree.Root).Scan().ToDictionary(p => p.Pid);
            Assert.True(byPid[101].InInitMountNamespace);
        }
    }

    [Fact]
    public void The_mount_namespace_is_read_only_where_an_exe_path_rule_matches()
    {
        var (tree, binary) = TreeWithExecutables();
        using (tree)
        {
            MountNamespace(tree, 1, HostNs);
            MountNamespace(tree, 100, HostNs);
            MountNamespace(tree, 101, HostNs);
            var scanner = new ProcessScanner(tree.Root) { ExePathRules = new RankingRules { ProtectedExePaths = [binary] } };
            var byPid = scanner.Scan().ToDictionary(p => p.Pid);
            Assert.True(byPid[100].InInitMountNamespace);  // its path matches a rule: read
            Assert.False(byPid[101].InInitMountNamespace); // no rule matches its path: not read (nothing would use it)

            scanner.ExePathRules = null; // every process's
            Assert.True(scanner.Scan().Single(p => p.Pid == 101).InInitMountNamespace);
        }
    }

    [Fact]
    public void Without_exe_rules_only_the_path_is_read()
    {
        var (tree, binary) = TreeWithExecutables();
        using (tree)
        {
            MountNamespace(tree, 1, HostNs);
            MountNamespace(tree, 100, HostNs);
            var scanner = new ProcessScanner(tree.Root) { ExePathRules = new RankingRules { ProtectedUids = [0] } };
            var p = scanner.Read(100)!;
            Assert.Equal(binary, p.ExePath);
            Assert.Null(p.ExeIdentity);           // nothing would compare it
            Assert.False(p.ExeUnreadable);        // not asked is not unreadable
            Assert.False(p.InInitMountNamespace); // no path rule: not read
            Assert.True(scanner.Read(103)!.ExeUnreadable); // no link at all still is
        }
    }

    // ---- cgroups from the cgroup tree ----------------------------------------------------------

    /// <summary>A hybrid cgroup mount whose v1 memory tree lists the fixture's processes.</summary>
    private static TempDir CgroupTree(params (string Path, int[] Pids)[] cgroups)
    {
        var root = new TempDir();
        Directory.CreateDirectory(root.PathOf("unified"));
        File.WriteAllText(root.PathOf("unified/cgroup.controllers"), "memory\n");
        Directory.CreateDirectory(root.PathOf("memory"));
        File.WriteAllText(root.PathOf("memory/memory.usage_in_bytes"), "0\n");
        foreach (var (path, pids) in cgroups)
        {
            string dir = Path.Combine(root.PathOf("memory"), path.TrimStart('/'));
            Directory.CreateDirectory(dir);
            File.WriteAllText(Path.Combine(dir, "cgroup.procs"), string.Concat(pids.Select(p => $"{p}\n")));
        }
        return root;
    }

    private static ProcessScanner WalkingScanner(TempDir proc, TempDir cgroups) =>
        new(proc.Root, cgroupRoot: cgroups.Root) { BootTimeTicks = () => 10_000_000 }; // long after the fixtures' start times

    [Fact]
    public void Cgroups_come_from_one_walk_when_it_agrees_with_proc()
    {
        var (tree, _) = TreeWithExecutables();
        // The walk says 101 is elsewhere than its file does: whichever the scanner reports shows which it read.
        // 102 is listed twice (it moved during the walk): its file decides.
        using var cgroups = CgroupTree(("/", [1]), ("/user.slice/app", [100, 102, 103]), ("/moved", [101, 102]));
        using (tree)
        {
            var scanner = WalkingScanner(tree, cgroups);
            var byPid = scanner.Scan().ToDictionary(p => p.Pid);
            Assert.Equal(4, scanner.LastScanCounts.CgroupsWalked); // /, /user.slice, /user.slice/app, /moved
            Assert.Equal("/moved", byPid[101].CgroupPath);
            Assert.Equal("/user.slice/app", byPid[100].CgroupPath);
            Assert.Equal("/user.slice/app", byPid[102].CgroupPath);
            Assert.Equal("/", byPid[1].CgroupPath);                          // its file says /init.scope: the walk's answer
            Assert.Equal("/system.slice/foo.service", byPid[110].CgroupPath); // in no cgroup.procs: its file
        }
    }

    [Fact]
    public void A_process_younger_than_the_walk_is_read_from_its_file()
    {
        var (tree, _) = TreeWithExecutables();
        using var cgroups = CgroupTree(("/", [1]), ("/user.slice/app", [100]), ("/moved", [101]));
        using (tree)
        {
            // The fixtures started at tick 66901: a walk at that very tick may have listed an earlier owner of the pid.
            var scanner = new ProcessScanner(tree.Root, cgroupRoot: cgroups.Root) { BootTimeTicks = () => 66901 };
            var p = scanner.Scan().Single(p => p.Pid == 101);
            Assert.True(scanner.LastScanCounts.CgroupsWalked > 0);
            Assert.Equal("/user.slice/app", p.CgroupPath);
        }
    }

    [Fact]
    public void A_walk_that_disagrees_with_proc_about_lmkd_itself_is_not_used()
    {
        var (tree, _) = TreeWithExecutables();
        // "self" is 100, whose file says /user.slice/app: a cgroup namespace or another mount would show it elsewhere.
        using var cgroups = CgroupTree(("/", [1]), ("/elsewhere", [100, 101]));
        using (tree)
        {
            var scanner = WalkingScanner(tree, cgroups);
            var byPid = scanner.Scan().ToDictionary(p => p.Pid);
            Assert.Equal(0, scanner.LastScanCounts.CgroupsWalked);
            Assert.Equal("/user.slice/app", byPid[101].CgroupPath);
        }
    }

    [Fact]
    public void A_tree_with_more_cgroups_than_pays_off_is_not_walked()
    {
        var (tree, _) = TreeWithExecutables();
        // ~20 processes: a walk pays off up to 5 cgroups.
        var many = Enumerable.Range(0, 8).Select(i => ($"/empty{i}", Array.Empty<int>()));
        using var cgroups = CgroupTree([("/", [1]), ("/moved", [100, 101]), .. many]);
        using (tree)
        {
            var scanner = WalkingScanner(tree, cgroups);
            var p = scanner.Scan().Single(p => p.Pid == 101);
            Assert.Equal(0, scanner.LastScanCounts.CgroupsWalked);
            Assert.Equal("/user.slice/app", p.CgroupPath);
        }
    }

    [Fact]
    public void A_big_status_file_is_read_whole()
    {
        var (tree, _) = TreeWithExecutables();
        using (tree)
        {
            // Past the reader's first 4 KiB buffer: one read fills it, so the reader grows and reads again.
            string status = File.ReadAllText(tree.PathOf("100/status"));
            int at = status.IndexOf("VmPeak", StringComparison.Ordinal);
            string padding = string.Concat(Enumerable.Range(0, 800).Select(i => $"Pad{i}:\t{i}\n"));
            File.WriteAllText(tree.PathOf("100/status"), status[..at] + padding + status[at..]);
            Assert.True(new FileInfo(tree.PathOf("100/status")).Length > 4096);
            var p = new ProcessScanner(tree.Root).Read(100)!;
            Assert.Equal(2048L * 1024, p.RssAnonBytes);
            Assert.Equal(8L * 1024, p.SwapBytes);
        }
    }
}
