using Lmkd.Killing;

namespace Lmkd.Configuration;

/// <summary>The names of Lmkd:Kill:Mode. "auto" (null) means: use what the start-up probe found.</summary>
public static class KillModes
{
    public static readonly string[] Names = ["auto", "reap-kill", "kill-then-reap", "kill-only"];

    public static bool TryParse(string? name, out ReapMode? mode)
    {
        mode = name?.ToLowerInvariant() switch
        {
            "auto" => null,
            "reap-kill" => ReapMode.ReapKill,
            "kill-then-reap" => ReapMode.KillThenReap,
            "kill-only" => ReapMode.KillOnly,
            _ => (ReapMode?)(-1),
        };
        return mode is null || (int)mode.Value >= 0;
    }

    public static string Name(ReapMode mode) => mode switch
    {
        ReapMode.ReapKill => "reap-kill",
        ReapMode.KillThenReap => "kill-then-reap",
        _ => "kill-only",
    };
}
