using System.Text.Json;
using Lmkd.Daemon;
using Lmkd.Linux;
using Lmkd.Policies;

namespace Lmkd.Hosting;

/// <summary>The daemon itself, for the status reply.</summary>
public sealed record DaemonFacts(string Version, int Pid, uint Uid, DateTimeOffset StartedAt, long StartedAtMs)
{
    public static DaemonFacts Now() => new(Version: typeof(Program).Assembly.GetName().Version?.ToString(3) ?? "unknown",
        Environment.ProcessId, Tmds.Linux.LibC.geteuid(), DateTimeOffset.UtcNow, MonotonicClock.NowMs);
}

/// <summary>The next victim as the status shows it: whom the daemon would choose, at which oom_score_adj, and why there.</summary>
/// <param name="FromDecision">True: the last evaluation decided a kill and this is its minimum; false: no kill decided, shown at 0.</param>
/// <param name="Choice">The choice, or null when <paramref name="Error"/> says why it could not be made.</param>
public sealed record NextVictimReport(int MinScoreAdj, bool FromDecision, VictimChoice? Choice, string? Error);

/// <summary>
/// The one JSON reply of the status socket (README, "lmkd status", lists every field; the names
/// are a stable interface, `protocol` changes if one ever has to change meaning). Written with
/// <see cref="Utf8JsonWriter"/>: no reflection, so Native AOT writes exactly what JIT writes.
/// </summary>
public static class StatusReport
{
    /// <summary>The reply format's version: fields may be added within one version, never renamed or given another meaning.</summary>
    public const int Protocol = 1;

    /// <summary>What the loop last saw, the next victim computed now (on the caller's thread, with its own scanner), and the daemon's facts.</summary>
    public static byte[] Build(MonitorLoop loop, NextVictim next, DaemonFacts facts)
    {
        var s = loop.Status();
        var d = s.LastDecision;
        bool fromDecision = s.LastEvaluationMs >= 0 && d.ShouldKill;
        int minScoreAdj = fromDecision ? d.MinScoreAdj : 0;
        NextVictimReport report;
        try
        {
            report = new NextVictimReport(minScoreAdj, fromDecision, next.Choose(minScoreAdj, s.KillInFlight), null);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            report = new NextVictimReport(minScoreAdj, fromDecision, null, "the scope's processes could not be read: " + e.Message);
        }
        return Write(s, report, facts, MonotonicClock.NowMs);
    }

    public static byte[] Write(LoopStatus s, NextVictimReport next, DaemonFacts facts, long nowMs)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteNumber("protocol", Protocol);
            w.WriteString("version", facts.Version);
            w.WriteNumber("pid", facts.Pid);
            w.WriteNumber("uid", facts.Uid);
            w.WriteString("startedAt", facts.StartedAt.ToUniversalTime().ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture));
            w.WriteNumber("uptimeSec", Math.Max(0, (nowMs - facts.StartedAtMs) / 1000));
            w.WriteBoolean("dryRun", s.DryRun);
            w.WriteString("scope", s.Scope);
            w.WriteString("killMode", s.KillMode);
            w.WriteString("triggerMode", s.TriggerMode);
            w.WriteString("trouble", s.Trouble);
            WriteEvaluation(w, s, nowMs);
            if (s.KillInFlight is { } v)
            {
                w.WriteStartObject("killInFlight");
                WriteProcess(w, v);
                w.WriteEndObject();
            }
            else
                w.WriteNull("killInFlight");
            WriteNextVictim(w, next);
            w.WriteStartArray("recentKills");
            for (int i = s.RecentKills.Count - 1; i >= 0; i--)
                WriteKill(w, s.RecentKills[i]);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        stream.WriteByte((byte)'\n');
        return stream.ToArray();
    }

    /// <summary>An error reply: refused, a bad or over-long request, or a request that did not come in time.</summary>
    public static byte[] Error(string error, string message)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteNumber("protocol", Protocol);
            w.WriteString("error", error);
            w.WriteString("message", message);
            w.WriteEndObject();
        }
        stream.WriteByte((byte)'\n');
        return stream.ToArray();
    }

    private static void WriteEvaluation(Utf8JsonWriter w, LoopStatus s, long nowMs)
    {
        if (s.LastEvaluationMs < 0)
        {
            w.WriteNull("lastEvaluation");
            return;
        }
        var d = s.LastDecision;
        var m = s.LastMemory;
        var h = d.Headroom;
        w.WriteStartObject("lastEvaluation");
        w.WriteNumber("ageMs", Math.Max(0, nowMs - s.LastEvaluationMs));
        w.WriteBoolean("kill", d.ShouldKill);
        w.WriteString("reason", KillReasons.Name(d.Reason));
        if (d.ShouldKill) w.WriteNumber("minScoreAdj", d.MinScoreAdj); else w.WriteNull("minScoreAdj");
        w.WriteNumber("headroomKb", h.HeadroomKb);
        // The watch's own percentage, or (the watch off) the same share computed here.
        double pct = h.HeadroomPct != 0 || m.TotalKb <= 0 || h.HeadroomKb < 0 ? h.HeadroomPct : 100.0 * h.HeadroomKb / m.TotalKb;
        w.WriteNumber("headroomPct", Math.Round(pct, 2));
        w.WriteNumber("headroomLevelPct", h.LevelPct);
        w.WriteNumber("fillRateKbPerSec", h.FillRateKbPerSec);
        w.WriteNumber("msToExhaustion", h.MsToExhaustion);
        w.WriteString("headroomBasis", h.Basis switch
        {
            HeadroomBasis.FillRate => "fill-rate",
            HeadroomBasis.Imminent => "imminent",
            HeadroomBasis.ReclaimFailing => "reclaim-failing",
            _ => "none",
        });
        w.WriteNumber("totalKb", m.TotalKb);
        w.WriteNumber("freeKb", m.FreeKb);
        w.WriteNumber("availableKb", m.AvailableKb);
        w.WriteNumber("usedKb", m.UsedKb);
        w.WriteNumber("psiSomeAvg10", s.LastPsi.SomeAvg10);
        w.WriteNumber("psiFullAvg10", s.LastPsi.FullAvg10);
        w.WriteNumber("thrashingPct", d.ThrashingPct);
        w.WriteNumber("thrashingLimitPct", d.ThrashingLimitPct);
        w.WriteString("watermark", d.Watermark switch
        {
            WatermarkLevel.BelowMin => "below-min",
            WatermarkLevel.BelowLow => "below-low",
            WatermarkLevel.BelowHigh => "below-high",
            _ => "above-high",
        });
        w.WriteNumber("watermarkMinKb", m.Watermarks.MinKb);
        w.WriteNumber("watermarkLowKb", m.Watermarks.LowKb);
        w.WriteNumber("watermarkHighKb", m.Watermarks.HighKb);
        w.WriteString("reclaim", d.Reclaim switch
        {
            ReclaimState.Kswapd => "kswapd",
            ReclaimState.Direct => "direct",
            _ => "none",
        });
        w.WriteNumber("swapTotalKb", m.SwapTotalKb);
        w.WriteNumber("swapFreeKb", m.SwapFreeKb);
        w.WriteBoolean("swapIsLow", d.SwapIsLow);
        w.WriteNumber("usableSwapDiskKb", d.UsableSwap.DiskKb);
        w.WriteNumber("usableSwapZramKb", d.UsableSwap.ZramKb);
        w.WriteNumber("zramRatio", Math.Round(d.UsableSwap.ZramRatio, 2));
        w.WriteBoolean("psiWindow", s.LastInPsiWindow);
        w.WriteString("headroomBinds", s.HeadroomBinds);
        w.WriteNumber("wakeupsPerSecond", Math.Round(s.WakeupsPerSecond, 2));
        // Which rule is closest to firing, and why the others are not.
        w.WriteStartArray("rules");
        foreach (var r in RuleOutlook.Explain(d, s.LastInPsiWindow))
        {
            w.WriteStartObject();
            w.WriteString("rule", r.Rule);
            w.WriteBoolean("fires", r.Fires);
            w.WriteString("why", r.Why);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void WriteNextVictim(Utf8JsonWriter w, NextVictimReport next)
    {
        w.WriteStartObject("nextVictim");
        w.WriteNumber("minScoreAdj", next.MinScoreAdj);
        w.WriteString("basis", next.FromDecision ? "decision" : "no-decision");
        if (next.Choice is { } c)
        {
            w.WriteNumber("candidates", c.Candidates.Count);
            if (c.Victim is { } v)
            {
                w.WriteStartObject("victim");
                WriteProcess(w, v);
                w.WriteEndObject();
            }
            else
                w.WriteNull("victim");
            // Why nobody: each rule that passed a candidate over, with how many (only built when nobody is eligible).
            if (c.Ranking is { } ranking)
            {
                w.WriteStartObject("excluded");
                foreach (var g in ranking.Rejected.GroupBy(r => r.Reason.ToString()).OrderBy(g => g.Key, StringComparer.Ordinal))
                    w.WriteNumber(g.Key, g.Count());
                w.WriteEndObject();
            }
        }
        else
        {
            w.WriteNull("victim");
            w.WriteString("error", next.Error);
        }
        w.WriteEndObject();
    }

    private static void WriteProcess(Utf8JsonWriter w, ProcessInfo p)
    {
        w.WriteNumber("pid", p.Pid);
        w.WriteString("comm", p.Comm);
        w.WriteNumber("uid", p.Uid);
        w.WriteString("exe", p.ExePath ?? "");
        w.WriteString("cgroup", p.CgroupPath);
        w.WriteNumber("oomScoreAdj", p.OomScoreAdj);
        w.WriteNumber("rssBytes", p.RssBytes);
        w.WriteNumber("rssAnonBytes", p.RssAnonBytes);
        w.WriteNumber("rssFileBytes", p.RssFileBytes);
        w.WriteNumber("rssShmemBytes", p.RssShmemBytes);
        w.WriteNumber("swapBytes", p.SwapBytes);
    }

    private static void WriteKill(Utf8JsonWriter w, FinishedKill k)
    {
        w.WriteStartObject();
        w.WriteNumber("killId", k.KillId);
        w.WriteString("time", k.Time.ToUniversalTime().ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture));
        w.WriteBoolean("dryRun", k.DryRun);
        w.WriteNumber("pid", k.Pid);
        w.WriteString("comm", k.Comm);
        w.WriteNumber("uid", k.Uid);
        w.WriteString("exe", k.Exe);
        w.WriteString("cgroup", k.Cgroup);
        w.WriteNumber("oomScoreAdj", k.OomScoreAdj);
        w.WriteString("reason", k.Reason);
        w.WriteNumber("minScoreAdj", k.MinScoreAdj);
        w.WriteString("reapMode", k.ReapMode);
        w.WriteString("reapResult", k.ReapResult);
        w.WriteNumber("rssBytes", k.RssBytes);
        w.WriteNumber("rssAnonBytes", k.RssAnonBytes);
        w.WriteNumber("rssFileBytes", k.RssFileBytes);
        w.WriteNumber("rssShmemBytes", k.RssShmemBytes);
        w.WriteNumber("swapBytes", k.SwapBytes);
        w.WriteNumber("gaveBackAtReapKb", k.GaveBackAtReapKb);
        w.WriteNumber("gaveBackAtExitKb", k.GaveBackAtExitKb);
        w.WriteNumber("gaveBackAfterSecondKb", k.GaveBackAfterSecondKb);
        w.WriteEndObject();
    }
}
