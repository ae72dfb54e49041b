using Lmkd.Policies;

namespace Lmkd.Pressure;

/// <summary>Why <see cref="PsiMonitor.Wait"/> returned.</summary>
public enum WaitStatus
{
    /// <summary>At least one level fired.</summary>
    Fired,
    /// <summary>The timeout passed without an event.</summary>
    Timeout,
    /// <summary>The wake fd (shutdown/reload eventfd) became readable; it is not drained.</summary>
    Woken,
    /// <summary>The memory event fd (memory.events, a v1 usage threshold) fired; it is not drained.</summary>
    MemoryEvent,
    /// <summary>The watched cgroup was removed (POLLERR and reads fail with ENODEV). Final.</summary>
    ScopeGone,
    /// <summary>
    /// poll or read failed otherwise; <see cref="WaitResult.Errno"/> says how (0: POLLERR/POLLNVAL without
    /// ENODEV, or unparsable content). It may repeat: the caller should back off or re-arm, not loop tightly.
    /// </summary>
    Error,
}

/// <summary>
/// The outcome of one wait, without allocation: the status, the highest level that fired and a bit per
/// configured level (bit i = <see cref="PsiMonitor.Levels"/>[i]).
/// </summary>
public readonly record struct WaitResult(WaitStatus Status, PressureLevel Level, uint FiredMask, int Errno)
{
    public static WaitResult Timeout => new(WaitStatus.Timeout, PressureLevel.None, 0, 0);
    public static WaitResult Woken => new(WaitStatus.Woken, PressureLevel.None, 0, 0);
    public static WaitResult MemoryEvent => new(WaitStatus.MemoryEvent, PressureLevel.None, 0, 0);
    public static WaitResult ScopeGone => new(WaitStatus.ScopeGone, PressureLevel.None, 0, 0);
    public static WaitResult Failed(int errno) => new(WaitStatus.Error, PressureLevel.None, 0, errno);

    public bool IsFired => Status == WaitStatus.Fired;

    /// <summary>Whether the level at this index in <see cref="PsiMonitor.Levels"/> fired.</summary>
    public bool HasFired(int levelIndex) => (FiredMask & (1u << levelIndex)) != 0;
}
