using Lmkd.Killing;
using Lmkd.Linux;
using Lmkd.Policies;

namespace Lmkd.Tests.Killing;

public class KillerTests
{
    private const int Pid = 4242, EPERM = 1, ESRCH = 3, EBADF = 9, EMFILE = 24, EBUSY = 16, EINVAL = 22, ENOSYS = 38;
    private const ulong Start = 123456;

    private static readonly ProcessInfo Victim = new()
    {
        Pid = Pid, StartTime = Start, RssAnonBytes = 3 << 20, RssFileBytes = 1 << 20, SwapBytes = 5 << 20,
    };

    private static Killer NewKiller(FakeKernel k, ReapMode mode, ulong? startTime = Start) =>
        new(k, mode, pid => pid == Pid ? startTime : null);

    private static readonly string[] OpenThen = ["pidfd_open 4242"];
    private static string[] Expect(params string[] middle) => [.. OpenThen, .. middle, $"close {FakeKernel.Fd}"];

    [Fact]
    public void ReapKill_is_one_mrelease_call_then_wait_and_close()
    {
        var k = new FakeKernel();
        var r = NewKiller(k, ReapMode.ReapKill).Kill(Victim, dryRun: false, timeoutMs: 500);

        Assert.Equal(Expect("process_mrelease 77 1", "wait 77 500"), k.Calls);
        Assert.Equal(KillOutcome.Killed, r.Outcome);
        Assert.Equal(ReapMode.ReapKill, r.ModeUsed);
        Assert.Null(r.FallbackReason);
        Assert.Equal(0, r.SignalErrno);
        Assert.Equal(0, r.ReapErrno);
        Assert.True(r.Exited);
        Assert.False(r.TimedOut);
        Assert.Equal(4 << 20, r.VictimRssBytes);
        Assert.Equal(5 << 20, r.VictimSwapBytes);
    }

    [Theory]
    [InlineData(EBUSY, "EBUSY")]
    [InlineData(EINVAL, "EINVAL")]
    public void ReapKill_refused_falls_back_to_signal_then_plain_mrelease(int errno, string reason)
    {
        var k = new FakeKernel();
        k.MreleaseResults[1] = SysResult.Failure(errno);
        k.MreleaseResults[0] = SysResult.Failure(ESRCH);
        var r = NewKiller(k, ReapMode.ReapKill).Kill(Victim, false, 500);

        Assert.Equal(Expect("process_mrelease 77 1", "pidfd_send_signal 77 9", "process_mrelease 77 0", "wait 77 500"), k.Calls);
        Assert.Equal(KillOutcome.Killed, r.Outcome);
        Assert.Equal(ReapMode.KillThenReap, r.ModeUsed);
        Assert.Equal(reason, r.FallbackReason);
        Assert.Equal(errno, r.FallbackErrno);
        Assert.Equal(0, r.SignalErrno);
        Assert.Equal(ESRCH, r.ReapErrno);
    }

    [Fact]
    public void ReapKill_fallback_signal_refused_is_SignalFailed_without_wait()
    {
        var k = new FakeKernel { SignalResult = SysResult.Failure(EPERM) };
        k.MreleaseResults[1] = SysResult.Failure(EBUSY);
        var r = NewKiller(k, ReapMode.ReapKill).Kill(Victim, false, 500);

        Assert.Equal(Expect("process_mrelease 77 1", "pidfd_send_signal 77 9"), k.Calls);
        Assert.Equal(KillOutcome.SignalFailed, r.Outcome);
        Assert.Equal(EPERM, r.SignalErrno);
        Assert.Equal(KillResult.NotAttempted, r.ReapErrno);
    }

    [Fact]
    public void ReapKill_ESRCH_means_already_exiting_and_is_Vanished()
    {
        var k = new FakeKernel();
        k.MreleaseResults[1] = SysResult.Failure(ESRCH);
        var r = NewKiller(k, ReapMode.ReapKill).Kill(Victim, false, 500);

        Assert.Equal(Expect("process_mrelease 77 1", "wait 77 500"), k.Calls);
        Assert.Equal(KillOutcome.Vanished, r.Outcome);
        Assert.Equal(ReapMode.ReapKill, r.ModeUsed);
        Assert.Equal(ESRCH, r.ReapErrno);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(ESRCH)]
    [InlineData(EINVAL)]
    public void KillThenReap_signals_then_plain_mrelease_and_reports_its_errno(int reapErrno)
    {
        var k = new FakeKernel();
        k.MreleaseResults[0] = reapErrno == 0 ? SysResult.Success() : SysResult.Failure(reapErrno);
        var r = NewKiller(k, ReapMode.KillThenReap).Kill(Victim, false, 500);

        Assert.Equal(Expect("pidfd_send_signal 77 9", "process_mrelease 77 0", "wait 77 500"), k.Calls);
        Assert.Equal(KillOutcome.Killed, r.Outcome);
        Assert.Equal(ReapMode.KillThenReap, r.ModeUsed);
        Assert.Null(r.FallbackReason);
        Assert.Equal(reapErrno, r.ReapErrno);
        Assert.True(r.Exited);
    }

    [Fact]
    public void KillOnly_signals_only()
    {
        var k = new FakeKernel();
        var r = NewKiller(k, ReapMode.KillOnly).Kill(Victim, false, 500);

        Assert.Equal(Expect("pidfd_send_signal 77 9", "wait 77 500"), k.Calls);
        Assert.Equal(KillOutcome.Killed, r.Outcome);
        Assert.Equal(KillResult.NotAttempted, r.ReapErrno);
    }

    [Theory]
    [InlineData(ReapMode.ReapKill)]
    [InlineData(ReapMode.KillThenReap)]
    [InlineData(ReapMode.KillOnly)]
    public void Identity_mismatch_sends_nothing(ReapMode mode)
    {
        var k = new FakeKernel();
        var r = NewKiller(k, mode, startTime: Start + 1).Kill(Victim, false, 500);

        Assert.Equal(Expect(), k.Calls);
        Assert.Equal(KillOutcome.IdentityChanged, r.Outcome);
        Assert.Equal(KillResult.NotAttempted, r.SignalErrno);
    }

    [Fact]
    public void Start_time_gone_after_open_is_Vanished()
    {
        var k = new FakeKernel();
        var r = NewKiller(k, ReapMode.KillThenReap, startTime: null).Kill(Victim, false, 500);

        Assert.Equal(Expect(), k.Calls);
        Assert.Equal(KillOutcome.Vanished, r.Outcome);
    }

    [Fact]
    public void Vanished_at_pidfd_open_is_an_outcome_and_opens_nothing_to_close()
    {
        var k = new FakeKernel { OpenResult = SysResult.Failure(ESRCH) };
        var r = NewKiller(k, ReapMode.ReapKill).Kill(Victim, false, 500);

        Assert.Equal(OpenThen, k.Calls);
        Assert.Equal(KillOutcome.Vanished, r.Outcome);
        Assert.Equal(ESRCH, r.OpenErrno);
    }

    [Fact]
    public void Other_pidfd_open_errors_are_OpenFailed()
    {
        var k = new FakeKernel { OpenResult = SysResult.Failure(EMFILE) };
        var r = NewKiller(k, ReapMode.ReapKill).Kill(Victim, false, 500);

        Assert.Equal(KillOutcome.OpenFailed, r.Outcome);
        Assert.Equal(EMFILE, r.OpenErrno);
        Assert.Equal("EMFILE", Errno.Name(r.OpenErrno));
    }

    [Fact]
    public void Out_of_descriptors_the_reserve_makes_room_for_the_pidfd_and_is_taken_back()
    {
        var k = new FakeKernel();
        k.OpenResults.Enqueue(SysResult.Failure(EMFILE));
        var killer = NewKiller(k, ReapMode.KillThenReap);
        Assert.Equal(1, k.ReservesOpened);
        var r = killer.Kill(Victim, false, 500);

        Assert.Equal(KillOutcome.Killed, r.Outcome);
        Assert.True(r.UsedReserveFd);
        Assert.Equal(["pidfd_open 4242", $"close {FakeKernel.Reserve}", "pidfd_open 4242", "pidfd_send_signal 77 9", "process_mrelease 77 0", "wait 77 500", "close 77"], k.Calls);
        Assert.Equal(2, k.ReservesOpened); // taken back for the next time
    }

    [Fact]
    public void Memory_is_read_after_the_reap_and_at_the_exit_when_asked()
    {
        var k = new FakeKernel();
        int reads = 0;
        var killer = new Killer(k, ReapMode.KillThenReap, _ => Start, readMemory: () => new MemorySnapshot { HeadroomKb = ++reads });
        var r = killer.Kill(Victim, false, 500);
        Assert.Equal(1, r.MemoryAfterReap!.Value.HeadroomKb);
        Assert.Equal(2, r.MemoryAtExit!.Value.HeadroomKb);
        // No exit within the timeout: no exit figures.
        k.WaitResult = SysResult.Success(0);
        r = killer.Kill(Victim, false, 500);
        Assert.NotNull(r.MemoryAfterReap);
        Assert.Null(r.MemoryAtExit);
    }

    [Theory]
    [InlineData(ReapMode.KillThenReap)]
    [InlineData(ReapMode.KillOnly)]
    public void Vanished_at_signal_is_an_outcome(ReapMode mode)
    {
        var k = new FakeKernel { SignalResult = SysResult.Failure(ESRCH) };
        var r = NewKiller(k, mode).Kill(Victim, false, 500);

        Assert.Equal(Expect("pidfd_send_signal 77 9", "wait 77 500"), k.Calls);
        Assert.Equal(KillOutcome.Vanished, r.Outcome);
        Assert.Equal(ESRCH, r.SignalErrno);
        Assert.Equal(KillResult.NotAttempted, r.ReapErrno);
    }

    [Theory]
    [InlineData(ReapMode.ReapKill)]
    [InlineData(ReapMode.KillThenReap)]
    public void Dry_run_checks_identity_but_neither_signals_nor_reaps(ReapMode mode)
    {
        var k = new FakeKernel();
        var r = NewKiller(k, mode).Kill(Victim, dryRun: true, timeoutMs: 500);

        Assert.Equal(Expect(), k.Calls);
        Assert.Equal(KillOutcome.DryRun, r.Outcome);
    }

    [Fact]
    public void Pidfd_is_closed_when_the_start_time_reader_throws()
    {
        var k = new FakeKernel();
        var killer = new Killer(k, ReapMode.ReapKill, _ => throw new IOException("boom"));

        Assert.Throws<IOException>(() => killer.Kill(Victim, false, 500));
        Assert.Equal(Expect(), k.Calls);
    }

    [Fact]
    public void Timeout_is_reported()
    {
        var k = new FakeKernel { WaitResult = SysResult.Success(0) };
        var r = NewKiller(k, ReapMode.KillThenReap).Kill(Victim, false, 20);

        Assert.Equal(KillOutcome.Killed, r.Outcome);
        Assert.True(r.TimedOut);
        Assert.False(r.Exited);
        Assert.Equal(TimeSpan.Zero, r.TimeToExit);
        Assert.Equal($"close {FakeKernel.Fd}", k.Calls[^1]);
    }

    [Fact]
    public void Durations_come_from_the_time_provider()
    {
        var time = new SteppingTime(TimeSpan.FromMilliseconds(10));
        var k = new FakeKernel();
        var r = new Killer(k, ReapMode.KillThenReap, _ => Start, time).Kill(Victim, false, 500);

        // Ticks: entry 0, signal 10, reap returned 20, exit 30.
        Assert.Equal(TimeSpan.FromMilliseconds(10), r.TimeToSignal);
        Assert.Equal(TimeSpan.FromMilliseconds(10), r.TimeToReap);
        Assert.Equal(TimeSpan.FromMilliseconds(20), r.TimeToExit);
    }

    [Theory]
    [InlineData(EBADF, ReapMode.ReapKill)]
    [InlineData(EINVAL, ReapMode.KillThenReap)]
    [InlineData(ENOSYS, ReapMode.KillOnly)]
    public void Probe_maps_the_flag_answer(int errno, ReapMode expected)
    {
        var k = new FakeKernel();
        k.MreleaseResults[1] = SysResult.Failure(errno);
        Assert.Equal(expected, ReapKillSupport.Probe(k, out int probeErrno));
        Assert.Equal(errno, probeErrno);
        Assert.Equal(["process_mrelease -1 1"], k.Calls);
    }

    [Theory]
    [InlineData(EBADF, ReapMode.KillThenReap)]
    [InlineData(EPERM, ReapMode.KillOnly)]
    public void Probe_with_an_unexpected_answer_asks_for_the_plain_call(int plainErrno, ReapMode expected)
    {
        var k = new FakeKernel();
        k.MreleaseResults[1] = SysResult.Failure(EPERM);
        k.MreleaseResults[0] = SysResult.Failure(plainErrno);
        Assert.Equal(expected, ReapKillSupport.Probe(k, out int probeErrno));
        Assert.Equal(EPERM, probeErrno);
        Assert.Equal(["process_mrelease -1 1", "process_mrelease -1 0"], k.Calls);
    }

    [Fact]
    public void Errno_names()
    {
        Assert.Equal("OK", Errno.Name(0));
        Assert.Equal("NONE", Errno.Name(KillResult.NotAttempted));
        Assert.Equal("ESRCH", Errno.Name(ESRCH));
        Assert.Equal("EBUSY", Errno.Name(EBUSY));
        Assert.Equal("E200", Errno.Name(200));
    }

    /// <summary>Each GetTimestamp call advances by a fixed step, so durations are exact.</summary>
    private sealed class SteppingTime(TimeSpan step) : TimeProvider
    {
        private long _now;
        public override long TimestampFrequency => TimeSpan.TicksPerSecond;
        public override long GetTimestamp() { long t = _now; _now += step.Ticks; return t; }
    }
}
