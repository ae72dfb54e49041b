using System.Diagnostics;
using Lmkd.Policies;
using Lmkd.ProcFs;

namespace Lmkd.Daemon;

/// <summary>
/// A recent list of kill candidates, scanned off the monitor thread. A full /proc scan costs tens
/// of milliseconds with a couple of thousand processes (opening every /proc/&lt;pid&gt; alone costs
/// milliseconds); doing it between the decision and the signal would be the slowest step of a kill.
/// The monitor asks for a refresh when a pressure episode starts and while it lasts; at a kill it
/// adds the processes started since (<see cref="WithNewcomers"/>), ranks the list and re-reads only
/// the few processes at the top (<see cref="Freshen"/>).
/// The scanner thread runs at normal priority (it is created before the monitor thread raises its
/// own) and sleeps between requests: nothing is scanned while memory is fine.
/// </summary>
public sealed class CandidateCache : IDisposable
{
    public sealed record Snapshot(IReadOnlyList<ProcessInfo> Processes, long TakenAtMs, TimeSpan Duration);

    private readonly ProcessScanner _scanner;
    private readonly Scope _scope;
    private readonly List<int> _pids = new(256);
    private readonly Action<int, TimeSpan>? _onScanned;
    private readonly AutoResetEvent _request = new(false);
    private readonly Thread _thread;
    private volatile Snapshot? _latest;
    private volatile bool _stop;

    public CandidateCache(string procRoot, Scope scope, Action<int, TimeSpan>? onScanned = null)
    {
        _scanner = new ProcessScanner(procRoot, cgroupRoot: scope.CgroupRoot);
        _scope = scope;
        _onScanned = onScanned;
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
            lock (_scanner)
                Publish();
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

    /// <summary>
    /// The victim from a list that may be a second or two old: rank it, re-read the candidates at the
    /// top, one oom_score_adj bucket at a time, and rank those fresh figures; the first bucket that
    /// yields an eligible process gives the victim. A process gone or replaced since the scan
    /// (another start time) drops out; one whose oom_score_adj fell below the minimum is passed over.
    /// At most <paramref name="maxReads"/> live processes are re-read (32 cost about 1.5 ms); null
    /// when none of them is eligible.
    /// </summary>
    public static ProcessInfo? Freshen(IReadOnlyList<ProcessInfo> stale, Func<int, ProcessInfo?> read, int minScoreAdj,
        RankingRules rules, int selfPid, int maxReads = 32)
    {
        var ranked = VictimRanking.Rank(stale, minScoreAdj, rules, selfPid).Ranked;
        var fresh = new List<ProcessInfo>();
        int? bucket = null;
        int reads = 0;
        foreach (var p in ranked)
        {
            if (bucket is int b && p.OomScoreAdj < b && VictimRanking.Pick(fresh, minScoreAdj, rules, selfPid) is { } victim)
                return victim;
            if (reads >= maxReads)
                break;
            var now = read(p.Pid);
            if (now is null || now.StartTime != p.StartTime)
                continue; // gone, or its pid recycled: a failed open costs next to nothing, so it is not counted
            reads++;
            fresh.Add(now);
            bucket = p.OomScoreAdj;
        }
        return VictimRanking.Pick(fresh, minScoreAdj, rules, selfPid);
    }

    /// <summary>
    /// The list plus the processes that started since it was taken: the current pids are listed
    /// (getdents of /proc, or the scope's cgroup.procs) and only the unknown ones are read.
    /// </summary>
    public static List<ProcessInfo> WithNewcomers(IReadOnlyList<ProcessInfo> list, IReadOnlyList<int> pidsNow,
        Func<int, ProcessInfo?> read, Func<string, bool>? cgroupFilter)
    {
        var known = new HashSet<int>(list.Count);
        foreach (var p in list)
            known.Add(p.Pid);
        var merged = new List<ProcessInfo>(list.Count + 8);
        merged.AddRange(list);
        foreach (int pid in pidsNow)
        {
            if (known.Contains(pid) || read(pid) is not { } p)
                continue;
            if (cgroupFilter is null || cgroupFilter(p.CgroupPath))
                merged.Add(p);
        }
        return merged;
    }

    public void Dispose()
    {
        _stop = true;
        _request.Set();
        _thread.Join(TimeSpan.FromSeconds(1));
        _request.Dispose();
    }
}
