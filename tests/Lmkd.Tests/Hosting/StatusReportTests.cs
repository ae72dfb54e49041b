using System.Text.Json;
using Lmkd.Daemon;
using Lmkd.Hosting;
using Lmkd.Policies;

namespace Lmkd.Tests.Hosting;

/// <summary>The status reply on a fixed LoopStatus: the JSON fields scripts read, and the summary `lmkd status` prints from them.</summary>
public sealed class StatusReportTests
{
    internal static readonly DaemonFacts Facts = new("0.1.0", 4242, 0, new DateTimeOffset(2026, 12, 2, 1, 0, 0, TimeSpan.Zero), StartedAtMs: 1_000);
    internal const long NowMs = 1_000 + 3_725_000; // up 1 h 2 min 5 s

    internal static ProcessInfo Process(int pid, string comm, int adj, long anonMb) => new()
    {
        Pid = pid,
        StartTime = 100,
        Comm = comm,
        Uid = 1000,
        ExePath = "/usr/bin/" + comm,
        CgroupPath = "/work/" + comm,
        OomScoreAdj = adj,
        RssAnonBytes = anonMb << 20,
        RssFileBytes = 2L << 20,
    };

    internal static LoopStatus Loop(bool kill, ProcessInfo? inFlight = null, IReadOnlyList<FinishedKill>? kills = null, long evaluatedAtMs = NowMs - 40) => new(
        LastDecision: new KillDecision
        {
            Reason = kill ? KillReason.LowMemAndThrashing : KillReason.None,
            MinScoreAdj = kill ? 201 : 0,
            Watermark = kill ? WatermarkLevel.BelowLow : WatermarkLevel.None,
            Reclaim = kill ? ReclaimState.Kswapd : ReclaimState.None,
            ThrashingPct = kill ? 140 : 0,
            ThrashingLimitPct = 100,
            SwapIsLow = true,
            Headroom = new HeadroomJudgement { HeadroomKb = 20_480, HeadroomPct = 5.3333, FillRateKbPerSec = 4_096, MsToExhaustion = kill ? 3_500 : -1 },
        },
        LastMemory: new MemorySnapshot { TotalKb = 393_216, FreeKb = 10_240, AvailableKb = 20_480, UsedKb = 372_736, SwapTotalKb = 0, SwapFreeKb = 0, Watermarks = new Watermarks(1_000, 2_000, 3_000) },
        LastPsi: new PsiSnapshot(12.5, 3.25, 0, 0),
        LastEvaluationMs: evaluatedAtMs,
        KillInFlight: inFlight,
        RecentKills: kills ?? [],
        Scope: "cgroup /lmkd-test",
        KillMode: "kill-then-reap",
        TriggerMode: "trigger",
        DryRun: true,
        Trouble: null);

    internal static FinishedKill Kill(long id, int pid, string comm, int adj) => new()
    {
        KillId = id,
        DryRun = false,
        Pid = pid,
        Comm = comm,
        Uid = 1000,
        Cgroup = "/work/" + comm,
        Exe = "/usr/bin/" + comm,
        OomScoreAdj = adj,
        RssAnonBytes = 60L << 20,
        RssFileBytes = 1L << 20,
        RssShmemBytes = 0,
        SwapBytes = 0,
        Reason = "LOW_MEM_AND_THRASHING",
        MinScoreAdj = 201,
        ReapMode = "kill-then-reap",
        ReapResult = "ok",
        Scope = "/lmkd-test",
        Time = new DateTimeOffset(2026, 12, 2, 1, 30, 0, TimeSpan.Zero).AddSeconds(id),
        GaveBackAtReapKb = 55 * 1024,
        GaveBackAtExitKb = 60 * 1024,
        GaveBackAfterSecondKb = id == 2 ? -1 : 61 * 1024,
    };

    private static JsonElement Parse(byte[] reply)
    {
        Assert.Equal((byte)'\n', reply[^1]);
        return JsonDocument.Parse(reply).RootElement.Clone();
    }

    [Fact]
    public void A_decision_names_its_reason_and_the_next_victim_at_its_minimum()
    {
        var bg = Process(300, "background", 900, 60);
        var choice = new VictimChoice(bg, [bg, Process(301, "shell", 0, 10)], ScannedNow: true, 0, 0);
        var r = Parse(StatusReport.Write(Loop(kill: true, kills: [Kill(1, 200, "cached", 900), Kill(2, 201, "cached2", 900)]),
            new NextVictimReport(201, FromDecision: true, choice, null), Facts, NowMs));

        Assert.Equal(StatusReport.Protocol, r.GetProperty("protocol").GetInt32());
        Assert.Equal("0.1.0", r.GetProperty("version").GetString());
        Assert.Equal(4242, r.GetProperty("pid").GetInt32());
        Assert.Equal(0, r.GetProperty("uid").GetInt32());
        Assert.Equal(3725, r.GetProperty("uptimeSec").GetInt64());
        Assert.Equal("2026-12-02T01:00:00.000Z", r.GetProperty("startedAt").GetString());
        Assert.True(r.GetProperty("dryRun").GetBoolean());
        Assert.Equal("cgroup /lmkd-test", r.GetProperty("scope").GetString());
        Assert.Equal("kill-then-reap", r.GetProperty("killMode").GetString());
        Assert.Equal("trigger", r.GetProperty("triggerMode").GetString());
        Assert.Equal(JsonValueKind.Null, r.GetProperty("trouble").ValueKind);

        var e = r.GetProperty("lastEvaluation");
        Assert.Equal(40, e.GetProperty("ageMs").GetInt64());
        Assert.True(e.GetProperty("kill").GetBoolean());
        Assert.Equal("LOW_MEM_AND_THRASHING", e.GetProperty("reason").GetString());
        Assert.Equal(201, e.GetProperty("minScoreAdj").GetInt32());
        Assert.Equal(20_480, e.GetProperty("headroomKb").GetInt64());
        Assert.Equal(5.33, e.GetProperty("headroomPct").GetDouble());
        Assert.Equal(393_216, e.GetProperty("totalKb").GetInt64());
        Assert.Equal(4_096, e.GetProperty("fillRateKbPerSec").GetInt64());
        Assert.Equal(3_500, e.GetProperty("msToExhaustion").GetInt64());
        Assert.Equal(12.5, e.GetProperty("psiSomeAvg10").GetDouble());
        Assert.Equal(3.25, e.GetProperty("psiFullAvg10").GetDouble());
        Assert.Equal(140, e.GetProperty("thrashingPct").GetInt64());
        Assert.Equal(100, e.GetProperty("thrashingLimitPct").GetInt64());
        Assert.Equal("below-low", e.GetProperty("watermark").GetString());
        Assert.Equal("kswapd", e.GetProperty("reclaim").GetString());
        Assert.Equal(0, e.GetProperty("swapTotalKb").GetInt64());
        Assert.True(e.GetProperty("swapIsLow").GetBoolean());

        Assert.Equal(JsonValueKind.Null, r.GetProperty("killInFlight").ValueKind);
        var n = r.GetProperty("nextVictim");
        Assert.Equal("decision", n.GetProperty("basis").GetString());
        Assert.Equal(201, n.GetProperty("minScoreAdj").GetInt32());
        Assert.Equal(2, n.GetProperty("candidates").GetInt32());
        Assert.Equal(300, n.GetProperty("victim").GetProperty("pid").GetInt32());
        Assert.Equal("background", n.GetProperty("victim").GetProperty("comm").GetString());
        Assert.Equal(900, n.GetProperty("victim").GetProperty("oomScoreAdj").GetInt32());
        Assert.Equal(62L << 20, n.GetProperty("victim").GetProperty("rssBytes").GetInt64());
        Assert.False(n.TryGetProperty("excluded", out _));

        // Newest first.
        var kills = r.GetProperty("recentKills").EnumerateArray().ToList();
        Assert.Equal([2L, 1L], kills.Select(k => k.GetProperty("killId").GetInt64()));
        Assert.Equal(60 * 1024, kills[1].GetProperty("gaveBackAtExitKb").GetInt64());
        Assert.Equal(-1, kills[0].GetProperty("gaveBackAfterSecondKb").GetInt64());
        Assert.Equal("LOW_MEM_AND_THRASHING", kills[0].GetProperty("reason").GetString());
        Assert.Equal("2026-12-02T01:30:02.000Z", kills[0].GetProperty("time").GetString());
    }

    [Fact]
    public void Without_a_decision_the_next_victim_is_shown_at_0_and_nobody_eligible_says_who_was_passed_over()
    {
        var root = Process(1, "init", 0, 5);
        var negative = Process(400, "sshd", -1000, 5);
        var ranking = new RankingResult([], [new(root, ExclusionReason.Init), new(negative, ExclusionReason.OomDisabled), new(negative with { Pid = 401 }, ExclusionReason.OomDisabled)], 0);
        var choice = new VictimChoice(null, [root, negative], ScannedNow: true, 0, 0) { Ranking = ranking };
        var inFlight = Process(500, "dying", 900, 80);
        var r = Parse(StatusReport.Write(Loop(kill: false, inFlight), new NextVictimReport(0, FromDecision: false, choice, null), Facts, NowMs));

        var e = r.GetProperty("lastEvaluation");
        Assert.False(e.GetProperty("kill").GetBoolean());
        Assert.Equal("NONE", e.GetProperty("reason").GetString());
        Assert.Equal(JsonValueKind.Null, e.GetProperty("minScoreAdj").ValueKind);
        Assert.Equal(500, r.GetProperty("killInFlight").GetProperty("pid").GetInt32());

        var n = r.GetProperty("nextVictim");
        Assert.Equal("no-decision", n.GetProperty("basis").GetString());
        Assert.Equal(0, n.GetProperty("minScoreAdj").GetInt32());
        Assert.Equal(JsonValueKind.Null, n.GetProperty("victim").ValueKind);
        var excluded = n.GetProperty("excluded");
        Assert.Equal(1, excluded.GetProperty("Init").GetInt32());
        Assert.Equal(2, excluded.GetProperty("OomDisabled").GetInt32());
        Assert.Empty(r.GetProperty("recentKills").EnumerateArray());
    }

    [Fact]
    public void Before_the_first_evaluation_and_when_the_scope_cannot_be_read_it_says_so()
    {
        var r = Parse(StatusReport.Write(Loop(kill: false, evaluatedAtMs: -1) with { Trouble = "blind: the memory state cannot be read" },
            new NextVictimReport(0, false, null, "the scope's processes could not be read: EMFILE"), Facts, NowMs));
        Assert.Equal(JsonValueKind.Null, r.GetProperty("lastEvaluation").ValueKind);
        Assert.Equal("blind: the memory state cannot be read", r.GetProperty("trouble").GetString());
        Assert.Equal(JsonValueKind.Null, r.GetProperty("nextVictim").GetProperty("victim").ValueKind);
        Assert.Contains("EMFILE", r.GetProperty("nextVictim").GetProperty("error").GetString());
    }

    [Fact]
    public void An_error_reply_is_one_line_of_json()
    {
        var reply = StatusReport.Error("refused", "uid 1000 may not read Lmkd's status");
        Assert.Single(reply, b => b == (byte)'\n');
        var r = Parse(reply);
        Assert.Equal("refused", r.GetProperty("error").GetString());
        Assert.Equal("uid 1000 may not read Lmkd's status", r.GetProperty("message").GetString());
    }

    [Fact]
    public void The_summary_answers_each_question_in_one_block()
    {
        var bg = Process(300, "background", 900, 60);
        var reply = StatusReport.Write(Loop(kill: true, inFlight: Process(299, "old\u001b[31m", 950, 10), kills: [Kill(1, 200, "cached", 900), Kill(2, 201, "cached2", 900)]),
            new NextVictimReport(201, true, new VictimChoice(bg, [bg], true, 0, 0), null), Facts, NowMs);
        var o = new StringWriter();
        Lmkd.Cli.StatusCommand.Render(o, JsonDocument.Parse(reply).RootElement);
        var lines = o.ToString().Split('\n');

        Assert.Equal("lmkd 0.1.0 running: pid 4242, uid 0, up 62 min, DRY RUN (kills nothing)", lines[0]);
        Assert.Equal("  watching cgroup /lmkd-test; kill mode kill-then-reap; PSI trigger", lines[1]);
        Assert.Equal("  trouble: none", lines[2]);
        Assert.Equal("Pressure (last evaluation 40 ms ago): kill decided: LOW_MEM_AND_THRASHING, may reach oom_score_adj 201", lines[3]);
        Assert.Equal("  headroom 20.0 MiB (5.3 % of 384.0 MiB), fill rate 4096 kB/s, out in 3500 ms at that rate", lines[4]);
        Assert.StartsWith("  PSI some 12.50 % full 3.25 % (avg10); thrashing 140 % (limit 100 %); watermark below-low; reclaim kswapd; swap none", lines[5]);
        Assert.Equal("  monitor wake-ups 0.0/s; Android's reasons waiting for a PSI event", lines[6]);
        // Which rule is closest to firing, and why the others are not.
        Assert.Equal("  rules, closest to firing first:", lines[7]);
        Assert.StartsWith("    FIRES Android's reasons: LOW_MEM_AND_THRASHING (oom_score_adj >= 201)", lines[8]);
        Assert.StartsWith("    - headroom (LOW_HEADROOM, RECLAIM_FAILING): ", lines[9]);
        Assert.StartsWith("    - NOT_RESPONDING: waits for the critical (full) PSI level", lines[10]);
        // A comm is the process's own choice: no escape sequence reaches the terminal.
        Assert.StartsWith("Kill in flight: pid 299 old?[31m uid 1000 oom_score_adj 950", lines[11]);
        Assert.StartsWith("Next victim (oom_score_adj >= 201: the last decision's minimum): pid 300 background uid 1000 oom_score_adj 900, RSS 62.0 MiB", lines[12]);
        Assert.StartsWith("Last kills, newest first", lines[13]);
        Assert.StartsWith("  #2 2026-12-02T01:30:02.000Z LOW_MEM_AND_THRASHING (may reach 201): pid 201 cached2 uid 1000 oom_score_adj 900", lines[14]);
        Assert.Contains("gave back 55.0, 60.0, - MiB; kill-then-reap, reap ok", lines[15]);
        Assert.StartsWith("  #1 ", lines[16]);
        Assert.Contains("gave back 55.0, 60.0, 61.0 MiB", lines[17]);
    }

    [Fact]
    public void The_summary_without_a_decision_says_the_victim_is_shown_at_0()
    {
        var choice = new VictimChoice(null, [], true, 0, 0) { Ranking = new RankingResult([], [], 0) };
        var reply = StatusReport.Write(Loop(kill: false), new NextVictimReport(0, false, choice, null), Facts, NowMs);
        var o = new StringWriter();
        Lmkd.Cli.StatusCommand.Render(o, JsonDocument.Parse(reply).RootElement);
        var text = o.ToString();
        Assert.Contains("Pressure (last evaluation 40 ms ago): no kill\n", text);
        Assert.Contains("not running out", text);
        Assert.Contains("Next victim (oom_score_adj >= 0: no kill decided now, shown at 0): none of 0 processes\n", text);
        Assert.Contains("Last kills: none since the start", text);
    }
}
