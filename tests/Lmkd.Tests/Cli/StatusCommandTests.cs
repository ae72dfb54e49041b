using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Lmkd.Hosting;
using Lmkd.Tests.Hosting;

namespace Lmkd.Tests.Cli;

/// <summary>`lmkd status` against every way a daemon can fail to answer, and against a server that does.</summary>
public sealed class StatusCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lmkd-status-cli-").FullName;
    private readonly CollectingLogger _log = new();
    private readonly List<IDisposable> _cleanup = [];

    private string SocketPath => Path.Combine(_dir, "status.sock");

    private (int Code, string Stdout, string Stderr) Status(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = StatusCommand.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    private void Serve(Func<byte[]> reply, StatusAccess? access = null)
    {
        var server = new StatusServer(SocketPath, reply, access ?? StatusAccess.RootAndSelf(), _log);
        _cleanup.Add(server);
        Assert.True(server.Start(), string.Join('\n', _log.Entries));
    }

    private static byte[] FixedReport() => StatusReport.Write(StatusReportTests.Loop(kill: false), new NextVictimReport(0, false,
        new Lmkd.Daemon.VictimChoice(null, [], true, 0, 0) { Ranking = new Lmkd.Policies.RankingResult([], [], 0) }, null),
        StatusReportTests.Facts, StatusReportTests.NowMs);

    [Fact]
    public void No_socket_is_no_daemon_exit_3()
    {
        var (code, stdout, stderr) = Status("--socket", SocketPath);
        Assert.Equal(StatusCommand.ExitNoDaemon, code);
        Assert.Equal(3, code);
        Assert.Empty(stdout);
        Assert.Contains($"no daemon answers: {SocketPath} does not exist", stderr);
    }

    [Fact]
    public void A_socket_nobody_listens_on_is_no_daemon_exit_3()
    {
        StaleSocket.Create(SocketPath);
        var (code, _, stderr) = Status("--socket", SocketPath);
        Assert.Equal(3, code);
        Assert.Contains("nothing listens on", stderr);
    }

    [Fact]
    public void A_daemon_that_never_answers_times_out_exit_3()
    {
        using var mute = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        mute.Bind(new UnixDomainSocketEndPoint(SocketPath));
        mute.Listen(4); // never accepts: the connection waits in the queue
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var (code, _, stderr) = Status("--socket", SocketPath, "--timeout-ms", "400");
        Assert.Equal(3, code);
        Assert.Contains("no reply on " + SocketPath + " within 400 ms", stderr);
        Assert.InRange(sw.ElapsedMilliseconds, 300, 5000);
    }

    [Fact]
    public void A_refused_peer_exits_4()
    {
        // A server that lets in only a uid that is not ours.
        Serve(FixedReport, new StatusAccess(4_000_000_001));
        var (code, stdout, stderr) = Status("--socket", SocketPath);
        Assert.Equal(StatusCommand.ExitRefused, code);
        Assert.Equal(4, code);
        Assert.Empty(stdout);
        Assert.Contains("lmkd status: refused: uid ", stderr);
        Assert.Contains("sudo lmkd status", stderr);
    }

    [Fact]
    public void A_reply_that_is_not_lmkds_exits_1()
    {
        Serve(() => Encoding.UTF8.GetBytes("hello\n"));
        Assert.Equal(1, Status("--socket", SocketPath).Code);
    }

    [Fact]
    public void An_error_reply_other_than_a_refusal_exits_1()
    {
        Serve(() => StatusReport.Error("internal", "boom"));
        var (code, _, stderr) = Status("--socket", SocketPath);
        Assert.Equal(1, code);
        Assert.Contains("error internal: boom", stderr);
    }

    [Fact]
    public void A_reply_without_the_fields_of_the_summary_exits_1_and_json_prints_it()
    {
        Serve(() => Encoding.UTF8.GetBytes("{\"version\":\"9\"}\n"));
        Assert.Equal(1, Status("--socket", SocketPath).Code);
        var (code, stdout, _) = Status("--socket", SocketPath, "--json");
        Assert.Equal(0, code);
        Assert.Equal("9", JsonDocument.Parse(stdout).RootElement.GetProperty("version").GetString());
    }

    [Fact]
    public void A_daemon_answers_with_the_summary_and_with_json()
    {
        Serve(FixedReport);
        var (code, stdout, stderr) = Status("--socket", SocketPath);
        Assert.True(code == 0, stderr);
        Assert.StartsWith("lmkd 0.1.0 running: pid 4242, uid 0", stdout);

        (code, stdout, stderr) = Status("--json", "--socket", SocketPath);
        Assert.True(code == 0, stderr);
        var r = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal("cgroup /lmkd-test", r.GetProperty("scope").GetString());
        Assert.Equal("no-decision", r.GetProperty("nextVictim").GetProperty("basis").GetString());
    }

    [Fact]
    public void The_socket_off_in_the_configuration_is_no_daemon_exit_3()
    {
        var (code, _, stderr) = Status("--Lmkd:Status:Socket=");
        Assert.Equal(3, code);
        Assert.Contains("the status socket is off", stderr);
    }

    [Fact]
    public void The_configured_socket_is_asked()
    {
        Serve(FixedReport);
        var (code, _, stderr) = Status("--Lmkd:Status:Socket=" + SocketPath);
        Assert.True(code == 0, stderr);
    }

    [Theory]
    [InlineData("--bogus")]
    [InlineData("--timeout-ms", "0")]
    [InlineData("--socket")]
    public void Bad_arguments_print_usage_and_exit_2(params string[] args)
    {
        var (code, _, stderr) = Status(args);
        Assert.Equal(2, code);
        Assert.Contains("usage: lmkd status", stderr);
    }

    public void Dispose()
    {
        foreach (var d in _cleanup)
            d.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}
