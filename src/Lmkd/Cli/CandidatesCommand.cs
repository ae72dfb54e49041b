using System.Globalization;
using System.Text.Json;
using Lmkd.Configuration;
using Lmkd.Daemon;
using Lmkd.Policies;
using Lmkd.ProcFs;

namespace Lmkd.Cli;

/// <summary>
/// `lmkd candidates`: the ranked list exactly as the daemon would rank it, with why each
/// excluded process is passed over. Reads the same configuration (protections, scope) as the daemon.
/// </summary>
public static class CandidatesCommand
{
    public const string Usage = "lmkd candidates [--json] [--min-score-adj N] [--config PATH] [--Lmkd:Key=value ...]";

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        bool json = false;
        int minScoreAdj = -999; // everything the kernel itself would consider killable
        string? configPath = null;
        var switches = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--json": json = true; break;
                case "--min-score-adj" when i + 1 < args.Length && int.TryParse(args[i + 1], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out minScoreAdj) && minScoreAdj is >= -1000 and <= 1000:
                    i++;
                    break;
                case "--config" when i + 1 < args.Length: configPath = args[++i]; break;
                default:
                    if (args[i].StartsWith("--Lmkd:", StringComparison.Ordinal)) { switches.Add(args[i]); break; }
                    stderr.WriteLine($"lmkd candidates: bad argument '{args[i]}' (--min-score-adj takes -1000..1000)");
                    stderr.WriteLine("usage: " + Usage);
                    return 2;
            }
        }

        var options = Program.LoadOptions(configPath, switches.ToArray(), stderr);
        if (options is null)
            return Program.ExitConfig;

        var rules = MonitorLoop.BuildRules(options);
        // ExePathRules left unset: every executable identified and every mount namespace read, so the JSON shows both facts.
        var scanner = new ProcessScanner(options.ProcRoot, cgroupRoot: options.CgroupRoot);
        string? scope = options.Scope.IsCgroup ? "/" + options.Scope.Cgroup!.Trim('/') : null;
        var processes = scanner.Scan(scope is null ? null : cg => CgroupPrefix.Covers(scope, cg));
        var ranking = VictimRanking.Rank(processes, minScoreAdj, rules, Environment.ProcessId);

        if (json)
            WriteJson(stdout, ranking);
        else
            WriteTable(stdout, ranking, scope);
        return 0;
    }

    private static void WriteTable(TextWriter o, RankingResult ranking, string? scope)
    {
        o.WriteLine($"Scope: {scope ?? "whole machine"}; minimum oom_score_adj {ranking.MinScoreAdj}; {ranking.Ranked.Count} eligible, {ranking.Rejected.Count} excluded");
        o.WriteLine($"{"RANK",5} {"PID",8} {"COMM",-16} {"UID",6} {"ADJ",5} {"RSS_MiB",9} {"SWAP_MiB",9}  {"CGROUP",-40} STATUS");
        int rank = 0;
        foreach (var p in ranking.Ranked)
            Row(o, (++rank).ToString(CultureInfo.InvariantCulture), p, rank == 1 ? "next victim" : "eligible");
        foreach (var r in ranking.Rejected)
            Row(o, "-", r.Process, "excluded: " + r.Reason);
    }

    private static void Row(TextWriter o, string rank, ProcessInfo p, string status)
    {
        string comm = Sanitize(p.Comm);
        o.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{rank,5} {p.Pid,8} {comm,-16} {p.Uid,6} {p.OomScoreAdj,5} {p.RssBytes / 1048576.0,9:F1} {p.SwapBytes / 1048576.0,9:F1}  {p.CgroupPath,-40} {status}"));
    }

    /// <summary>comm is chosen by the process: keep control characters out of the operator's terminal.</summary>
    private static string Sanitize(string s) => string.Concat(s.Select(c => char.IsControl(c) ? '?' : c));

    private static void WriteJson(TextWriter o, RankingResult ranking)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteNumber("minScoreAdj", ranking.MinScoreAdj);
            w.WriteStartArray("candidates");
            int rank = 0;
            foreach (var p in ranking.Ranked)
                Process(w, p, ++rank, null);
            foreach (var r in ranking.Rejected)
                Process(w, r.Process, null, r.Reason.ToString());
            w.WriteEndArray();
            w.WriteEndObject();
        }
        o.WriteLine(System.Text.Encoding.UTF8.GetString(stream.ToArray()));
    }

    private static void Process(Utf8JsonWriter w, ProcessInfo p, int? rank, string? excluded)
    {
        w.WriteStartObject();
        if (rank is { } r) w.WriteNumber("rank", r); else w.WriteNull("rank");
        w.WriteNumber("pid", p.Pid);
        w.WriteNumber("startTime", p.StartTime);
        w.WriteString("comm", p.Comm);
        w.WriteNumber("uid", p.Uid);
        w.WriteString("exe", p.ExePath);
        w.WriteBoolean("exeDeleted", p.ExeDeleted);
        w.WriteBoolean("inInitMountNamespace", p.InInitMountNamespace);
        w.WriteBoolean("namespaceInit", p.IsNamespaceInit);
        w.WriteString("cgroup", p.CgroupPath);
        w.WriteNumber("oomScoreAdj", p.OomScoreAdj);
        w.WriteNumber("rssBytes", p.RssBytes);
        w.WriteNumber("rssAnonBytes", p.RssAnonBytes);
        w.WriteNumber("rssFileBytes", p.RssFileBytes);
        w.WriteNumber("rssShmemBytes", p.RssShmemBytes);
        w.WriteNumber("swapBytes", p.SwapBytes);
        w.WriteString("excluded", excluded);
        w.WriteEndObject();
    }
}
