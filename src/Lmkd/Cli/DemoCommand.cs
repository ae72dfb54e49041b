using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace Lmkd.Cli;

/// <summary>
/// `lmkd demo`: Lmkd saving a memory-limited cgroup, narrated. It makes the cgroup, starts in it a
/// protected process, two background processes at oom_score_adj 900 and a growing hog that also
/// thrashes the page cache, runs the real daemon scoped to that cgroup, tells what happens, and
/// removes everything it made, also on Ctrl-C. The pressure never leaves the cgroup.
/// </summary>
public static class DemoCommand
{
    public const string Usage = "lmkd demo [--limit-mb N (default 384)] [--seconds N (default 90)] [--dry-run]";

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        long limitMb = 384;
        int seconds = 90;
        bool dryRun = false;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--limit-mb" when i + 1 < args.Length && long.TryParse(args[i + 1], CultureInfo.InvariantCulture, out limitMb) && limitMb is >= 256 and <= 4096:
                    i++;
                    break;
                case "--seconds" when i + 1 < args.Length && int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out seconds) && seconds is >= 10 and <= 3600:
                    i++;
                    break;
                case "--dry-run":
                    dryRun = true;
                    break;
                default:
                    stderr.WriteLine($"lmkd demo: bad argument '{args[i]}' (--limit-mb takes 256..4096, --seconds 10..3600)");
                    stderr.WriteLine("usage: " + Usage);
                    return 2;
            }
        }
        if (Environment.UserName != "root")
        {
            stderr.WriteLine("lmkd demo: needs root (it creates a cgroup and runs the daemon); try: sudo lmkd demo");
            return 1;
        }
        if (!SandboxCgroup.IsSupported)
        {
            stderr.WriteLine("lmkd demo: no usable cgroup layout (cgroup v2 with the memory controller, or v1 memory + v2 for PSI)");
            return 1;
        }

        using var stop = new CancellationTokenSource();
        ConsoleCancelEventHandler onCtrlC = (_, e) => { e.Cancel = true; stop.Cancel(); };
        Console.CancelKeyPress += onCtrlC;
        using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
        try
        {
            return new Demo(stdout, limitMb, seconds, dryRun, stop.Token).Play();
        }
        finally
        {
            Console.CancelKeyPress -= onCtrlC;
        }
    }

    private sealed class Demo(TextWriter o, long limitMb, int seconds, bool dryRun, CancellationToken stop)
    {
        private readonly List<(string Label, Process Process)> _workloads = [];
        private readonly Dictionary<int, string> _labels = [];
        private readonly Stopwatch _clock = Stopwatch.StartNew();

        /// <summary>What the cgroup's used memory did by the victim's exit (others allocate meanwhile), when the event has it.</summary>
        private static string GaveBack(System.Text.Json.JsonElement e) =>
            e.TryGetProperty("GaveBackAtExitKb", out var kb) && kb.ValueKind == System.Text.Json.JsonValueKind.Number && kb.GetInt64() != -1
                ? $", the cgroup's used memory fell {kb.GetInt64() / 1024} MiB by its exit"
                : "";

        private void Say(string text) => o.WriteLine($"[{_clock.Elapsed.TotalSeconds,5:F1}s] {text}");

        public int Play()
        {
            SandboxCgroup? cg = null;
            DaemonChild? daemon = null;
            string file = Path.Combine("/var/tmp", $"lmkd-demo-{Environment.ProcessId}.dat");
            try
            {
                cg = SandboxCgroup.Create("lmkd-demo", limitMb << 20);
                var guarded = cg.Child("protected");
                Say($"made cgroup {cg.RelativePath} limited to {limitMb} MiB{(cg.IsPureV2 ? "" : " (v1 memory controller + v2 for PSI)")}");

                // Written from inside the cgroup and dropped from the cache, so re-reading it charges the cgroup.
                using (var dd = cg.StartShell($"dd if=/dev/zero of={SelfCommand.Quote(file)} bs=1M count={limitMb / 2} conv=fsync status=none && dd if={SelfCommand.Quote(file)} iflag=nocache count=0 status=none"))
                    dd.WaitForExit();

                daemon = DaemonChild.Start(SelfCommand.StartInfo("run", "--Lmkd:Scope:Cgroup=" + cg.RelativePath, "--Lmkd:Protect:Cgroups:0=" + guarded.RelativePath,
                    "--Lmkd:Metrics:Enabled=false", "--Lmkd:SelfProtection:LockMemory=false", $"--Lmkd:DryRun={dryRun}"));
                if (!WaitFor(daemon, "Lmkd ready", TimeSpan.FromSeconds(30)))
                {
                    Say("the daemon did not start; giving up:\n" + daemon.Output);
                    return 1;
                }

                Start(guarded, "protected", "--mb 60 --oom-score-adj -500", fallbackArgs: "--mb 60");
                Start(cg, "background-40", "--mb 40 --oom-score-adj 900");
                Start(cg, "background-60", "--mb 60 --oom-score-adj 900");
                Say($"started: protected ({Pid("protected")}, in {guarded.RelativePath}, which Lmkd:Protect:Cgroups names), background-60 ({Pid("background-60")}) and background-40 ({Pid("background-40")}) at oom_score_adj 900");
                Start(cg, "hog", $"--mb 20 --grow-mb 2 --every-ms 100 --max-mb {limitMb * 4} --oom-score-adj 0 --read-file {SelfCommand.Quote(file)} --readers 2");
                Say($"started the hog ({Pid("hog")}): grows 20 MiB/s past the limit and re-reads a {limitMb / 2} MiB file");

                var end = TimeSpan.FromSeconds(seconds);
                long nextStatus = 0;
                while (_clock.Elapsed < end && !stop.IsCancellationRequested && !daemon.HasExited)
                {
                    if (daemon.TryTakeNext(out var ev, 200))
                        Narrate(ev);
                    if (_clock.ElapsedMilliseconds >= nextStatus)
                    {
                        nextStatus = _clock.ElapsedMilliseconds + 2000;
                        Say(Status(cg));
                    }
                    if (!Alive("hog"))
                        break;
                }
                while (daemon.TryTakeNext(out var ev, 300))
                    Narrate(ev);

                if (stop.IsCancellationRequested)
                {
                    // Ctrl-C reached the whole process group, workloads included: no verdict to give.
                    Say("interrupted; cleaning up");
                    return 130;
                }
                Say("done");
                Say($"kernel OOM kills in the cgroup: {cg.OomKillCount()}; protected process {(Alive("protected") ? "alive" : "DEAD")}; " +
                    string.Join(", ", _workloads.Where(w => w.Label != "protected").Select(w => $"{w.Label} {(w.Process.HasExited ? "killed" : "alive")}")));
                return 0;
            }
            finally
            {
                // SIGTERM first: a daemon that stops removes its status socket (SIGKILL would leave it stale).
                daemon?.Terminate(TimeSpan.FromSeconds(2));
                daemon?.Dispose();
                foreach (var (_, p) in _workloads)
                {
                    if (!p.HasExited) p.Kill();
                    p.Dispose();
                }
                cg?.Dispose();
                File.Delete(file);
                o.WriteLine("removed the demo cgroup, its processes and its file");
            }
        }

        private void Start(SandboxCgroup cg, string label, string hogArgs, string? fallbackArgs = null)
        {
            Process p;
            try
            {
                p = cg.StartHog(SelfCommand.ShellCommand(), hogArgs, stop: stop);
            }
            catch (InvalidOperationException) when (fallbackArgs is not null)
            {
                // Lowering oom_score_adj needs CAP_SYS_RESOURCE; without it the protection rule alone guards the process.
                Say($"{label}: oom_score_adj -500 refused (no CAP_SYS_RESOURCE); it stays at 0, guarded by the cgroup rule");
                p = cg.StartHog(SelfCommand.ShellCommand(), fallbackArgs, stop: stop);
            }
            _workloads.Add((label, p));
            _labels[p.Id] = label;
        }

        private int Pid(string label) => _workloads.First(w => w.Label == label).Process.Id;
        private bool Alive(string label) => _workloads.Any(w => w.Label == label && !w.Process.HasExited);

        private void Narrate(JsonElement e)
        {
            string template = DaemonChild.Template(e);
            string Label(int pid) => _labels.TryGetValue(pid, out var l) ? l : "pid " + pid;
            if (template.StartsWith("Watching", StringComparison.Ordinal))
                Say("lmkd: " + e.GetProperty("PsiDescription").GetString());
            else if (template.StartsWith("Kill {KillId} decided", StringComparison.Ordinal))
                Say($"lmkd decides: {e.GetProperty("Reason").GetString()} (headroom {e.GetProperty("HeadroomKb").GetInt64() / 1024} MiB = {e.GetProperty("HeadroomPct").GetDouble():F1}%, filling {e.GetProperty("FillRateKbPerSec").GetInt64() / 1024} MiB/s, thrashing {e.GetProperty("ThrashingPct").GetInt64()}%, PSI some avg10 {e.GetProperty("SomeAvg10").GetDouble():F1}%) -> may reach oom_score_adj >= {e.GetProperty("MinScoreAdj").GetInt32()}; victim {Label(e.GetProperty("Pid").GetInt32())}");
            else if (template.StartsWith("Kill {KillId} {Outcome}", StringComparison.Ordinal))
                Say($"lmkd kill {e.GetProperty("KillId").GetInt64()} {e.GetProperty("Outcome").GetString()}: {Label(e.GetProperty("Pid").GetInt32())} (oom_score_adj {e.GetProperty("OomScoreAdj").GetInt32()}) held {e.GetProperty("RssKb").GetInt64() / 1024} MiB{GaveBack(e)}; mode {e.GetProperty("ReapMode").GetString()}, reap {e.GetProperty("ReapResult").GetString()}, exit {e.GetProperty("SignalToExitMs").GetDouble():F1} ms after SIGKILL");
            else if (template.StartsWith("Kill {KillId} not done", StringComparison.Ordinal) || template.StartsWith("Kill wanted", StringComparison.Ordinal))
                Say("lmkd: " + DaemonChild.Render(e));
        }

        private static string Status(SandboxCgroup cg)
        {
            string usage = cg.V1Path is not null
                ? File.ReadAllText(Path.Combine(cg.V1Path, "memory.usage_in_bytes"))
                : File.ReadAllText(Path.Combine(cg.V2Path, "memory.current"));
            string some = File.ReadLines(cg.MemoryPressurePath).First();
            int avg10 = some.IndexOf("avg10=", StringComparison.Ordinal);
            return $"cgroup memory {long.Parse(usage.Trim(), CultureInfo.InvariantCulture) >> 20} MiB; PSI some {some[(avg10 + 6)..some.IndexOf(' ', avg10)]}%";
        }

        private bool WaitFor(DaemonChild daemon, string prefix, TimeSpan timeout)
        {
            var sw = Stopwatch.StartNew();
            while (sw.Elapsed < timeout && !stop.IsCancellationRequested && !daemon.HasExited)
            {
                if (daemon.TryTakeNext(out var e, 100))
                {
                    Narrate(e);
                    if (DaemonChild.Template(e).StartsWith(prefix, StringComparison.Ordinal))
                        return true;
                }
            }
            return false;
        }
    }
}
