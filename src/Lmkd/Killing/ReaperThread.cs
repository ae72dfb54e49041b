using Lmkd.Policies;

namespace Lmkd.Killing;

/// <summary>
/// Runs <see cref="Killer.Kill"/> on a dedicated thread, one request at a time, so the monitor
/// thread never blocks in process_mrelease or in the wait for exit. Not the thread pool: under
/// memory pressure its threads may not be there when needed. The thread stays busy until
/// <c>onDone</c> has returned, so "not busy" means the last kill is fully reported.
/// </summary>
public sealed class ReaperThread : IDisposable
{
    /// <summary>How long <see cref="Dispose"/> waits for a kill in flight: shutdown has a second in all.</summary>
    public static readonly TimeSpan DefaultStopWait = TimeSpan.FromMilliseconds(200);

    private readonly Killer _killer;
    private readonly Action<Exception>? _onError;
    private readonly Thread _thread;
    private readonly SemaphoreSlim _wake = new(0);
    private int _busy;
    private volatile bool _stopping;
    /// <summary>The victim being killed right now (null when idle), for the shutdown log.</summary>
    private volatile ProcessInfo? _killing;

    // The one pending request, written by TrySubmit before the semaphore is released (a full fence).
    private ProcessInfo? _victim;
    private bool _dryRun;
    private int _timeoutMs;
    private Action<KillResult>? _onDone;

    /// <param name="onError">Called on the reaper thread when a kill or its onDone throws; the thread keeps running, and a kill that threw still completes (as <see cref="KillOutcome.Failed"/>).</param>
    public ReaperThread(Killer killer, Action<Exception>? onError = null)
    {
        ArgumentNullException.ThrowIfNull(killer);
        _killer = killer;
        _onError = onError;
        _thread = new Thread(Loop) { IsBackground = true, Name = "lmkd-reaper" };
        _thread.Start();
    }

    public bool IsBusy => Volatile.Read(ref _busy) != 0;

    /// <summary>Queues one kill; false while another is in flight (or after Stop). onDone runs on the reaper thread.</summary>
    public bool TrySubmit(ProcessInfo victim, bool dryRun, int timeoutMs, Action<KillResult> onDone)
    {
        ArgumentNullException.ThrowIfNull(victim);
        ArgumentNullException.ThrowIfNull(onDone);
        if (_stopping || Interlocked.CompareExchange(ref _busy, 1, 0) != 0)
            return false;
        _victim = victim;
        _dryRun = dryRun;
        _timeoutMs = timeoutMs;
        _onDone = onDone;
        _wake.Release();
        return true;
    }

    private void Loop()
    {
        while (true)
        {
            _wake.Wait();
            if (_stopping)
                return;
            ProcessInfo victim = _victim!;
            Action<KillResult> onDone = _onDone!;
            _victim = null;
            _onDone = null;
            _killing = victim;
            KillResult result;
            try
            {
                result = _killer.Kill(victim, _dryRun, _timeoutMs);
            }
            catch (Exception e)
            {
                // The kill is over all the same: the loop must hear of it, or it waits for it forever.
                _onError?.Invoke(e);
                result = KillResult.Unfinished(victim, _killer.Mode, KillOutcome.Failed, $"{e.GetType().Name}: {e.Message}");
            }
            try
            {
                onDone(result);
            }
            catch (Exception e)
            {
                _onError?.Invoke(e);
            }
            finally
            {
                _killing = null;
                Volatile.Write(ref _busy, 0);
            }
        }
    }

    /// <summary>
    /// Stops the thread, waiting at most <paramref name="wait"/> for the kill in flight: one blocked
    /// in process_mrelease or in the wait for exit (up to Kill:TimeoutMs) must not hold up shutdown.
    /// False when the thread is still running after the wait, with the victim it was killing (null if
    /// it was just finishing): it is then abandoned (a background thread, it ends with the process),
    /// and that kill's onDone may still run later.
    /// </summary>
    public bool Stop(TimeSpan wait, out ProcessInfo? inFlight)
    {
        if (!_stopping)
        {
            _stopping = true;
            // An idle thread wakes now; a busy one finishes its kill and then sees _stopping. A request
            // that slipped in alongside is dropped without onDone: this is shutdown.
            _wake.Release();
        }
        inFlight = null;
        if (_thread.Join(wait < TimeSpan.Zero ? TimeSpan.Zero : wait))
            return true;
        inFlight = _killing;
        return false;
    }

    /// <summary><see cref="Stop"/> with <see cref="DefaultStopWait"/>, or no wait at all after an earlier Stop.</summary>
    public void Dispose()
    {
        // An abandoned thread waits on the semaphore again when its kill returns: dispose it only once the thread is gone.
        if (Stop(_stopping ? TimeSpan.Zero : DefaultStopWait, out _))
            _wake.Dispose();
    }
}
