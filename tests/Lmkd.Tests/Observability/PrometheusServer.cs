using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace Lmkd.Tests.Observability;

/// <summary>
/// A throw-away Prometheus (Debian's /usr/bin/prometheus) on a loopback port with its own temp TSDB, scraping one
/// target every second. Never the packaged service. Dispose kills it and deletes its data.
/// </summary>
public sealed class PrometheusServer : IDisposable
{
    private readonly Process _process;
    private readonly string _dir;
    private readonly StringBuilder _log = new();
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(5) };

    public int Port { get; }
    public string Log { get { lock (_log) return _log.ToString(); } }

    private PrometheusServer(Process process, string dir, int port)
    {
        _process = process;
        _dir = dir;
        Port = port;
        _http.BaseAddress = new Uri($"http://127.0.0.1:{port}/");
    }

    public static PrometheusServer Start(string target, string job = "lmkd")
    {
        string dir = Directory.CreateTempSubdirectory("lmkd-prometheus-").FullName;
        File.WriteAllText(Path.Combine(dir, "prometheus.yml"), $"""
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
            scrape_configs:
              - job_name: {job}
                static_configs:
                  - targets: ["{target}"]
            """);
        int port = ObservabilityFiles.FreeLoopbackPort();
        var psi = new ProcessStartInfo(Tools.Prometheus)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = dir,
        };
        foreach (var a in new[]
        {
            "--config.file=" + Path.Combine(dir, "prometheus.yml"),
            "--storage.tsdb.path=" + Path.Combine(dir, "data"),
            $"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        })
            psi.ArgumentList.Add(a);
        var server = new PrometheusServer(Process.Start(psi)!, dir, port);
        server._process.OutputDataReceived += (_, e) => server.Append(e.Data);
        server._process.ErrorDataReceived += (_, e) => server.Append(e.Data);
        server._process.BeginOutputReadLine();
        server._process.BeginErrorReadLine();
        return server;
    }

    private void Append(string? line)
    {
        if (line is not null)
            lock (_log) _log.AppendLine(line);
    }

    public bool WaitReady(TimeSpan timeout) => Poll(() =>
    {
        using var r = _http.GetAsync("-/ready").GetAwaiter().GetResult();
        return r.IsSuccessStatusCode;
    }, timeout);

    /// <summary>An instant query through the HTTP API: the value of each series of the vector result.</summary>
    public List<(Dictionary<string, string> Labels, double Value)> Query(string promql)
    {
        using var r = _http.GetAsync("api/v1/query?query=" + Uri.EscapeDataString(promql)).GetAwaiter().GetResult();
        using var doc = JsonDocument.Parse(r.Content.ReadAsStringAsync().GetAwaiter().GetResult());
        var root = doc.RootElement;
        Assert.True(root.GetProperty("status").GetString() == "success", root.ToString());
        var result = new List<(Dictionary<string, string>, double)>();
        foreach (var s in root.GetProperty("data").GetProperty("result").EnumerateArray())
        {
            var labels = s.GetProperty("metric").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);
            double value = double.Parse(s.GetProperty("value")[1].GetString()!, System.Globalization.CultureInfo.InvariantCulture);
            result.Add((labels, value));
        }
        return result;
    }

    /// <summary>Queries until the single result satisfies the predicate; returns the last value seen (NaN for none).</summary>
    public double WaitForValue(string promql, Func<double, bool> ok, TimeSpan timeout)
    {
        double last = double.NaN;
        Poll(() =>
        {
            var r = Query(promql);
            last = r.Count == 1 ? r[0].Value : double.NaN;
            return r.Count == 1 && ok(last);
        }, timeout);
        return last;
    }

    private static bool Poll(Func<bool> condition, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                if (condition())
                    return true;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException)
            {
                // Not up yet, or a query raced the first scrape.
            }
            if (sw.Elapsed > timeout)
                return false;
            Thread.Sleep(250);
        }
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
                _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }
        catch (InvalidOperationException)
        {
        }
        _process.Dispose();
        _http.Dispose();
        try { Directory.Delete(_dir, recursive: true); }
        catch (IOException) { }
    }
}
