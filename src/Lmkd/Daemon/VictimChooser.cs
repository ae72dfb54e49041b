using Lmkd.Policies;
using Lmkd.ProcFs;

namespace Lmkd.Daemon;

/// <summary>Where the chooser gets processes: the scope's pids now, one process, a full scan of some pids.</summary>
public interface IProcessSource
{
    /// <summary>The pids that may be candidates now: /proc's list, or the scope cgroup's cgroup.procs.</summary>
    void ListPids(List<int> into);
    /// <summary>One process as it is now, or null when it is gone, a kernel thread, a zombie or unreadable.</summary>
    ProcessInfo? Read(int pid);
    /// <summary>The processes among <paramref name="pids"/> that are inside the scope.</summary>
    IReadOnlyList<ProcessInfo> Scan(IReadOnlyList<int> pids);
    /// <summary>Whether a process (by its cgroup) is inside the scope.</summary>
    bool InScope(ProcessInfo p);
    /// <summary>The process's resident memory now, the cheapest size read there is; -1 when it is gone.</summary>
    long ReadResidentBytes(int pid);
}

/// <summary>The scope's processes from /proc through a <see cref="ProcessScanner"/>.</summary>
public sealed class ScopeProcessSource(ProcessScanner scanner, Scope scope) : IProcessSource
{
    public void ListPids(List<int> into) => scope.ListPids(scanner, into);
    public ProcessInfo? Read(int pid) => scanner.Read(pid);
    public IReadOnlyList<ProcessInfo> Scan(IReadOnlyList<int> pids) => scanner.ScanPids(pids, scope.Filter);
    public bool InScope(ProcessInfo p) => scope.Contains(p.CgroupPath);
    public long ReadResidentBytes(int pid) => scanner.ReadResidentBytes(pid);
}

/// <summary>What one choice found: the victim (or none), what it ranked, and what it noticed on the way.</summary>
public sealed record VictimChoice(ProcessInfo? Victim, IReadOnlyList<ProcessInfo> Candidates, bool ScannedNow, int Emigrants, int StillDying)
{
    /// <summary>The full ranking of what was chosen from (only built when nobody was eligible: the no-victim report).</summary>
    public RankingResult? Ranking { get; init; }
}

/// <summary>
/// Chooses the victim from what is true at the kill. It owns the candidate list (kept by the
/// scanner thread, <see cref="CandidateCache"/>), the scope and its pid source, Lmkd's own pid and
/// the freshness rule:
/// <list type="bullet">
/// <item>the list is rescanned every 500 ms while pressure lasts (the loop asks); one older than
/// <see cref="StaleMs"/> at a kill is not trusted: the scope is scanned in full, there and then;</item>
/// <item>membership is the scope's now: a listed process that is no longer among the scope's pids
/// (gone, or moved out of the watched cgroup) drops out, and every pid the list does not know is
/// read (a newcomer);</item>
/// <item>sizes are those of the scanner thread's last sweep (every 100 ms while pressure lasts);
/// when they are older than <see cref="FreshSizesMs"/>, the top bucket's are read here;</item>
/// <item>the top of the ranking is re-read, one oom_score_adj bucket at a time, at most
/// <see cref="MaxReads"/> processes: a process re-read under another start time is a new process
/// with a reused pid and is judged as one; one whose cgroup is now outside the scope is an
/// emigrant and is spared (its pages stay charged to the scope: the caller logs it);</item>
/// <item>a recent victim that is still there (dying in D state, a refused reap) is never chosen
/// again: it is remembered by (pid, start time) until it is gone.</item>
/// </list>
/// Not thread-safe: the monitor thread owns it.
/// </summary>
public sealed class VictimChooser
{
    /// <summary>A list older than this at a kill is replaced by a full scan on the spot.</summary>
    public const int StaleMs = 2000;
    /// <summary>
    /// Processes re-read at the top of the ranking (~50 µs each). The sizes (swept, or read just
    /// before) already put the heaviest first, so the re-reads confirm what is true of them; 32 cost
    /// 1.6 ms of the 5 ms aim.
    /// </summary>
    public const int MaxReads = 16;
    /// <summary>
    /// Processes of the top oom_score_adj bucket whose size is read again before the re-reads (statm
    /// only, ~7 µs each: 256 cost about 1.8 ms), so that one that grew since the scan rises to its
    /// place, when the list's sizes are older than <see cref="FreshSizesMs"/>.
    /// </summary>
    public const int MaxSizeReads = 256;
    /// <summary>
    /// Sizes at most this old are used as listed: the scanner thread sweeps them every 100 ms while
    /// pressure lasts (<see cref="CandidateCache.SweepIntervalMs"/>), so this covers a late sweep.
    /// </summary>
    public const int FreshSizesMs = 250;
    /// <summary>Remembered victims are forgotten after this, dead or not (a process stuck that long is the kernel's business).</summary>
    public const int RememberMs = 10 * 60_000;

    private readonly IProcessSource _source;
    private readonly Func<CandidateCache.Snapshot?> _latest;
    private readonly int _selfPid;
    private readonly List<int> _pidsNow = new(256);
    private readonly HashSet<int> _present = [];
    private readonly HashSet<int> _known = [];
    private readonly List<RecentVictim> _recent = [];

    /// <param name="latest">The scanner thread's latest list (null before the first).</param>
    public VictimChooser(IProcessSource source, Func<CandidateCache.Snapshot?> latest, int selfPid)
    {
        _source = source;
        _latest = latest;
        _selfPid = selfPid;
    }

    public RankingRules Rules { get; set; } = RankingRules.None;

    /// <summary>Victims killed and not yet seen gone.</summary>
    public int RecentVictims => _recent.Count;

    private readonly record struct RecentVictim(int Pid, ulong StartTime, long KilledAtMs);

    public VictimChoice Choose(int minScoreAdj, long nowMs)
    {
        _source.ListPids(_pidsNow);
        var snapshot = _latest();
        bool scanNow = snapshot is null || nowMs - snapshot.TakenAtMs > StaleMs;
        IReadOnlyList<ProcessInfo> listed = scanNow ? _source.Scan(_pidsNow) : snapshot!.Processes;

        _present.Clear();
        foreach (int pid in _pidsNow)
            _present.Add(pid);
        _known.Clear();
        var current = new List<ProcessInfo>(listed.Count + 8);
        foreach (var p in listed)
        {
            if (!_present.Contains(p.Pid))
                continue; // gone, or no longer among the scope's pids
            current.Add(p);
            _known.Add(p.Pid);
        }
        if (!scanNow)
        {
            // A kernel thread or zombie stays one for the life of its pid: reading the ~60 of a
            // server again at every kill cost ~0.8 ms. A pid reused since the scan is seen at the next.
            if (snapshot!.NeverCandidates is { } never)
                foreach (int pid in never)
                    _known.Add(pid);
            foreach (int pid in _pidsNow)
                if (!_known.Contains(pid) && _source.Read(pid) is { } newcomer && _source.InScope(newcomer))
                    current.Add(newcomer);
        }

        // Sizes read within FreshSizesMs (a scan just now, or the scanner thread's sweeps while
        // pressure lasts) rank as they are; older ones are read again across the top bucket.
        bool sizesFresh = scanNow || nowMs - snapshot!.SizesAtMs <= FreshSizesMs;
        var (victim, emigrants, dying) = Freshen(current, minScoreAdj, nowMs, sizesFresh);
        var choice = new VictimChoice(victim, current, scanNow, emigrants, dying);
        return victim is null ? choice with { Ranking = VictimRanking.Rank(current, minScoreAdj, Rules, _selfPid) } : choice;
    }

    /// <summary>Re-read the top of the ranking, one bucket at a time; the first bucket that yields an eligible process gives the victim.</summary>
    private (ProcessInfo? Victim, int Emigrants, int Dying) Freshen(List<ProcessInfo> current, int minScoreAdj, long nowMs, bool sizesFresh)
    {
        var ranked = VictimRanking.Rank(current, minScoreAdj, Rules, _selfPid).Ranked;
        if (!sizesFresh)
            ranked = ResizeTopBucket(ranked, minScoreAdj);
        var fresh = new List<ProcessInfo>();
        int? bucket = null;
        int reads = 0, emigrants = 0, dying = 0;
        foreach (var listed in ranked)
        {
            if (bucket is int b && listed.OomScoreAdj < b && VictimRanking.Pick(fresh, minScoreAdj, Rules, _selfPid) is { } found)
                return (found, emigrants, dying);
            if (reads >= MaxReads)
                break;
            var now = _source.Read(listed.Pid);
            if (now is null)
                continue; // gone: a failed open costs next to nothing, so it is not counted
            reads++;
            // Another start time: the pid was reused by a process the list never saw. It is judged as
            // itself, by its own figures (and its own scope).
            if (!_source.InScope(now))
            {
                emigrants++;
                continue;
            }
            if (IsRecentVictim(now, nowMs))
            {
                dying++;
                continue;
            }
            fresh.Add(now);
            bucket = listed.OomScoreAdj;
        }
        return (VictimRanking.Pick(fresh, minScoreAdj, Rules, _selfPid), emigrants, dying);
    }

    /// <summary>
    /// The top bucket's processes with their resident size read now (swap as listed), ranked again:
    /// a leak that was small at the last scan is then among the first re-read, not behind others.
    /// Only the resized ones are ranked again, ahead of the rest, which keep their order: ranking the
    /// whole list a second time cost more than the reads (0.5 ms for 2,000), and the order only says
    /// who is re-read first; the victim is picked by what the re-reads find.
    /// </summary>
    private IReadOnlyList<ProcessInfo> ResizeTopBucket(IReadOnlyList<ProcessInfo> ranked, int minScoreAdj)
    {
        if (ranked.Count <= 1)
            return ranked;
        int adj = ranked[0].OomScoreAdj, n = 0;
        while (n < ranked.Count && n < MaxSizeReads && ranked[n].OomScoreAdj == adj)
            n++;
        if (n == ranked.Count && n <= MaxReads)
            return ranked; // every candidate is re-read in full anyway
        var top = new ProcessInfo[n];
        for (int i = 0; i < n; i++)
        {
            var p = ranked[i];
            long rss = _source.ReadResidentBytes(p.Pid);
            top[i] = rss >= 0 ? p.WithResidentBytes(rss) : p;
        }
        var resized = new List<ProcessInfo>(ranked.Count);
        resized.AddRange(VictimRanking.Rank(top, minScoreAdj, Rules, _selfPid).Ranked);
        for (int i = n; i < ranked.Count; i++)
            resized.Add(ranked[i]);
        return resized;
    }

    /// <summary>A victim was signalled: never choose it again while it is still there.</summary>
    public void Remember(ProcessInfo victim, long nowMs)
    {
        _recent.Add(new RecentVictim(victim.Pid, victim.StartTime, nowMs));
        if (_recent.Count > 64)
            _recent.RemoveAt(0);
    }

    /// <summary>Its pidfd reported the exit: forget it.</summary>
    public void Forget(ProcessInfo victim) => _recent.RemoveAll(r => r.Pid == victim.Pid && r.StartTime == victim.StartTime);

    /// <summary>Victims remembered and still alive at <paramref name="nowMs"/>, read now (the log's "still dying" line).</summary>
    public IEnumerable<(int Pid, long KilledAtMs)> StillAlive(long nowMs)
    {
        Prune(nowMs);
        foreach (var r in _recent)
            if (_source.Read(r.Pid) is { } p && p.StartTime == r.StartTime)
                yield return (r.Pid, r.KilledAtMs);
    }

    private bool IsRecentVictim(ProcessInfo p, long nowMs)
    {
        Prune(nowMs);
        foreach (var r in _recent)
            if (r.Pid == p.Pid && r.StartTime == p.StartTime)
                return true;
        return false;
    }

    private void Prune(long nowMs) => _recent.RemoveAll(r => nowMs - r.KilledAtMs > RememberMs);
}
