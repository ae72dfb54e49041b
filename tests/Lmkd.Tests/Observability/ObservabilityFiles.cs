using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Lmkd.Daemon;

namespace Lmkd.Tests.Observability;

/// <summary>Paths to deploy/, promtool runs, scrapes and metric-name extraction shared by the observability tests.</summary>
public static partial class ObservabilityFiles
{
    /// <summary>The repository's deploy/ directory, found by walking up from the test binaries.</summary>
    public static string Deploy(params string[] parts)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "deploy");
            if (Directory.Exists(Path.Combine(candidate, "prometheus")))
                return Path.Combine([candidate, .. parts]);
        }
        throw new DirectoryNotFoundException("deploy/prometheus not found above " + AppContext.BaseDirectory);
    }


    /// <summary>Runs promtool with stdin; returns its exit code and combined output.</summary>
    public static (int Code, string Output) Promtool(string? stdin, string workingDir, params string[] args)
    {
        var psi = new ProcessStartInfo(Tools.Promtool)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDir,
        };
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (stdin is not null)
            p.StandardInput.Write(stdin);
        p.StandardInput.Close();
        Assert.True(p.WaitForExit(30_000), "promtool did not finish in 30 s");
        return (p.ExitCode, stdout.Result + stderr.Result);
    }

    /// <summary>The registry in the Prometheus text format, as the endpoint serves it.</summary>
    public static string Expose(LmkdMetrics metrics)
    {
        using var ms = new MemoryStream();
        metrics.Registry.CollectAndExportAsTextAsync(ms).GetAwaiter().GetResult();
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    /// <summary>Family name to type, from the "# TYPE" lines of an exposition.</summary>
    public static Dictionary<string, string> Families(string exposition) =>
        TypeLine().Matches(exposition).ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value);

    /// <summary>Names of the samples (not families): histograms give name_bucket, name_sum, name_count.</summary>
    public static HashSet<string> SampleNames(string exposition) =>
        exposition.Split('\n').Where(l => l.Length > 0 && l[0] != '#').Select(l => SampleName().Match(l).Value).ToHashSet();

    /// <summary>Every lmkd_ metric name a PromQL text mentions.</summary>
    public static IEnumerable<string> MetricNamesIn(string promql) => LmkdName().Matches(promql).Select(m => m.Value);

    public static int FreeLoopbackPort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    [GeneratedRegex(@"^# TYPE (\S+) (\S+)$", RegexOptions.Multiline)]
    private static partial Regex TypeLine();

    [GeneratedRegex(@"^[a-zA-Z_:][a-zA-Z0-9_:]*")]
    private static partial Regex SampleName();

    [GeneratedRegex(@"\blmkd_[a-z0-9_]+")]
    private static partial Regex LmkdName();
}
