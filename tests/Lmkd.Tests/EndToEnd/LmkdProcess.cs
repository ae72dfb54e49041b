using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;

namespace Lmkd.Tests.EndToEnd;

/// <summary>
/// The real daemon run as an operator would: a separate process started from the built lmkd
/// (the dll beside the tests, or a native binary from $LMKD_BINARY), logging compact JSON so each
/// event's properties can be asserted.
/// </summary>
public sealed partial class LmkdProcess : IDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<JsonElement> _events = new();
    private readonly ConcurrentQueue<string> _lines = new();

    public int Pid => _process.Id;
    public IReadOnlyCollection<JsonElement> Events => _events;
    public string Output => string.Join('\n', _lines);

    private LmkdProcess(Process process)
    {
        _process = process;
        _process.OutputDataReceived += (_, e) => Collect(e.Data);
        _process.ErrorDataReceived += (_, e) => Collect(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>How to start lmkd: a native binary named by $LMKD_BINARY, else `dotnet lmkd.dll`.</summary>
    public static ProcessStartInfo StartInfo(params string[] args)
    {
        var native = Environment.GetEnvironmentVariable("LMKD_BINARY");
        ProcessStartInfo psi;
        if (!string.IsNullOrEmpty(native))
            psi = new ProcessStartInfo(native);
        else
        {
            psi = new ProcessStartInfo("dotnet");
            psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "lmkd.dll"));
        }
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        psi.UseShellExecute = false;
        // Tests must not pick up the machine's /etc/lmkd or a developer's LMKD_* variables.
        psi.Environment.Remove("LMKD_CONFIG");
        // LMKD_BINARY names the binary for the tests; the daemon would read it as the option "Lmkd:BINARY".
        psi.Environment.Remove("LMKD_BINARY");
        psi.Environment.Remove("NOTIFY_SOCKET");
        psi.Environment.Remove("JOURNAL_STREAM");
        return psi;
    }

    public static LmkdProcess Start(IEnumerable<string> args, IDictionary<string, string>? environment = null)
    {
        var psi = StartInfo([.. args, "--Lmkd:Log:Format=json"]);
        if (environment is not null)
            foreach (var (k, v) in environment)
                psi.Environment[k] = v;
        return new LmkdProcess(Process.Start(psi)!);
    }

    private void Collect(string? line)
    {
        if (line is null)
            return;
        _lines.Enqueue(line);
        if (line.StartsWith('{'))
        {
            try
            {
                using var doc = JsonDocument.Parse(line);
                _events.Enqueue(doc.RootElement.Clone());
            }
            catch (JsonException)
            {
            }
        }
    }

    /// <summary>Events whose message template starts with the given text.</summary>
    public IEnumerable<JsonElement> EventsLike(string templatePrefix) =>
        _events.Where(e => e.TryGetProperty("@mt", out var mt) && mt.GetString()!.StartsWith(templatePrefix, StringComparison.Ordinal));

    public bool WaitFor(Func<LmkdProcess, bool> condition, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < timeout)
        {
            if (condition(this))
                return true;
            if (_process.HasExited)
                return condition(this);
            Thread.Sleep(50);
        }
        return condition(this);
    }

    public bool WaitReady(TimeSpan timeout) => WaitFor(p => p.EventsLike("Lmkd ready").Any(), timeout);

    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;

    /// <summary>SIGTERM, then wait; returns how long the exit took.</summary>
    public TimeSpan Terminate(TimeSpan wait)
    {
        var sw = Stopwatch.StartNew();
        if (!_process.HasExited)
        {
            Signal(_process.Id, 15);
            if (!_process.WaitForExit(wait))
                _process.Kill();
        }
        _process.WaitForExit();
        return sw.Elapsed;
    }

    public void Signal(int signal) => Signal(_process.Id, signal);

    private static void Signal(int pid, int signal) => Kill(pid, signal);

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "kill")]
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
    }
}
