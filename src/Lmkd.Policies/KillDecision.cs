namespace Lmkd.Policies;

/// <summary>Android lmkd's kill reasons, with the same meanings, and Lmkd's headroom reasons.</summary>
public enum KillReason
{
    None = 0,
    PressureAfterKill,
    NotResponding,
    LowSwapAndThrashing,
    LowMemAndSwap,
    LowMemAndSwapUtil,
    LowMemAndThrashing,
    DirectReclAndThrashing,
    LowFilecacheAfterThrashing,
    LowMem,
    /// <summary>Headroom below a level and, at the recent fill rate, about to run out (see <see cref="HeadroomWatch"/>).</summary>
    LowHeadroom,
    /// <summary>Headroom below the deepest level, little cache left, and reclaim freeing almost nothing it scans.</summary>
    ReclaimFailing,
}

public static class KillReasons
{
    /// <summary>Android's upper-case names, as operators know them from lmkd's logs; Lmkd's own in the same style.</summary>
    public static string Name(KillReason r) => r switch
    {
        KillReason.PressureAfterKill => "PRESSURE_AFTER_KILL",
        KillReason.NotResponding => "NOT_RESPONDING",
        KillReason.LowSwapAndThrashing => "LOW_SWAP_AND_THRASHING",
        KillReason.LowMemAndSwap => "LOW_MEM_AND_SWAP",
        KillReason.LowMemAndSwapUtil => "LOW_MEM_AND_SWAP_UTIL",
        KillReason.LowMemAndThrashing => "LOW_MEM_AND_THRASHING",
        KillReason.DirectReclAndThrashing => "DIRECT_RECL_AND_THRASHING",
        KillReason.LowFilecacheAfterThrashing => "LOW_FILECACHE_AFTER_THRASHING",
        KillReason.LowMem => "LOW_MEM",
        KillReason.LowHeadroom => "LOW_HEADROOM",
        KillReason.ReclaimFailing => "RECLAIM_FAILING",
        _ => "NONE",
    };
}

public enum ReclaimState
{
    None = 0,
    Kswapd,
    Direct,
}

/// <summary>
/// The policy's verdict on one evaluation, with the figures that led to it (they go into the kill
/// event and the metrics). A struct so that an evaluation that decides nothing allocates nothing.
/// </summary>
public readonly record struct KillDecision
{
    public KillReason Reason { get; init; }
    /// <summary>The lowest oom_score_adj this kill may reach.</summary>
    public int MinScoreAdj { get; init; }
    public WatermarkLevel Watermark { get; init; }
    public ReclaimState Reclaim { get; init; }
    public long ThrashingPct { get; init; }
    public long ThrashingLimitPct { get; init; }
    /// <summary>PSI some stall the thrashing gate saw (percent of the time); -1 where activations are reported and no gate applies.</summary>
    public int StallPct { get; init; }
    public bool SwapIsLow { get; init; }
    /// <summary>Free swap that can still take pages, by device kind (<see cref="Policies.UsableSwap"/>).</summary>
    public UsableSwap UsableSwap { get; init; }
    public int SwapUtilPct { get; init; }
    /// <summary>Keep polling the memory state after this evaluation (an event, a kill, direct reclaim).</summary>
    public bool KeepPolling { get; init; }
    /// <summary>Interval for the next poll: short while killing or when swap is low, long otherwise.</summary>
    public int PollIntervalMs { get; init; }
    /// <summary>The headroom watch's view: headroom, fill rate, time to exhaustion, when to sample next.</summary>
    public HeadroomJudgement Headroom { get; init; }

    public bool ShouldKill => Reason != KillReason.None;
}
