using System.Diagnostics;
using Lmkd.Policies;
using Lmkd.ProcFs;

namespace Lmkd.Daemon;

/// <summary>
/// A recent list of kill candidates, scanned off the monitor thread. A full /proc scan costs tens
/// of milliseconds with a couple of thousand processes; doing it between the decision and the
/// signal would be the slowest step of a kill. The loop asks for a refresh when a pressure episode
/// starts and every 500 ms while it lasts; <see cref="VictimChooser"/> takes the list from here.
/// The scanner thread runs at normal priority (it is created before the monitor thread raises its
/// own) and sleeps between requests: nothing is scanned while memory is fine. A scan that fails
/// (EMFILE, ENOMEM opening /proc) is reported and the thread waits for the next request.
/// </summary>
public sealed class CandidateCache : IDisposable
{
    public sealed record Snapshot(IReadOnlyList<ProcessInfo> Processes, long TakenAtMs, TimeSpan Duration);

    private readonly ProcessScanner _scanner;
    private readonly Scope _scope;
    private readonly List<int> _pids = new(256);
    private readonly Action<int, TimeSpan>? _onScanned;
    private readonly Action<Exception>? _onError;
    private readonly AutoResetEvent _request = new(false);
    private readonly Thread _thread;
    private volatile Snapshot? _latest;
    private volatile bool _stop;

    public CandidateCache(string procRoot, Scope scope, Action<int, TimeSpan>? onScanned = null, Action<Exception>? onError = null)
    {
        _scanner = new ProcessScanner(procRoot, cgroupRoot: scope.CgroupRoot);
        _scope = scope;
        _onScanned = onScanned;
        _onError = onError;
        _thread = new Thread(Run) { Name = "lmkd-scanner", IsBackground = true };
        _thread.Start();
    }

    public Snapshot? Latest => _latest;

    /// <summary>The rules whose exe rules decide what the scanner reads of each executable (set at start and reload).</summary>
    public RankingRules? ExePathRules
    {
        get => _scanner.ExePathRules;
        set => _scanner.ExePathRules = value;
    }

    /// <summary>Ask for a fresh scan; requests made while one runs coalesce into one more.</summary>
    public void RequestRefresh() => _request.Set();

    /// <summary>Scan on the caller's thread and wait (start-up, tests).</summary>
    public Snapshot RefreshNow()
    {
        lock (_scanner)
            return Publish();
    }

    private void Run()
    {
        while (true)
        {
            _request.WaitOne();
            if (_stop)
                return;
            try
            {
                lock (_scanner)
                    Publish();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or OutOfMemoryException)
            {
                // The list stays as it was; the chooser scans itself if it grows too old.
                _onError?.Invoke(e);
            }
        }
    }

    private Snapshot Publish()
    {
        long t0 = Stopwatch.GetTimestamp();
        _scope.ListPids(_scanner, _pids);
        var processes = _scanner.ScanPids(_pids, _scope.Filter);
        var snapshot = new Snapshot(processes, Environment.TickCount64, Stopwatch.GetElapsedTime(t0));
        _latest = snapshot;
        _onScanned?.Invoke(processes.Count, snapshot.Duration);
        return snapshot;
    }

    public void Dispose()
    {
        _stop = true;
        _request.Set();
        _thread.Join(TimeSpan.FromSeconds(1));
        _request.Dispose();
    }
}
