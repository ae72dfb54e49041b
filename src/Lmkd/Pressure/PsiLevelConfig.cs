using Lmkd.Policies;

namespace Lmkd.Pressure;

/// <summary>Which PSI line a level watches.</summary>
public enum PsiKind
{
    /// <summary>At least one task stalled on memory.</summary>
    Some,
    /// <summary>All non-idle tasks stalled at once.</summary>
    Full,
}

/// <summary>
/// One PSI level: fire when the stall of <see cref="Kind"/> grows by <see cref="StallMs"/> within
/// <see cref="WindowMs"/>. By default "some" maps to <see cref="PressureLevel.Medium"/> and "full" to
/// <see cref="PressureLevel.Critical"/>, as in Android lmkd.
/// </summary>
public sealed record PsiLevelConfig(string Name, PsiKind Kind, int StallMs, int WindowMs, PressureLevel? Level = null)
{
    /// <summary>The level this config reports when it fires.</summary>
    public PressureLevel Effective => Level ?? (Kind == PsiKind.Full ? PressureLevel.Critical : PressureLevel.Medium);

    /// <summary>Throws when the numbers cannot describe a trigger (checked once at start, not on each write).</summary>
    public void Validate()
    {
        if (StallMs <= 0 || WindowMs <= 0 || StallMs > WindowMs)
            throw new ArgumentException(
                $"PSI level '{Name}': need 0 < StallMs ({StallMs}) <= WindowMs ({WindowMs}).");
    }
}

/// <summary>How a <see cref="PsiMonitor"/> learns about pressure.</summary>
public enum TriggerMode
{
    /// <summary>Not armed yet.</summary>
    None,
    /// <summary>Kernel triggers with the configured windows.</summary>
    Trigger,
    /// <summary>Kernel triggers, at least one window widened to a whole multiple of 2 s (no CAP_SYS_RESOURCE).</summary>
    WidenedTrigger,
    /// <summary>No triggers: the monitor reads total= at an adaptive interval.</summary>
    Sampling,
}
