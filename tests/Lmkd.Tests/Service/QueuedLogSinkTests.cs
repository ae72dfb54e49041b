using System.Diagnostics;
using System.IO.Pipes;
using System.Text;
using Lmkd.Hosting;
using Serilog;
using Serilog.Events;
using Serilog.Formatting.Display;
using Serilog.Parsing;
using Xunit.Abstractions;

namespace Lmkd.Tests.Service;

/// <summary>
/// The daemon's log sink when stdout stalls (journald not reading): the caller never waits, ordinary
/// lines are dropped and counted, kill and decision events still get through, in order, and one
/// notice says how many lines were lost. "Did not block" is shown by gates, not by stopwatches.
/// </summary>
public sealed class QueuedLogSinkTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);
    private static readonly MessageTemplateTextFormatter Lines = new("{Message:lj}{NewLine}");

    private static Serilog.Core.Logger LoggerOver(QueuedLogSink sink) =>
        new LoggerConfiguration().MinimumLevel.Verbose().WriteTo.Sink(sink).CreateLogger();

    [Fact]
    public void A_stuck_writer_never_blocks_the_caller_drops_ordinary_lines_and_keeps_kill_events_in_order()
    {
        using var stdout = new GatedWriter();
        long clock = 0;
        var sink = new QueuedLogSink(Lines, stdout, capacity: 16, reserved: 4, nowMs: () => Volatile.Read(ref clock));
        using var log = LoggerOver(sink);
        try
        {
            log.Information("first");
            Assert.True(stdout.Blocked.Wait(Wait), "the writer never wrote");

            // The writer is stuck in its write of "first" for as long as the gate stays shut.
            long slowest = 0;
            void Timed(Action a)
            {
                long t0 = Stopwatch.GetTimestamp();
                a();
                slowest = Math.Max(slowest, Stopwatch.GetTimestamp() - t0);
            }
            for (int i = 0; i < 30; i++)
                Timed(() => log.Information("line {N}", i));
            for (int k = 1; k <= 5; k++)
                Timed(() => log.Information("Kill {KillId} done", k));
            Timed(() => log.Error("an error"));
            output.WriteLine($"slowest log call while the writer was stuck: {Stopwatch.GetElapsedTime(0, slowest).TotalMicroseconds:F1} us");

            // Every call returned while the writer still had not got past its first line.
            Assert.True(stdout.IsShut);
            Assert.Equal("", stdout.Text);
            Assert.Equal(18, sink.DroppedOrdinary); // 12 lines fit in the 16 - 4 unreserved slots
            Assert.Equal(2, sink.DroppedPriority);  // kills 1-4 took the reserved room; kill 5 and the error found all 16 taken
        }
        finally
        {
            stdout.Open();
        }

        Assert.True(SpinWait.SpinUntil(() => stdout.Text.Contains("dropped", StringComparison.Ordinal), Wait), stdout.Text);
        string[] expected =
        [
            "first", .. Enumerable.Range(0, 12).Select(i => $"line {i}"), .. Enumerable.Range(1, 4).Select(k => $"Kill {k} done"),
            "20 log lines dropped: the log sink is slow (2 of them kill, decision or error events)",
        ];
        Assert.Equal(expected, stdout.Lines());
    }

    [Fact]
    public void The_drop_notice_comes_at_most_every_ten_seconds()
    {
        using var stdout = new GatedWriter();
        long clock = 0;
        var sink = new QueuedLogSink(Lines, stdout, capacity: 8, reserved: 2, nowMs: () => Volatile.Read(ref clock));
        using var log = LoggerOver(sink);

        void Stall(string tag)
        {
            stdout.Shut();
            log.Information("{Tag} stalls", tag);
            Assert.True(stdout.Blocked.Wait(Wait));
            for (int i = 0; i < 10; i++)
                log.Information("{Tag} {N}", tag, i); // 6 fit, 4 dropped
            stdout.Open();
            Assert.True(SpinWait.SpinUntil(() => stdout.Text.Contains($"{tag} 5", StringComparison.Ordinal), Wait), stdout.Text);
        }

        Stall("a");
        Assert.True(SpinWait.SpinUntil(() => stdout.Text.Contains("dropped", StringComparison.Ordinal), Wait), stdout.Text);
        Assert.Equal("4 log lines dropped: the log sink is slow (0 of them kill, decision or error events)", stdout.Lines()[^1]);

        Volatile.Write(ref clock, 9_999);
        Stall("b");
        log.Information("nudge"); // wakes the writer: the notice is still not due
        Assert.True(SpinWait.SpinUntil(() => stdout.Text.Contains("nudge", StringComparison.Ordinal), Wait));
        Assert.Single(stdout.Lines(), l => l.Contains("dropped", StringComparison.Ordinal));

        Volatile.Write(ref clock, 10_000);
        log.Information("later");
        Assert.True(SpinWait.SpinUntil(() => stdout.Lines().Count(l => l.Contains("dropped", StringComparison.Ordinal)) == 2, Wait), stdout.Text);
        Assert.Equal("4 log lines dropped: the log sink is slow (0 of them kill, decision or error events)", stdout.Lines().Last(l => l.Contains("dropped", StringComparison.Ordinal)));
        Assert.Equal(8, sink.DroppedOrdinary);
    }

    [Fact]
    public async Task A_pipe_nobody_reads_costs_lines_not_a_blocked_caller_and_the_kill_event_comes_out_when_it_is_read()
    {
        using var pipe = new AnonymousPipeServerStream(PipeDirection.Out);
        using var reader = new AnonymousPipeClientStream(PipeDirection.In, pipe.ClientSafePipeHandle);
        var sink = new QueuedLogSink(Lines, new StreamWriter(pipe, new UTF8Encoding(false), 1024));
        var log = LoggerOver(sink);
        string filler = new('x', 200);

        // About 1 MiB of lines against a 64 KiB pipe: the writer blocks early. Were the callers to wait
        // for it, this would never finish, and the bound fails the test instead of hanging it.
        await Task.Run(() =>
        {
            for (int i = 0; i < 5_000; i++)
                log.Information("line {N} {Filler}", i, filler);
            log.Information("Kill {KillId} decided: LOW_MEM", 1);
        }).WaitAsync(Wait);
        Assert.True(sink.DroppedOrdinary > 0);
        Assert.Equal(0, sink.DroppedPriority);

        var text = new StringBuilder();
        var read = Task.Run(() =>
        {
            var buffer = new byte[64 * 1024];
            int n;
            while ((n = reader.Read(buffer)) > 0)
                lock (text)
                    text.Append(Encoding.UTF8.GetString(buffer, 0, n));
        });
        string Text() { lock (text) return text.ToString(); }
        Assert.True(SpinWait.SpinUntil(() => Text().Contains("log lines dropped", StringComparison.Ordinal), Wait), "no drop notice");
        string all = Text();
        Assert.Contains("Kill 1 decided: LOW_MEM", all);
        Assert.Contains($"{sink.DroppedOrdinary} log lines dropped: the log sink is slow", all);
        // Order kept: the kill came after every line that was accepted.
        Assert.True(all.IndexOf("Kill 1 decided", StringComparison.Ordinal) > all.LastIndexOf("line ", StringComparison.Ordinal));

        log.Dispose();
        pipe.Dispose();
        await read.WaitAsync(Wait);
    }

    [Fact]
    public void Dispose_flushes_what_is_queued()
    {
        using var stdout = new GatedWriter();
        stdout.Open();
        var sink = new QueuedLogSink(Lines, stdout);
        var log = LoggerOver(sink);
        for (int i = 0; i < 300; i++)
            log.Information("line {N}", i);
        log.Dispose(); // disposes the sink
        Assert.Equal(Enumerable.Range(0, 300).Select(i => $"line {i}"), stdout.Lines());

        // Nothing is written any more, and nothing throws.
        sink.Emit(new LogEvent(DateTimeOffset.Now, LogEventLevel.Information, null, new MessageTemplateParser().Parse("late"), []));
        Assert.Equal(1, sink.DroppedOrdinary);
    }

    [Fact]
    public void Dispose_with_a_stuck_writer_returns_after_its_bound_and_leaves_the_writer_behind()
    {
        using var stdout = new GatedWriter();
        var sink = new QueuedLogSink(Lines, stdout, flushWait: TimeSpan.FromMilliseconds(50));
        try
        {
            sink.Emit(Event("stuck"));
            Assert.True(stdout.Blocked.Wait(Wait));
            sink.Emit(Event("queued"));
            sink.Dispose();
            // Returned while the writer is still stuck in its first write.
            Assert.True(stdout.IsShut);
            Assert.Equal("", stdout.Text);
        }
        finally
        {
            stdout.Open();
        }
        // Released, the abandoned writer finishes its batch and ends; nothing throws on its thread.
        Assert.True(SpinWait.SpinUntil(() => stdout.Text.Contains("queued", StringComparison.Ordinal), Wait), stdout.Text);
    }

    [Theory]
    [InlineData("Kill {KillId} decided: {Reason}", LogEventLevel.Information, true)]
    [InlineData("Kill {KillId} {Outcome}: pid {Pid}", LogEventLevel.Information, true)]
    [InlineData("Kill wanted ({Reason}) but no eligible victim", LogEventLevel.Warning, true)]
    [InlineData("Kill still in flight at shutdown (pid {Pid})", LogEventLevel.Warning, true)]
    [InlineData("Monitor loop failed", LogEventLevel.Fatal, true)]
    [InlineData("Reload refused: {Key}", LogEventLevel.Error, true)]
    [InlineData("Killing is not a kill event", LogEventLevel.Information, false)]
    [InlineData("Watching {Scope}", LogEventLevel.Information, false)]
    [InlineData("Evaluation ({Level}), no kill", LogEventLevel.Debug, false)]
    [InlineData("Metrics are served beyond this machine", LogEventLevel.Warning, false)]
    public void Priority_is_kill_and_decision_events_and_errors(string template, LogEventLevel level, bool priority)
    {
        Assert.Equal(priority, QueuedLogSink.IsPriority(Event(template, level)));
    }

    private static LogEvent Event(string template, LogEventLevel level = LogEventLevel.Information) =>
        new(DateTimeOffset.Now, level, null, new MessageTemplateParser().Parse(template), []);

    /// <summary>stdout whose writes wait while the gate is shut: journald not reading, at will.</summary>
    private sealed class GatedWriter : TextWriter
    {
        private readonly ManualResetEventSlim _gate = new(false);
        private readonly StringBuilder _text = new();

        /// <summary>Set when a write found the gate shut (and waits).</summary>
        public ManualResetEventSlim Blocked { get; } = new(false);
        public override Encoding Encoding => Encoding.UTF8;
        public bool IsShut => !_gate.IsSet;
        public string Text { get { lock (_text) return _text.ToString(); } }
        public string[] Lines() => Text.Split('\n', StringSplitOptions.RemoveEmptyEntries);

        public void Open() => _gate.Set();

        public void Shut()
        {
            Blocked.Reset();
            _gate.Reset();
        }

        private void Pass()
        {
            if (_gate.IsSet)
                return;
            Blocked.Set();
            _gate.Wait();
        }

        public override void Write(char value)
        {
            Pass();
            lock (_text) _text.Append(value);
        }

        public override void Write(string? value)
        {
            Pass();
            lock (_text) _text.Append(value);
        }

        public override void Write(char[] buffer, int index, int count)
        {
            Pass();
            lock (_text) _text.Append(buffer, index, count);
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _gate.Set(); // never leave a writer thread parked on a test's gate
            }
            base.Dispose(disposing);
        }
    }
}
