using System.Net.Sockets;
using Lmkd.Hosting;

namespace Lmkd.Tests.Service;

/// <summary>
/// The notify socket as the monitor thread uses it: one kept, non-blocking datagram socket. systemd
/// that refuses, disappears, comes back or stops reading costs dropped datagrams, never a throw or a
/// blocked caller; a ping allocates nothing.
/// </summary>
public sealed class SdNotifySocketTests : IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private readonly string _dir = Directory.CreateTempSubdirectory("lmkd-sdnotify-").FullName;

    /// <summary>A notifier that pings every 1 ms of its (caller-given) clock, READY already sent.</summary>
    private static ServiceNotifier ReadyNotifier(SdNotifySocket socket)
    {
        var n = ServiceNotifier.ForSocket(socket, watchdogUsec: 2_000);
        n.Ready("test");
        return n;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)] // NOTIFY_SOCKET=@name: the abstract namespace
    public void Ready_pings_reloading_and_stopping_go_through_one_kept_connection(bool isAbstract)
    {
        string address = isAbstract ? $"@lmkd-test-{Guid.NewGuid():N}" : Path.Combine(_dir, "notify");
        using var systemd = new NotifySocket(address);
        var socket = SdNotifySocket.Create(address)!;
        using var n = ReadyNotifier(socket);
        // One at a time: the test reader must not fall behind the receive queue (10 datagrams).
        Assert.NotNull(systemd.WaitFor("READY=1", Wait));
        n.PingIfDue(0);
        Assert.NotNull(systemd.WaitFor("WATCHDOG=1", Wait));
        n.PingIfDue(1);
        Assert.NotNull(systemd.WaitFor("WATCHDOG=1", Wait));
        n.Reloading();
        Assert.NotNull(systemd.WaitFor("RELOADING=1", Wait));
        n.Stopping();
        Assert.NotNull(systemd.WaitFor("STOPPING=1", Wait));
        Assert.Equal(1, socket.Connects);
        Assert.Equal(0, socket.Unreachable);
    }

    [Fact]
    public void A_ping_allocates_nothing()
    {
        string address = Path.Combine(_dir, "notify");
        using var systemd = new NotifySocket(address);
        var socket = SdNotifySocket.Create(address)!;
        using var n = ReadyNotifier(socket);
        for (long t = 0; t < 100; t++) // warm up: JIT, first connect
            n.PingIfDue(t);

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (long t = 100; t < 10_100; t++)
            n.PingIfDue(t);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
        // READY and every ping were sent or (the test reader being slower than 10,000 sends) dropped as would-block.
        Assert.Equal(10_101, socket.Sent + socket.WouldBlock);
        Assert.Equal(1, socket.Connects);
    }

    [Fact]
    public void No_socket_yet_then_one_then_gone_then_back_pings_resume_each_time_and_nothing_throws()
    {
        string address = Path.Combine(_dir, "notify");
        var socket = SdNotifySocket.Create(address)!;
        using var n = ReadyNotifier(socket); // ENOENT: READY=1 is dropped, not thrown
        long t = 0;
        n.PingIfDue(t++);
        Assert.Equal(2, socket.Unreachable);
        Assert.Equal(0, socket.Connects);

        using (var first = new NotifySocket(address))
        {
            n.PingIfDue(t++);
            Assert.NotNull(first.WaitFor("WATCHDOG=1", Wait));
            Assert.Equal(1, socket.Connects);
        }

        // systemd went away (socket closed, file removed): ECONNREFUSED on the kept connection, ENOENT on reconnect.
        long unreachable = socket.Unreachable;
        n.PingIfDue(t++);
        n.PingIfDue(t++);
        Assert.Equal(unreachable + 2, socket.Unreachable);

        // It is back at the same address (systemd re-executed): the next ping reconnects and goes.
        using var second = new NotifySocket(address);
        n.PingIfDue(t++);
        Assert.NotNull(second.WaitFor("WATCHDOG=1", Wait));
        Assert.Equal(2, socket.Connects);
    }

    [Fact]
    public async Task A_receiver_that_stops_reading_costs_dropped_pings_not_a_blocked_caller()
    {
        string address = Path.Combine(_dir, "notify");
        using var stalled = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        stalled.Bind(new UnixDomainSocketEndPoint(address));
        var socket = SdNotifySocket.Create(address)!;
        using var n = ReadyNotifier(socket);

        // The receive queue holds net.unix.max_dgram_qlen datagrams (10 by default): far fewer than these.
        // A blocking send would hang this task, and the bound below would fail the test instead.
        await Task.Run(() =>
        {
            for (long t = 0; t < 1_000; t++)
                n.PingIfDue(t);
        }).WaitAsync(Wait);
        Assert.True(socket.WouldBlock > 0, $"sent {socket.Sent}, none dropped");
        Assert.Equal(1_001, socket.Sent + socket.WouldBlock); // with READY=1

        // Once systemd reads again, the next ping goes.
        var buffer = new byte[256];
        stalled.Blocking = false;
        while (stalled.Available > 0)
            stalled.Receive(buffer);
        long sent = socket.Sent;
        n.PingIfDue(2_000);
        Assert.Equal(sent + 1, socket.Sent);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("vsock:2:1234")]
    [InlineData("relative/path")]
    [InlineData("@")]
    public void An_address_that_is_not_an_AF_UNIX_one_means_no_socket(string? address)
    {
        Assert.Null(SdNotifySocket.Create(address));
    }

    [Fact]
    public void A_path_longer_than_sun_path_means_no_socket()
    {
        Assert.Null(SdNotifySocket.Create("/" + new string('x', 107)));
        Assert.NotNull(SdNotifySocket.Create("/" + new string('x', 106)));
        Assert.Null(SdNotifySocket.Create("@" + new string('x', 108)));
        Assert.NotNull(SdNotifySocket.Create("@" + new string('x', 107)));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
