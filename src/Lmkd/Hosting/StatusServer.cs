using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Lmkd.Linux;
using Lmkd.Policies;
using Microsoft.Extensions.Logging;

namespace Lmkd.Hosting;

/// <summary>
/// The read-only control socket `lmkd status` reads: an AF_UNIX stream socket, mode 0600, served
/// by a thread of its own at normal priority. The protocol takes no command that changes anything:
/// a client sends one line, <c>status</c>, and gets one JSON object (<see cref="StatusReport"/>),
/// then the connection is closed. One connection at a time; a request is at most
/// <see cref="MaxRequestBytes"/> and must come, and its reply be taken, within the timeout, so a
/// slow or hostile client costs the status thread a bounded wait and the monitor thread nothing.
/// Peers are checked by their kernel credentials (SO_PEERCRED, <see cref="StatusAccess"/>).
/// </summary>
public sealed class StatusServer : IDisposable
{
    public const string Request = "status";
    public const int MaxRequestBytes = 256;
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(2);
    // Clients beyond the one served wait in the kernel's queue (and time out on their own side).
    private const int Backlog = 8;
    // Linux's SOL_SOCKET and SO_PEERCRED on x86-64 and the asm-generic architectures (arm64).
    private const int SolSocket = 1, SoPeerCred = 17;
    private const int LogEveryMs = 60_000;

    private readonly Func<byte[]> _reply;
    private readonly StatusAccess _access;
    private readonly ILogger _log;
    private readonly TimeSpan _timeout;
    private Socket? _listener;
    private Thread? _thread;
    private FileIdentity? _bound;
    // The socket's directory when Lmkd made it (outside systemd): removed again at stop if empty.
    private string? _madeDirectory;
    private volatile bool _stop;
    private long _served, _refused, _badRequests;
    private long _lastFaultLogMs = long.MinValue / 2;

    /// <param name="reply">Builds the reply, on the status thread.</param>
    /// <param name="timeout">For the request to come and for the reply to be taken.</param>
    public StatusServer(string path, Func<byte[]> reply, StatusAccess access, ILogger log, TimeSpan? timeout = null)
    {
        SocketPath = path;
        _reply = reply;
        _access = access;
        _log = log;
        _timeout = timeout ?? DefaultTimeout;
    }

    public string SocketPath { get; }
    public long Served => Interlocked.Read(ref _served);
    public long Refused => Interlocked.Read(ref _refused);
    /// <summary>Requests answered with an error: unknown, too long, or not sent in time.</summary>
    public long BadRequests => Interlocked.Read(ref _badRequests);

    /// <summary>
    /// Creates the socket and starts serving. False when it cannot (the directory cannot be made, not
    /// root, another live daemon's socket, something else at the path): logged once, and Lmkd runs
    /// without it, since its job is killing, not status.
    /// </summary>
    public bool Start()
    {
        try
        {
            Bind();
        }
        catch (Exception e)
        {
            // Anything (EADDRINUSE, EACCES, a $RUNTIME_DIRECTORY too long for sun_path): the killer runs on without it.
            _listener?.Dispose();
            _listener = null;
            _log.LogWarning("No status socket at {StatusSocket}: {Error}; Lmkd runs without it (lmkd status will not answer)", SocketPath, e.Message);
            return false;
        }
        _thread = new Thread(Run) { Name = "lmkd-status", IsBackground = true };
        _thread.Start();
        _log.LogInformation("Status socket {StatusSocket} (lmkd status; readable by uid {StatusUids})", SocketPath, string.Join(", ", _access.Uids));
        return true;
    }

    private void Bind()
    {
        if (!OperatingSystem.IsLinux())
            throw new IOException("the status socket needs Linux");
        string dir = Path.GetDirectoryName(SocketPath) ?? "/";
        if (!Directory.Exists(dir))
        {
            _madeDirectory = dir;
            Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
                UnixFileMode.GroupRead | UnixFileMode.GroupExecute); // 0750, as the unit's RuntimeDirectoryMode
        }
        if (Path.Exists(SocketPath))
            RemoveStale();
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        _listener = socket;
        socket.Bind(new UnixDomainSocketEndPoint(SocketPath));
        // Before listen: no one connects while the mode is still the umask's. The peer check stands behind it anyway.
        File.SetUnixFileMode(SocketPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        socket.Listen(Backlog);
        _bound = FileStat.TryIdentify(SocketPath, out var id) ? id : null;
    }

    /// <summary>A socket file left by a daemon that died is replaced; a live one, or anything that is not a socket, is not.</summary>
    private void RemoveStale()
    {
        if (!FileStat.IsSocket(SocketPath))
            throw new IOException($"{SocketPath} exists and is not a socket: not replaced");
        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            // A daemon serving another client keeps this one in its queue: waiting means someone listens.
            if (!probe.ConnectAsync(new UnixDomainSocketEndPoint(SocketPath)).Wait(TimeSpan.FromSeconds(1)))
                throw new IOException($"another process listens on {SocketPath} (another Lmkd?): not replaced");
        }
        catch (AggregateException e) when (e.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionRefused })
        {
            File.Delete(SocketPath);
            _log.LogInformation("Replaced a stale status socket {StatusSocket}: nothing listened on it (a daemon that died)", SocketPath);
            return;
        }
        catch (AggregateException e) when (e.InnerException is SocketException s)
        {
            throw new IOException($"{SocketPath} exists and cannot be probed ({s.SocketErrorCode}): not replaced", s);
        }
        throw new IOException($"another process answers on {SocketPath} (another Lmkd?): not replaced");
    }

    private void Run()
    {
        var listener = _listener!;
        while (!_stop)
        {
            Socket client;
            try
            {
                client = listener.Accept();
            }
            catch (Exception e) when (e is ObjectDisposedException || (_stop && e is SocketException))
            {
                return;
            }
            catch (SocketException e)
            {
                // EMFILE, ENOBUFS: say so now and then, and do not spin.
                Fault("accepting a connection", e);
                Thread.Sleep(1000);
                continue;
            }
            using (client)
            {
                try
                {
                    Serve(client);
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException or IOException)
                {
                    // The client went away or stopped reading: its business, not the daemon's.
                }
                catch (Exception e)
                {
                    // A status request must never take the killer down: the thread is a background one, and
                    // an exception escaping it would end the process.
                    Fault("answering a status request", e);
                }
            }
        }
    }

    private void Serve(Socket client)
    {
        long deadline = Stopwatch.GetTimestamp() + (long)(_timeout.TotalSeconds * Stopwatch.Frequency);
        client.SendTimeout = (int)Math.Max(1, _timeout.TotalMilliseconds);
        var peer = PeerOf(client);
        var (request, problem) = ReadRequest(client, deadline);
        byte[] reply;
        string? refusal = peer is { } p ? _access.Refusal(p) : "the peer's credentials could not be read (SO_PEERCRED)";
        if (refusal is not null)
        {
            Interlocked.Increment(ref _refused);
            reply = StatusReport.Error("refused", refusal);
        }
        else if (problem is not null)
        {
            Interlocked.Increment(ref _badRequests);
            reply = StatusReport.Error(problem == "timeout" ? "timeout" : "bad-request", problem == "timeout"
                ? $"no request line within {_timeout.TotalMilliseconds:F0} ms"
                : problem);
        }
        else if (request != Request)
        {
            Interlocked.Increment(ref _badRequests);
            reply = StatusReport.Error("bad-request", $"unknown request '{Printable(request!)}': the only request is '{Request}' (this socket changes nothing)");
        }
        else
        {
            try
            {
                reply = _reply();
                Interlocked.Increment(ref _served);
            }
            catch (Exception e)
            {
                // Say so to the client rather than close on it; the daemon goes on.
                Fault("building the status reply", e);
                reply = StatusReport.Error("internal", "the daemon could not build its status: " + e.Message);
            }
        }
        client.Send(reply);
        client.Shutdown(SocketShutdown.Send);
    }

    /// <summary>The request line, or why there is none: too long, or not sent before the deadline.</summary>
    private (string? Request, string? Problem) ReadRequest(Socket client, long deadline)
    {
        var buffer = new byte[MaxRequestBytes + 1];
        int n = 0;
        while (true)
        {
            long leftMs = (deadline - Stopwatch.GetTimestamp()) * 1000 / Stopwatch.Frequency;
            if (leftMs <= 0)
                return (null, "timeout");
            client.ReceiveTimeout = (int)Math.Max(1, leftMs);
            int got;
            try
            {
                got = client.Receive(buffer, n, buffer.Length - n, SocketFlags.None);
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.TimedOut or SocketError.WouldBlock)
            {
                return (null, "timeout");
            }
            int newline = Array.IndexOf(buffer, (byte)'\n', n, got);
            n += got;
            if (newline >= 0 || got == 0)
                return (Encoding.UTF8.GetString(buffer, 0, newline >= 0 ? newline : n).TrimEnd('\r').Trim(), null);
            if (n > MaxRequestBytes)
                return (null, $"request too long: at most {MaxRequestBytes} bytes up to a newline");
        }
    }

    /// <summary>The peer's pid, uid and gid as the kernel recorded them when it connected; null when unreadable.</summary>
    private static PeerCredentials? PeerOf(Socket client)
    {
        Span<byte> cred = stackalloc byte[12]; // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
        try
        {
            if (client.GetRawSocketOption(SolSocket, SoPeerCred, cred) != cred.Length)
                return null;
        }
        catch (SocketException)
        {
            return null;
        }
        return new PeerCredentials(
            BitConverter.ToInt32(cred[..4]), BitConverter.ToUInt32(cred[4..8]), BitConverter.ToUInt32(cred[8..12]));
    }

    /// <summary>The request is the client's text: keep control characters out of the log and the reply.</summary>
    private static string Printable(string s) =>
        string.Concat(s.Take(64).Select(c => char.IsControl(c) ? '?' : c));

    private void Fault(string what, Exception e)
    {
        long now = Environment.TickCount64;
        if (now - _lastFaultLogMs < LogEveryMs)
            return;
        _lastFaultLogMs = now;
        _log.LogWarning("Status socket: failed {What}: {Error} (logged at most once a minute)", what, e.Message);
    }

    /// <summary>
    /// Stops serving (a request being answered is left to finish on its background thread), removes the
    /// socket file if it is still this one, and the directory if Lmkd made it and it is empty.
    /// </summary>
    public void Dispose()
    {
        _stop = true;
        _listener?.Dispose(); // wakes the blocked accept
        _thread?.Join(TimeSpan.FromMilliseconds(200));
        try
        {
            if (_bound is { } id && FileStat.TryIdentify(SocketPath, out var now) && now == id)
                File.Delete(SocketPath);
            if (_madeDirectory is { } dir && !Directory.EnumerateFileSystemEntries(dir).Any())
                Directory.Delete(dir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        _bound = null;
        _madeDirectory = null;
    }
}
