using System.Text.Json;
using Lmkd.Cli;
using Lmkd.Killing;
using Lmkd.Linux;
using Lmkd.Policies;

namespace Lmkd.Tests.Killing;

/// <summary>
/// Issue 11: kill-test reports what the kill gave back, the machine's net change at the reap, at
/// the exit and 1 s later, beside the victim's RSS by kind.
/// </summary>
public class KillTestGaveBackTests
{
    private const long MiB = 1024; // in kB

    private static MemorySnapshot Mem(long freeMib, long availMib, long cachedMib, long anonMib) => new()
    {
        TotalKb = 1024 * MiB,
        FreeKb = freeMib * MiB,
        AvailableKb = availMib * MiB,
        CachedKb = cachedMib * MiB,
        AnonPagesKb = anonMib * MiB,
    };

    private static KillTestCommand.Report Report(ReapMode mode, MemorySnapshot? before, MemorySnapshot? atReap, MemorySnapshot? atExit, MemorySnapshot? later)
    {
        var victim = new ProcessInfo
        {
            Pid = 4242,
            StartTime = 99,
            Comm = "vmhelper",
            RssAnonBytes = 32L << 20,
            RssFileBytes = 200L << 20,
            RssShmemBytes = 0,
        };
        var kill = new KillResult
        {
            Victim = victim,
            Outcome = KillOutcome.Killed,
            ModeUsed = mode,
            SignalErrno = 0,
            ReapErrno = mode == ReapMode.KillOnly ? KillResult.NotAttempted : 0,
            Exited = true,
            TimeToReap = TimeSpan.FromMilliseconds(166),
            TimeToExit = TimeSpan.FromMilliseconds(170),
            VictimRssBytes = victim.RssBytes,
            MemoryAfterReap = atReap,
            MemoryAtExit = atExit,
        };
        return new KillTestCommand.Report("6.1.192-reapkill-file", Native.EBADF, ReapMode.ReapKill, mode, kill, null, true, -1, 0, 700 * MiB, 932 * MiB)
        {
            MemoryBefore = before,
            MemoryOneSecondAfter = later,
        };
    }

    /// <summary>REAP_KILL on the -file kernel: 200 MiB of file cache and 32 MiB of anon back at the call.</summary>
    private static KillTestCommand.Report ReapKillOfAStarvedFileVictim() => Report(ReapMode.ReapKill,
        before: Mem(500, 700, 300, 100),
        atReap: Mem(732, 932, 100, 68),
        atExit: Mem(733, 932, 100, 68),
        later: Mem(740, 936, 101, 67));

    [Fact]
    public void Json_gives_the_victims_rss_by_kind_and_the_machines_change_at_the_reap_the_exit_and_1_s_later()
    {
        var r = ReapKillOfAStarvedFileVictim();
        var o = new StringWriter();
        KillTestCommand.WriteJson(o, r);

        var root = JsonDocument.Parse(o.ToString()).RootElement;
        Assert.Equal(32 * MiB, root.GetProperty("victimRssAnonKb").GetInt64());
        Assert.Equal(200 * MiB, root.GetProperty("victimRssFileKb").GetInt64());
        Assert.Equal(0, root.GetProperty("victimRssShmemKb").GetInt64());
        var g = root.GetProperty("gaveBack");
        Assert.Equal("whole machine", g.GetProperty("scope").GetString());
        Assert.Contains("net change", g.GetProperty("meaning").GetString());
        // before: absolute; the others: the change since before.
        Assert.Equal(500 * MiB, g.GetProperty("before").GetProperty("memFreeKb").GetInt64());
        Assert.Equal(300 * MiB, g.GetProperty("before").GetProperty("cachedKb").GetInt64());
        var atReturn = g.GetProperty("atReturn");
        Assert.Equal(232 * MiB, atReturn.GetProperty("memFreeKb").GetInt64());
        Assert.Equal(232 * MiB, atReturn.GetProperty("memAvailableKb").GetInt64());
        Assert.Equal(-200 * MiB, atReturn.GetProperty("cachedKb").GetInt64());
        Assert.Equal(-32 * MiB, atReturn.GetProperty("anonPagesKb").GetInt64());
        Assert.Equal(233 * MiB, g.GetProperty("atExit").GetProperty("memFreeKb").GetInt64());
        var later = g.GetProperty("oneSecondAfterExit");
        Assert.Equal(240 * MiB, later.GetProperty("memFreeKb").GetInt64());
        Assert.Equal(-199 * MiB, later.GetProperty("cachedKb").GetInt64());
        Assert.Equal(-33 * MiB, later.GetProperty("anonPagesKb").GetInt64());
        // The fields kill-test had before stay.
        Assert.Equal(700 * MiB, root.GetProperty("memAvailableBeforeKb").GetInt64());
        Assert.Equal("ReapKill", root.GetProperty("modeUsed").GetString());
    }

    [Fact]
    public void Json_leaves_what_was_not_read_null_not_zero()
    {
        // No exit seen (no read at the exit), and a scope without Cached/AnonPages (-1).
        var before = Mem(500, 700, 300, 100) with { CachedKb = -1 };
        var r = Report(ReapMode.KillOnly, before, atReap: Mem(510, 710, 300, 100) with { CachedKb = -1 }, atExit: null, later: null);
        var o = new StringWriter();
        KillTestCommand.WriteJson(o, r);

        var g = JsonDocument.Parse(o.ToString()).RootElement.GetProperty("gaveBack");
        Assert.Equal(JsonValueKind.Null, g.GetProperty("before").GetProperty("cachedKb").ValueKind);
        Assert.Equal(JsonValueKind.Null, g.GetProperty("atReturn").GetProperty("cachedKb").ValueKind);
        Assert.Equal(10 * MiB, g.GetProperty("atReturn").GetProperty("memFreeKb").GetInt64());
        Assert.Equal(JsonValueKind.Null, g.GetProperty("atExit").ValueKind);
        Assert.Equal(JsonValueKind.Null, g.GetProperty("oneSecondAfterExit").ValueKind);

        var none = Report(ReapMode.KillOnly, null, null, null, null);
        var o2 = new StringWriter();
        KillTestCommand.WriteJson(o2, none);
        Assert.Equal(JsonValueKind.Null, JsonDocument.Parse(o2.ToString()).RootElement.GetProperty("gaveBack").GetProperty("before").ValueKind);
    }

    [Fact]
    public void Text_is_a_table_of_net_changes_in_MiB_labelled_as_the_machines()
    {
        var r = ReapKillOfAStarvedFileVictim();
        var o = new StringWriter();
        KillTestCommand.WriteText(o, r);
        string[] lines = o.ToString().Split('\n').Select(l => l.TrimEnd('\r')).ToArray();

        Assert.Contains("victim before:   RssAnon 32.0 MiB, RssFile 200.0 MiB, RssShmem 0.0 MiB", lines);
        Assert.Contains(lines, l => l.StartsWith("gave back:       whole machine, net change since just before the signal (other processes allocate meanwhile)", StringComparison.Ordinal));
        Assert.Equal(["MemFree", "MemAvailable", "Cached", "AnonPages"], Words(lines.Single(l => l.Contains("MemAvailable  ", StringComparison.Ordinal))));
        Assert.Equal(["before", "(absolute)", "500.0", "700.0", "300.0", "100.0"], Words(lines.Single(l => l.TrimStart().StartsWith("before (absolute)", StringComparison.Ordinal))));
        Assert.Equal(["call", "returned", "(reap)", "+232.0", "+232.0", "-200.0", "-32.0"], Words(lines.Single(l => l.TrimStart().StartsWith("call returned", StringComparison.Ordinal))));
        Assert.Equal(["victim", "exited", "+233.0", "+232.0", "-200.0", "-32.0"], Words(lines.Single(l => l.TrimStart().StartsWith("victim exited", StringComparison.Ordinal))));
        Assert.Equal(["exit", "+", "1", "s", "+240.0", "+236.0", "-199.0", "-33.0"], Words(lines.Single(l => l.TrimStart().StartsWith("exit + 1 s", StringComparison.Ordinal))));
    }

    [Fact]
    public void Text_says_signal_for_kill_only_and_not_read_where_nothing_was_read()
    {
        var r = Report(ReapMode.KillOnly, Mem(500, 700, 300, 100), atReap: Mem(500, 700, 300, 100), atExit: null, later: null);
        var o = new StringWriter();
        KillTestCommand.WriteText(o, r);
        string text = o.ToString();
        Assert.Contains("call returned (signal)", text);
        Assert.Contains("0.0", text);
        Assert.Contains(text.Split('\n'), l => l.Contains("victim exited", StringComparison.Ordinal) && l.Contains("not read", StringComparison.Ordinal));

        var none = new StringWriter();
        KillTestCommand.WriteText(none, Report(ReapMode.KillOnly, null, null, null, null));
        Assert.Contains("gave back:       not measured", none.ToString());
    }

    private static string[] Words(string line) => line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
}
