using System.Globalization;
using System.Text;
using System.Text.Json;
using Xunit.Abstractions;

namespace Lmkd.Tests.Vm;

/// <summary>
/// The Native AOT lmkd in throw-away QEMU guests (issue #6), on the REAP_KILL kernel and on
/// Debian's stock 6.1 kernel: the kernel check, whole-machine scope under real pressure, cgroup
/// scope on pure cgroup v2, and the races REAP_KILL closes. Two boots in all (see <see cref="VmFixture"/>).
/// </summary>
[Collection(VmCollection.Name)]
public sealed class VmTests(VmFixture vms, ITestOutputHelper output)
{
    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    [PrivilegedTheory(Tools.Qemu, Tools.Cpio, Tools.File, Tools.Busybox, Tools.Gcc)]
    [InlineData(VmFixture.ReapKill)]
    [InlineData(VmFixture.Stock)]
    public void KillTest_reports_the_mode_the_kernel_has(string kernel)
    {
        var run = vms.Run(kernel);
        var j = run.Json("killtest");
        Report(run, "1 kill-test", $"probe {S(j, "probeErrnoName")} => {S(j, "probedMode")}; used {S(j, "modeUsed")}{Fb(j)}; reap {S(j, "reapErrno")}; " +
            $"child {S(j, "childExitSignal")}; signal->reap {N(j, "timeToReapMs")} ms, signal->exit {N(j, "timeToExitMs")} ms ({Mib(j, "childRssBytes")} MiB)");

        Assert.Equal("SIGKILL", S(j, "childExitSignal"));
        if (kernel == VmFixture.ReapKill)
        {
            Assert.Equal("EBADF", S(j, "probeErrnoName"));
            Assert.Equal("ReapKill", S(j, "modeUsed"));
            Assert.Equal("OK", S(j, "reapErrno"));
            Assert.Equal(JsonValueKind.Null, j.GetProperty("fallbackReason").ValueKind);
        }
        else
        {
            Assert.Equal("EINVAL", S(j, "probeErrnoName"));
            Assert.Equal("KillThenReap", S(j, "modeUsed"));
            Assert.Contains("not supported", S(j, "fallbackReason"));
            Assert.Contains(S(j, "reapErrno"), new[] { "OK", "ESRCH" });
        }
    }

    // Not yet reliable (issue #6): with zram as the only reclaim, after Lmkd has killed both
    // background processes in order, the kernel's OOM killer takes the growing hog before Lmkd in
    // about one run of two under emulation. The guest suite still runs the scenario every time and
    // its figures go to artifacts/vm-figures.md; this test asserts them once that is fixed.
    [PrivilegedTheory(Tools.Qemu, Tools.Cpio, Tools.File, Tools.Busybox, Tools.Gcc)]
    [InlineData(VmFixture.ReapKill)]
    [InlineData(VmFixture.Stock)]
    public void Whole_machine_scope_kills_in_order_before_the_kernel_OOM_killer(string kernel)
    {
        var run = vms.Run(kernel);
        const string s = "machine";
        var log = LogEvents(run.Section(s));
        int keeper = Int(run.Value(s, "keeper")), bg1000 = Int(run.Value(s, "bg1000")), bg900 = Int(run.Value(s, "bg900")), hog = Int(run.Value(s, "hog"));
        var done = log.Where(e => Template(e).StartsWith("Kill {KillId} {Outcome}", StringComparison.Ordinal)).ToList();
        var decided = log.Where(e => Template(e).StartsWith("Kill {KillId} decided", StringComparison.Ordinal)).ToList();
        var watch = run.Section(s).Where(l => l.StartsWith("t=", StringComparison.Ordinal)).ToList();
        long? firstPsi = watch.Where(l => l.EndsWith("psi=some", StringComparison.Ordinal)).Select(l => (long?)long.Parse(l[2..l.IndexOf(' ')], C)).FirstOrDefault();

        var text = new StringBuilder();
        text.Append(C, $"startup: {string.Join("; ", log.Where(e => Template(e).StartsWith("Watching", StringComparison.Ordinal) || Template(e).StartsWith("Kill mode", StringComparison.Ordinal)).Select(Render))}\n");
        foreach (var d in done)
        {
            JsonElement p(string name) => d.GetProperty(name);
            long at = AtMs(decided.First(x => x.GetProperty("KillId").GetInt32() == p("KillId").GetInt32()));
            string fromPsi = firstPsi is long f ? $"first PSI event->decision {at - f} ms, " : "";
            long rssKb = p("RssKb").GetInt64();
            long? back = MemoryBackMs(watch, at, rssKb);
            text.Append(C, $"kill {p("KillId").GetInt32()}: pid {p("Pid").GetInt32()} adj {p("OomScoreAdj").GetInt32()} RSS {rssKb / 1024} MiB, {p("Reason").GetString()}, " +
                $"mode {p("ReapMode").GetString()}{p("Fallback").GetString()}, reap {p("ReapResult").GetString()}; {fromPsi}decision->signal {p("DecisionToSignalMs").GetDouble():F1} ms, " +
                $"signal->reap {p("SignalToReapMs").GetDouble():F1} ms, signal->exit {p("SignalToExitMs").GetDouble():F1} ms, decision->MemAvailable back {(back is long b ? b + " ms" : "not seen")}\n");
            firstPsi = null; // only the first kill is timed from the first event
        }
        string states = run.Section(s).FirstOrDefault(l => l.StartsWith("states", StringComparison.Ordinal)) ?? "";
        text.Append(C, $"{states}; kernel OOM kills {run.Value(s, "oom_kill_delta")}, \"Out of memory\" in dmesg {run.Value(s, "dmesg_out_of_memory")}");
        Report(run, "2 whole machine", text.ToString());

        Assert.Contains(log, e => Template(e).StartsWith("Lmkd ready", StringComparison.Ordinal)); // the AOT binary logs
        Assert.Contains(log, e => Template(e).StartsWith("Watching", StringComparison.Ordinal) && e.GetProperty("TriggerMode").GetString() == "trigger");
        Assert.Equal("0", run.Value(s, "oom_kill_delta"));
        Assert.Equal("0", run.Value(s, "dmesg_out_of_memory"));
        Assert.Contains($"keeper=S", states);
        Assert.Equal([bg1000, bg900, hog], done.Select(e => e.GetProperty("Pid").GetInt32()).Take(3).ToArray());
        Assert.DoesNotContain(done, e => e.GetProperty("Pid").GetInt32() == keeper);
        string expectedMode = kernel == VmFixture.ReapKill ? "reap-kill" : "kill-then-reap";
        Assert.All(done, e => Assert.Equal(expectedMode, e.GetProperty("ReapMode").GetString()));
    }

    [PrivilegedTheory(Tools.Qemu, Tools.Cpio, Tools.File, Tools.Busybox, Tools.Gcc)]
    [InlineData(VmFixture.ReapKill)]
    [InlineData(VmFixture.Stock)]
    public void Cgroup_scope_on_pure_v2_with_memory_max(string kernel)
    {
        var run = vms.Run(kernel);
        const string s = "cgroup";
        var log = LogEvents(run.Section(s));
        var done = log.Where(e => Template(e).StartsWith("Kill {KillId} {Outcome}", StringComparison.Ordinal)).ToList();
        string events = run.Section(s).FirstOrDefault(l => l.StartsWith("memory.events", StringComparison.Ordinal)) ?? "";
        Report(run, "3 cgroup v2", $"cgroup fs {CgroupFs(run)}; " + string.Join("; ", done.Select(Render)) + $"; {events}");

        Assert.Contains(log, e => Template(e).StartsWith("Watching", StringComparison.Ordinal) && e.GetProperty("Scope").GetString()!.Contains("(Unified)", StringComparison.Ordinal));
        Assert.Equal("0", run.Value(s, "hog_dead"));
        Assert.Contains(" oom_kill 0 ", events + " ");
        Assert.NotEmpty(done);
        Assert.All(done, e => Assert.Equal("/lmkd-e2e", e.GetProperty("Cgroup").GetString()));
    }

    /// <summary>
    /// Issue 9 on pure cgroup v2: anonymous growth into a swapless memory.max, where PSI barely
    /// stalls. The headroom watch kills 32 MiB then 24 MiB at 900, then the hog; the protected
    /// process lives; the cgroup's OOM killer never fires.
    /// </summary>
    [PrivilegedTheory(Tools.Qemu, Tools.Cpio, Tools.File, Tools.Busybox, Tools.Gcc)]
    [InlineData(VmFixture.ReapKill, 20)]
    [InlineData(VmFixture.ReapKill, 50)]
    [InlineData(VmFixture.Stock, 20)]
    [InlineData(VmFixture.Stock, 50)]
    public void Anonymous_growth_into_a_pure_v2_memory_max_is_stopped_in_order_before_the_OOM_killer(string kernel, int mibPerSec)
    {
        var run = vms.Run(kernel);
        string s = $"cgroup-anon-{mibPerSec}";
        var log = LogEvents(run.Section(s));
        var done = log.Where(e => Template(e).StartsWith("Kill {KillId} {Outcome}", StringComparison.Ordinal)).ToList();
        string events = run.Section(s).FirstOrDefault(l => l.StartsWith("memory.events", StringComparison.Ordinal)) ?? "";
        string pids = run.Section(s).FirstOrDefault(l => l.StartsWith("pids ", StringComparison.Ordinal)) ?? "";
        Report(run, $"3b cgroup v2 anon {mibPerSec} MiB/s", string.Join("; ", done.Select(Render)) + $"; {events}");

        int Pid(string label) => int.Parse(pids.Split(' ').First(w => w.StartsWith(label + "=", StringComparison.Ordinal))[(label.Length + 1)..], C);
        Assert.Equal("0", run.Value(s, "hog_dead"));
        Assert.Equal("yes", run.Value(s, "protected_alive"));
        Assert.Contains(" oom_kill 0 ", events + " ");
        Assert.Equal([Pid("bg32"), Pid("bg24"), Pid("hog")], done.Select(e => e.GetProperty("Pid").GetInt32()).ToArray());
        Assert.All(done, e => Assert.Equal("LOW_HEADROOM", e.GetProperty("Reason").GetString()));
    }

    [PrivilegedTheory(Tools.Qemu, Tools.Cpio, Tools.File, Tools.Busybox, Tools.Gcc)]
    [InlineData(VmFixture.ReapKill)]
    [InlineData(VmFixture.Stock)]
    public void A_victim_sharing_its_mm_with_another_process(string kernel)
    {
        var run = vms.Run(kernel);
        const string s = "sharevm";
        var j = run.Json(s);
        long freedKb = j.GetProperty("memAvailableAfterKb").GetInt64() - j.GetProperty("memAvailableBeforeKb").GetInt64();
        string after = run.Section(s).First(l => l.StartsWith("after500ms", StringComparison.Ordinal));
        // Judged 500 ms on: right after the kill, freed pages still parked on per-CPU lists are not counted yet.
        long freed500Kb = long.Parse(run.Value(s, "avail_kb") ?? "0", C) - j.GetProperty("memAvailableBeforeKb").GetInt64();
        Report(run, "4a CLONE_VM sharer", $"mode {S(j, "modeUsed")}, signal {S(j, "signalErrno")}, reap {S(j, "reapErrno")}; MemAvailable +{freedKb / 1024} MiB right after the kill, +{freed500Kb / 1024} MiB 500 ms on " +
            $"({Mib(j, "childRssBytes")} MiB victim); {after}");

        if (kernel == VmFixture.ReapKill)
        {
            // One call kills both sharers and frees the memory.
            Assert.Equal("OK", S(j, "reapErrno"));
            Assert.Contains("sibling=gone", after);
            Assert.True(freed500Kb > 48 * 1024, $"only {freed500Kb} kB came back");
        }
        else
        {
            // The two-step way cannot reap an mm a live process still uses: the memory stays held.
            Assert.Contains(S(j, "reapErrno"), new[] { "EINVAL", "ESRCH" });
            Assert.Contains("sibling=S", after);
            Assert.True(freed500Kb < 16 * 1024, $"{freed500Kb} kB came back although the sharer lives");
        }
    }

    [PrivilegedTheory(Tools.Qemu, Tools.Cpio, Tools.File, Tools.Busybox, Tools.Gcc)]
    [InlineData(VmFixture.ReapKill)]
    [InlineData(VmFixture.Stock)]
    public void A_victim_starved_of_CPU(string kernel)
    {
        var run = vms.Run(kernel);
        var a = run.Json("starved-auto");
        var k = run.Json("starved-kill-only");
        Report(run, "4b starved victim", $"probed mode {S(a, "modeUsed")}: reap {S(a, "reapErrno")} after {N(a, "timeToReapMs")} ms, exit after {Exit(a)}; " +
            $"SIGKILL alone: exit after {Exit(k)}; MemAvailable +{Freed(a)} / +{Freed(k)} MiB when kill-test returned");
        // How long a starved victim takes to exit is the scheduler's business: reported, not asserted.
        Assert.Equal("Killed", S(a, "outcome"));
        Assert.Equal("Killed", S(k, "outcome"));
        if (kernel == VmFixture.ReapKill)
            Assert.Equal("OK", S(a, "reapErrno"));
        else
            Assert.Contains(S(a, "reapErrno"), new[] { "OK", "ESRCH" });
    }

    [PrivilegedTheory(Tools.Qemu, Tools.Cpio, Tools.File, Tools.Busybox, Tools.Gcc)]
    [InlineData(VmFixture.ReapKill)]
    [InlineData(VmFixture.Stock)]
    public void An_unprivileged_caller_gets_EBUSY_then_the_documented_fallback(string kernel)
    {
        var run = vms.Run(kernel);
        var j = run.Json("ebusy");
        Report(run, "4c EBUSY", $"mode {S(j, "modeUsed")}{Fb(j)}, signal {S(j, "signalErrno")}, outcome {S(j, "outcome")}; victim afterwards {run.Value("ebusy", "victim_after")}");
        Assert.Equal("SignalFailed", S(j, "outcome"));
        Assert.Equal("EPERM", S(j, "signalErrno"));
        Assert.Equal("S", run.Value("ebusy", "victim_after"));
        if (kernel == VmFixture.ReapKill)
        {
            Assert.Equal("KillThenReap", S(j, "modeUsed"));
            Assert.Equal("REAP_KILL refused: EBUSY", S(j, "fallbackReason"));
        }
    }

    private void Report(GuestRun run, string what, string text)
    {
        string line = $"{what} on {run.Release} ({run.KernelName}; boot+suite {run.Elapsed.TotalSeconds:F0} s): {text}";
        output.WriteLine(line);
        VmSummary.Add($"{what}|{run.KernelName}", $"- **{what}**, kernel `{run.Release}`: {text.Replace("\n", "\n  - ", StringComparison.Ordinal)}");
    }

    private static string CgroupFs(GuestRun run) =>
        run.Output.Split('\n').FirstOrDefault(l => l.StartsWith("cgroup_fs=", StringComparison.Ordinal))?["cgroup_fs=".Length..].Trim() ?? "?";

    private static List<JsonElement> LogEvents(string[] lines) =>
        lines.Where(l => l.StartsWith("{\"@t\"", StringComparison.Ordinal)).Select(l => JsonDocument.Parse(l).RootElement).ToList();

    private static string Template(JsonElement e) => e.GetProperty("@mt").GetString() ?? "";

    /// <summary>The message with its properties filled in, for the report.</summary>
    private static string Render(JsonElement e)
    {
        string t = Template(e);
        foreach (var p in e.EnumerateObject())
            t = System.Text.RegularExpressions.Regex.Replace(t, @"\{" + p.Name + @"(:[^}]*)?\}", p.Value.ToString().Replace("$", "$$", StringComparison.Ordinal));
        return t;
    }

    private static long AtMs(JsonElement e) => DateTimeOffset.Parse(e.GetProperty("@t").GetString()!, C).ToUnixTimeMilliseconds();

    /// <summary>
    /// Milliseconds from the decision until MemAvailable (sampled every 5 ms by vmhelper watch) first
    /// rose by half the victim's RSS over its value at the decision: freed pages parked on per-CPU
    /// lists are not counted at once, so "all of it" would wait on the kernel, not on the kill.
    /// </summary>
    private static long? MemoryBackMs(List<string> watch, long decidedMs, long rssKb)
    {
        long? atDecision = null;
        foreach (var l in watch.Where(l => l.Contains("avail_kb=", StringComparison.Ordinal)))
        {
            long t = long.Parse(l[2..l.IndexOf(' ')], C);
            long kb = long.Parse(l[(l.IndexOf("avail_kb=", StringComparison.Ordinal) + 9)..], C);
            if (t <= decidedMs)
                atDecision = kb;
            else if (atDecision is long b && kb - b >= rssKb / 2)
                return t - decidedMs;
        }
        return null;
    }

    private static string Exit(JsonElement j) => j.GetProperty("exited").GetBoolean() ? N(j, "timeToExitMs") + " ms" : "not seen within 10 s";
    private static long Freed(JsonElement j) => (j.GetProperty("memAvailableAfterKb").GetInt64() - j.GetProperty("memAvailableBeforeKb").GetInt64()) / 1024;
    private static int Int(string? s) => int.Parse(s ?? "-1", C);
    private static string S(JsonElement j, string name) => j.GetProperty(name).ToString();
    private static string N(JsonElement j, string name) => j.GetProperty(name).GetDouble().ToString("F1", C);
    private static string Mib(JsonElement j, string name) => (j.GetProperty(name).GetInt64() / 1048576).ToString(C);
    private static string Fb(JsonElement j) => j.GetProperty("fallbackReason").ValueKind == JsonValueKind.String ? $" ({S(j, "fallbackReason")})" : "";
}
