using Lmkd.Killing;
using Lmkd.Linux;
using Lmkd.Policies;

namespace Lmkd.Tests.Killing;

public class ReaperThreadTests
{
    private static readonly ProcessInfo Victim = new() { Pid = 7, StartTime = 1 };

    [Fact]
    public async Task Runs_one_kill_at_a_time_on_its_own_thread()
    {
        using var gate = new ManualResetEventSlim();
        var kernel = new FakeKernel();
        var killer = new Killer(kernel, ReapMode.KillThenReap, _ => { gate.Wait(); return 1; });
        using var reaper = new ReaperThread(killer);
        int callerThread = Environment.CurrentManagedThreadId;
        var done = new TaskCompletionSource<(KillResult, int, string?)>(TaskCreationOptions.RunContinuationsAsynchronously);

        Assert.True(reaper.TrySubmit(Victim, false, 100, r => done.SetResult((r, Environment.CurrentManagedThreadId, Thread.CurrentThread.Name))));
        Assert.True(reaper.IsBusy);
        Assert.False(reaper.TrySubmit(Victim, false, 100, _ => { }));

        gate.Set();
        var (result, thread, name) = await done.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(KillOutcome.Killed, result.Outcome);
        Assert.NotEqual(callerThread, thread);
        Assert.Equal("lmkd-reaper", name);

        SpinWait.SpinUntil(() => !reaper.IsBusy, TimeSpan.FromSeconds(10));
        var second = new TaskCompletionSource<KillResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        Assert.True(reaper.TrySubmit(Victim, true, 100, second.SetResult));
        Assert.Equal(KillOutcome.DryRun, (await second.Task.WaitAsync(TimeSpan.FromSeconds(10))).Outcome);
    }

    [Fact]
    public async Task A_throwing_kill_is_reported_and_the_thread_keeps_going()
    {
        var errors = new List<Exception>();
        bool fail = true;
        var killer = new Killer(new FakeKernel(), ReapMode.KillOnly, _ => fail ? throw new InvalidOperationException("x") : 1UL);
        using var reaper = new ReaperThread(killer, e => { lock (errors) errors.Add(e); });

        var failed = new TaskCompletionSource<KillResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        Assert.True(reaper.TrySubmit(Victim, false, 100, failed.SetResult));
        // The kill is reported done, as failed: a loop waiting for it is never left waiting forever.
        var result = await failed.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(KillOutcome.Failed, result.Outcome);
        Assert.Contains("InvalidOperationException: x", result.Error);
        SpinWait.SpinUntil(() => !reaper.IsBusy, TimeSpan.FromSeconds(10));
        lock (errors) Assert.IsType<InvalidOperationException>(Assert.Single(errors));

        fail = false;
        var done = new TaskCompletionSource<KillResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        Assert.True(reaper.TrySubmit(Victim, false, 100, done.SetResult));
        await done.Task.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public void Dispose_with_a_kill_stuck_in_process_mrelease_returns_within_its_bound()
    {
        using var stuck = new ManualResetEventSlim();
        var kernel = new BlockingKernel(stuck);
        var reaper = new ReaperThread(new Killer(kernel, ReapMode.KillThenReap, _ => 1));
        Assert.True(reaper.TrySubmit(Victim, false, 100, _ => { }));
        SpinWait.SpinUntil(() => kernel.InMrelease, TimeSpan.FromSeconds(10));
        var sw = System.Diagnostics.Stopwatch.StartNew();
        reaper.Dispose();
        Assert.True(sw.Elapsed < ReaperThread.StopWait + TimeSpan.FromSeconds(2), $"Dispose took {sw.Elapsed}");
        Assert.True(reaper.IsBusy); // abandoned mid-kill: it is a background thread
        stuck.Set();
    }

    /// <summary>A kernel whose process_mrelease blocks until released (a huge victim, a stuck reap).</summary>
    private sealed class BlockingKernel(ManualResetEventSlim release) : IKernel
    {
        public volatile bool InMrelease;
        public SysResult PidfdOpen(int pid) => SysResult.Success(FakeKernel.Fd);
        public SysResult PidfdSendSignal(int pidfd, int signal) => SysResult.Success();
        public SysResult ProcessMrelease(int pidfd, uint flags)
        {
            InMrelease = true;
            release.Wait();
            return SysResult.Success();
        }
        public SysResult WaitForExit(int pidfd, int timeoutMs) => SysResult.Success(1);
        public SysResult Close(int fd) => SysResult.Success();
        public int ReserveFd() => -1;
    }

    [Fact]
    public void Dispose_stops_an_idle_thread_and_refuses_later_requests()
    {
        var reaper = new ReaperThread(new Killer(new FakeKernel(), ReapMode.KillOnly, _ => 1));
        reaper.Dispose();
        Assert.False(reaper.TrySubmit(Victim, false, 100, _ => { }));
    }
}
