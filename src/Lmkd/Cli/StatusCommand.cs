using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Lmkd.Configuration;
using Lmkd.Hosting;

namespace Lmkd.Cli;

/// <summary>
/// `lmkd status`: asks the running daemon over its read-only status socket what it last saw and did,
/// and whom it would kill next; prints a summary, or the reply itself with --json.
/// </summary>
public static class StatusCommand
{
    public const string Usage = "lmkd status [--json] [--socket PATH] [--timeout-ms N] [--config PATH] [--Lmkd:Key=value ...]";

    /// <summary>No daemon answered: no socket, nothing listening on it, the socket is off, or no reply in time.</summary>
    public const int ExitNoDaemon = 3;
    /// <summary>The daemon, or the socket's file mode, refused this user.</summary>
    public const int ExitRefused = 4;
    /// <summary>The reply could not be understood (not JSON, or an error other than a refusal).</summary>
    public const int ExitBadReply = 1;
    /// <summary>A reply is a few kB; anything this large is not the daemon's.</summary>
    private const int MaxReplyBytes = 4 << 20;

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        bool json = false;
        string? socket = null, configPath = null;
        int timeoutMs = 5000;
        var switches = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--json": json = true; break;
                case "--socket" when i + 1 < args.Length: socket = args[++i]; break;
                case "--timeout-ms" when i + 1 < args.Length && int.TryParse(args[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out timeoutMs) && timeoutMs is >= 1 and <= 600_000:
                    i++;
                    break;
                case "--config" when i + 1 < args.Length: configPath = args[++i]; break;
                default:
                    if (args[i].StartsWith("--Lmkd:", StringComparison.Ordinal) && args[i].Contains('=')) { switches.Add(args[i]); break; }
                    stderr.WriteLine($"lmkd status: bad argument '{args[i]}' (--timeout-ms takes 1..600000)");
                    stderr.WriteLine("usage: " + Usage);
                    return Program.ExitUsage;
            }
        }

        if (socket is null)
        {
            var options = Program.LoadOptions(configPath, switches.ToArray(), stderr);
            if (options is null)
                return Program.ExitConfig;
            socket = options.Status.ClientSocketPath();
            if (socket is null)
            {
                stderr.WriteLine("lmkd status: the status socket is off (Lmkd:Status:Socket is empty in the configuration): no daemon to ask");
                return ExitNoDaemon;
            }
        }

        var (code, reply, message) = Ask(socket, TimeSpan.FromMilliseconds(timeoutMs));
        if (code != 0)
        {
            stderr.WriteLine("lmkd status: " + message);
            return code;
        }
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(reply);
        }
        catch (JsonException e)
        {
            stderr.WriteLine($"lmkd status: the reply on {socket} is not JSON ({e.Message})");
            return ExitBadReply;
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("error", out var error))
            {
                string text = root.TryGetProperty("message", out var m) ? m.GetString() ?? "" : "";
                stderr.WriteLine($"lmkd status: {(error.GetString() == "refused" ? "refused" : "error " + error.GetString())}: {text}");
                return error.GetString() == "refused" ? ExitRefused : ExitBadReply;
            }
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("version", out _))
            {
                stderr.WriteLine($"lmkd status: the reply on {socket} is not Lmkd's status (no version)");
                return ExitBadReply;
            }
            if (json)
            {
                WriteIndented(stdout, root);
                return 0;
            }
            var summary = new StringWriter(CultureInfo.InvariantCulture);
            try
            {
                Render(summary, root);
            }
            catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException or FormatException)
            {
                stderr.WriteLine($"lmkd status: the reply on {socket} lacks what the summary needs ({e.Message}); --json prints it as it is");
                return ExitBadReply;
            }
            stdout.Write(summary.ToString());
        }
        return 0;
    }

    /// <summary>
    /// One request and its reply: (0, reply, null), or an exit code and the message for the operator.
    /// The whole exchange, connect included, is bounded by <paramref name="timeout"/>.
    /// </summary>
    public static (int Code, byte[] Reply, string? Message) Ask(string path, TimeSpan timeout)
    {
        // No stat of the path first: for a user who may not enter /run/lmkd it would only say "missing";
        // connect's own error says which it is (ENOENT, EACCES, ECONNREFUSED).
        using var cts = new CancellationTokenSource(timeout);
        using var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        var received = new MemoryStream();
        try
        {
            s.ConnectAsync(new UnixDomainSocketEndPoint(path), cts.Token).AsTask().GetAwaiter().GetResult();
            s.SendAsync(Encoding.ASCII.GetBytes(StatusServer.Request + "\n"), SocketFlags.None, cts.Token).AsTask().GetAwaiter().GetResult();
            var buffer = new byte[16384];
            while (true)
            {
                int n;
                try
                {
                    n = s.ReceiveAsync(buffer, SocketFlags.None, cts.Token).AsTask().GetAwaiter().GetResult();
                }
                catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset && received.Length > 0)
                {
                    n = 0; // the daemon closed with our request unread (a refusal): what it sent is all there is
                }
                if (n == 0)
                    break;
                received.Write(buffer, 0, n);
                if (received.Length > MaxReplyBytes)
                    return (ExitBadReply, [], $"the reply on {path} exceeds {MaxReplyBytes} bytes: not Lmkd's");
            }
        }
        catch (OperationCanceledException)
        {
            return (ExitNoDaemon, [], $"no daemon answers: no reply on {path} within {timeout.TotalMilliseconds:F0} ms");
        }
        catch (SocketException e)
        {
            return e.SocketErrorCode switch
            {
                SocketError.ConnectionRefused => (ExitNoDaemon, [], $"no daemon answers: nothing listens on {path} (a socket left by a daemon that died? systemctl status lmkd)"),
                SocketError.AccessDenied => (ExitRefused, [], $"refused: permission denied on {path}: only root and Lmkd's own user may read its status (try: sudo lmkd status)"),
                SocketError.AddressNotAvailable => (ExitNoDaemon, [], $"no daemon answers: {path} does not exist (is lmkd running? systemctl status lmkd; another socket: --socket PATH)"),
                _ => (ExitNoDaemon, [], $"no daemon answers on {path}: {e.Message} ({e.SocketErrorCode})"),
            };
        }
        if (received.Length == 0)
            return (ExitNoDaemon, [], $"no daemon answers: {path} closed the connection without a reply");
        return (0, received.ToArray(), null);
    }

    private static void WriteIndented(TextWriter o, JsonElement root)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
            root.WriteTo(w);
        o.WriteLine(Encoding.UTF8.GetString(stream.ToArray()));
    }

    /// <summary>The summary an operator reads: one block per question, sizes in MiB.</summary>
    public static void Render(TextWriter o, JsonElement r)
    {
        var inv = CultureInfo.InvariantCulture;
        o.WriteLine(string.Create(inv, $"lmkd {Str(r, "version")} running: pid {Int(r, "pid")}, uid {Int(r, "uid")}, up {Duration(Int(r, "uptimeSec"))}{(Bool(r, "dryRun") ? ", DRY RUN (kills nothing)" : "")}"));
        o.WriteLine($"  watching {Str(r, "scope")}; kill mode {Str(r, "killMode")}; PSI {Str(r, "triggerMode")}");
        o.WriteLine("  trouble: " + (r.TryGetProperty("trouble", out var trouble) && trouble.ValueKind == JsonValueKind.String ? trouble.GetString() : "none"));

        if (r.GetProperty("lastEvaluation") is { ValueKind: JsonValueKind.Object } e)
        {
            string verdict = Bool(e, "kill") ? $"kill decided: {Str(e, "reason")}, may reach oom_score_adj {Int(e, "minScoreAdj")}" : "no kill";
            o.WriteLine(string.Create(inv, $"Pressure (last evaluation {Int(e, "ageMs")} ms ago): {verdict}"));
            long ms = Int(e, "msToExhaustion");
            string binds = e.TryGetProperty("headroomBinds", out var b) && b.GetString() is { Length: > 0 } level ? $", set by {Printable(level)}" : "";
            o.WriteLine(string.Create(inv, $"  headroom {MiB(Int(e, "headroomKb") * 1024)} MiB ({Dbl(e, "headroomPct"):F1} % of {MiB(Int(e, "totalKb") * 1024)} MiB){binds}, fill rate {Int(e, "fillRateKbPerSec")} kB/s, {(ms < 0 ? "not running out" : $"out in {ms} ms at that rate")}"));
            string swap = Int(e, "swapTotalKb") <= 0 ? "none" : string.Create(inv,
                $"{MiB(Int(e, "swapFreeKb") * 1024)} of {MiB(Int(e, "swapTotalKb") * 1024)} MiB free, usable {MiB(Int(e, "usableSwapDiskKb") * 1024)} on disk + {MiB(Int(e, "usableSwapZramKb") * 1024)} on zram{(Bool(e, "swapIsLow") ? " (low)" : "")}");
            o.WriteLine(string.Create(inv, $"  PSI some {Dbl(e, "psiSomeAvg10"):F2} % full {Dbl(e, "psiFullAvg10"):F2} % (avg10); thrashing {Int(e, "thrashingPct")} % (limit {Int(e, "thrashingLimitPct")} %); watermark {Str(e, "watermark")}; reclaim {Str(e, "reclaim")}; swap {swap}"));
            o.WriteLine(string.Create(inv, $"  monitor wake-ups {Dbl(e, "wakeupsPerSecond"):F1}/s; Android's reasons {(Bool(e, "psiWindow") ? "active (PSI window open)" : "waiting for a PSI event")}"));
            if (e.TryGetProperty("rules", out var rules) && rules.ValueKind == JsonValueKind.Array)
            {
                o.WriteLine("  rules, closest to firing first:");
                foreach (var rule in rules.EnumerateArray())
                    o.WriteLine($"    {(Bool(rule, "fires") ? "FIRES" : "-")} {Str(rule, "rule")}: {Printable(Str(rule, "why"))}");
            }
        }
        else
            o.WriteLine("Pressure: not evaluated yet");

        if (r.GetProperty("killInFlight") is { ValueKind: JsonValueKind.Object } f)
            o.WriteLine($"Kill in flight: {Process(f)}");

        var n = r.GetProperty("nextVictim");
        string at = Str(n, "basis") == "decision" ? "the last decision's minimum" : "no kill decided now, shown at 0";
        o.Write(string.Create(inv, $"Next victim (oom_score_adj >= {Int(n, "minScoreAdj")}: {at}): "));
        if (n.GetProperty("victim") is { ValueKind: JsonValueKind.Object } v)
            o.WriteLine(Process(v));
        else if (n.TryGetProperty("error", out var err) && err.ValueKind == JsonValueKind.String)
            o.WriteLine("unknown: " + err.GetString());
        else
        {
            var excluded = n.TryGetProperty("excluded", out var x) ? string.Join(", ", x.EnumerateObject().Select(p => $"{p.Name} {p.Value.GetInt32()}")) : "";
            o.WriteLine(string.Create(inv, $"none of {Int(n, "candidates")} processes{(excluded.Length > 0 ? $" (passed over: {excluded})" : "")}"));
        }

        var kills = r.GetProperty("recentKills");
        if (kills.GetArrayLength() == 0)
        {
            o.WriteLine("Last kills: none since the start");
            return;
        }
        o.WriteLine("Last kills, newest first (gave back: the scope's net change since the decision, at the reap, at the exit and 1 s later; others allocate meanwhile):");
        foreach (var k in kills.EnumerateArray())
        {
            o.WriteLine(string.Create(inv, $"  #{Int(k, "killId")} {Str(k, "time")} {Str(k, "reason")} (may reach {Int(k, "minScoreAdj")}){(Bool(k, "dryRun") ? " DRY RUN, not killed" : "")}: pid {Int(k, "pid")} {Printable(Str(k, "comm"))} uid {Int(k, "uid")} oom_score_adj {Int(k, "oomScoreAdj")}, cgroup {Printable(Str(k, "cgroup"))}"));
            o.WriteLine(string.Create(inv, $"     held RSS anon {MiB(Int(k, "rssAnonBytes"))} file {MiB(Int(k, "rssFileBytes"))} shmem {MiB(Int(k, "rssShmemBytes"))} MiB, swap {MiB(Int(k, "swapBytes"))} MiB; gave back {GaveBack(Int(k, "gaveBackAtReapKb"))}, {GaveBack(Int(k, "gaveBackAtExitKb"))}, {GaveBack(Int(k, "gaveBackAfterSecondKb"))} MiB; {Str(k, "reapMode")}, reap {Str(k, "reapResult")}"));
        }
    }

    private static string Process(JsonElement p) => string.Create(CultureInfo.InvariantCulture,
        $"pid {Int(p, "pid")} {Printable(Str(p, "comm"))} uid {Int(p, "uid")} oom_score_adj {Int(p, "oomScoreAdj")}, RSS {MiB(Int(p, "rssBytes"))} MiB (anon {MiB(Int(p, "rssAnonBytes"))}, file {MiB(Int(p, "rssFileBytes"))}, shmem {MiB(Int(p, "rssShmemBytes"))}), swap {MiB(Int(p, "swapBytes"))} MiB, cgroup {Printable(Str(p, "cgroup"))}");

    private static string GaveBack(long kb) => kb == -1 ? "-" : MiB(kb * 1024);
    private static string MiB(long bytes) => (bytes / 1048576.0).ToString("F1", CultureInfo.InvariantCulture);

    private static string Duration(long sec) => sec < 120 ? $"{sec} s" : sec < 7200 ? $"{sec / 60} min" : sec < 172800 ? $"{sec / 3600} h {sec % 3600 / 60} min" : $"{sec / 86400} d {sec % 86400 / 3600} h";

    private static string Str(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "?";
    private static long Int(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt64() : -1;
    private static double Dbl(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : double.NaN;
    private static bool Bool(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.True;

    /// <summary>comm and cgroup names are chosen by processes: keep control characters out of the operator's terminal.</summary>
    private static string Printable(string s) => string.Concat(s.Select(c => char.IsControl(c) ? '?' : c));
}
