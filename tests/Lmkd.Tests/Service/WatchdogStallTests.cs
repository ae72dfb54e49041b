using System.Runtime.InteropServices;
using Lmkd.Tests.EndToEnd;

namespace Lmkd.Tests.Service;

/// <summary>
/// The watchdog is tied to the monitor loop's progress, shown on the real daemon with no test hook in
/// it: the test freezes only the "lmkd-monitor" thread (ptrace stops a single thread), and the pings
/// stop while the rest of the process still answers; thawed, the thread pings again.
/// </summary>
public sealed partial class WatchdogStallTests : IDisposable
{
    private const int PTRACE_DETACH = 17, PTRACE_SEIZE = 0x4206, PTRACE_INTERRUPT = 0x4207;
    private const int __WALL = 0x40000000;
    private readonly NotifySocket _notify = new();

    [PrivilegedFact]
    public void A_frozen_monitor_thread_stops_the_pings_and_the_process_alone_cannot_fake_them()
    {
        var env = new Dictionary<string, string> { ["NOTIFY_SOCKET"] = _notify.Path, ["WATCHDOG_USEC"] = "1000000" };
        using var lmkd = LmkdProcess.Start(["run", "--Lmkd:DryRun=true", "--Lmkd:Metrics:Enabled=false"], env);
        Assert.True(_notify.WaitFor("READY=1", TimeSpan.FromSeconds(20)) is not null, lmkd.Output);
        Assert.NotNull(_notify.WaitFor("WATCHDOG=1", TimeSpan.FromSeconds(3)));

        int tid = MonitorThreadId(lmkd.Pid);
        // ptrace calls must all come from this one thread: the test stays synchronous.
        Assert.True(PTrace(PTRACE_SEIZE, tid, 0, 0) == 0, $"PTRACE_SEIZE: errno {Marshal.GetLastPInvokeError()}");
        try
        {
            Assert.True(PTrace(PTRACE_INTERRUPT, tid, 0, 0) == 0, $"PTRACE_INTERRUPT: errno {Marshal.GetLastPInvokeError()}");
            Assert.Equal(tid, WaitPid(tid, out _, __WALL));
            var frozenAt = _notify.Now;

            // Three watchdog intervals: systemd would have restarted the daemon.
            Thread.Sleep(3000);
            // The process itself is alive: its signal handling answers a reload.
            lmkd.Signal(1);
            Assert.NotNull(_notify.WaitFor("RELOADING=1", ServiceProtocolTests.SignalTimeout));
            Assert.NotNull(_notify.WaitFor("READY=1", ServiceProtocolTests.SignalTimeout));
            var pingsWhileFrozen = _notify.Seen.Count(m => m.Message == "WATCHDOG=1" && m.At > frozenAt + TimeSpan.FromMilliseconds(50));
            Assert.Equal(0, pingsWhileFrozen);
            Assert.False(lmkd.HasExited);
        }
        finally
        {
            PTrace(PTRACE_DETACH, tid, 0, 0);
        }
        Assert.NotNull(_notify.WaitFor("WATCHDOG=1", TimeSpan.FromSeconds(3)));
        lmkd.Terminate(TimeSpan.FromSeconds(5));
        Assert.Equal(0, lmkd.ExitCode);
    }

    private static int MonitorThreadId(int pid)
    {
        foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
            if (File.ReadAllText(Path.Combine(task, "comm")).Trim() == "lmkd-monitor")
                return int.Parse(Path.GetFileName(task), System.Globalization.CultureInfo.InvariantCulture);
        throw new InvalidOperationException($"no lmkd-monitor thread in /proc/{pid}/task");
    }

    [LibraryImport("libc", EntryPoint = "ptrace", SetLastError = true)]
    private static partial long PTrace(long request, int pid, nint addr, nint data);

    [LibraryImport("libc", EntryPoint = "waitpid", SetLastError = true)]
    private static partial int WaitPid(int pid, out int status, int options);

    public void Dispose() => _notify.Dispose();
}
