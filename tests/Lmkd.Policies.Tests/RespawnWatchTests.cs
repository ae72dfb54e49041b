using Lmkd.Policies;

namespace Lmkd.Policies.Tests;

public class RespawnWatchTests
{
    private static ProcessInfo Worker(int pid, int ppid = 100, string exe = "/usr/bin/stress-ng") =>
        new() { Pid = pid, StartTime = (ulong)pid, Ppid = ppid, ExePath = exe, RssAnonBytes = 1 << 20 };

    private static readonly RespawnOptions O = new() { Kills = 3, WindowMs = 60_000 };

    [Fact]
    public void The_third_kill_of_one_parents_workers_within_the_window_is_a_loop()
    {
        var w = new RespawnWatch();
        Assert.False(w.IsLoop(Worker(1), 7, 0, O));
        w.OnKilled(Worker(1), 7, 0);
        Assert.False(w.IsLoop(Worker(2), 7, 1000, O));
        w.OnKilled(Worker(2), 7, 1000);
        Assert.True(w.IsLoop(Worker(3), 7, 2000, O));
        Assert.Equal(2, w.KilledSiblings(Worker(3), 7, 2000, O.WindowMs));
    }

    public static TheoryData<string, ProcessInfo, ulong, long> NotOneFamily => new()
    {
        { "another parent", Worker(3, ppid: 200), 7, 2000 },
        { "another executable", Worker(3, exe: "/usr/bin/other"), 7, 2000 },
        { "the parent's pid reused by another process", Worker(3), 8, 2000 },
        { "the earlier kills out of the window", Worker(3), 7, 61_001 },
        { "reparented to init", Worker(3, ppid: 1), 7, 2000 },
    };

    [Theory]
    [MemberData(nameof(NotOneFamily))]
    public void Kills_of_other_families_or_long_ago_are_no_loop(string name, ProcessInfo candidate, ulong parentStart, long nowMs)
    {
        _ = name;
        var w = new RespawnWatch();
        foreach (int pid in new[] { 1, 2 })
            w.OnKilled(Worker(pid, ppid: candidate.Ppid == 1 ? 1 : 100), 7, 1000);
        Assert.False(w.IsLoop(candidate, parentStart, nowMs, O));
    }

    [Fact]
    public void An_answered_loop_starts_afresh()
    {
        var w = new RespawnWatch();
        w.OnKilled(Worker(1), 7, 0);
        w.OnKilled(Worker(2), 7, 0);
        w.Forget(100);
        Assert.False(w.IsLoop(Worker(3), 7, 10, O));
    }

    [Theory]
    [InlineData("parent", RespawnEscalation.Parent)]
    [InlineData("CGROUP", RespawnEscalation.Cgroup)]
    [InlineData("off", RespawnEscalation.Off)]
    public void Escalations_parse(string text, RespawnEscalation expected)
    {
        Assert.True(new RespawnOptions { Escalate = text }.TryParseEscalation(out var e));
        Assert.Equal(expected, e);
    }

    [Fact]
    public void Options_are_validated_by_key()
    {
        Assert.Empty(new RespawnOptions().Validate());
        Assert.Equal(["Escalate", "Kills", "WindowMs"], new RespawnOptions { Escalate = "group", Kills = 1, WindowMs = 10 }.Validate().Select(e => e.Key));
    }
}
