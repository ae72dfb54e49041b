using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace Lmkd.Cli;

/// <summary>
/// `lmkd run` as a child process that logs compact JSON (--Lmkd:Log:Format=json), its events
/// collected as they come: the demo narrates them, the tests and the benchmarks assert and measure
/// them. The child gets a clean environment for its configuration: no LMKD_* variables, no
/// LMKD_CONFIG, no systemd sockets of the parent.
/// </summary>
public sealed partial class DaemonChild : IDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<JsonElement> _events = new();
    private readonly BlockingCollection<JsonElement> _unread = new();
    private readonly ConcurrentQueue<string> _lines = new();

    private DaemonChild(Process process)
    {
        _process = process;
        _process.OutputDataReceived += (_, e) => Collect(e.Data);
        _process.ErrorDataReceived += (_, e) => Collect(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>
    /// Starts <paramref name="psi"/> (an lmkd binary and its arguments, `run` first) with JSON logs
    /// and redirected output. <paramref name="environment"/> is added after the clean-up.
    /// </summary>
    public static DaemonChild Start(ProcessStartInfo psi, IDictionary<string, string>? environment = null)
    {
        psi.ArgumentList.Add("--Lmkd:Log:Format=json");
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        psi.UseShellExecute = false;
        // LMKD_* variables are configuration to the daemon (LMKD_BINARY would be refused as an unknown key).
        foreach (var name in psi.Environment.Keys.Where(k => k.StartsWith("LMKD_", StringComparison.Ordinal)).ToList())
            psi.Environment.Remove(name);
        psi.Environment.Remove("NOTIFY_SOCKET");
        psi.Environment.Remove("WATCHDOG_USEC");
        psi.Environment.Remove("JOURNAL_STREAM");
        if (environment is not null)
            foreach (var (k, v) in environment)
                psi.Environment[k] = v;
        return new DaemonChild(Process.Start(psi) ?? throw new InvalidOperationException($"{psi.FileName} did not start"));
    }

    public int Pid => _process.Id;
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;
    /// <summary>Every event so far, in order.</summary>
    public IReadOnlyCollection<JsonElement> Events => _events;
    /// <summary>Everything the child wrote, JSON or not.</summary>
    public string Output => string.Join('\n', _lines);

    /// <summary>Events whose message template starts with <paramref name="templatePrefix"/>.</summary>
    public IEnumerable<JsonElement> EventsLike(string templatePrefix) =>
        _events.Where(e => Template(e).StartsWith(templatePrefix, StringComparison.Ordinal));

    /// <summary>The next event not taken yet, waiting up to <paramref name="timeoutMs"/>.</summary>
    public bool TryTakeNext(out JsonElement e, int timeoutMs) => _unread.TryTake(out e, timeoutMs);

    public static string Template(JsonElement e) =>
        e.TryGetProperty("@mt", out var mt) ? mt.GetString() ?? "" : "";

    /// <summary>The message with its properties filled in, for a human.</summary>
    public static string Render(JsonElement e)
    {
        string text = Template(e);
        foreach (var p in e.EnumerateObject())
            text = text.Replace("{" + p.Name + "}", p.Value.ToString());
        return text;
    }

    public bool WaitFor(Func<DaemonChild, bool> condition, TimeSpan timeout, CancellationToken stop = default)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < timeout && !stop.IsCancellationRequested)
        {
            if (condition(this))
                return true;
            if (_process.HasExited)
                break;
            Thread.Sleep(50);
        }
        return condition(this);
    }

    public bool WaitReady(TimeSpan timeout, CancellationToken stop = default) =>
        WaitFor(d => d.EventsLike("Lmkd ready").Any(), timeout, stop);

    public void Signal(int signal) => Kill(_process.Id, signal);

    /// <summary>SIGTERM, then wait (SIGKILL after <paramref name="wait"/>); returns how long the exit took.</summary>
    public TimeSpan Terminate(TimeSpan wait)
    {
        var sw = Stopwatch.StartNew();
        if (!_process.HasExited)
        {
            Signal(15);
            if (!_process.WaitForExit(wait))
                _process.Kill();
        }
        _process.WaitForExit();
        return sw.Elapsed;
    }

    private void Collect(string? line)
    {
        if (line is null)
            return;
        _lines.Enqueue(line);
        if (!line.StartsWith('{'))
            return;
        try
        {
            using var doc = JsonDocument.Parse(line);
            var e = doc.RootElement.Clone();
            _events.Enqueue(e);
            _unread.Add(e);
        }
        catch (JsonException)
        {
        }
    }

    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int Kill(int pid, int signal);

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
                _process.Kill(entireProcessTree: true);
            _process.WaitForExit(5000);
        }
        catch (InvalidOperationException)
        {
        }
        _process.Dispose();
        _unread.Dispose();
    }
}
