using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Lmkd.Hosting;
using Microsoft.Extensions.Logging;

namespace Lmkd.Tests.Hosting;

/// <summary>The status socket itself: its file, its bounds (request length, a silent client), its peer check, stale and foreign files.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class StatusServerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lmkd-status-").FullName;
    private readonly CollectingLogger _log = new();
    private readonly List<IDisposable> _cleanup = [];

    private string SocketPath => Path.Combine(_dir, "status.sock");

    internal static readonly byte[] Reply = Encoding.UTF8.GetBytes("{\"version\":\"test\"}\n");

    private StatusServer Start(StatusAccess? access = null, TimeSpan? timeout = null, Func<byte[]>? reply = null)
    {
        var server = new StatusServer(SocketPath, reply ?? (() => Reply), access ?? StatusAccess.RootAndSelf(), _log, timeout);
        _cleanup.Add(server);
        Assert.True(server.Start(), string.Join('\n', _log.Entries));
        return server;
    }

    /// <summary>Connects, sends <paramref name="request"/> (null: nothing), and reads to the end.</summary>
    private string Exchange(string? request, int timeoutMs = 5000)
    {
        using var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified) { ReceiveTimeout = timeoutMs };
        s.Connect(new UnixDomainSocketEndPoint(SocketPath));
        if (request is not null)
            s.Send(Encoding.UTF8.GetBytes(request));
        var received = new MemoryStream();
        var buffer = new byte[4096];
        while (true)
        {
            int n;
            try
            {
                n = s.Receive(buffer);
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset && received.Length > 0)
            {
                break; // the server closed with part of an over-long request unread: its reply came first
            }
            if (n == 0)
                break;
            received.Write(buffer, 0, n);
        }
        return Encoding.UTF8.GetString(received.ToArray());
    }

    private static string ErrorOf(string reply) => JsonDocument.Parse(reply).RootElement.GetProperty("error").GetString()!;
    private static string MessageOf(string reply) => JsonDocument.Parse(reply).RootElement.GetProperty("message").GetString()!;

    [Fact]
    public void Answers_one_status_line_with_one_reply_then_closes_and_the_socket_is_0600()
    {
        var server = Start();
        Assert.Equal("{\"version\":\"test\"}\n", Exchange("status\n"));
        Assert.Equal("{\"version\":\"test\"}\n", Exchange("status\r\n"));
        Assert.Equal(2, server.Served);
        Assert.True(Lmkd.Linux.FileStat.IsSocket(SocketPath));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(SocketPath));
    }

    [Fact]
    public void Takes_no_other_request_and_bounds_the_request_line()
    {
        var server = Start();
        var unknown = Exchange("kill 1\n");
        Assert.Equal("bad-request", ErrorOf(unknown));
        Assert.Contains("the only request is 'status'", MessageOf(unknown));
        Assert.Equal("bad-request", ErrorOf(Exchange(new string('x', StatusServer.MaxRequestBytes + 10))));
        Assert.Equal(2, server.BadRequests);
        Assert.Equal(0, server.Served);
    }

    [Fact]
    public void A_client_that_never_sends_is_answered_with_a_timeout_and_the_next_one_is_served()
    {
        var server = Start(timeout: TimeSpan.FromMilliseconds(300));
        using var silent = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified) { ReceiveTimeout = 5000 };
        silent.Connect(new UnixDomainSocketEndPoint(SocketPath));
        var sw = Stopwatch.StartNew();
        // Queued behind the silent one: served as soon as the silent one's time is up.
        Assert.Equal("{\"version\":\"test\"}\n", Exchange("status\n"));
        Assert.InRange(sw.ElapsedMilliseconds, 200, 3000);
        var buffer = new byte[512];
        int n = silent.Receive(buffer);
        Assert.Equal("timeout", ErrorOf(Encoding.UTF8.GetString(buffer, 0, n)));
        Assert.Equal(1, server.BadRequests);
    }

    [Fact]
    public void A_peer_whose_uid_is_not_allowed_is_refused()
    {
        var server = Start(access: new StatusAccess(4_000_000_001));
        var reply = Exchange("status\n");
        Assert.Equal("refused", ErrorOf(reply));
        Assert.Contains($"uid {Tmds.Linux.LibC.geteuid()} may not read Lmkd's status", MessageOf(reply));
        Assert.Equal(1, server.Refused);
        Assert.Equal(0, server.Served);
    }

    [Fact]
    public void A_reply_that_cannot_be_built_is_an_error_reply_and_the_server_goes_on()
    {
        int calls = 0;
        Start(reply: () => ++calls == 1 ? throw new InvalidOperationException("boom") : Reply);
        Assert.Equal("internal", ErrorOf(Exchange("status\n")));
        Assert.Equal("{\"version\":\"test\"}\n", Exchange("status\n"));
    }

    [Fact]
    public void A_stale_socket_of_a_dead_daemon_is_replaced_and_the_socket_is_removed_at_stop()
    {
        StaleSocket.Create(SocketPath);
        Assert.True(Lmkd.Linux.FileStat.IsSocket(SocketPath));
        var server = Start();
        Assert.Contains(_log.At(LogLevel.Information), m => m.Contains("Replaced a stale status socket"));
        Assert.Equal("{\"version\":\"test\"}\n", Exchange("status\n"));
        server.Dispose();
        Assert.False(File.Exists(SocketPath));
    }

    [Fact]
    public void Stop_wakes_the_thread_blocked_in_accept()
    {
        var server = Start();
        var thread = (Thread)typeof(StatusServer).GetField("_thread", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!.GetValue(server)!;
        Assert.True(thread.IsAlive);
        server.Dispose();
        Assert.True(thread.Join(TimeSpan.FromSeconds(5)), "the status thread is still blocked in accept after stop");
    }

    [Fact]
    public void A_live_socket_is_not_taken_over()
    {
        var first = Start();
        var second = new StatusServer(SocketPath, () => Reply, StatusAccess.RootAndSelf(), _log);
        _cleanup.Add(second);
        Assert.False(second.Start());
        Assert.Contains(_log.At(LogLevel.Warning), m => m.Contains("another process answers") && m.Contains("Lmkd runs without it"));
        // The second one's stop leaves the first one's socket alone.
        second.Dispose();
        Assert.Equal("{\"version\":\"test\"}\n", Exchange("status\n"));
        Assert.Equal(1, first.Served);
    }

    [Fact]
    public void Another_file_at_the_path_is_left_alone_and_logged_once()
    {
        File.WriteAllText(SocketPath, "precious");
        var server = new StatusServer(SocketPath, () => Reply, StatusAccess.RootAndSelf(), _log);
        _cleanup.Add(server);
        Assert.False(server.Start());
        server.Dispose();
        Assert.Equal("precious", File.ReadAllText(SocketPath));
        var warning = Assert.Single(_log.At(LogLevel.Warning));
        Assert.Contains("is not a socket: not replaced", warning);
    }

    [Fact]
    public void A_symlink_at_the_path_is_not_followed_or_removed()
    {
        StaleSocket.Create(Path.Combine(_dir, "elsewhere.sock"));
        File.CreateSymbolicLink(SocketPath, Path.Combine(_dir, "elsewhere.sock"));
        var server = new StatusServer(SocketPath, () => Reply, StatusAccess.RootAndSelf(), _log);
        _cleanup.Add(server);
        Assert.False(server.Start());
        Assert.NotNull(new FileInfo(SocketPath).LinkTarget);
        Assert.True(Lmkd.Linux.FileStat.IsSocket(Path.Combine(_dir, "elsewhere.sock")));
    }

    [Fact]
    public void A_directory_that_cannot_be_made_is_logged_and_start_says_false()
    {
        File.WriteAllText(Path.Combine(_dir, "file"), "");
        var server = new StatusServer(Path.Combine(_dir, "file", "status.sock"), () => Reply, StatusAccess.RootAndSelf(), _log);
        _cleanup.Add(server);
        Assert.False(server.Start());
        Assert.Single(_log.At(LogLevel.Warning));
    }

    [Fact]
    public void A_directory_it_made_is_0750_and_removed_at_stop_one_it_found_is_kept()
    {
        string made = Path.Combine(_dir, "run-lmkd");
        var server = new StatusServer(Path.Combine(made, "status.sock"), () => Reply, StatusAccess.RootAndSelf(), _log);
        _cleanup.Add(server);
        Assert.True(server.Start());
        Assert.Equal((UnixFileMode)0b111_101_000, File.GetUnixFileMode(made));
        server.Dispose();
        Assert.False(Directory.Exists(made));

        Start().Dispose();
        Assert.True(Directory.Exists(_dir));
        Assert.False(File.Exists(SocketPath));
    }

    [Fact]
    public void A_path_too_long_for_a_socket_address_is_logged_not_thrown()
    {
        var server = new StatusServer(Path.Combine(_dir, new string('x', 120), "status.sock"), () => Reply, StatusAccess.RootAndSelf(), _log);
        _cleanup.Add(server);
        Assert.False(server.Start());
        Assert.Single(_log.At(LogLevel.Warning));
    }

    public void Dispose()
    {
        foreach (var d in _cleanup)
            d.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}
