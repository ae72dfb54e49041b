using System.Globalization;

namespace Lmkd.Policies;

/// <summary>One rule's state at the last evaluation, in words an operator can act on.</summary>
public readonly record struct RuleState(string Rule, bool Fires, string Why);

/// <summary>
/// Which rule is closest to firing, and why the others are not, from the last decision: for
/// `lmkd status`. Pure; allocates (it runs per status request, never on the monitor's path).
/// </summary>
public static class RuleOutlook
{
    /// <summary>The headroom watch, Android's reasons and the critical level, closest to firing first.</summary>
    /// <param name="inPsiWindow">Whether Android's reasons ran in that evaluation (a PSI event or its polling window).</param>
    public static IReadOnlyList<RuleState> Explain(in KillDecision d, bool inPsiWindow)
    {
        var h = d.Headroom;
        var inv = CultureInfo.InvariantCulture;
        bool headroomFires = h.Reason != KillReason.None;
        bool androidFires = d.Reason != KillReason.None && d.Reason != h.Reason && d.Reason != KillReason.NotResponding;
        string usable = string.Create(inv, $"usable swap {Mib(d.UsableSwap.TotalKb)} MiB (disk {Mib(d.UsableSwap.DiskKb)}, zram {Mib(d.UsableSwap.ZramKb)})");

        // The levels judge headroom plus usable swap: say both where there is swap.
        string room = h.RoomKb > h.HeadroomKb
            ? string.Create(inv, $"headroom {h.HeadroomPct:F1} % plus {Mib(h.RoomKb - h.HeadroomKb)} MiB of usable swap")
            : string.Create(inv, $"headroom {h.HeadroomPct:F1} %");
        string headroomWhy = headroomFires
            ? string.Create(inv, $"{KillReasons.Name(h.Reason)}: {room} below the {h.LevelPct:G} % level, out in {h.MsToExhaustion} ms")
            : h.NextSampleMs < 0 ? "off, or the scope reports no headroom"
            : h.LevelPct <= 0 ? $"{room} is above every level"
            : h.MsToExhaustion < 0 ? string.Create(inv, $"{room} is below the {h.LevelPct:G} % level but not falling")
            : string.Create(inv, $"{room} is below the {h.LevelPct:G} % level, out in {h.MsToExhaustion} ms: beyond the level's horizon");

        string androidWhy = androidFires
            ? string.Create(inv, $"{KillReasons.Name(d.Reason)} (oom_score_adj >= {d.MinScoreAdj})")
            : !inPsiWindow ? "they run on a PSI event and in its polling window; none is open"
            : string.Create(inv, $"in a PSI window: watermark {d.Watermark}, swap {(d.SwapIsLow ? "low" : "not low")} ({usable}), thrashing {d.ThrashingPct} % of {d.ThrashingLimitPct} %, reclaim {d.Reclaim}");

        var headroom = new RuleState("headroom (LOW_HEADROOM, RECLAIM_FAILING)", headroomFires, headroomWhy);
        var android = new RuleState("Android's reasons", androidFires, androidWhy);
        var critical = new RuleState("NOT_RESPONDING", d.Reason == KillReason.NotResponding,
            d.Reason == KillReason.NotResponding ? "the critical (full) PSI level fired" : "waits for the critical (full) PSI level");

        // Closest: what fires; else Android's reasons while their window is open; else the headroom
        // watch, the only rule that can fire without a PSI event.
        bool androidFirst = androidFires || (!headroomFires && inPsiWindow && h.LevelPct <= 0);
        return critical.Fires ? [critical, headroom, android]
            : androidFirst ? [android, headroom, critical]
            : [headroom, android, critical];
    }

    private static long Mib(long kb) => kb / 1024;
}
