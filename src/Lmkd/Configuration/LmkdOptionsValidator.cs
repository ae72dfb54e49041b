using System.Net;
using Lmkd.Hosting;

namespace Lmkd.Configuration;

/// <summary>A configuration problem, named by its full key so an operator can find it in the file.</summary>
public readonly record struct ConfigError(string Key, string Message)
{
    public override string ToString() => $"{Key}: {Message}";
}

public static class LmkdOptionsValidator
{
    private const string P = LmkdOptions.Section + ":";

    public static List<ConfigError> Validate(LmkdOptions o)
    {
        var errors = new List<ConfigError>();
        void Check(bool ok, string key, string message)
        {
            if (!ok) errors.Add(new ConfigError(P + key, message));
        }

        Check(Path.IsPathRooted(o.ProcRoot), "ProcRoot", $"must be an absolute path (got '{o.ProcRoot}')");
        Check(Path.IsPathRooted(o.CgroupRoot), "CgroupRoot", $"must be an absolute path (got '{o.CgroupRoot}')");

        if (o.Scope.IsCgroup)
        {
            var cg = o.Scope.Cgroup!;
            Check(cg.StartsWith('/') && !cg.Split('/').Contains(".."), "Scope:Cgroup",
                $"must be a path relative to the cgroup v2 mount, starting with '/' and without '..' (got '{cg}')");
        }
        Check(o.Scope.MinFreePct is > 0 and < 100, "Scope:MinFreePct", $"must be in (0, 100) (got {o.Scope.MinFreePct})");
        Check(o.Scope.LowFreePct > o.Scope.MinFreePct && o.Scope.LowFreePct < 100, "Scope:LowFreePct",
            $"must be above MinFreePct ({o.Scope.MinFreePct}) and below 100 (got {o.Scope.LowFreePct})");
        Check(o.Scope.HighFreePct > o.Scope.LowFreePct && o.Scope.HighFreePct < 100, "Scope:HighFreePct",
            $"must be above LowFreePct ({o.Scope.LowFreePct}) and below 100 (got {o.Scope.HighFreePct})");

        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (int i = 0; i < o.Psi.Levels.Count; i++)
        {
            var l = o.Psi.Levels[i];
            var k = $"Psi:Levels:{i}:";
            Check(!string.IsNullOrWhiteSpace(l.Name) && names.Add(l.Name), k + "Name", $"must be a non-empty, unique name (got '{l.Name}')");
            Check(l.Kind is "some" or "full", k + "Kind", $"must be \"some\" or \"full\" (got '{l.Kind}')");
            // The kernel accepts windows of 500 ms to 10 s and a stall below the window.
            Check(l.WindowMs is >= 500 and <= 10_000, k + "WindowMs", $"must be in [500, 10000] ms (got {l.WindowMs})");
            Check(l.StallMs > 0 && l.StallMs < l.WindowMs, k + "StallMs", $"must be in [1, WindowMs={l.WindowMs}) ms (got {l.StallMs})");
        }
        Check(o.Psi.SampleMinIntervalMs is >= 1 and <= 1000, "Psi:SampleMinIntervalMs", $"must be in [1, 1000] ms (got {o.Psi.SampleMinIntervalMs})");
        Check(o.Psi.SampleMaxIntervalMs >= o.Psi.SampleMinIntervalMs && o.Psi.SampleMaxIntervalMs <= 10_000, "Psi:SampleMaxIntervalMs",
            $"must be in [SampleMinIntervalMs={o.Psi.SampleMinIntervalMs}, 10000] ms (got {o.Psi.SampleMaxIntervalMs})");
        Check(o.Psi.PollWindowMs is >= 100 and <= 60_000, "Psi:PollWindowMs", $"must be in [100, 60000] ms (got {o.Psi.PollWindowMs})");

        foreach (var (key, message) in o.Policy.Validate())
            errors.Add(new ConfigError(P + "Policy:" + key, message));
        foreach (var (key, message) in o.Headroom.Validate())
            errors.Add(new ConfigError(P + "Headroom:" + key, message));

        Check(o.Kill.TimeoutMs is >= 10 and <= 60_000, "Kill:TimeoutMs", $"must be in [10, 60000] ms (got {o.Kill.TimeoutMs})");
        Check(KillModes.TryParse(o.Kill.Mode, out _), "Kill:Mode", $"must be one of {string.Join(", ", KillModes.Names)} (got '{o.Kill.Mode}')");
        foreach (var (key, message) in o.Kill.Respawn.Validate())
            errors.Add(new ConfigError(P + "Kill:Respawn:" + key, message));

        foreach (var (section, m) in new[] { ("Protect", o.Protect), ("Prefer", o.Prefer) })
        {
            for (int i = 0; i < m.ExePaths.Count; i++)
                Check(m.ExePaths[i].StartsWith('/'), $"{section}:ExePaths:{i}", $"must be an absolute path or glob (got '{m.ExePaths[i]}')");
            for (int i = 0; i < m.Cgroups.Count; i++)
                Check(m.Cgroups[i].StartsWith('/'), $"{section}:Cgroups:{i}", $"must be a cgroup path starting with '/' (got '{m.Cgroups[i]}')");
        }

        Check(o.SelfProtection.RealtimePriority is >= 0 and <= 99, "SelfProtection:RealtimePriority",
            $"must be 0 (off) or a SCHED_FIFO priority in [1, 99] (got {o.SelfProtection.RealtimePriority})");

        if (o.Metrics.Enabled)
        {
            if (!TryParseListen(o.Metrics.Listen, out var address, out _))
                errors.Add(new ConfigError(P + "Metrics:Listen", $"must be an IP address and port such as 127.0.0.1:9469 or [::1]:9469 (got '{o.Metrics.Listen}')"));
            else
                Check(IPAddress.IsLoopback(address!) || o.Metrics.AllowNonLoopback, "Metrics:Listen",
                    $"{o.Metrics.Listen} is not a loopback address: set Lmkd:Metrics:AllowNonLoopback=true to expose metrics beyond this machine");
        }

        Check(o.Notify.DesktopBurst is >= 1 and <= 100, "Notify:DesktopBurst", $"must be in [1, 100] notifications (got {o.Notify.DesktopBurst})");
        Check(o.Notify.DesktopIntervalMs is >= 1000 and <= 3_600_000, "Notify:DesktopIntervalMs", $"must be in [1000, 3600000] ms (got {o.Notify.DesktopIntervalMs})");

        var hook = o.Hooks.PostKill ?? "";
        if (hook.Length > 0)
        {
            if (!Path.IsPathRooted(hook))
                errors.Add(new ConfigError(P + "Hooks:PostKill", $"must be an absolute path to a program, not a command line (got '{hook}')"));
            else if (!File.Exists(hook))
                errors.Add(new ConfigError(P + "Hooks:PostKill", $"{hook} does not exist (or is not a file)"));
        }
        else
            Check(o.Hooks.PostKillArgs.Count == 0, "Hooks:PostKillArgs", "are set but Lmkd:Hooks:PostKill names no program");
        Check(o.Hooks.PostKillTimeoutMs is >= 100 and <= 600_000, "Hooks:PostKillTimeoutMs", $"must be in [100, 600000] ms (got {o.Hooks.PostKillTimeoutMs})");

        Check(LogSetup.TryParseLevel(o.Log.Level, out _), "Log:Level", $"must be one of Verbose, Debug, Information, Warning, Error, Fatal (got '{o.Log.Level}')");
        Check(o.Log.Format is "auto" or "console" or "json" or "journal", "Log:Format", $"must be auto, console, json or journal (got '{o.Log.Format}')");
        return errors;
    }

    public static bool TryParseListen(string? listen, out IPAddress? address, out int port)
    {
        address = null;
        port = 0;
        if (!IPEndPoint.TryParse(listen ?? "", out var ep) || ep.Port == 0)
            return false;
        address = ep.Address;
        port = ep.Port;
        return true;
    }
}
