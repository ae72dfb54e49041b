namespace Lmkd.Policies;

/// <summary>Android lmkd's kill reasons, with the same meanings.</summary>
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
    public bool SwapIsLow { get; init; }
    public int SwapUtilPct { get; init; }
    /// <summary>Keep polling the memory state after this evaluation (an event, a kill, direct reclaim).</summary>
    public bool KeepPolling { get; init; }
    /// <summary>Interval for the next poll: short while killing or when swap is low, long otherwise.</summary>
    public int PollIntervalMs { get; init; }

    public bool ShouldKill => Reason != KillReason.None;
}
