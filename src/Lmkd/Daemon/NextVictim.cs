using Lmkd.Configuration;
using Lmkd.Linux;
using Lmkd.Policies;
using Lmkd.ProcFs;

namespace Lmkd.Daemon;

/// <summary>
/// The victim the daemon would choose now, for `lmkd status`: the monitor loop's rules and the same
/// <see cref="VictimChooser"/>, with a scanner and a chooser of its own, because the loop's are not
/// thread-safe and the loop must never wait for a status request. It scans the scope in full at
/// each question (a list of its own, kept between rare requests, would only be stale).
/// Not thread-safe: one caller at a time (the status socket's thread); <see cref="Reload"/> from any thread.
/// </summary>
public sealed class NextVictim
{
    private readonly ProcessScanner _scanner;
    private readonly VictimChooser _chooser;
    // Options handed over by a reload, turned into rules at the next question, on the caller's thread:
    // resolving exe rules walks globs, which neither the reload nor the monitor thread should wait for.
    private LmkdOptions? _pending;

    public NextVictim(LmkdOptions options, Scope scope)
    {
        _scanner = new ProcessScanner(options.ProcRoot, cgroupRoot: scope.CgroupRoot);
        // No list of its own: every choice scans the scope's pids now.
        _chooser = new VictimChooser(new ScopeProcessSource(_scanner, scope), () => null, Environment.ProcessId);
        _pending = options;
    }

    /// <summary>The configuration was reloaded: the next choice takes its rules.</summary>
    public void Reload(LmkdOptions options) => Volatile.Write(ref _pending, options);

    /// <summary>
    /// The daemon's choice at <paramref name="minScoreAdj"/>. A victim the loop is killing now is
    /// passed over, as the loop passes over its recent victims.
    /// </summary>
    /// <exception cref="IOException">/proc could not be listed (EMFILE, ENOMEM).</exception>
    public VictimChoice Choose(int minScoreAdj, ProcessInfo? killInFlight)
    {
        if (Interlocked.Exchange(ref _pending, null) is { } options)
        {
            var rules = MonitorLoop.BuildRules(options);
            _chooser.Rules = rules;
            _scanner.ExePathRules = rules;
        }
        long now = MonotonicClock.NowMs;
        if (killInFlight is not null)
            _chooser.Remember(killInFlight, now);
        try
        {
            return _chooser.Choose(minScoreAdj, now);
        }
        finally
        {
            if (killInFlight is not null)
                _chooser.Forget(killInFlight);
        }
    }
}
