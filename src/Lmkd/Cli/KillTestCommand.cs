using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Lmkd.Daemon;
using Lmkd.Killing;
using Lmkd.Linux;
using Lmkd.Policies;
using Lmkd.ProcFs;

namespace Lmkd.Cli;

/// <summary>
/// <c>lmkd kill-test</c>: proves the kill path on this kernel end to end with a throw-away child
/// (this same binary running <c>hog</c>): probe REAP_KILL, kill the child through the real
/// <see cref="Killer"/> with its identity check, and report mode, reap result and latencies.
/// Needs nothing but this binary, so it also runs in a busybox-only VM.
/// </summary>
public static class KillTestCommand
{
    public const string Usage =
        "usage: lmkd kill-test [--mb N] [--timeout-ms N] [--mode reap-kill|kill-then-reap|kill-only] [--json]\n" +
        "                      [--victim-pid PID [--force] [--config PATH] [--Lmkd:Key=value ...]]\n" +
        "  Spawns 'lmkd hog --mb N' (default 32), kills it through the kill path and reports how.\n" +
        "  --victim-pid kills that existing process instead (e.g. one sharing its memory with another, in a test VM),\n" +
        "    unless the daemon's never-kill rules (with the configuration's Lmkd:Protect) refuse it: Lmkd itself,\n" +
        "    oom_score_adj -1000, protected processes and zombies need --force; pid 1, kernel threads and\n" +
        "    kill-test itself are refused even with --force.\n" +
        "  --mode overrides the probed mode (e.g. reap-kill on a kernel without it shows the fallback).\n" +
        "  Reports what the kill gave back: the machine's MemFree, MemAvailable, Cached and AnonPages just before\n" +
        "    the signal, when the call returned (after the reap), at the exit and 1 s later, as the net change of the\n" +
        "    whole machine (other processes allocate meanwhile), beside the victim's RssAnon/RssFile/RssShmem.\n" +
        "  Exit 0 when the child died by SIGKILL (--victim-pid: when it was killed and exited), 1 otherwise,\n" +
        "  2 on bad arguments or a refused victim (nothing was signalled), 78 on an invalid configuration.";

    private const int ReadyTimeoutMs = 60_000; // generous: a JIT start under software emulation is slow

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr) => Run(args, stdout, stderr, launcher: null);

    /// <param name="launcher">Builds the child's start info from (mb, ready file); null = this binary's <c>hog</c>.
    /// The child must write its pid to the ready file when it holds its memory.</param>
    internal static int Run(string[] args, TextWriter stdout, TextWriter stderr, Func<int, string, ProcessStartInfo>? launcher)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        int mb = 32, timeoutMs = 5000, victimPid = 0;
        bool json = false, force = false;
        string? configPath = null;
        var switches = new List<string>();
        ReapMode? forced = null;
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            string? v = i + 1 < args.Length ? args[i + 1] : null;
            bool ok;
            if (a == "--json")
            {
                ok = json = true;
            }
            else if (a == "--force")
            {
                ok = force = true;
            }
            else if (a.StartsWith("--Lmkd:", StringComparison.OrdinalIgnoreCase) && a.Contains('='))
            {
                switches.Add(a);
                ok = true;
            }
            else
            {
                ok = a switch
                {
                    "--mb" => TryPositive(v, out mb),
                    "--timeout-ms" => TryPositive(v, out timeoutMs),
                    "--mode" => TryParseMode(v, out forced),
                    "--victim-pid" => TryPositive(v, out victimPid),
                    "--config" => (configPath = v) is not null,
                    _ => false,
                };
                i++; // the value
            }
            if (!ok)
            {
                stderr.WriteLine($"lmkd kill-test: bad argument '{a}'{(v is null ? "" : $" '{v}'")}");
                stderr.WriteLine(Usage);
                return 2;
            }
        }

        ProcessScanner? scanner = null;
        ProcessInfo? existing = null;
        if (victimPid > 0)
        {
            // The configuration as the daemon loads it: its protections are rules here too.
            var options = Program.LoadOptions(configPath, switches.ToArray(), stderr);
            if (options is null)
                return Program.ExitConfig;
            scanner = new ProcessScanner(options.ProcRoot);
            var verdict = OperatorVictimCheck.Check(victimPid, scanner, MonitorLoop.BuildRules(options), out existing, out string? why);
            switch (verdict)
            {
                case OperatorVictimCheck.Verdict.NotFound:
                    stderr.WriteLine($"lmkd kill-test: {why}");
                    return 1;
                case OperatorVictimCheck.Verdict.AlwaysRefused:
                    stderr.WriteLine($"lmkd kill-test: refused: {why}");
                    return Program.ExitUsage;
                case OperatorVictimCheck.Verdict.Refused when !force:
                    stderr.WriteLine($"lmkd kill-test: refused: {why}; --force kills it anyway");
                    return Program.ExitUsage;
                case OperatorVictimCheck.Verdict.Refused:
                    stderr.WriteLine($"lmkd kill-test: --force: killing although {why}");
                    break;
            }
        }
        else if (force || configPath is not null || switches.Count > 0)
        {
            stderr.WriteLine("lmkd kill-test: --force, --config and --Lmkd: switches go with --victim-pid");
            stderr.WriteLine(Usage);
            return Program.ExitUsage;
        }

        var kernel = LinuxKernel.Instance;
        ReapMode probed = ReapKillSupport.Probe(kernel, out int probeErrno);
        ReapMode mode = forced ?? probed;
        string release = ReadTrimmed("/proc/sys/kernel/osrelease") ?? "unknown";
        if (existing is not null)
            return KillExisting(existing, scanner!.ReadStartTime, kernel, probed, probeErrno, forced, mode, release, timeoutMs, json, stdout);

        DirectoryInfo dir = Directory.CreateTempSubdirectory("lmkd-kill-test-");
        string readyFile = Path.Combine(dir.FullName, "ready");
        using var child = new Process { StartInfo = (launcher ?? DefaultChild)(mb, readyFile) };
        child.StartInfo.RedirectStandardOutput = true; // keep the child's chatter out of our (JSON) output
        child.StartInfo.RedirectStandardError = true;
        child.StartInfo.UseShellExecute = false;
        try
        {
            child.Start();
            if (!WaitReady(child, readyFile))
            {
                string why = child.HasExited ? $"exited with {child.ExitCode}: {child.StandardError.ReadToEnd().Trim()}" : "not ready in time";
                stderr.WriteLine($"lmkd kill-test: child {child.StartInfo.FileName} {why}");
                return 1;
            }

            ProcessInfo victim;
            try
            {
                victim = ReadVictim(child.Id);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                stderr.WriteLine($"lmkd kill-test: cannot read the child's /proc files: {e.Message}");
                return 1;
            }
            using var memory = new GaveBack();
            var killer = new Killer(kernel, mode, ReadStartTime, readMemory: memory.Read);
            MemorySnapshot? before = memory.Read();
            KillResult r = killer.Kill(victim, dryRun: false, timeoutMs);
            MemorySnapshot? later = memory.ReadOneSecondLater(r);

            bool died = child.WaitForExit(timeoutMs);
            int exitCode = died ? child.ExitCode : -1;
            // .NET reports death by signal N as exit code 128 + N.
            int exitSignal = exitCode > 128 ? exitCode - 128 : 0;
            string? fallback = r.FallbackReason is { } fr ? $"REAP_KILL refused: {fr}"
                : r.ModeUsed != ReapMode.ReapKill && probed != ReapMode.ReapKill ? $"REAP_KILL not supported (probe {Errno.Name(probeErrno)})"
                : null;

            var report = new Report(release, probeErrno, probed, forced, r, fallback, died, exitCode, exitSignal, -1, -1)
            {
                MemoryBefore = before,
                MemoryOneSecondAfter = later,
            };
            if (json)
                WriteJson(stdout, report);
            else
                WriteText(stdout, report);
            return died && exitSignal == Native.SIGKILL ? 0 : 1;
        }
        finally
        {
            // Our own child only: never leave it behind, whatever went wrong above.
            try
            {
                if (!child.HasExited)
                {
                    child.Kill();
                    child.WaitForExit();
                }
            }
            catch (InvalidOperationException)
            {
                // Never started.
            }
            try
            {
                dir.Delete(recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    /// <summary>
    /// Kills a process this command did not start: its exit is seen only through the pidfd, so the
    /// signal that ended it is not known. MemAvailable before and after shows whether the memory
    /// came back, which is the point when the victim shares its mm with a survivor.
    /// </summary>
    /// <param name="victim">As the daemon's scanner read it (the never-kill check judged this very record).</param>
    private static int KillExisting(ProcessInfo victim, Func<int, ulong?> readStartTime, LinuxKernel kernel, ReapMode probed, int probeErrno,
        ReapMode? forced, ReapMode mode, string release, int timeoutMs, bool json, TextWriter stdout)
    {
        using var memory = new GaveBack();
        var killer = new Killer(kernel, mode, readStartTime, readMemory: memory.Read);
        long before = MemAvailableKb();
        MemorySnapshot? snapshotBefore = memory.Read();
        // The identity check compares the start time the check read: a pid reused since is not signalled.
        KillResult r = killer.Kill(victim, dryRun: false, timeoutMs);
        long after = MemAvailableKb();
        MemorySnapshot? later = memory.ReadOneSecondLater(r);
        string? fallback = r.FallbackReason is { } fr ? $"REAP_KILL refused: {fr}"
            : r.ModeUsed != ReapMode.ReapKill && probed != ReapMode.ReapKill ? $"REAP_KILL not supported (probe {Errno.Name(probeErrno)})"
            : null;
        var report = new Report(release, probeErrno, probed, forced, r, fallback, r.Exited, -1, 0, before, after)
        {
            MemoryBefore = snapshotBefore,
            MemoryOneSecondAfter = later,
        };
        if (json)
            WriteJson(stdout, report);
        else
            WriteText(stdout, report);
        return r.Outcome == KillOutcome.Killed && r.Exited ? 0 : 1;
    }

    private static long MemAvailableKb()
    {
        try
        {
            foreach (string line in File.ReadLines("/proc/meminfo"))
            {
                if (line.StartsWith("MemAvailable:", StringComparison.Ordinal))
                    return long.Parse(line.AsSpan(13).Trim().TrimEnd("kB").Trim(), NumberStyles.None, CultureInfo.InvariantCulture);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
        }
        return -1;
    }

    private static ProcessStartInfo DefaultChild(int mb, string readyFile) =>
        SelfCommand.StartInfo("hog", "--mb", mb.ToString(CultureInfo.InvariantCulture), "--ready-file", readyFile, "--oom-score-adj", "1000");

    private static bool WaitReady(Process child, string readyFile)
    {
        long start = Stopwatch.GetTimestamp();
        while (Stopwatch.GetElapsedTime(start).TotalMilliseconds < ReadyTimeoutMs)
        {
            if (File.Exists(readyFile))
                return true;
            if (child.WaitForExit(10))
                return false;
        }
        return false;
    }

    private static ProcessInfo ReadVictim(int pid)
    {
        ulong startTime = ReadStartTime(pid) ?? 0;
        long anon = 0, file = 0, shmem = 0, swap = 0;
        foreach (string line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("RssAnon:", StringComparison.Ordinal)) anon = KiB(line);
            else if (line.StartsWith("RssFile:", StringComparison.Ordinal)) file = KiB(line);
            else if (line.StartsWith("RssShmem:", StringComparison.Ordinal)) shmem = KiB(line);
            else if (line.StartsWith("VmSwap:", StringComparison.Ordinal)) swap = KiB(line);
        }
        return new ProcessInfo
        {
            Pid = pid, StartTime = startTime, Comm = ReadTrimmed($"/proc/{pid}/comm") ?? "",
            RssAnonBytes = anon, RssFileBytes = file, RssShmemBytes = shmem, SwapBytes = swap,
        };

        static long KiB(string line)
        {
            // "RssAnon:\t   32768 kB"
            ReadOnlySpan<char> s = line.AsSpan(line.IndexOf(':') + 1).Trim();
            int sp = s.IndexOf(' ');
            return long.TryParse(sp < 0 ? s : s[..sp], NumberStyles.None, CultureInfo.InvariantCulture, out long kb) ? kb * 1024 : 0;
        }
    }

    /// <summary>
    /// Field 22 of /proc/&lt;pid&gt;/stat (start time in clock ticks), or null when the process is gone
    /// or the file is unreadable. comm (field 2) may hold spaces and ')', so fields are counted
    /// from the LAST ')'.
    /// </summary>
    internal static ulong? ReadStartTime(int pid)
    {
        byte[] stat;
        try
        {
            stat = File.ReadAllBytes($"/proc/{pid}/stat");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null; // ENOENT/ESRCH: gone, a normal outcome
        }
        return ParseStartTime(stat);
    }

    internal static ulong? ParseStartTime(ReadOnlySpan<byte> stat)
    {
        int close = stat.LastIndexOf((byte)')');
        if (close < 0)
            return null;
        ReadOnlySpan<byte> rest = stat[(close + 1)..];
        // rest = " S ppid ...": field 3 is the first token after ')', so field 22 is token 19 (0-based).
        for (int field = 3; ; field++)
        {
            rest = rest.TrimStart((byte)' ');
            int end = rest.IndexOfAny((byte)' ', (byte)'\n');
            ReadOnlySpan<byte> token = end < 0 ? rest : rest[..end];
            if (token.IsEmpty)
                return null; // truncated
            if (field == 22)
                return ulong.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out ulong v) ? v : null;
            if (end < 0)
                return null;
            rest = rest[end..];
        }
    }

    private static bool TryPositive(string? s, out int value) =>
        int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out value) && value > 0;

    // The names of Lmkd:Kill:Mode, so an operator uses one vocabulary ("auto" makes no sense here).
    private static bool TryParseMode(string? s, out ReapMode? mode) =>
        Configuration.KillModes.TryParse(s, out mode) && mode is not null;

    private static string? ReadTrimmed(string path)
    {
        try
        {
            return File.ReadAllText(path).Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>
    /// The whole machine's memory around the kill, through the daemon's own reader (its files opened
    /// once, before the kill: a read costs a pread each, nothing the kill waits on before the signal).
    /// </summary>
    private sealed class GaveBack : IDisposable
    {
        private readonly SystemMemoryReader? _reader;

        public GaveBack()
        {
            try
            {
                _reader = new SystemMemoryReader();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                _reader = null;
            }
        }

        public MemorySnapshot? Read()
        {
            try
            {
                return _reader?.Read();
            }
            catch (IOException)
            {
                return null;
            }
        }

        /// <summary>One second after the victim exited: the memory that comes back late (per-CPU lists, a victim that had to run its own exit).</summary>
        public MemorySnapshot? ReadOneSecondLater(KillResult r)
        {
            if (r.Outcome != KillOutcome.Killed)
                return null;
            Thread.Sleep(1000);
            return Read();
        }

        public void Dispose() => _reader?.Dispose();
    }

    internal sealed record Report(string Kernel, int ProbeErrno, ReapMode Probed, ReapMode? Forced, KillResult Kill,
        string? Fallback, bool ChildExited, int ExitCode, int ExitSignal, long MemAvailableBeforeKb, long MemAvailableAfterKb)
    {
        /// <summary>The whole machine just before the kill (the Killer reads it after the reap and at the exit).</summary>
        public MemorySnapshot? MemoryBefore { get; init; }
        public MemorySnapshot? MemoryOneSecondAfter { get; init; }
    }

    /// <summary>The four figures of the memory report, in kB: MemFree (less CmaFree, as the daemon counts it), MemAvailable, Cached, AnonPages.</summary>
    private static (long Free, long Available, long Cached, long Anon) Figures(in MemorySnapshot m) =>
        (m.FreeKb, m.AvailableKb, m.CachedKb, m.AnonPagesKb);

    /// <summary>The rows after "before": (label, JSON name, snapshot).</summary>
    private static IEnumerable<(string Label, string Name, MemorySnapshot? M)> Later(Report r) =>
    [
        (r.Kill.ModeUsed == ReapMode.KillOnly ? "call returned (signal)" : "call returned (reap)", "atReturn", r.Kill.MemoryAfterReap),
        ("victim exited", "atExit", r.Kill.MemoryAtExit),
        ("exit + 1 s", "oneSecondAfterExit", r.MemoryOneSecondAfter),
    ];

    private static double Ms(TimeSpan t) => Math.Round(t.TotalMilliseconds, 3);

    private static string SignalName(int sig) => sig switch
    {
        0 => "none",
        Native.SIGKILL => "SIGKILL",
        Native.SIGTERM => "SIGTERM",
        _ => "SIG" + sig.ToString(CultureInfo.InvariantCulture),
    };

    internal static void WriteText(TextWriter o, Report r)
    {
        KillResult k = r.Kill;
        var c = CultureInfo.InvariantCulture;
        o.WriteLine($"kernel:          {r.Kernel}");
        o.WriteLine($"reap-kill probe: process_mrelease(-1, REAP_KILL) -> {Errno.Name(r.ProbeErrno)} => {r.Probed}");
        if (r.Forced is { } f)
            o.WriteLine($"mode forced:     {f}");
        o.WriteLine(string.Create(c, $"child:           pid {k.Victim.Pid} ({k.Victim.Comm}), rss {k.VictimRssBytes / 1048576.0:F1} MiB, swap {k.VictimSwapBytes / 1048576.0:F1} MiB"));
        o.WriteLine($"outcome:         {k.Outcome}");
        o.WriteLine($"mode used:       {k.ModeUsed}{(r.Fallback is null ? "" : $" (fallback: {r.Fallback})")}");
        o.WriteLine($"signal:          {Errno.Name(k.SignalErrno)}");
        o.WriteLine($"reap:            {Errno.Name(k.ReapErrno)}{(k.ReapErrno == Native.ESRCH ? " (victim already past exit_mm)" : "")}");
        o.WriteLine(string.Create(c, $"time to signal:  {Ms(k.TimeToSignal)} ms"));
        o.WriteLine(string.Create(c, $"time to reap:    {Ms(k.TimeToReap)} ms"));
        o.WriteLine(string.Create(c, $"time to exit:    {Ms(k.TimeToExit)} ms{(k.TimedOut ? " (timed out)" : k.Exited ? "" : " (not seen)")}"));
        o.WriteLine(r.ChildExited && r.ExitCode == -1 ? "child exit:      exited (not our child: signal unknown)"
            : r.ChildExited
            ? $"child exit:      {SignalName(r.ExitSignal)} (exit code {r.ExitCode})"
            : "child exit:      still alive after the timeout (killed by kill-test itself)");
        o.WriteLine(string.Create(c, $"memory freed:    {k.VictimRssBytes / 1048576.0:F1} MiB (child RSS before the kill)"));
        if (r.MemAvailableBeforeKb >= 0)
            o.WriteLine(string.Create(c, $"MemAvailable:    {r.MemAvailableBeforeKb / 1024.0:F1} MiB before, {r.MemAvailableAfterKb / 1024.0:F1} MiB after"));
        WriteGaveBackText(o, r);
    }

    internal static void WriteGaveBackText(TextWriter o, Report r)
    {
        var c = CultureInfo.InvariantCulture;
        ProcessInfo v = r.Kill.Victim;
        o.WriteLine(string.Create(c, $"victim before:   RssAnon {v.RssAnonBytes / 1048576.0:F1} MiB, RssFile {v.RssFileBytes / 1048576.0:F1} MiB, RssShmem {v.RssShmemBytes / 1048576.0:F1} MiB"));
        if (r.MemoryBefore is not { } b)
        {
            o.WriteLine("gave back:       not measured (/proc/meminfo unreadable)");
            return;
        }
        o.WriteLine("gave back:       whole machine, net change since just before the signal (other processes allocate meanwhile), MiB");
        o.WriteLine(string.Create(c, $"  {"",-24}{"MemFree",10}{"MemAvailable",14}{"Cached",10}{"AnonPages",11}"));
        var fb = Figures(b);
        o.WriteLine(string.Create(c, $"  {"before (absolute)",-24}{Mib(fb.Free),10}{Mib(fb.Available),14}{Mib(fb.Cached),10}{Mib(fb.Anon),11}"));
        foreach (var (label, _, m) in Later(r))
        {
            if (m is not { } s)
            {
                o.WriteLine($"  {label,-24}not read");
                continue;
            }
            var f = Figures(s);
            o.WriteLine(string.Create(c, $"  {label,-24}{Change(f.Free, fb.Free),10}{Change(f.Available, fb.Available),14}{Change(f.Cached, fb.Cached),10}{Change(f.Anon, fb.Anon),11}"));
        }

        static string Mib(long kb) => kb < 0 ? "?" : (kb / 1024.0).ToString("F1", CultureInfo.InvariantCulture);
        static string Change(long kb, long beforeKb) => kb < 0 || beforeKb < 0 ? "?" : ((kb - beforeKb) / 1024.0).ToString("+0.0;-0.0;0.0", CultureInfo.InvariantCulture);
    }

    private static void WriteGaveBackJson(Utf8JsonWriter w, Report r)
    {
        ProcessInfo v = r.Kill.Victim;
        w.WriteNumber("victimRssAnonKb", v.RssAnonBytes / 1024);
        w.WriteNumber("victimRssFileKb", v.RssFileBytes / 1024);
        w.WriteNumber("victimRssShmemKb", v.RssShmemBytes / 1024);
        w.WriteStartObject("gaveBack");
        w.WriteString("scope", "whole machine");
        w.WriteString("meaning", "net change of the scope since just before the signal: other processes allocate meanwhile");
        if (r.MemoryBefore is { } b)
        {
            var fb = Figures(b);
            w.WriteStartObject("before");
            WriteFigures(w, (Abs(fb.Free), Abs(fb.Available), Abs(fb.Cached), Abs(fb.Anon)));
            w.WriteEndObject();
            foreach (var (_, name, m) in Later(r))
            {
                if (m is not { } s)
                {
                    w.WriteNull(name);
                    continue;
                }
                var f = Figures(s);
                w.WriteStartObject(name);
                WriteFigures(w, (Diff(f.Free, fb.Free), Diff(f.Available, fb.Available), Diff(f.Cached, fb.Cached), Diff(f.Anon, fb.Anon)));
                w.WriteEndObject();
            }
        }
        else
        {
            w.WriteNull("before");
        }
        w.WriteEndObject();

        // Absent counters (-1) stay absent: no made-up change.
        static long? Diff(long kb, long beforeKb) => kb < 0 || beforeKb < 0 ? null : kb - beforeKb;
        static long? Abs(long kb) => kb < 0 ? null : kb;
        static void WriteFigures(Utf8JsonWriter w, (long? Free, long? Available, long? Cached, long? Anon) f)
        {
            Write(w, "memFreeKb", f.Free);
            Write(w, "memAvailableKb", f.Available);
            Write(w, "cachedKb", f.Cached);
            Write(w, "anonPagesKb", f.Anon);
        }
        static void Write(Utf8JsonWriter w, string name, long? kb)
        {
            if (kb is { } k) w.WriteNumber(name, k); else w.WriteNull(name);
        }
    }

    internal static void WriteJson(TextWriter o, Report r)
    {
        KillResult k = r.Kill;
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("kernel", r.Kernel);
            w.WriteNumber("probeErrno", r.ProbeErrno);
            w.WriteString("probeErrnoName", Errno.Name(r.ProbeErrno));
            w.WriteString("probedMode", r.Probed.ToString());
            if (r.Forced is { } f) w.WriteString("forcedMode", f.ToString()); else w.WriteNull("forcedMode");
            w.WriteString("modeUsed", k.ModeUsed.ToString());
            if (r.Fallback is { } fb) w.WriteString("fallbackReason", fb); else w.WriteNull("fallbackReason");
            w.WriteNumber("pid", k.Victim.Pid);
            w.WriteString("outcome", k.Outcome.ToString());
            w.WriteString("signalErrno", Errno.Name(k.SignalErrno));
            w.WriteString("reapErrno", Errno.Name(k.ReapErrno));
            w.WriteNumber("timeToSignalMs", Ms(k.TimeToSignal));
            w.WriteNumber("timeToReapMs", Ms(k.TimeToReap));
            w.WriteNumber("timeToExitMs", Ms(k.TimeToExit));
            w.WriteBoolean("exited", k.Exited);
            w.WriteBoolean("timedOut", k.TimedOut);
            w.WriteNumber("childExitCode", r.ExitCode);
            w.WriteString("childExitSignal", r.ExitCode == -1 && r.ChildExited ? "unknown" : SignalName(r.ExitSignal));
            w.WriteNumber("childRssBytes", k.VictimRssBytes);
            w.WriteNumber("childSwapBytes", k.VictimSwapBytes);
            w.WriteNumber("memAvailableBeforeKb", r.MemAvailableBeforeKb);
            w.WriteNumber("memAvailableAfterKb", r.MemAvailableAfterKb);
            WriteGaveBackJson(w, r);
            w.WriteEndObject();
        }
        o.WriteLine(Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length));
    }
}
