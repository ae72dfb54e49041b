using Lmkd.Daemon;
using Lmkd.Policies;

namespace Lmkd.Tests.Daemon;

public sealed class RespawnEscalatorTests
{
    private const int Self = 4242;

    private static ProcessInfo Worker(int pid, int ppid = 100) =>
        new() { Pid = pid, StartTime = 1000 + (ulong)pid, Ppid = ppid, ExePath = "/usr/bin/worker", OomScoreAdj = 1000, RssAnonBytes = 64 << 20, CgroupPath = "/scope" };

    private static ProcessInfo Parent(int adj = 1000, string cgroup = "/scope", int pid = 100) =>
        new() { Pid = pid, StartTime = 7, Ppid = 1, ExePath = "/usr/bin/pool", OomScoreAdj = adj, RssAnonBytes = 4 << 20, CgroupPath = cgroup };

    /// <summary>Two workers of the parent killed, and a third about to be: what happens to it.</summary>
    private static Escalation ThirdKill(ProcessInfo parent, RankingRules? rules = null, int minAdj = 701, string escalate = "parent")
    {
        var source = new FakeProcessSource(parent);
        var e = new RespawnEscalator(source, "/proc", v2Root: null) { Options = new RespawnOptions { Escalate = escalate } };
        Assert.Equal(EscalationKind.None, e.Consider(Worker(10, parent.Pid), minAdj, rules ?? RankingRules.None, Self, 0).Kind);
        e.OnKilled(Worker(10, parent.Pid), parent.StartTime, 0);
        Assert.Equal(EscalationKind.None, e.Consider(Worker(11, parent.Pid), minAdj, rules ?? RankingRules.None, Self, 1000).Kind);
        e.OnKilled(Worker(11, parent.Pid), parent.StartTime, 1000);
        return e.Consider(Worker(12, parent.Pid), minAdj, rules ?? RankingRules.None, Self, 2000);
    }

    [Fact]
    public void The_third_worker_brings_the_parent_that_re_creates_them()
    {
        var esc = ThirdKill(Parent());
        Assert.Equal(EscalationKind.Parent, esc.Kind);
        Assert.Equal(100, esc.Parent!.Pid);
        Assert.Contains("2 workers of pid 100", esc.Why);
    }

    public static TheoryData<string, ProcessInfo, RankingRules, int, string> Unreachable => new()
    {
        // A stressor parent at 0 whose workers sit at 1000 is not reachable by a decision whose minimum is 701.
        { "below the decision's reach", Parent(adj: 0), RankingRules.None, 701, "BelowMinScoreAdj" },
        { "protected", Parent(), new RankingRules { ProtectedCgroups = ["/scope"] }, 701, "ProtectedCgroup" },
        { "outside the scope", Parent(cgroup: "/elsewhere"), RankingRules.None, 701, "outside the scope" },
        { "Lmkd itself", Parent(pid: Self), RankingRules.None, 701, "Self" },
        { "the kernel's never-kill", Parent(adj: -1000), RankingRules.None, -1000, "OomDisabled" },
    };

    [Theory]
    [MemberData(nameof(Unreachable))]
    public void A_parent_that_may_not_be_killed_leaves_the_worker_to_be_killed(string name, ProcessInfo parent, RankingRules rules, int minAdj, string why)
    {
        _ = name;
        var esc = ThirdKill(parent, rules, minAdj);
        Assert.Equal(EscalationKind.Refused, esc.Kind);
        Assert.Null(esc.Parent);
        Assert.Contains(why, esc.Why);
    }

    [Fact]
    public void A_gone_parent_and_pid_1_are_never_the_target()
    {
        var source = new FakeProcessSource();
        var e = new RespawnEscalator(source, "/proc", null);
        for (int i = 0; i < 5; i++)
        {
            var orphan = Worker(20 + i, ppid: 1);
            Assert.Equal(EscalationKind.None, e.Consider(orphan, 0, RankingRules.None, Self, i).Kind);
            e.OnKilled(orphan, 0, i);
        }
        // Its parent gone, a family still counts; the parent cannot be read: refused, the worker is killed.
        e.OnKilled(Worker(30, ppid: 555), 0, 0);
        e.OnKilled(Worker(31, ppid: 555), 0, 0);
        var esc = e.Consider(Worker(32, ppid: 555), 0, RankingRules.None, Self, 1);
        Assert.Equal(EscalationKind.Refused, esc.Kind);
        Assert.Contains("gone", esc.Why);
    }

    [Fact]
    public void Off_never_escalates_and_cgroup_without_a_v2_tree_falls_back_to_the_parent()
    {
        Assert.Equal(EscalationKind.None, ThirdKill(Parent(), escalate: "off").Kind);
        var esc = ThirdKill(Parent(), escalate: "cgroup");
        Assert.Equal(EscalationKind.Parent, esc.Kind);
        Assert.Contains("no cgroup v2 tree", esc.Why);
    }
}
