using System.Diagnostics;
using Lmkd.Linux;
using Lmkd.Policies;
using Lmkd.ProcFs;

namespace Lmkd.Daemon;

/// <summary>
/// A recent list of kill candidates, scanned off the monitor thread. A full /proc scan costs tens
/// of milliseconds with a couple of thousand processes; doing it between the decision and the
/// signal would be the slowest step of a kill. The loop asks for a refresh when a pressure episode
/// starts and every 500 ms while it lasts; <see cref="VictimChooser"/> takes the list from here.
/// While those requests keep coming (pressure lasts), the thread also re-reads every listed
/// process's resident size (statm only, ~7 µs each) every <see cref="SweepIntervalMs"/> between
/// scans, so a process that grew since the scan (a leak) is ranked by what it holds now without
/// the kill paying for those reads.
/// The scanner thread runs at normal priority (it is created before the monitor thread raises its
/// own) and sleeps between requests: nothing is scanned while memory is fine. A scan that fails
/// (EMFILE, ENOMEM opening /proc) is reported and the thread waits for the next request.
/// </summary>
public sealed class CandidateCache : IDisposable
{
    /// <param name="NeverCandidates">Pids the scan found to be kernel threads or zombies (see <see cref="ProcessScanner.LastNeverCandidates"/>).</param>
    public sealed record Snapshot(IReadOnlyList<ProcessInfo> Processes, long TakenAtMs, TimeSpan Duration, IReadOnlyList<int>? NeverCandidates = null)
    {
        /// <summary>When the sizes were last read (the scan, or a later sweep): monotonic ms.</summary>
        public long SizesAtMs { get; init; } = TakenAtMs;
    }

    /// <summary>Sizes are re-read this often between scans while refresh requests keep coming.</summary>
    public const int SweepIntervalMs = 100;
    /// <summary>Sweeps go on this long after the last refresh request (the loop asks every 500 ms while pressure lasts).</summary>
    public const int SweepWhileRequestedMs = 1000;

    private readonly ProcessScanner _scanner;
    private readonly Scope _scope;
    private readonly List<int> _pids = new(256);
    private readonly Action<int, TimeSpan>? _onScanned;
    private readonly Action<Exception>? _onError;
    private readonly AutoResetEvent _request = new(false);
    private readonly Thread _thread;
    private volatile Snapshot? _latest;
    private volatile bool _stop;
    private long _lastRequestMs = long.MinValue / 2;

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
        bool sweeping = false;
        while (true)
        {
            bool requested = _request.WaitOne(sweeping ? SweepIntervalMs : Timeout.Infinite);
            if (_stop)
                return;
            long now = MonotonicClock.NowMs;
            try
            {
                lock (_scanner)
                {
                    if (requested)
                    {
                        _lastRequestMs = now;
                        Publish();
                    }
                    else if (_latest is { } latest)
                    {
                        SweepSizes(latest, now);
                    }
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or OutOfMemoryException)
            {
                // The list stays as it was; the chooser scans itself if it grows too old.
                _onError?.Invoke(e);
            }
            sweeping = MonotonicClock.NowMs - _lastRequestMs < SweepWhileRequestedMs;
        }
    }

    /// <summary>
    /// Every listed process's resident size read again; a process whose size moved by more than
    /// 1 MiB or 1/32 is listed anew with it (the others keep their record: no allocation for a
    /// machine that holds still). A pid that is gone keeps its entry: the chooser drops it.
    /// </summary>
    private void SweepSizes(Snapshot latest, long startedAtMs)
    {
        var list = latest.Processes;
        ProcessInfo[]? resized = null;
        for (int i = 0; i < list.Count; i++)
        {
            var p = list[i];
            long rss = _scanner.ReadResidentBytes(p.Pid);
            if (rss < 0 || Math.Abs(rss - p.RssBytes) <= Math.Max(1L << 20, p.RssBytes / 32))
                continue;
            resized ??= [.. list];
            resized[i] = p.WithResidentBytes(rss);
        }
        // Under the scanner's lock, as every scan is: no scan was published meanwhile.
        _latest = latest with { Processes = resized ?? list, SizesAtMs = startedAtMs };
    }

    private Snapshot Publish()
    {
        long t0 = Stopwatch.GetTimestamp();
        _scope.ListPids(_scanner, _pids);
        var processes = _scanner.ScanPids(_pids, _scope.Filter);
        var snapshot = new Snapshot(processes, MonotonicClock.NowMs, Stopwatch.GetElapsedTime(t0), _scanner.LastNeverCandidates);
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
