using System.Text;
using Lmkd.Linux;
using Lmkd.Policies;
using Lmkd.Pressure;

namespace Lmkd.Tests.Pressure;

/// <summary>The monitor's fallback chain through a fake trigger opener, and sampling on an ordinary file.</summary>
public sealed class PsiMonitorTests : IDisposable
{
    private readonly string _file = Path.Combine(Path.GetTempPath(), $"lmkd-psi-{Guid.NewGuid():N}");

    public PsiMonitorTests() => WriteTotals(0, 0);

    public void Dispose() => File.Delete(_file);

    // Rewrites the file in place (same inode), as the kernel's content changes under an open fd.
    private void WriteTotals(long some, long full) => File.WriteAllText(_file,
        $"some avg10=0.00 avg60=0.00 avg300=0.00 total={some}\nfull avg10=0.00 avg60=0.00 avg300=0.00 total={full}\n");

    private static readonly PsiLevelConfig Medium = new("medium", PsiKind.Some, 70, 1000);
    private static readonly PsiLevelConfig Critical = new("critical", PsiKind.Full, 700, 1000);

    /// <summary>Answers like a kernel would, from a rule; hands out eventfds as "armed" fds; records the strings.</summary>
    private sealed class FakeOpener(Func<string, int> errnoFor) : IPsiTriggerOpener
    {
        public List<string> Written { get; } = [];

        public int Open(string path, ReadOnlySpan<byte> trigger, out int errno)
        {
            Assert.Equal(0, trigger[^1]); // the NUL is always there
            string text = Encoding.ASCII.GetString(trigger[..^1]);
            Written.Add(text);
            errno = errnoFor(text);
            return errno == 0 ? Native.EventFd(0, Native.EFD_CLOEXEC | Native.EFD_NONBLOCK) : -1;
        }
    }

    private static int UnprivilegedKernel(string trigger) =>
        long.Parse(trigger.Split(' ')[2]) % 2_000_000 == 0 ? 0 : Native.EINVAL;

    [Fact]
    public void Accepted_triggers_stay_as_configured()
    {
        var opener = new FakeOpener(_ => 0);
        using var m = new PsiMonitor(_file, [Medium, Critical], null, opener);
        m.Arm();
        Assert.Equal(TriggerMode.Trigger, m.Mode);
        Assert.Equal(["some 70000 1000000", "full 700000 1000000"], opener.Written);
        Assert.All(m.Levels, l => Assert.False(l.Widened));
        Assert.Contains("kernel triggers", m.Description);
    }

    [Fact]
    public void Einval_widens_to_2s_keeping_the_ratio()
    {
        var opener = new FakeOpener(UnprivilegedKernel);
        using var m = new PsiMonitor(_file, [Medium, Critical], null, opener);
        m.Arm();
        Assert.Equal(TriggerMode.WidenedTrigger, m.Mode);
        Assert.Equal(["some 70000 1000000", "some 140000 2000000", "full 700000 1000000", "full 1400000 2000000"],
            opener.Written);
        Assert.Equal((140_000L, 2_000_000L), (m.Levels[0].StallUs, m.Levels[0].WindowUs));
        Assert.Equal((1_400_000L, 2_000_000L), (m.Levels[1].StallUs, m.Levels[1].WindowUs));
        Assert.True(m.Levels[0].Widened);
        Assert.Contains("widened", m.Description);
        Assert.Contains("configured 70ms/1000ms", m.Description);
    }

    [Fact]
    public void A_2s_window_refused_with_einval_falls_back_to_sampling_with_the_configured_numbers()
    {
        var opener = new FakeOpener(_ => Native.EINVAL);
        using var m = new PsiMonitor(_file, [Medium, new PsiLevelConfig("c", PsiKind.Full, 100, 2000)], null, opener);
        m.Arm();
        Assert.Equal(TriggerMode.Sampling, m.Mode);
        Assert.Equal(Native.EINVAL, m.FallbackErrno);
        Assert.Equal((70_000L, 1_000_000L), (m.Levels[0].StallUs, m.Levels[0].WindowUs));
        Assert.Contains("errno 22", m.Description);
    }

    [Theory]
    [InlineData(Native.EOPNOTSUPP)]
    [InlineData(Native.EPERM)]
    [InlineData(Native.EACCES)]
    [InlineData(Native.ENOENT)]
    public void Other_refusals_sample_without_retrying(int errno)
    {
        var opener = new FakeOpener(_ => errno);
        using var m = new PsiMonitor(_file, [Medium, Critical], null, opener);
        m.Arm();
        Assert.Equal(TriggerMode.Sampling, m.Mode);
        Assert.Equal(errno, m.FallbackErrno);
        Assert.Single(opener.Written);
    }

    [Fact]
    public void A_later_level_refused_closes_the_earlier_fds_and_samples()
    {
        var opener = new FakeOpener(t => t.StartsWith("full", StringComparison.Ordinal) ? Native.EOPNOTSUPP : 0);
        using var m = new PsiMonitor(_file, [Medium, Critical], null, opener);
        m.Arm();
        Assert.Equal(TriggerMode.Sampling, m.Mode);
    }

    [Fact]
    public void Invalid_configs_are_refused_at_construction()
    {
        Assert.Throws<ArgumentException>(() => new PsiMonitor(_file, [new PsiLevelConfig("x", PsiKind.Some, 0, 1000)]));
        Assert.Throws<ArgumentException>(() => new PsiMonitor(_file, [new PsiLevelConfig("x", PsiKind.Some, 2000, 1000)]));
        Assert.Throws<ArgumentException>(() => new PsiMonitor(_file, []));
    }

    [Fact]
    public void Default_level_mapping()
    {
        Assert.Equal(PressureLevel.Medium, Medium.Effective);
        Assert.Equal(PressureLevel.Critical, Critical.Effective);
        Assert.Equal(PressureLevel.Critical, (Medium with { Level = PressureLevel.Critical }).Effective);
    }

    private PsiMonitor Sampling(params PsiLevelConfig[] levels)
    {
        var m = new PsiMonitor(_file, levels,
            new PsiMonitorOptions { ForceSampling = true, SampleMinIntervalMs = 5, SampleMaxIntervalMs = 20 });
        m.Arm();
        return m;
    }

    [Fact]
    public void Sampling_fires_on_growth_and_reports_the_highest_level_first()
    {
        using var m = Sampling(Medium, Critical);
        Assert.Equal(TriggerMode.Sampling, m.Mode);
        Assert.Contains("forced", m.Description);
        Assert.Equal(WaitStatus.Timeout, m.Wait(60).Status);

        WriteTotals(100_000, 0); // 100 ms of "some": medium only
        var r = m.Wait(1000);
        Assert.Equal(WaitStatus.Fired, r.Status);
        Assert.Equal(PressureLevel.Medium, r.Level);
        Assert.True(r.HasFired(0));
        Assert.False(r.HasFired(1));

        WriteTotals(1_000_000, 800_000); // both; medium already fired this window, critical now
        r = m.Wait(1000);
        Assert.Equal(PressureLevel.Critical, r.Level);
        Assert.True(r.HasFired(1));

        Assert.Equal(100_000 + 900_000, m.ReadSnapshot().SomeTotalUs);
    }

    [Fact]
    public void Wake_fd_interrupts_a_wait_in_sampling_mode()
    {
        using var m = Sampling(Medium);
        using var wake = new EventFd();
        var start = Environment.TickCount64;
        var t = new Thread(() =>
        {
            Thread.Sleep(50);
            wake.Signal();
        });
        t.Start();
        Assert.Equal(WaitStatus.Woken, m.Wait(5000, wake.Fd).Status);
        Assert.InRange(Environment.TickCount64 - start, 0, 2000);
        t.Join();
        Assert.True(wake.Drain());
        Assert.False(wake.Drain());
        Assert.Equal(WaitStatus.Timeout, m.Wait(30, wake.Fd).Status);
    }

    [Fact]
    public void Steady_state_sampling_does_not_allocate()
    {
        using var m = Sampling(Medium, Critical);
        using var wake = new EventFd();
        for (int i = 0; i < 20; i++)
        {
            m.Wait(0, wake.Fd);
            m.ReadSnapshot();
        }
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 200; i++)
        {
            m.Wait(1, wake.Fd);
            m.ReadSnapshot();
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void Arm_throws_only_when_the_file_cannot_be_read()
    {
        using var m = new PsiMonitor(_file + ".missing", [Medium]);
        Assert.Throws<IOException>(m.Arm);
    }

    [Fact]
    public void Garbage_content_is_an_error_not_a_crash()
    {
        using var m = Sampling(Medium);
        File.WriteAllText(_file, "not a pressure file\n");
        Assert.False(m.TryReadSnapshot(out _, out int errno));
        Assert.Equal(0, errno);
        var r = m.Wait(50);
        Assert.Equal(WaitStatus.Error, r.Status);
    }
}
