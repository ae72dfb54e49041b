using Lmkd.Daemon;
using Lmkd.Policies;

namespace Lmkd.Tests.Daemon;

/// <summary>The chooser against a /proc that has moved on since the list was taken.</summary>
public sealed class VictimChooserTests
{
    private const int Self = 4242;
    private const long Now = 100_000;

    private static ProcessInfo P(int pid, int adj, long rssMb, ulong start = 100, string cgroup = "/scope") => new()
    {
        Pid = pid,
        StartTime = start + (ulong)pid,
        OomScoreAdj = adj,
        RssAnonBytes = rssMb << 20,
        Comm = "p" + pid,
        CgroupPath = cgroup,
    };

    private static VictimChooser Chooser(FakeProcessSource world, ProcessInfo[]? list, long takenAtMs = Now - 100) =>
        new(world, () => list is null ? null : new CandidateCache.Snapshot(list, takenAtMs, TimeSpan.Zero), Self);

    [Fact]
    public void A_process_that_grew_since_the_scan_is_picked_by_its_size_now()
    {
        var list = new[] { P(10, 900, 100), P(11, 900, 20), P(12, 0, 500) };
        var world = new FakeProcessSource(P(10, 900, 100), P(11, 900, 300), P(12, 0, 500));
        Assert.Equal(11, Chooser(world, list).Choose(0, Now).Victim!.Pid);
        // Only the top bucket is re-read: the adj 0 process is not touched.
        Assert.Equal([10, 11], world.Reads.Order().ToArray());
    }

    [Fact]
    public void Among_many_equal_processes_at_adj_0_the_one_that_grew_since_the_scan_is_the_victim()
    {
        // A server: 200 processes at 0, the list a second old and no sweep since (the scanner
        // thread was starved); pid 300 was the smallest and now leaks.
        var list = Enumerable.Range(10, 200).Select(i => P(i, 0, 100)).Append(P(300, 0, 10)).ToArray();
        var world = new FakeProcessSource([.. Enumerable.Range(10, 200).Select(i => P(i, 0, 100)), P(300, 0, 2000)]);
        Assert.Equal(300, Chooser(world, list, takenAtMs: Now - 1000).Choose(0, Now).Victim!.Pid);
        Assert.Equal(201, world.SizeReads.Count);             // one statm each across the bucket
        Assert.True(world.Reads.Count <= VictimChooser.MaxReads); // full re-reads stay bounded
    }

    [Fact]
    public void Sizes_the_scanner_thread_swept_just_now_are_not_read_again_at_the_kill()
    {
        // The same server, its list 1.5 s old but its sizes swept 100 ms ago: the leak is already
        // ranked by them, and the kill reads no size of its own.
        var swept = Enumerable.Range(10, 200).Select(i => P(i, 0, 100)).Append(P(300, 0, 2000)).ToArray();
        var world = new FakeProcessSource([.. Enumerable.Range(10, 200).Select(i => P(i, 0, 100)), P(300, 0, 2000)]);
        var chooser = new VictimChooser(world, () => new CandidateCache.Snapshot(swept, Now - 1500, TimeSpan.Zero) { SizesAtMs = Now - 100 }, Self);
        Assert.Equal(300, chooser.Choose(0, Now).Victim!.Pid);
        Assert.Empty(world.SizeReads);
        Assert.Equal(300, world.Reads[0]); // the first full re-read is the leak
    }

    [Fact]
    public void Vanished_and_recycled_pids_drop_out_and_the_next_bucket_is_tried()
    {
        var list = new[] { P(10, 900, 100), P(11, 900, 90), P(12, 500, 50) };
        // 10 is gone; 11 is a new process under the same pid (another start time), at adj 0 now.
        var world = new FakeProcessSource(P(11, 0, 90, start: 999), P(12, 500, 50));
        var choice = Chooser(world, list).Choose(100, Now);
        Assert.Equal(12, choice.Victim!.Pid);
    }

    [Fact]
    public void A_reused_pid_is_judged_as_the_new_process_it_is()
    {
        // The list knew pid 11 as a small process at 900; pid 11 is now another, large process at 950.
        var list = new[] { P(10, 900, 100), P(11, 900, 10) };
        var world = new FakeProcessSource(P(10, 900, 100), P(11, 950, 500, start: 7777));
        var victim = Chooser(world, list).Choose(0, Now).Victim!;
        Assert.Equal((11, 7777ul + 11), (victim.Pid, victim.StartTime));
    }

    [Fact]
    public void A_process_that_left_the_scope_after_the_scan_is_never_the_victim()
    {
        var list = new[] { P(10, 900, 500), P(11, 900, 50) };
        // 10 moved to /elsewhere: no longer in the scope's cgroup.procs.
        var world = new FakeProcessSource(P(10, 900, 500, cgroup: "/elsewhere"), P(11, 900, 50));
        Assert.Equal(11, Chooser(world, list).Choose(0, Now).Victim!.Pid);
        // Still listed by a slow cgroup.procs read but already elsewhere when re-read: an emigrant, spared and counted.
        world.Listed = [10, 11];
        var choice = Chooser(world, list).Choose(0, Now);
        Assert.Equal(11, choice.Victim!.Pid);
        Assert.Equal(1, choice.Emigrants);
    }

    [Fact]
    public void A_newcomer_is_read_and_kept_only_inside_the_scope()
    {
        var list = new[] { P(10, 900, 100) };
        var world = new FakeProcessSource(P(10, 900, 100), P(20, 900, 300), P(30, 900, 900, cgroup: "/elsewhere")) { Listed = [10, 20, 30, 40] };
        var choice = Chooser(world, list).Choose(0, Now);
        Assert.Equal([10, 20], choice.Candidates.Select(p => p.Pid).ToArray());
        Assert.Equal(20, choice.Victim!.Pid);
    }

    [Fact]
    public void Kernel_threads_and_zombies_the_scan_saw_are_not_read_again_as_newcomers()
    {
        var list = new[] { P(10, 900, 100) };
        // 2 and 3 are kernel threads, 4 a zombie: /proc lists them, the scan skipped them and said so.
        var world = new FakeProcessSource(P(10, 900, 100), P(20, 900, 300)) { Listed = [2, 3, 4, 10, 20] };
        var chooser = new VictimChooser(world, () => new CandidateCache.Snapshot(list, Now - 100, TimeSpan.Zero, [2, 3, 4]), Self);
        Assert.Equal(20, chooser.Choose(0, Now).Victim!.Pid);
        Assert.DoesNotContain(world.Reads, pid => pid is 2 or 3 or 4);
        Assert.Contains(20, world.Reads); // a true newcomer still is
    }

    [Fact]
    public void A_scan_on_the_spot_reads_no_pid_a_second_time_as_a_newcomer()
    {
        var world = new FakeProcessSource(P(10, 900, 100), P(11, 900, 300)) { Listed = [2, 10, 11] };
        var choice = Chooser(world, null).Choose(0, Now);
        Assert.True(choice.ScannedNow);
        Assert.Equal(11, choice.Victim!.Pid);
        Assert.DoesNotContain(2, world.Reads); // the scan saw it (a kernel thread here): once is enough
    }

    [Fact]
    public void A_stale_list_is_replaced_by_a_scan_and_no_list_at_all_too()
    {
        var world = new FakeProcessSource(P(10, 900, 100), P(11, 900, 300));
        var stale = new[] { P(10, 900, 100) };
        var choice = Chooser(world, stale, takenAtMs: Now - VictimChooser.StaleMs - 1).Choose(0, Now);
        Assert.True(choice.ScannedNow);
        Assert.Equal(1, world.Scans);
        Assert.Equal(11, choice.Victim!.Pid);
        Assert.True(Chooser(world, null).Choose(0, Now).ScannedNow);
        Assert.False(Chooser(world, stale, takenAtMs: Now - 1000).Choose(0, Now).ScannedNow);
    }

    [Fact]
    public void A_victim_still_dying_is_not_chosen_again_until_it_is_gone()
    {
        var list = new[] { P(10, 900, 500), P(11, 900, 50) };
        var world = new FakeProcessSource(list);
        var chooser = Chooser(world, list);
        var first = chooser.Choose(0, Now).Victim!;
        Assert.Equal(10, first.Pid);
        chooser.Remember(first, Now);
        var second = chooser.Choose(0, Now + 2000);
        Assert.Equal(11, second.Victim!.Pid);
        Assert.Equal(1, second.StillDying);
        Assert.Equal([(10, Now)], chooser.StillAlive(Now + 2000).ToArray());
        // Its pid reused by another process: that one is a candidate like any other.
        world.ByPid[10] = P(10, 900, 800, start: 5000);
        Assert.Equal(10, chooser.Choose(0, Now + 3000).Victim!.Pid);
        chooser.Forget(first);
        Assert.Equal(0, chooser.RecentVictims);
    }

    [Fact]
    public void A_process_whose_oom_score_adj_fell_below_the_minimum_is_passed_over()
    {
        var list = new[] { P(10, 900, 100), P(11, 900, 50) };
        var world = new FakeProcessSource(P(10, 0, 100), P(11, 900, 50));
        Assert.Equal(11, Chooser(world, list).Choose(701, Now).Victim!.Pid);
    }

    [Fact]
    public void When_the_whole_top_bucket_fell_below_the_minimum_the_next_bucket_gives_the_victim()
    {
        var list = new[] { P(10, 900, 100), P(11, 900, 90), P(12, 800, 50), P(13, 100, 500) };
        var world = new FakeProcessSource(P(10, 0, 100), P(11, 0, 90), P(12, 800, 50), P(13, 100, 500));
        Assert.Equal(12, Chooser(world, list).Choose(701, Now).Victim!.Pid);
        Assert.DoesNotContain(13, world.Reads); // below the minimum in the list: never read
    }

    [Fact]
    public void Nobody_eligible_gives_the_ranking_for_the_report()
    {
        var list = new[] { P(10, 100, 100), P(Self, 1000, 800), P(1, 1000, 900) };
        var choice = Chooser(new FakeProcessSource(list) { Listed = [1, 10, Self] }, list).Choose(500, Now);
        Assert.Null(choice.Victim);
        Assert.NotNull(choice.Ranking);
        Assert.Equal([ExclusionReason.Init, ExclusionReason.BelowMinScoreAdj, ExclusionReason.Self],
            choice.Ranking!.Rejected.Select(r => r.Reason).ToArray());
    }

    [Fact]
    public void Re_reads_are_bounded()
    {
        var list = Enumerable.Range(1, 500).Select(i => P(i + 10, 900, i)).ToArray();
        var world = new FakeProcessSource(list);
        Assert.NotNull(Chooser(world, list).Choose(0, Now).Victim);
        Assert.Equal(VictimChooser.MaxReads, world.Reads.Count);
    }
}
