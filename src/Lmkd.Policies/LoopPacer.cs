namespace Lmkd.Policies;

/// <summary>Timings of the monitor loop's pacing; the daemon fills them from its configuration.</summary>
public sealed record PacingOptions
{
    /// <summary>How long to keep evaluating after a PSI event or a kill (lmkd: PSI_WINDOW_SIZE_MS).</summary>
    public int PollWindowMs { get; init; } = 1000;
    /// <summary>Poll interval when a decision names none (lmkd: PSI_POLL_PERIOD_LONG_MS).</summary>
    public int PollLongMs { get; init; } = 100;
    /// <summary>Poll interval right after a kill (lmkd: PSI_POLL_PERIOD_SHORT_MS).</summary>
    public int PollShortMs { get; init; } = 10;
    /// <summary>While pressure lasts, the candidate list is rescanned this often.</summary>
    public int CandidateRefreshMs { get; init; } = 500;
    /// <summary>After a decision that found nobody to kill, wait this long before trying again (doubling to the max).</summary>
    public int NoVictimBackoffMinMs { get; init; } = 100;
    public int NoVictimBackoffMaxMs { get; init; } = 1000;
    /// <summary>The headroom watch's longest interval: used below a v1 usage threshold, where the kernel wakes Lmkd.</summary>
    public int HeadroomSampleMaxMs { get; init; } = 1000;
    /// <summary>The longest poll timeout: the loop goes round at least this often, so its age metric stays meaningful.</summary>
    public int IdleTickMs { get; init; } = 5000;
}

/// <summary>What the loop should do after an evaluation.</summary>
public readonly record struct PacingVerdict(bool StartKill, bool RequestRescan, bool EpisodeStarted);

/// <summary>
/// When the monitor loop evaluates, kills and sleeps: the pacing of Android lmkd (evaluate on every
/// PSI event and poll for a window after it; one kill at a time, judged again only once the victim
/// is gone), plus the headroom watch's own sampling, a back-off when nobody can be killed, and the
/// cadence of candidate rescans while pressure lasts. Pure, clocked by the caller's monotonic
/// milliseconds; one instance per monitor thread.
/// </summary>
public sealed class LoopPacer
{
    private PacingOptions _o;
    private long _pollUntilMs;
    private long _psiWindowUntilMs;           // lmkd's polling window: opened by a PSI event only
    private bool _killFromPsiWindow;
    private int _pollIntervalMs;
    private long _nextHeadroomSampleMs;       // 0: at once (the first sample)
    private long _holdUntilMs;
    private long _lastEventMs = long.MinValue / 2;
    private long _lastRescanMs = long.MinValue / 2;
    private bool _headroomConcern;
    private long _noVictimUntilMs;
    private int _noVictimBackoffMs;
    private int _noVictimMinAdj = int.MaxValue;

    public LoopPacer(PacingOptions options) => _o = options ?? throw new ArgumentNullException(nameof(options));

    public PacingOptions Options => _o;

    public void UpdateOptions(PacingOptions options) => _o = options ?? throw new ArgumentNullException(nameof(options));

    /// <summary>A victim is dying: nothing is judged until <see cref="OnKillFinished"/>.</summary>
    public bool KillInFlight { get; private set; }

    /// <summary>A PSI event or a kill opened a polling window that is still open.</summary>
    public bool InEpisode(long nowMs) => nowMs < _pollUntilMs;

    /// <summary>
    /// Android lmkd's polling window: opened by a PSI event, kept open while its evaluations ask to
    /// poll on (a kill, direct reclaim), as mp_event_psi does. Android's reasons run only inside it;
    /// a window the headroom watch opened (its samples, its kills) is not one.
    /// </summary>
    public bool InPsiWindow(long nowMs) => nowMs < _psiWindowUntilMs;

    /// <summary>
    /// A PSI level fired. True when it starts a pressure episode (no polling window was open, nor a
    /// headroom concern): the caller stamps the episode's start and rescans the candidates.
    /// </summary>
    public bool OnPsiEvent(long nowMs)
    {
        bool started = nowMs >= _pollUntilMs && !_headroomConcern;
        _lastEventMs = nowMs;
        _pollUntilMs = nowMs + _o.PollWindowMs;
        _psiWindowUntilMs = nowMs + _o.PollWindowMs;
        if (started)
            _lastRescanMs = nowMs;
        return started;
    }

    /// <summary>The kernel reported the cgroup's memory moving: sample headroom now.</summary>
    public void OnMemoryEvent(long nowMs) => _nextHeadroomSampleMs = Math.Min(_nextHeadroomSampleMs, nowMs);

    /// <summary>Whether this wake-up is to be judged: not while a victim dies or a dry-run kill is held; on an event, in a polling window, or when a headroom sample is due.</summary>
    public bool ShouldEvaluate(long nowMs, bool psiEvent) =>
        !KillInFlight && nowMs >= _holdUntilMs && (psiEvent || nowMs < _pollUntilMs || nowMs >= _nextHeadroomSampleMs);

    /// <summary>
    /// After an evaluation: schedule the next poll and headroom sample, and say whether to kill,
    /// to rescan the candidates, and whether a headroom episode just began.
    /// <paramref name="slowHeadroomSampling"/>: the kernel will wake Lmkd when usage crosses a
    /// threshold it is below (cgroup v1), so the next headroom sample can wait the longest interval.
    /// </summary>
    public PacingVerdict OnEvaluated(long nowMs, in KillDecision decision, bool slowHeadroomSampling = false)
    {
        var h = decision.Headroom;
        _pollIntervalMs = decision.PollIntervalMs;
        _nextHeadroomSampleMs = h.NextSampleMs < 0 ? long.MaxValue
            : nowMs + (slowHeadroomSampling ? Math.Max(h.NextSampleMs, _o.HeadroomSampleMaxMs) : h.NextSampleMs);
        bool episodeStarted = h.Concern && !_headroomConcern && nowMs >= _pollUntilMs;
        _headroomConcern = h.Concern;
        if (decision.KeepPolling)
        {
            _pollUntilMs = Math.Max(_pollUntilMs, nowMs + _o.PollWindowMs);
            if (InPsiWindow(nowMs))
                _psiWindowUntilMs = nowMs + _o.PollWindowMs;
        }

        // Rescan while PSI events keep coming or headroom falls towards exhaustion; a full but steady
        // scope needs no rescans (newcomers are read at the kill anyway).
        bool pressure = nowMs - _lastEventMs <= _o.PollWindowMs || h.Concern;
        bool rescan = pressure && nowMs - _lastRescanMs >= _o.CandidateRefreshMs;
        if (rescan || episodeStarted)
            _lastRescanMs = nowMs;

        // After a decision that found nobody, wait out the back-off unless this one reaches deeper.
        bool kill = decision.ShouldKill && (nowMs >= _noVictimUntilMs || decision.MinScoreAdj < _noVictimMinAdj);
        if (kill)
            _killFromPsiWindow = InPsiWindow(nowMs);
        return new PacingVerdict(kill, rescan || episodeStarted, episodeStarted);
    }

    /// <summary>The decision found no eligible victim: back off (100 ms doubling to 1 s) before ranking again at that reach.</summary>
    public void OnNoVictim(long nowMs, int minScoreAdj)
    {
        _noVictimBackoffMs = Math.Clamp(_noVictimBackoffMs * 2, _o.NoVictimBackoffMinMs, _o.NoVictimBackoffMaxMs);
        _noVictimUntilMs = nowMs + _noVictimBackoffMs;
        _noVictimMinAdj = minScoreAdj;
    }

    public void OnKillStarted()
    {
        KillInFlight = true;
        _noVictimBackoffMs = 0;
        _noVictimUntilMs = 0;
        _noVictimMinAdj = int.MaxValue;
    }

    /// <summary>
    /// The victim is gone (or the kill failed, or timed out): watch closely for a window, as lmkd
    /// does. After a dry-run "kill" nothing died: hold judgement for the kill timeout, as if it had,
    /// so the log shows one line per episode.
    /// </summary>
    public void OnKillFinished(long nowMs, bool dryRun, int killTimeoutMs)
    {
        KillInFlight = false;
        _pollUntilMs = Math.Max(_pollUntilMs, nowMs + _o.PollWindowMs);
        // lmkd polls on after its kill: the window goes on past the victim's death.
        if (_killFromPsiWindow)
            _psiWindowUntilMs = Math.Max(_psiWindowUntilMs, nowMs + _o.PollWindowMs);
        _killFromPsiWindow = false;
        _pollIntervalMs = _o.PollShortMs;
        _lastRescanMs = nowMs; // the caller rescans: the victim is gone, others may have grown
        if (dryRun)
            _holdUntilMs = nowMs + killTimeoutMs;
    }

    /// <summary>
    /// How long poll may sleep: until the next poll of an episode, the next headroom sample, or the
    /// next watchdog ping (<paramref name="msUntilPing"/>, -1: none), at most the idle tick. While a
    /// victim dies only the ping and the tick bound it (the kill's completion wakes the loop).
    /// </summary>
    public int NextTimeoutMs(long nowMs, int msUntilPing)
    {
        long timeout = _o.IdleTickMs;
        if (!KillInFlight)
        {
            if (nowMs < _pollUntilMs)
                timeout = Math.Min(timeout, Math.Max(1, Math.Max(_pollIntervalMs > 0 ? _pollIntervalMs : _o.PollLongMs, _holdUntilMs - nowMs)));
            if (_nextHeadroomSampleMs != long.MaxValue)
                timeout = Math.Min(timeout, Math.Max(1, Math.Max(_nextHeadroomSampleMs, _holdUntilMs) - nowMs));
        }
        if (msUntilPing > 0)
            timeout = Math.Min(timeout, msUntilPing);
        return (int)timeout;
    }
}
