using System.Diagnostics.CodeAnalysis;
using Lmkd.Linux;
using Lmkd.Pressure;
using Serilog.Core;
using Serilog.Events;
using Serilog.Formatting;
using Serilog.Parsing;

namespace Lmkd.Hosting;

/// <summary>
/// The console/journal sink behind a bounded queue, so that logging never blocks its caller (the
/// SCHED_FIFO monitor thread above all) when the reader of stdout stalls: journald under memory
/// pressure is exactly when Lmkd logs its kills.
/// <para>
/// Design. <see cref="Emit"/>, on any thread, classifies the event, puts it in a lock-free ring of
/// <see cref="DefaultCapacity"/> (512) slots and writes an eventfd if the writer may be asleep: no
/// lock, no wait, nothing allocated beyond the event itself. One dedicated thread ("lmkd-log",
/// normal priority; not the thread pool, which may starve under pressure) formats and writes the
/// events in order and flushes after each batch. Ordinary events may fill the ring only up to
/// capacity - <see cref="DefaultReserved"/> (384 of 512): the last 128 slots are kept for priority
/// events, kill and decision events (message templates starting "Kill ") and errors. When the
/// writer is stuck, ordinary events beyond that are dropped and counted, priority ones only once all
/// 512 slots are taken; the events accepted keep their order. After drops the writer adds one
/// warning "N log lines dropped: the log sink is slow", at most every 10 s. A full ring holds at
/// most a few MiB (a kill event is about 3 KiB with its properties).
/// Serilog.Sinks.Async is not used: its bounded queue either blocks the caller or drops whatever
/// comes, with no room kept for the events that matter.
/// </para>
/// </summary>
public sealed class QueuedLogSink : ILogEventSink, IDisposable
{
    public const int DefaultCapacity = 512, DefaultReserved = 128;
    /// <summary>Drop notices at most this often: a stalled journal must not fill up with them once it reads again.</summary>
    public const int NoticeEveryMs = 10_000;
    /// <summary>How long <see cref="Dispose"/> lets the writer drain: shutdown has a second in all.</summary>
    public static readonly TimeSpan DefaultFlushWait = TimeSpan.FromMilliseconds(200);

    private static readonly MessageTemplate NoticeTemplate =
        new MessageTemplateParser().Parse("{DroppedCount} log lines dropped: the log sink is slow ({DroppedPriority} of them kill, decision or error events)");

    private readonly Ring _ring;
    private readonly int _ordinaryLimit;
    private readonly ITextFormatter _formatter;
    private readonly TextWriter _output;
    private readonly Func<long> _nowMs;
    private readonly TimeSpan _flushWait;
    private readonly EventFd _wake = new();
    private readonly Thread _writer;
    private int _wakePending;
    private volatile bool _stopping;
    private long _droppedOrdinary, _droppedPriority;
    // Writer thread only: what the last notice covered, and when it went out.
    private long _reportedOrdinary, _reportedPriority;
    private long _lastNoticeMs = long.MinValue / 2;

    /// <param name="output">Written and flushed by the writer thread only.</param>
    /// <param name="nowMs">The clock of the notice's rate limit (tests); Environment.TickCount64 by default.</param>
    public QueuedLogSink(ITextFormatter formatter, TextWriter output, int capacity = DefaultCapacity, int reserved = DefaultReserved,
        Func<long>? nowMs = null, TimeSpan? flushWait = null)
    {
        ArgumentNullException.ThrowIfNull(formatter);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 2);
        ArgumentOutOfRangeException.ThrowIfNegative(reserved);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(reserved, capacity);
        _formatter = formatter;
        _output = output;
        _ring = new Ring(capacity);
        _ordinaryLimit = capacity - reserved;
        _nowMs = nowMs ?? (() => Environment.TickCount64);
        _flushWait = flushWait ?? DefaultFlushWait;
        // Created by the caller's thread: LogSetup runs on the main thread, so the writer has the normal policy.
        _writer = new Thread(Run) { IsBackground = true, Name = "lmkd-log" };
        _writer.Start();
    }

    /// <summary>Ordinary events dropped because the queue's unreserved part was full.</summary>
    public long DroppedOrdinary => Interlocked.Read(ref _droppedOrdinary);
    /// <summary>Kill, decision and error events dropped: the whole queue was full (or the output failed).</summary>
    public long DroppedPriority => Interlocked.Read(ref _droppedPriority);

    /// <summary>Kill and decision events ("Kill {KillId} decided", "Kill {KillId} done", ...) and errors.</summary>
    public static bool IsPriority(LogEvent e)
    {
        ArgumentNullException.ThrowIfNull(e);
        return e.Level >= LogEventLevel.Error || e.MessageTemplate.Text.StartsWith("Kill ", StringComparison.Ordinal);
    }

    public void Emit(LogEvent logEvent)
    {
        ArgumentNullException.ThrowIfNull(logEvent);
        bool priority = IsPriority(logEvent);
        if (_stopping || _ring.Count >= (priority ? _ring.Capacity : _ordinaryLimit) || !_ring.TryEnqueue(logEvent))
        {
            Interlocked.Increment(ref priority ? ref _droppedPriority : ref _droppedOrdinary);
            return;
        }
        // One eventfd write per batch: the writer clears the flag before it drains.
        if (Interlocked.Exchange(ref _wakePending, 1) == 0)
        {
            try
            {
                _wake.Signal();
            }
            catch (IOException)
            {
                // Disposed meanwhile: shutdown, nothing more is written anyway.
            }
        }
    }

    private unsafe void Run()
    {
        var pfd = new Native.PollFd { Fd = _wake.Fd, Events = Native.POLLIN };
        while (true)
        {
            bool stopping = _stopping; // read before draining: whatever came before Dispose is written
            Interlocked.Exchange(ref _wakePending, 0);
            bool wrote = false;
            while (_ring.TryDequeue(out LogEvent? e))
                wrote |= Write(e);
            long now = _nowMs();
            wrote |= NoticeIfDue(now);
            if (wrote)
                Flush();
            if (stopping)
                return;
            Native.Poll(&pfd, 1, NoticeTimeoutMs(now));
            _wake.Drain();
        }
    }

    private bool Write(LogEvent e)
    {
        if (TryFormat(e))
            return true;
        // stdout gone (EPIPE) or an event that will not format: lost, and counted like a drop.
        Interlocked.Increment(ref IsPriority(e) ? ref _droppedPriority : ref _droppedOrdinary);
        return false;
    }

    private bool TryFormat(LogEvent e)
    {
        try
        {
            _formatter.Format(e, _output);
            return true;
        }
        catch (Exception x) when (x is IOException or ObjectDisposedException or FormatException)
        {
            return false;
        }
    }

    private void Flush()
    {
        try
        {
            _output.Flush();
        }
        catch (Exception x) when (x is IOException or ObjectDisposedException)
        {
        }
    }

    /// <summary>Writes the drop notice when lines were lost since the last one and the rate limit allows.</summary>
    private bool NoticeIfDue(long now)
    {
        long ordinary = DroppedOrdinary, priority = DroppedPriority;
        long count = ordinary - _reportedOrdinary + priority - _reportedPriority;
        if (count == 0 || now - _lastNoticeMs < NoticeEveryMs)
            return false;
        long priorityCount = priority - _reportedPriority;
        _reportedOrdinary = ordinary;
        _reportedPriority = priority;
        _lastNoticeMs = now;
        var notice = new LogEvent(DateTimeOffset.Now, LogEventLevel.Warning, null, NoticeTemplate,
            [new LogEventProperty("DroppedCount", new ScalarValue(count)), new LogEventProperty("DroppedPriority", new ScalarValue(priorityCount))]);
        // Not counted when it fails itself: a dead stdout would otherwise feed a notice every 10 s forever.
        return TryFormat(notice);
    }

    /// <summary>Sleep until woken, or until a held-back notice is due.</summary>
    private int NoticeTimeoutMs(long now)
    {
        if (DroppedOrdinary == _reportedOrdinary && DroppedPriority == _reportedPriority)
            return -1;
        return (int)Math.Clamp(_lastNoticeMs + NoticeEveryMs - now, 1, NoticeEveryMs);
    }

    /// <summary>
    /// Lets the writer drain what is queued, for at most the flush wait: a writer stuck on a stalled
    /// stdout is abandoned (a background thread) with whatever it still holds.
    /// </summary>
    public void Dispose()
    {
        if (_stopping)
            return;
        _stopping = true;
        try
        {
            _wake.Signal();
        }
        catch (IOException)
        {
        }
        // The eventfd stays open if the writer is stuck: it polls it again when its write returns.
        if (_writer.Join(_flushWait))
            _wake.Dispose();
    }

    /// <summary>
    /// A bounded multi-producer, single-consumer ring (Vyukov's): producers claim a slot with one
    /// compare-and-swap and never wait for each other or for the consumer; a full ring refuses.
    /// </summary>
    private sealed class Ring
    {
        private struct Slot
        {
            public long Sequence;
            public LogEvent? Item;
        }

        private readonly Slot[] _slots;
        private readonly long _mask;
        private long _enqueuePos;
        private long _dequeuePos;

        public Ring(int capacity)
        {
            Capacity = capacity;
            int size = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)capacity);
            _slots = new Slot[size];
            _mask = size - 1;
            for (int i = 0; i < size; i++)
                _slots[i].Sequence = i;
        }

        /// <summary>The bound the sink enforces; the slot array may be larger (a power of two).</summary>
        public int Capacity { get; }

        /// <summary>Events queued, give or take those being added or taken right now.</summary>
        public long Count => Math.Max(0, Volatile.Read(ref _enqueuePos) - Volatile.Read(ref _dequeuePos));

        public bool TryEnqueue(LogEvent item)
        {
            long pos = Volatile.Read(ref _enqueuePos);
            while (true)
            {
                ref Slot slot = ref _slots[pos & _mask];
                long seq = Volatile.Read(ref slot.Sequence);
                long diff = seq - pos;
                if (diff == 0)
                {
                    long seen = Interlocked.CompareExchange(ref _enqueuePos, pos + 1, pos);
                    if (seen == pos)
                    {
                        slot.Item = item;
                        Volatile.Write(ref slot.Sequence, pos + 1); // publish
                        return true;
                    }
                    pos = seen;
                }
                else if (diff < 0)
                {
                    return false; // the slot still holds an event from the previous lap: full
                }
                else
                {
                    pos = Volatile.Read(ref _enqueuePos);
                }
            }
        }

        /// <summary>Consumer only. False when empty, or when the next event is claimed but not yet published.</summary>
        public bool TryDequeue([NotNullWhen(true)] out LogEvent? item)
        {
            long pos = _dequeuePos;
            ref Slot slot = ref _slots[pos & _mask];
            if (Volatile.Read(ref slot.Sequence) != pos + 1)
            {
                item = null;
                return false;
            }
            item = slot.Item!;
            slot.Item = null;
            Volatile.Write(ref slot.Sequence, pos + _mask + 1); // free for the next lap
            Volatile.Write(ref _dequeuePos, pos + 1);
            return true;
        }
    }
}
