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
    public void Stop_with_a_kill_blocked_in_process_mrelease_returns_within_its_bound_and_names_the_victim()
    {
        using var entered = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        int reapReturned = 0, reported = 0;
        // A reap that blocks for 5 s, as process_mrelease can on a huge victim (0.36-0.61 s for 8 GiB here).
        var kernel = new FakeKernel
        {
            DuringMrelease = _ =>
            {
                entered.Set();
                release.Wait(TimeSpan.FromSeconds(5));
                Volatile.Write(ref reapReturned, 1);
            },
        };
        var reaper = new ReaperThread(new Killer(kernel, ReapMode.KillThenReap, _ => 1));
        try
        {
            Assert.True(reaper.TrySubmit(Victim, false, 1000, _ => Volatile.Write(ref reported, 1)));
            Assert.True(entered.Wait(TimeSpan.FromSeconds(10)), "the kill never reached process_mrelease");

            var clock = System.Diagnostics.Stopwatch.StartNew();
            Assert.False(reaper.Stop(TimeSpan.FromMilliseconds(100), out var inFlight));
            reaper.Dispose(); // after Stop: no second wait
            clock.Stop();

            Assert.Same(Victim, inFlight);
            // Returned while the reap was still blocked: shutdown did not wait for it.
            Assert.Equal(0, Volatile.Read(ref reapReturned));
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"stop took {clock.ElapsedMilliseconds} ms");
            Assert.False(reaper.TrySubmit(Victim, false, 100, _ => { }));
        }
        finally
        {
            release.Set();
        }
        // The abandoned thread finishes its kill, reports it and ends; nothing throws on it.
        Assert.True(SpinWait.SpinUntil(() => Volatile.Read(ref reported) == 1, TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public void Stop_of_an_idle_reaper_ends_its_thread()
    {
        var reaper = new ReaperThread(new Killer(new FakeKernel(), ReapMode.KillOnly, _ => 1));
        Assert.True(reaper.Stop(TimeSpan.FromSeconds(10), out var inFlight));
        Assert.Null(inFlight);
        reaper.Dispose();
    }

    [Fact]
    public void Dispose_stops_an_idle_thread_and_refuses_later_requests()
    {
        var reaper = new ReaperThread(new Killer(new FakeKernel(), ReapMode.KillOnly, _ => 1));
        reaper.Dispose();
        Assert.False(reaper.TrySubmit(Victim, false, 100, _ => { }));
    }
}
