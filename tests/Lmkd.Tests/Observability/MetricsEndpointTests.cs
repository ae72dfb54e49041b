using System.Net;
using System.Net.Sockets;
using Lmkd.Tests.EndToEnd;

namespace Lmkd.Tests.Observability;

/// <summary>How the real daemon starts (or refuses to) with its metrics endpoint; always dry run, never killing.</summary>
public class MetricsEndpointTests
{
    private static DaemonChild Run(params string[] extra) =>
        LmkdProcess.Start(["run", "--Lmkd:DryRun=true", "--Lmkd:SelfProtection:LockMemory=false", .. extra]);

    [Fact]
    public void A_port_in_use_stops_the_start_naming_the_key()
    {
        using var busy = new TcpListener(IPAddress.Loopback, 0);
        busy.Start();
        int port = ((IPEndPoint)busy.LocalEndpoint).Port;
        using var lmkd = Run($"--Lmkd:Metrics:Listen=127.0.0.1:{port}");
        Assert.True(lmkd.WaitFor(p => p.HasExited, TimeSpan.FromSeconds(20)), lmkd.Output);
        lmkd.Terminate(TimeSpan.Zero); // already gone: this drains its output
        Assert.Equal(78, lmkd.ExitCode);
        Assert.Contains("Lmkd:Metrics:Listen", lmkd.Output);
        Assert.Contains($"127.0.0.1:{port}", lmkd.Output);
    }

    [Theory]
    [InlineData("not-an-address")]
    [InlineData("127.0.0.1:99999")]
    public void An_address_that_does_not_parse_stops_the_start_naming_the_key(string listen)
    {
        using var lmkd = Run($"--Lmkd:Metrics:Listen={listen}");
        Assert.True(lmkd.WaitFor(p => p.HasExited, TimeSpan.FromSeconds(20)), lmkd.Output);
        lmkd.Terminate(TimeSpan.Zero); // already gone: this drains its output
        Assert.Equal(78, lmkd.ExitCode);
        Assert.Contains("Lmkd:Metrics:Listen", lmkd.Output);
    }

    [PrivilegedFact]
    public void Disabled_metrics_open_no_port()
    {
        int port = ObservabilityFiles.FreeLoopbackPort();
        using var lmkd = Run("--Lmkd:Metrics:Enabled=false", $"--Lmkd:Metrics:Listen=127.0.0.1:{port}");
        Assert.True(lmkd.WaitReady(TimeSpan.FromSeconds(20)), lmkd.Output);
        Assert.Empty(lmkd.EventsLike("Metrics on"));
        using var client = new TcpClient();
        Assert.ThrowsAny<SocketException>(() => client.Connect(IPAddress.Loopback, port));
        lmkd.Terminate(TimeSpan.FromSeconds(3));
    }
}
