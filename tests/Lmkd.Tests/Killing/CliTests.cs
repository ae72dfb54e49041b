using System.Text;
using Lmkd.Cli;

namespace Lmkd.Tests.Killing;

public class CliTests
{
    [Theory]
    [InlineData()]
    [InlineData("--mb")]
    [InlineData("--mb", "0")]
    [InlineData("--mb", "x")]
    [InlineData("--mb", "8", "--bogus", "1")]
    [InlineData("--mb", "8", "--grow-mb", "8")]
    [InlineData("--mb", "8", "--max-mb", "16")]
    [InlineData("--mb", "8", "--oom-score-adj", "1001")]
    [InlineData("8")]
    public void Hog_bad_arguments_print_usage_and_exit_2(params string[] args)
    {
        var stderr = new StringWriter();
        Assert.Equal(2, HogCommand.Run(args, TextWriter.Null, stderr));
        Assert.Contains("usage: lmkd hog", stderr.ToString());
    }

    [Theory]
    [InlineData("--mb")]
    [InlineData("--mb", "-3")]
    [InlineData("--timeout-ms", "0")]
    [InlineData("--mode", "fast")]
    [InlineData("--what")]
    public void KillTest_bad_arguments_print_usage_and_exit_2(params string[] args)
    {
        var stderr = new StringWriter();
        Assert.Equal(2, KillTestCommand.Run(args, TextWriter.Null, stderr));
        Assert.Contains("usage: lmkd kill-test", stderr.ToString());
    }

    [Fact]
    public async Task Hog_holds_touched_anonymous_memory_grows_and_frees_it_on_stop()
    {
        using var dir = new TempDir();
        string ready = Path.Combine(dir.Path, "ready");
        var stdout = new SyncWriter();
        using var stop = new CancellationTokenSource();
        long before = SelfStatusKiB("RssAnon:");

        var run = Task.Factory.StartNew(
            () => HogCommand.Run(["--mb", "16", "--grow-mb", "8", "--every-ms", "20", "--max-mb", "32", "--ready-file", ready], stdout, TextWriter.Null, stop.Token),
            TaskCreationOptions.LongRunning);

        Assert.True(SpinWait.SpinUntil(() => File.Exists(ready), TimeSpan.FromSeconds(20)), "not ready");
        Assert.Equal(Environment.ProcessId.ToString(), File.ReadAllText(ready).Trim());
        Assert.True(SpinWait.SpinUntil(() => stdout.Text.Contains("holds 32 MiB"), TimeSpan.FromSeconds(20)), stdout.Text);
        long grown = SelfStatusKiB("RssAnon:") - before;
        Assert.True(grown >= 30 * 1024, $"RssAnon grew by {grown} KiB only");

        stop.Cancel();
        Assert.Equal(0, await run.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.Contains("holds 16 MiB", stdout.Text);
        Assert.Contains("holds 24 MiB", stdout.Text);
    }

    [Fact]
    public async Task Hog_rereads_its_file()
    {
        using var dir = new TempDir();
        string data = Path.Combine(dir.Path, "data");
        File.WriteAllBytes(data, new byte[4 << 20]);
        string ready = Path.Combine(dir.Path, "ready");
        using var stop = new CancellationTokenSource();
        long rcharBefore = SelfIo("rchar:");

        var run = Task.Factory.StartNew(
            () => HogCommand.Run(["--mb", "1", "--read-file", data, "--ready-file", ready], TextWriter.Null, TextWriter.Null, stop.Token),
            TaskCreationOptions.LongRunning);
        Assert.True(SpinWait.SpinUntil(() => SelfIo("rchar:") - rcharBefore > 3 * (4L << 20), TimeSpan.FromSeconds(20)), "file not re-read");

        stop.Cancel();
        Assert.Equal(0, await run.WaitAsync(TimeSpan.FromSeconds(20)));
    }

    [Fact]
    public void Hog_with_a_missing_file_fails_with_1()
    {
        var stderr = new StringWriter();
        Assert.Equal(1, HogCommand.Run(["--mb", "1", "--read-file", "/nonexistent/lmkd-test"], TextWriter.Null, stderr));
        Assert.Contains("cannot read", stderr.ToString());
    }

    [Theory]
    [InlineData("12 (sleep) S 1 12 12 0 -1 4194304 100 0 0 0 0 0 0 0 20 0 1 0 98765 1000 50", 98765UL)]
    [InlineData("12 (a) b) c (d) R 1 12 12 0 -1 4194304 100 0 0 0 0 0 0 0 20 0 1 0 42 1000 50\n", 42UL)]
    [InlineData("12 (new\nline ) ) S 1 12 12 0 -1 4194304 100 0 0 0 0 0 0 0 20 0 1 0 7 1000", 7UL)]
    [InlineData("12 (x) S 1 12 12 0 -1 4194304 100 0 0 0 0 0 0 0 20 0 1 0 18446744073709551615", ulong.MaxValue)]
    public void Start_time_is_field_22_counted_from_the_last_paren(string stat, ulong expected)
    {
        Assert.Equal(expected, KillTestCommand.ParseStartTime(Encoding.UTF8.GetBytes(stat)));
    }

    [Theory]
    [InlineData("")]
    [InlineData("12 (x")]
    [InlineData("12 (x) S 1 12 12 0 -1 4194304 100 0 0 0 0 0 0 0 20 0 1 0")]
    [InlineData("12 (x) S 1 12 12 0 -1 4194304 100 0 0 0 0 0 0 0 20 0 1 0 -5 1")]
    public void Start_time_of_a_truncated_or_odd_stat_is_null(string stat)
    {
        Assert.Null(KillTestCommand.ParseStartTime(Encoding.UTF8.GetBytes(stat)));
    }

    [Fact]
    public void Start_time_of_a_missing_pid_is_null_and_of_self_matches_the_runtime()
    {
        Assert.Null(KillTestCommand.ReadStartTime(int.MaxValue));
        Assert.NotNull(KillTestCommand.ReadStartTime(Environment.ProcessId));
    }

    private static long SelfStatusKiB(string key) => ReadKeyed("/proc/self/status", key);

    private static long SelfIo(string key) => ReadKeyed("/proc/self/io", key);

    private static long ReadKeyed(string path, string key)
    {
        foreach (string line in File.ReadLines(path))
            if (line.StartsWith(key, StringComparison.Ordinal))
                return long.Parse(line[key.Length..].Trim().Split(' ')[0]);
        throw new InvalidOperationException($"{key} not in {path}");
    }

    private sealed class SyncWriter : StringWriter
    {
        private readonly object _gate = new();
        public string Text { get { lock (_gate) return ToString(); } }
        public override void Write(char value) { lock (_gate) base.Write(value); }
        public override void Write(string? value) { lock (_gate) base.Write(value); }
        public override void WriteLine(string? value) { lock (_gate) base.WriteLine(value); }
    }
}

internal sealed class TempDir : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("lmkd-test-").FullName;
    public void Dispose() => Directory.Delete(Path, recursive: true);
}
