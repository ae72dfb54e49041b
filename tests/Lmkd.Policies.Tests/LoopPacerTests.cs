using Lmkd.Policies;

namespace Lmkd.Policies.Tests;

public class LoopPacerTests
{
    private static readonly PacingOptions O = new();

    private static KillDecision Decision(KillReason reason = KillReason.None, int minAdj = 0, bool keepPolling = false,
        int pollMs = 100, int sampleMs = 1000, bool concern = false) => new()
        {
            Reason = reason,
            MinScoreAdj = minAdj,
            KeepPolling = keepPolling,
            PollIntervalMs = pollMs,
            Headroom = new HeadroomJudgement { NextSampleMs = sampleMs, Concern = concern, MsToExhaustion = -1 },
        };

    [Fact]
    public void Idle_it_samples_headroom_first_then_as_the_watch_asks()
    {
        var p = new LoopPacer(O);
        Assert.True(p.ShouldEvaluate(0, psiEvent: false));     // the first sample: at once
        Assert.Equal(1, p.NextTimeoutMs(0, -1));
        p.OnEvaluated(0, Decision(sampleMs: 800));
        Assert.Equal(800, p.NextTimeoutMs(0, -1));
        Assert.False(p.ShouldEvaluate(500, psiEvent: false));   // an idle timeout with nothing due
        Assert.True(p.ShouldEvaluate(800, psiEvent: false));
        Assert.Equal(300, p.NextTimeoutMs(500, msUntilPing: 300)); // the watchdog ping comes first
    }

    [Fact]
    public void Headroom_off_sleeps_the_idle_tick()
    {
        var p = new LoopPacer(O);
        p.OnEvaluated(0, Decision(sampleMs: -1));
        Assert.Equal(O.IdleTickMs, p.NextTimeoutMs(10, -1));
        Assert.False(p.ShouldEvaluate(4000, psiEvent: false));
    }

    [Fact]
    public void A_psi_event_opens_a_polling_window_and_starts_an_episode_once()
    {
        var p = new LoopPacer(O);
        p.OnEvaluated(0, Decision(sampleMs: 1000));
        Assert.True(p.OnPsiEvent(100));
        Assert.False(p.OnPsiEvent(200));        // the same episode
        Assert.True(p.ShouldEvaluate(200, psiEvent: true));
        p.OnEvaluated(200, Decision(pollMs: 100, sampleMs: 1000));
        Assert.Equal(100, p.NextTimeoutMs(200, -1));
        Assert.True(p.ShouldEvaluate(300, psiEvent: false));  // a follow-up poll
        Assert.True(p.InEpisode(1100));
        Assert.False(p.InEpisode(1200));                      // 1 s after the last event
        Assert.True(p.OnPsiEvent(5000));                      // a new episode
    }

    [Fact]
    public void Only_a_psi_event_opens_Android_s_window_and_only_its_own_polls_and_kills_extend_it()
    {
        var p = new LoopPacer(O);
        p.OnEvaluated(0, Decision(sampleMs: 100));
        Assert.False(p.InPsiWindow(0));                       // headroom samples: no window
        p.OnEvaluated(100, Decision(keepPolling: true, sampleMs: 100));
        Assert.True(p.InEpisode(200));
        Assert.False(p.InPsiWindow(200));                     // polling that a headroom sample asked for is not Android's window

        p.OnPsiEvent(1000);
        Assert.True(p.InPsiWindow(1500));
        p.OnEvaluated(1900, Decision(keepPolling: true));     // a poll inside it that asks to go on
        Assert.True(p.InPsiWindow(2800));
        var v = p.OnEvaluated(2850, Decision(KillReason.LowMemAndSwap, 201, keepPolling: true));
        Assert.True(v.StartKill);
        p.OnKillStarted();
        p.OnKillFinished(4500, dryRun: false, killTimeoutMs: 1000); // the victim died after the window would have closed
        Assert.True(p.InPsiWindow(5400));                     // lmkd polls on after its kill
        Assert.False(p.InPsiWindow(5600));

        // A kill the headroom watch decided, outside any PSI window, opens a polling window but not Android's.
        var h = p.OnEvaluated(9000, Decision(KillReason.LowHeadroom, 900));
        Assert.True(h.StartKill);
        p.OnKillStarted();
        p.OnKillFinished(9100, dryRun: false, killTimeoutMs: 1000);
        Assert.True(p.InEpisode(9500));
        Assert.False(p.InPsiWindow(9500));
    }

    [Fact]
    public void Keep_polling_extends_the_window()
    {
        var p = new LoopPacer(O);
        p.OnPsiEvent(0);
        p.OnEvaluated(900, Decision(keepPolling: true, pollMs: 10));
        Assert.True(p.InEpisode(1800));
        Assert.Equal(10, p.NextTimeoutMs(900, -1));
    }

    [Fact]
    public void While_a_victim_dies_nothing_is_judged_and_no_poll_wakes_the_loop()
    {
        var p = new LoopPacer(O);
        p.OnPsiEvent(0);
        var v = p.OnEvaluated(0, Decision(KillReason.LowMem, 701, keepPolling: true, pollMs: 10, sampleMs: 10));
        Assert.True(v.StartKill);
        p.OnKillStarted();
        Assert.False(p.ShouldEvaluate(5, psiEvent: true));
        Assert.Equal(O.IdleTickMs, p.NextTimeoutMs(5, -1));
        Assert.Equal(2000, p.NextTimeoutMs(5, 2000));
        p.OnKillFinished(50, dryRun: false, killTimeoutMs: 1000);
        Assert.Equal(1, p.NextTimeoutMs(50, -1));             // the headroom sample missed meanwhile: at once
        Assert.True(p.ShouldEvaluate(51, psiEvent: false));
        p.OnEvaluated(51, Decision(sampleMs: 1000, pollMs: O.PollShortMs));
        Assert.Equal(O.PollShortMs, p.NextTimeoutMs(51, -1)); // watched closely after a kill
        Assert.True(p.InEpisode(1000));
    }

    [Fact]
    public void A_dry_run_kill_holds_judgement_for_the_kill_timeout_without_spinning()
    {
        var p = new LoopPacer(O);
        p.OnEvaluated(0, Decision(KillReason.LowHeadroom, 900, sampleMs: 10));
        p.OnKillStarted();
        p.OnKillFinished(20, dryRun: true, killTimeoutMs: 1000);
        Assert.False(p.ShouldEvaluate(500, psiEvent: true));
        Assert.Equal(1000, p.NextTimeoutMs(20, -1));   // sleeps to the end of the hold
        Assert.True(p.ShouldEvaluate(1020, psiEvent: false));
    }

    [Fact]
    public void Nobody_to_kill_backs_off_unless_the_next_decision_reaches_deeper()
    {
        var p = new LoopPacer(O);
        Assert.True(p.OnEvaluated(0, Decision(KillReason.LowHeadroom, 900, sampleMs: 10)).StartKill);
        p.OnNoVictim(0, 900);
        Assert.False(p.OnEvaluated(10, Decision(KillReason.LowHeadroom, 900, sampleMs: 10)).StartKill);
        Assert.False(p.OnEvaluated(20, Decision(KillReason.LowHeadroom, 901, sampleMs: 10)).StartKill);
        Assert.True(p.OnEvaluated(30, Decision(KillReason.LowHeadroom, 600, sampleMs: 10)).StartKill); // deeper: at once
        p.OnNoVictim(30, 600);                                   // 200 ms now
        Assert.False(p.OnEvaluated(150, Decision(KillReason.LowHeadroom, 600, sampleMs: 10)).StartKill);
        Assert.True(p.OnEvaluated(231, Decision(KillReason.LowHeadroom, 600, sampleMs: 10)).StartKill);
        p.OnNoVictim(231, 600); p.OnNoVictim(231, 600); p.OnNoVictim(231, 600); p.OnNoVictim(231, 600);
        Assert.False(p.OnEvaluated(1230, Decision(KillReason.LowHeadroom, 600)).StartKill); // capped at 1 s
        Assert.True(p.OnEvaluated(1231, Decision(KillReason.LowHeadroom, 600)).StartKill);
        p.OnKillStarted();                                       // a victim was found: the back-off is over
        p.OnKillFinished(1300, false, 1000);
        Assert.True(p.OnEvaluated(1310, Decision(KillReason.LowHeadroom, 600)).StartKill);
    }

    [Fact]
    public void Rescans_come_every_half_second_while_pressure_lasts_and_not_otherwise()
    {
        var p = new LoopPacer(O);
        Assert.False(p.OnEvaluated(0, Decision()).RequestRescan);             // no pressure
        var v = p.OnEvaluated(100, Decision(concern: true));                  // headroom starts to fall
        Assert.True(v.RequestRescan);
        Assert.True(v.EpisodeStarted);
        Assert.False(p.OnEvaluated(300, Decision(concern: true)).RequestRescan);
        Assert.True(p.OnEvaluated(600, Decision(concern: true)).RequestRescan);
        Assert.False(p.OnEvaluated(700, Decision(concern: true)).EpisodeStarted);
        Assert.False(p.OnEvaluated(2000, Decision()).RequestRescan);          // over
        Assert.True(p.OnPsiEvent(3000));                                      // PSI: the caller rescans
        Assert.False(p.OnEvaluated(3100, Decision()).RequestRescan);          // just done
        Assert.True(p.OnEvaluated(3600, Decision()).RequestRescan);           // still within the event's window
    }

    [Fact]
    public void A_headroom_episode_is_not_restarted_by_a_psi_event_and_vice_versa()
    {
        var p = new LoopPacer(O);
        Assert.True(p.OnEvaluated(0, Decision(concern: true)).EpisodeStarted);
        Assert.False(p.OnPsiEvent(100));
        var q = new LoopPacer(O);
        Assert.True(q.OnPsiEvent(0));
        Assert.False(q.OnEvaluated(10, Decision(concern: true)).EpisodeStarted);
    }

    [Fact]
    public void A_memory_event_samples_at_once_and_a_v1_threshold_slows_sampling()
    {
        var p = new LoopPacer(O);
        p.OnEvaluated(0, Decision(sampleMs: 40), slowHeadroomSampling: true);
        Assert.Equal(O.HeadroomSampleMaxMs, p.NextTimeoutMs(0, -1));
        p.OnMemoryEvent(200);
        Assert.True(p.ShouldEvaluate(200, psiEvent: false));
        p.OnEvaluated(200, Decision(sampleMs: 40));
        Assert.Equal(40, p.NextTimeoutMs(200, -1));
    }
}
