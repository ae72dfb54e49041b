using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

namespace Lmkd.Tests.Service;

/// <summary>
/// What systemd is to the daemon, for a test: a unix datagram socket passed as NOTIFY_SOCKET. Every
/// datagram is kept with the time it arrived, so a test can check order, content and ping rate.
/// </summary>
public sealed class NotifySocket : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lmkd-notify-").FullName;
    private readonly Socket _socket = new(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
    private readonly BlockingCollection<(TimeSpan At, string Message)> _queue = [];
    private readonly List<(TimeSpan At, string Message)> _seen = [];
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Thread _reader;

    public NotifySocket() : this(null)
    {
    }

    /// <param name="address">The path to bind, or "@name" in the abstract namespace; null: a fresh path in a temporary directory.</param>
    public NotifySocket(string? address)
    {
        Path = address ?? System.IO.Path.Combine(_dir, "notify");
        _socket.Bind(new UnixDomainSocketEndPoint(Path.StartsWith('@') ? "\0" + Path[1..] : Path));
        _reader = new Thread(Read) { IsBackground = true, Name = "notify-socket" };
        _reader.Start();
    }

    public string Path { get; }
    public TimeSpan Now => _clock.Elapsed;

    /// <summary>Every message received so far (including those already returned by <see cref="WaitFor"/>).</summary>
    public IReadOnlyList<(TimeSpan At, string Message)> Seen
    {
        get
        {
            Drain(TimeSpan.Zero);
            lock (_seen)
                return _seen.ToList();
        }
    }

    /// <summary>The first message after those already consumed that contains <paramref name="line"/> as a whole line; null on timeout.</summary>
    public (TimeSpan At, string Message)? WaitFor(string line, TimeSpan timeout)
    {
        var deadline = _clock.Elapsed + timeout;
        while (true)
        {
            var left = deadline - _clock.Elapsed;
            if (left <= TimeSpan.Zero || !_queue.TryTake(out var m, left))
                return null;
            Record(m);
            if (m.Message.Split('\n').Contains(line))
                return m;
        }
    }

    private void Drain(TimeSpan wait)
    {
        while (_queue.TryTake(out var m, wait))
            Record(m);
    }

    private void Record((TimeSpan, string) m)
    {
        lock (_seen)
            _seen.Add(m);
    }

    private void Read()
    {
        var buffer = new byte[4096];
        try
        {
            while (true)
            {
                int n = _socket.Receive(buffer);
                _queue.Add((_clock.Elapsed, Encoding.UTF8.GetString(buffer, 0, n)));
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or InvalidOperationException)
        {
        }
    }

    public void Dispose()
    {
        _queue.CompleteAdding();
        _socket.Dispose();
        // Gone as systemd's socket is gone while it re-executes: the file too.
        if (!Path.StartsWith('@'))
            File.Delete(Path);
        Directory.Delete(_dir, recursive: true);
    }
}
