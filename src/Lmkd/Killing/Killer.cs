using Lmkd.Linux;
using Lmkd.Policies;

namespace Lmkd.Killing;

/// <summary>
/// Kills one victim through a pidfd: open, verify identity, signal (and reap), wait for exit.
/// Holds no per-kill state, so it can run on a dedicated reaper thread (<see cref="ReaperThread"/>)
/// while the monitor keeps watching: process_mrelease can block for hundreds of milliseconds.
/// </summary>
public sealed class Killer
{
    private readonly IKernel _kernel;
    private readonly Func<int, ulong?> _readStartTime;
    private readonly TimeProvider _time;
    private readonly Func<MemorySnapshot?>? _readMemory;
    private int _reserveFd;

    /// <param name="readStartTime">Start time (clock ticks, /proc/&lt;pid&gt;/stat field 22) of a pid, or null when it is gone.</param>
    /// <param name="readMemory">The scope's memory, read on the killing thread right after the reap and at the exit (what the kill gave back); null: not read.</param>
    public Killer(IKernel kernel, ReapMode mode, Func<int, ulong?> readStartTime, TimeProvider? time = null, Func<MemorySnapshot?>? readMemory = null)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        ArgumentNullException.ThrowIfNull(readStartTime);
        _kernel = kernel;
        Mode = mode;
        _readStartTime = readStartTime;
        _time = time ?? TimeProvider.System;
        _readMemory = readMemory;
        _reserveFd = _kernel.ReserveFd();
    }

    public ReapMode Mode { get; }

    /// <summary>
    /// Kills <paramref name="victim"/> unless it vanished or its pid was recycled, then waits up to
    /// <paramref name="timeoutMs"/> for it to exit (negative: no bound). Races are outcomes, not exceptions.
    /// </summary>
    public KillResult Kill(ProcessInfo victim, bool dryRun, int timeoutMs)
    {
        ArgumentNullException.ThrowIfNull(victim);
        long entry = _time.GetTimestamp();
        var r = new Draft(victim, Mode);

        SysResult open = _kernel.PidfdOpen(victim.Pid);
        if (open.Errno is Native.EMFILE or Native.ENFILE && _reserveFd >= 0)
        {
            // Out of descriptors: the one kept in reserve makes room for the pidfd, and is taken back after.
            _kernel.Close(_reserveFd);
            _reserveFd = -1;
            open = _kernel.PidfdOpen(victim.Pid);
            r.UsedReserveFd = true;
        }
        r.OpenErrno = open.Errno;
        if (!open.Ok)
        {
            if (_reserveFd < 0)
                _reserveFd = _kernel.ReserveFd();
            r.Outcome = open.Errno == Native.ESRCH ? KillOutcome.Vanished : KillOutcome.OpenFailed;
            return r.Build();
        }

        int pidfd = open.Value;
        try
        {
            // Read only now: a pid recycled before pidfd_open shows another start time, and from
            // here on the pidfd pins the process we checked, whatever happens to the number.
            ulong? startTime = _readStartTime(victim.Pid);
            if (startTime is null)
            {
                r.Outcome = KillOutcome.Vanished;
                return r.Build();
            }
            if (startTime.Value != victim.StartTime)
            {
                r.Outcome = KillOutcome.IdentityChanged;
                return r.Build();
            }
            if (dryRun)
            {
                r.Outcome = KillOutcome.DryRun;
                return r.Build();
            }

            // From here on nothing reads the victim's /proc files: open ones pin its address space.
            long signalAt = _time.GetTimestamp();
            if (Mode == ReapMode.ReapKill)
                ReapKill(pidfd, ref r, ref signalAt);
            else
                SignalThenMaybeReap(pidfd, Mode == ReapMode.KillThenReap, ref r, signalAt);
            r.TimeToSignal = _time.GetElapsedTime(entry, signalAt);

            if (r.Outcome == KillOutcome.Killed)
                r.MemoryAfterReap = _readMemory?.Invoke();
            // A refused signal leaves the victim alive: waiting for it would only stall the caller.
            if (r.Outcome != KillOutcome.SignalFailed)
                WaitForExit(pidfd, timeoutMs, ref r, signalAt);
            if (r.Exited && r.Outcome == KillOutcome.Killed)
                r.MemoryAtExit = _readMemory?.Invoke();
            return r.Build();
        }
        finally
        {
            _kernel.Close(pidfd);
            if (_reserveFd < 0)
                _reserveFd = _kernel.ReserveFd();
        }
    }

    private void ReapKill(int pidfd, ref Draft r, ref long signalAt)
    {
        SysResult rk = _kernel.ProcessMrelease(pidfd, Native.PROCESS_MRELEASE_REAP_KILL);
        long done = _time.GetTimestamp();
        switch (rk.Errno)
        {
            case 0:
                r.SignalErrno = 0;
                r.ReapErrno = 0;
                r.Outcome = KillOutcome.Killed;
                r.TimeToReap = _time.GetElapsedTime(signalAt, done);
                return;
            case Native.ESRCH:
                // No mm left: the victim was already exiting on its own before our signal.
                r.SignalErrno = Native.ESRCH;
                r.ReapErrno = Native.ESRCH;
                r.Outcome = KillOutcome.Vanished;
                r.TimeToReap = _time.GetElapsedTime(signalAt, done);
                return;
            case Native.EINTR:
                // The sharers were signalled before the reap was interrupted (we have a fatal signal).
                r.SignalErrno = 0;
                r.ReapErrno = Native.EINTR;
                r.Outcome = KillOutcome.Killed;
                r.TimeToReap = _time.GetElapsedTime(signalAt, done);
                return;
            default:
                // EBUSY: not permitted, pid 1, or a sharer refused (some sharers may already be dead,
                // nothing was reaped). EINVAL: the flag is unknown after all. Anything else: the
                // signal must still go. The plain two-step way does what REAP_KILL could not.
                r.ModeUsed = ReapMode.KillThenReap;
                r.FallbackErrno = rk.Errno;
                r.FallbackReason = Errno.Name(rk.Errno);
                signalAt = _time.GetTimestamp();
                SignalThenMaybeReap(pidfd, reap: true, ref r, signalAt);
                return;
        }
    }

    private void SignalThenMaybeReap(int pidfd, bool reap, ref Draft r, long signalAt)
    {
        SysResult sig = _kernel.PidfdSendSignal(pidfd, Native.SIGKILL);
        r.SignalErrno = sig.Errno;
        if (!sig.Ok)
        {
            r.Outcome = sig.Errno == Native.ESRCH ? KillOutcome.Vanished : KillOutcome.SignalFailed;
            return;
        }
        r.Outcome = KillOutcome.Killed;
        if (!reap)
            return;
        // ESRCH here is normal: the victim already passed exit_mm and is freeing its memory itself.
        SysResult rel = _kernel.ProcessMrelease(pidfd, 0);
        r.ReapErrno = rel.Errno;
        r.TimeToReap = _time.GetElapsedTime(signalAt, _time.GetTimestamp());
    }

    private void WaitForExit(int pidfd, int timeoutMs, ref Draft r, long signalAt)
    {
        SysResult w = _kernel.WaitForExit(pidfd, timeoutMs);
        long done = _time.GetTimestamp();
        r.WaitErrno = w.Errno;
        if (!w.Ok)
            return;
        if (w.Value == 1)
        {
            r.Exited = true;
            r.TimeToExit = _time.GetElapsedTime(signalAt, done);
        }
        else
        {
            r.TimedOut = true;
        }
    }

    /// <summary>The result being filled in; a struct so a kill allocates only its final record.</summary>
    private struct Draft(ProcessInfo victim, ReapMode mode)
    {
        public KillOutcome Outcome;
        public ReapMode ModeUsed = mode;
        public string? FallbackReason;
        public int FallbackErrno;
        public int OpenErrno = KillResult.NotAttempted;
        public int SignalErrno = KillResult.NotAttempted;
        public int ReapErrno = KillResult.NotAttempted;
        public int WaitErrno = KillResult.NotAttempted;
        public bool Exited;
        public bool TimedOut;
        public TimeSpan TimeToSignal;
        public TimeSpan TimeToReap;
        public TimeSpan TimeToExit;
        public bool UsedReserveFd;
        public MemorySnapshot? MemoryAfterReap;
        public MemorySnapshot? MemoryAtExit;

        public readonly KillResult Build() => new()
        {
            Victim = victim,
            Outcome = Outcome,
            ModeUsed = ModeUsed,
            FallbackReason = FallbackReason,
            FallbackErrno = FallbackErrno,
            OpenErrno = OpenErrno,
            SignalErrno = SignalErrno,
            ReapErrno = ReapErrno,
            WaitErrno = WaitErrno,
            Exited = Exited,
            TimedOut = TimedOut,
            TimeToSignal = TimeToSignal,
            TimeToReap = TimeToReap,
            TimeToExit = TimeToExit,
            VictimRssBytes = victim.RssBytes,
            VictimSwapBytes = victim.SwapBytes,
            UsedReserveFd = UsedReserveFd,
            MemoryAfterReap = MemoryAfterReap,
            MemoryAtExit = MemoryAtExit,
        };
    }
}
