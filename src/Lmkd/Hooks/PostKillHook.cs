using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Lmkd.Configuration;
using Lmkd.Daemon;
using Lmkd.Linux;
using Microsoft.Extensions.Logging;

namespace Lmkd.Hooks;

/// <summary>
/// Runs Lmkd:Hooks:PostKill after a kill, on its own thread: the monitor thread only hands the kill
/// over (<see cref="TryRun"/>, never a wait). One hook at a time; a kill that comes while one still
/// runs is counted as skipped, never queued. The hook gets the kill in LMKD_* environment variables,
/// its arguments as configured (no shell), none of Lmkd's capabilities, and a timeout after which it
/// and what it started are killed.
/// </summary>
public sealed class PostKillHook : IDisposable
{
    /// <summary>What the hook logs of its own output, at most: a chatty hook must not flood the journal.</summary>
    public const int MaxOutputBytes = 4096;
    /// <summary>
    /// util-linux's setsid: the hook execs in a session and process group of its own, so at the timeout
    /// one kill(-pgid) ends it and what it started. (.NET's Process.Kill(entireProcessTree) reads every
    /// process on the machine to find the descendants: seconds on a busy host.)
    /// </summary>
    public const string Setsid = "/usr/bin/setsid";

    private readonly Thread _thread;
    private readonly SemaphoreSlim _wake = new(0);
    private readonly CancellationTokenSource _stop = new();
    private readonly LmkdMetrics _metrics;
    private readonly ILogger _log;
    private volatile HooksOptions _options;
    private FinishedKill? _pending;
    /// <summary>1 from the hand-over of a kill until its hook has ended.</summary>
    private int _busy;
    private long _runningKillId;
    private readonly ManualResetEventSlim _started = new();

    public PostKillHook(HooksOptions options, LmkdMetrics metrics, ILogger log)
    {
        _options = options;
        _metrics = metrics;
        _log = log;
        // Created by the host's thread, not the monitor's: the hooks must not inherit a real-time priority.
        _thread = new Thread(Run) { Name = "lmkd-hook", IsBackground = true };
        _thread.Start();
        _started.Wait(TimeSpan.FromSeconds(2));
    }

    /// <summary>
    /// Null once the hook thread has emptied its ambient and inheritable capability sets (what its
    /// children would inherit); else why it could not, and hooks are then never run.
    /// </summary>
    public string? CapabilityError { get; private set; } = "the hook thread has not started";

    /// <summary>A hook is running (or about to start).</summary>
    public bool IsBusy => Volatile.Read(ref _busy) != 0;

    public void Update(HooksOptions options) => _options = options;

    /// <summary>
    /// Hands a finished kill to the hook thread; returns at once. False when no hook is configured,
    /// or when the previous hook still runs (counted as skipped).
    /// </summary>
    public bool TryRun(FinishedKill kill)
    {
        if (string.IsNullOrEmpty(_options.PostKill) || _stop.IsCancellationRequested)
            return false;
        if (Interlocked.CompareExchange(ref _busy, 1, 0) != 0)
        {
            _metrics.HookSkipped();
            _log.LogWarning("Post-kill hook not run for kill {KillId}: the one for kill {RunningKillId} is still running (at most one at a time)",
                kill.KillId, Volatile.Read(ref _runningKillId));
            return false;
        }
        Volatile.Write(ref _runningKillId, kill.KillId);
        Volatile.Write(ref _pending, kill);
        _wake.Release();
        return true;
    }

    private void Run()
    {
        // Credentials are per thread and a child is forked from the thread that starts it: emptied
        // here, Lmkd's ambient capabilities reach no hook, and Lmkd's other threads keep them.
        CapabilityError = ThreadCapabilities.ClearForChildren();
        _started.Set();
        try
        {
            while (true)
            {
                _wake.Wait(_stop.Token);
                if (Interlocked.Exchange(ref _pending, null) is not { } kill)
                    continue;
                try
                {
                    RunOne(kill, _options);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    _metrics.HookRan("not_started", TimeSpan.Zero);
                    _log.LogError(e, "Post-kill hook for kill {KillId} failed", kill.KillId);
                }
                finally
                {
                    Volatile.Write(ref _busy, 0);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private void RunOne(FinishedKill kill, HooksOptions options)
    {
        if (CapabilityError is { } why)
        {
            _metrics.HookRan("not_started", TimeSpan.Zero);
            _log.LogError("Post-kill hook {Hook} not run for kill {KillId}: it would inherit Lmkd's capabilities ({Error})", options.PostKill, kill.KillId, why);
            return;
        }
        if (!File.Exists(options.PostKill))
        {
            // Checked here too: under setsid a missing program would only show as setsid's exit status.
            _metrics.HookRan("not_started", TimeSpan.Zero);
            _log.LogError("Post-kill hook {Hook} for kill {KillId} could not be started: it does not exist", options.PostKill, kill.KillId);
            return;
        }
        var psi = StartInfo(options, kill);
        var output = new BoundedOutput(MaxOutputBytes);
        var sw = Stopwatch.StartNew();
        Process process;
        try
        {
            process = Process.Start(psi) ?? throw new Win32Exception("no process");
        }
        catch (Win32Exception e)
        {
            _metrics.HookRan("not_started", sw.Elapsed);
            _log.LogError("Post-kill hook {Hook} for kill {KillId} could not be started: {Error}", options.PostKill, kill.KillId, e.Message);
            return;
        }
        using (process)
        {
            process.OutputDataReceived += (_, e) => output.Add(e.Data);
            process.ErrorDataReceived += (_, e) => output.Add(e.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            process.StandardInput.Close();
            string result;
            bool exited = process.WaitForExit(options.PostKillTimeoutMs);
            if (!exited)
            {
                KillGroup(process, psi.FileName == Setsid);
                process.WaitForExit(1000);
                result = "timeout";
            }
            else
                result = process.ExitCode == 0 ? "ok" : "failed";
            var duration = sw.Elapsed;
            // A grandchild that keeps the pipes open must not hold the thread: wait briefly for the rest.
            output.WaitForEnd(TimeSpan.FromMilliseconds(200));
            _metrics.HookRan(result, duration);
            string status = !exited ? $"killed after the {options.PostKillTimeoutMs} ms timeout"
                : process.ExitCode > 128 ? $"killed by signal {process.ExitCode - 128}" : $"exit {process.ExitCode}";
            var level = result == "ok" ? LogLevel.Information : LogLevel.Warning;
            _log.Log(level, "Post-kill hook for kill {KillId}: {Hook} {HookStatus} after {HookDurationMs:F1} ms{HookOutput}",
                kill.KillId, options.PostKill, status, duration.TotalMilliseconds, output.Text is { Length: > 0 } text ? "; output: " + text : "");
        }
    }

    private static void KillGroup(Process process, bool ownGroup)
    {
        // setsid exec'd the hook without forking (it is no group leader), so the hook's pid is its group's id.
        if (ownGroup && Native.Kill(-process.Id, Native.SIGKILL) == 0)
            return;
        try { process.Kill(entireProcessTree: true); }
        catch (InvalidOperationException) { } // it exited meanwhile
    }

    /// <summary>The hook's command line (the configured list, no shell) and environment: Lmkd's, less what is Lmkd's alone, plus the kill.</summary>
    internal static ProcessStartInfo StartInfo(HooksOptions options, FinishedKill kill)
    {
        bool ownGroup = File.Exists(Setsid);
        var psi = new ProcessStartInfo(ownGroup ? Setsid : options.PostKill)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = "/",
        };
        if (ownGroup)
        {
            psi.ArgumentList.Add("--");
            psi.ArgumentList.Add(options.PostKill);
        }
        foreach (var arg in options.PostKillArgs)
            psi.ArgumentList.Add(arg);
        // Lmkd's configuration variables (LMKD_*) and systemd's hand-overs to the main process are not the hook's.
        foreach (var name in psi.Environment.Keys.ToList())
            if (name.StartsWith("LMKD_", StringComparison.Ordinal) || name is "NOTIFY_SOCKET" or "WATCHDOG_PID" or "WATCHDOG_USEC" or "LISTEN_FDS" or "LISTEN_PID" or "LISTEN_FDNAMES")
                psi.Environment.Remove(name);
        foreach (var (name, value) in Variables(kill))
            psi.Environment[name] = value;
        return psi;
    }

    /// <summary>The kill as the hook sees it: one variable per fact, sizes in kB.</summary>
    public static IEnumerable<KeyValuePair<string, string>> Variables(FinishedKill k)
    {
        static string N(long v) => v.ToString(CultureInfo.InvariantCulture);
        yield return new("LMKD_KILL_ID", N(k.KillId));
        yield return new("LMKD_DRY_RUN", k.DryRun ? "1" : "0");
        yield return new("LMKD_PID", N(k.Pid));
        yield return new("LMKD_COMM", k.Comm);
        yield return new("LMKD_UID", N(k.Uid));
        yield return new("LMKD_CGROUP", k.Cgroup);
        yield return new("LMKD_EXE", k.Exe);
        yield return new("LMKD_OOM_SCORE_ADJ", N(k.OomScoreAdj));
        yield return new("LMKD_RSS_KB", N(k.RssBytes / 1024));
        yield return new("LMKD_RSS_ANON_KB", N(k.RssAnonBytes / 1024));
        yield return new("LMKD_RSS_FILE_KB", N(k.RssFileBytes / 1024));
        yield return new("LMKD_RSS_SHMEM_KB", N(k.RssShmemBytes / 1024));
        yield return new("LMKD_SWAP_KB", N(k.SwapBytes / 1024));
        yield return new("LMKD_REASON", k.Reason);
        yield return new("LMKD_MIN_SCORE_ADJ", N(k.MinScoreAdj));
        yield return new("LMKD_REAP_MODE", k.ReapMode);
        yield return new("LMKD_REAP_RESULT", k.ReapResult);
        yield return new("LMKD_SCOPE", k.Scope);
        yield return new("LMKD_TIME", k.Time.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture));
    }

    /// <summary>Bounded: at shutdown a running hook is left to finish (systemd stops the unit's processes itself).</summary>
    public void Dispose()
    {
        _stop.Cancel();
        _thread.Join(TimeSpan.FromMilliseconds(200));
    }

    /// <summary>The first <c>max</c> bytes of the hook's output lines, joined with " | ". Written from the output readers.</summary>
    private sealed class BoundedOutput(int max)
    {
        private readonly StringBuilder _text = new();
        /// <summary>Set by the end of each of the two streams (stdout, stderr).</summary>
        private readonly CountdownEvent _ends = new(2);
        private bool _truncated;

        public void WaitForEnd(TimeSpan timeout) => _ends.Wait(timeout);

        public void Add(string? line)
        {
            if (line is null)
            {
                _ends.Signal();
                return;
            }
            lock (_text)
            {
                if (_text.Length >= max)
                {
                    _truncated = true;
                    return;
                }
                if (_text.Length > 0)
                    _text.Append(" | ");
                _text.Append(line.Length > max - _text.Length ? line[..(max - _text.Length)] : line);
            }
        }

        public string Text
        {
            get
            {
                lock (_text)
                    return _truncated ? _text + " ..." : _text.ToString();
            }
        }
    }
}
