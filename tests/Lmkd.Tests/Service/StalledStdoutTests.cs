using System.Diagnostics;
using System.Runtime.InteropServices;
using Lmkd.Cli;
using Lmkd.Linux;
using Lmkd.Tests.EndToEnd;

namespace Lmkd.Tests.Service;

/// <summary>
/// journald that stops reading, on the real daemon: its stdout is a FIFO nobody reads, shrunk to one
/// page, and Debug lines fill it within seconds. The monitor thread logs those lines itself, so
/// were logging to wait for stdout, the watchdog pings would stop with it.
/// </summary>
public sealed partial class StalledStdoutTests : IDisposable
{
    private const int F_SETPIPE_SZ = 1031, FIONREAD = 0x541B;
    private readonly NotifySocket _notify = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("lmkd-stdout-").FullName;

    [PrivilegedFact]
    public void A_stdout_nobody_reads_stops_neither_the_watchdog_pings_nor_a_prompt_shutdown()
    {
        string fifo = Path.Combine(_dir, "stdout");
        Assert.Equal(0, MkFifo(fifo, 0x180));
        // Opened for reading first, so the daemon's open for writing does not wait; then never read.
        int readFd = Native.Open(fifo, Native.O_RDONLY | Native.O_NONBLOCK | Native.O_CLOEXEC);
        Assert.True(readFd >= 0, $"open: errno {Marshal.GetLastPInvokeError()}");
        try
        {
            int pipeSize = FcntlInt(readFd, F_SETPIPE_SZ, 4096);
            Assert.True(pipeSize > 0, $"F_SETPIPE_SZ: errno {Marshal.GetLastPInvokeError()}");

            var lmkd = LmkdProcess.StartInfo("run", "--Lmkd:DryRun=true", "--Lmkd:Metrics:Enabled=false", "--Lmkd:Log:Level=Debug");
            var sh = new ProcessStartInfo("/bin/sh") { ArgumentList = { "-c", "exec \"$@\" >\"$STDOUT_FIFO\"", "sh", lmkd.FileName } };
            foreach (var a in lmkd.ArgumentList)
                sh.ArgumentList.Add(a);
            var env = new Dictionary<string, string> { ["NOTIFY_SOCKET"] = _notify.Path, ["WATCHDOG_USEC"] = "1000000", ["STDOUT_FIFO"] = fifo };
            using var daemon = DaemonChild.Start(sh, env);

            Assert.True(_notify.WaitFor("READY=1", TimeSpan.FromSeconds(20)) is not null, daemon.Output);
            // Startup lines and one Debug evaluation a second fill the page; then the log thread waits in the kernel.
            Assert.True(SpinWait.SpinUntil(() => LogWriterWaitsOnThePipe(daemon.Pid), TimeSpan.FromSeconds(30)),
                $"the log writer never blocked: stdout holds {Queued(readFd)} of {pipeSize} bytes; stderr:\n{daemon.Output}");
            var fullAt = _notify.Now;

            Thread.Sleep(3000);
            Assert.True(LogWriterWaitsOnThePipe(daemon.Pid), "the log writer got unstuck: somebody read"); // stuck all along
            int pings = _notify.Seen.Count(m => m.Message == "WATCHDOG=1" && m.At > fullAt);
            Assert.True(pings >= 3, $"{pings} pings in the 3 s after stdout filled (0.5 s apart when healthy)");
            Assert.False(daemon.HasExited);

            var exit = daemon.Terminate(TimeSpan.FromSeconds(5));
            Assert.NotNull(_notify.WaitFor("STOPPING=1", TimeSpan.FromSeconds(1)));
            Assert.True(exit < TimeSpan.FromSeconds(1), $"exit took {exit.TotalMilliseconds:F0} ms with stdout stuck");
            Assert.Equal(0, daemon.ExitCode);
        }
        finally
        {
            Native.Close(readFd);
        }
    }

    /// <summary>The daemon's "lmkd-log" thread sleeps in the kernel's pipe write: its stdout is full.</summary>
    private static bool LogWriterWaitsOnThePipe(int pid)
    {
        try
        {
            foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
                if (File.ReadAllText(Path.Combine(task, "comm")).Trim() == "lmkd-log")
                    return File.ReadAllText(Path.Combine(task, "wchan")).Trim().EndsWith("pipe_write", StringComparison.Ordinal); // anon_pipe_write on 6.18
        }
        catch (IOException)
        {
        }
        return false;
    }

    private static int Queued(int fd) => IoctlInt(fd, FIONREAD, out int n) == 0 ? n : -1;

    [LibraryImport("libc", EntryPoint = "mkfifo", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int MkFifo(string path, uint mode);

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int FcntlInt(int fd, int command, int argument);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int IoctlInt(int fd, ulong request, out int value);

    public void Dispose()
    {
        _notify.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}
