using System.Globalization;
using System.Runtime.InteropServices;
using Lmkd.Configuration;
using Lmkd.Linux;
using Tmds.Linux;

namespace Lmkd.Hosting;

/// <summary>
/// What Lmkd does for itself at start, each step reported with its result: a killer that the kernel
/// OOM-kills, that waits on its own page-ins, or that the scheduler starves, fails exactly when needed.
/// </summary>
public static partial class SelfProtection
{
    public sealed record Report(string OomScoreAdj, string MemoryLock, string MissingCapabilities);

    private const int PRIO_PROCESS = 0;


    // Capability numbers from linux/capability.h, and what Lmkd loses without each.
    private static readonly (int Bit, string Name, string Cost)[] Capabilities =
    [
        (5, "CAP_KILL", "cannot kill processes of other users"),
        (14, "CAP_IPC_LOCK", "cannot lock its memory"),
        (19, "CAP_SYS_PTRACE", "cannot read other users' exe links or reap them"),
        (23, "CAP_SYS_NICE", "no real-time priority for the monitor thread"),
        (24, "CAP_SYS_RESOURCE", "PSI trigger windows widened to multiples of 2 s, and oom_score_adj cannot go below its current value"),
    ];

    public static Report Apply(SelfProtectionOptions options, string procRoot = "/proc")
    {
        string adj = "skipped (SelfProtection:OomScoreAdj=false)";
        if (options.OomScoreAdj)
        {
            try
            {
                File.WriteAllText(Path.Combine(procRoot, "self/oom_score_adj"), "-1000");
                adj = "-1000";
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                adj = $"failed ({e.Message}); current {ReadOwnOomScoreAdj(procRoot)}";
            }
        }

        string mlock = "skipped (SelfProtection:LockMemory=false)";
        if (options.LockMemory)
        {
            // Android lmkd's call. ONFAULT locks what is resident now and each page as it is touched: without it
            // every mapping (heap reservations, the whole binary) is faulted in, and the AOT daemon's RSS
            // went from 14 to 34 MiB. The kill path's pages are touched once at start (MonitorLoop's warm-up scan).
            // Tmds.LibC's call: its errno only names the failure in the log, nothing is decided on it.
            if (LibC.mlockall(LibC.MCL_CURRENT | LibC.MCL_FUTURE | LibC.MCL_ONFAULT) == 0)
                mlock = "locked (MCL_CURRENT|MCL_FUTURE|MCL_ONFAULT)";
            else
                mlock = $"failed ({Linux.Errno.Name(LibC.errno)})";
        }

        return new Report(adj, mlock, DescribeMissingCapabilities(procRoot));
    }

    /// <summary>
    /// SCHED_FIFO for the calling thread (the monitor thread calls this on itself, so the GC and the
    /// thread pool keep the normal policy). On refusal it says so and what the thread runs with instead:
    /// the process's nice value, which the unit raises (Nice=).
    /// </summary>
    public static string RaiseThreadPriority(int priority)
    {
        if (priority <= 0)
            return $"SCHED_OTHER nice {ThreadNice()} (SelfProtection:RealtimePriority=0)";
        int param = priority;
        // pid 0 means the calling thread for sched_setscheduler.
        return SchedSetScheduler(0, LibC.SCHED_FIFO, ref param) == 0
            ? $"SCHED_FIFO {priority}"
            : $"SCHED_FIFO {priority} refused ({Linux.Errno.Name(Marshal.GetLastPInvokeError())}): SCHED_OTHER nice {ThreadNice()}";
    }

    /// <summary>The calling thread's nice value (Linux keeps one per thread), or "?".</summary>
    private static string ThreadNice()
    {
        // getpriority may legitimately return -1: only errno tells a failure apart.
        Marshal.SetLastPInvokeError(0);
        int nice = GetPriority(PRIO_PROCESS, 0);
        return nice == -1 && Marshal.GetLastPInvokeError() != 0 ? "?" : nice.ToString(CultureInfo.InvariantCulture);
    }

    public static string DescribeMissingCapabilities(string procRoot = "/proc")
    {
        ulong eff = ReadEffectiveCapabilities(procRoot);
        var missing = Capabilities.Where(c => (eff & (1UL << c.Bit)) == 0).Select(c => $"{c.Name}: {c.Cost}").ToList();
        return missing.Count == 0 ? "none" : string.Join("; ", missing);
    }

    public static bool HasCapability(int bit, string procRoot = "/proc") => (ReadEffectiveCapabilities(procRoot) & (1UL << bit)) != 0;

    private static ulong ReadEffectiveCapabilities(string procRoot)
    {
        try
        {
            foreach (var line in File.ReadLines(Path.Combine(procRoot, "self/status")))
                if (line.StartsWith("CapEff:", StringComparison.Ordinal))
                    return ulong.Parse(line.AsSpan(7).Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or FormatException)
        {
        }
        return 0;
    }

    private static string ReadOwnOomScoreAdj(string procRoot)
    {
        try { return File.ReadAllText(Path.Combine(procRoot, "self/oom_score_adj")).Trim(); }
        catch (IOException) { return "unknown"; }
    }

    // Declared here rather than taken from Tmds.LibC: getpriority may return -1 on success, so only an
    // errno captured at the call tells a failure apart; Tmds.LibC has no sched_setscheduler.
    [LibraryImport("libc", EntryPoint = "getpriority", SetLastError = true)]
    private static partial int GetPriority(int which, int who);

    [LibraryImport("libc", EntryPoint = "sched_setscheduler", SetLastError = true)]
    private static partial int SchedSetScheduler(int pid, int policy, ref int param);
}
