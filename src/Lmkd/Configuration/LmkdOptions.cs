using Lmkd.Policies;

namespace Lmkd.Configuration;

/// <summary>
/// Everything under the "Lmkd" section of appsettings.json. Defaults are those of Android lmkd
/// where it has an equivalent (see README). Lists default to empty and are filled with defaults
/// after binding, because the binder appends to a pre-filled list instead of replacing it.
/// </summary>
public sealed class LmkdOptions
{
    public const string Section = "Lmkd";

    /// <summary>Run the whole pipeline but replace the final signal and reap by a log line.</summary>
    public bool DryRun { get; set; }
    public string ProcRoot { get; set; } = "/proc";
    /// <summary>Where cgroups are mounted: a pure v2 mount, or the tmpfs holding v1 controllers and "unified".</summary>
    public string CgroupRoot { get; set; } = "/sys/fs/cgroup";
    public ScopeOptions Scope { get; set; } = new();
    public PsiOptions Psi { get; set; } = new();
    public KillPolicyOptions Policy { get; set; } = new();
    /// <summary>The headroom watch: kills decided from the memory left, before (or without) stall.</summary>
    public HeadroomOptions Headroom { get; set; } = new();
    public KillOptions Kill { get; set; } = new();
    public MatchOptions Protect { get; set; } = new();
    public MatchOptions Prefer { get; set; } = new();
    public SelfProtectionOptions SelfProtection { get; set; } = new();
    public MetricsOptions Metrics { get; set; } = new();
    public NotifyOptions Notify { get; set; } = new();
    public HooksOptions Hooks { get; set; } = new();
    public LogOptions Log { get; set; } = new();
}

public sealed class ScopeOptions
{
    /// <summary>Cgroup path relative to the cgroup v2 mount (e.g. "/lmkd-e2e"); empty = the whole machine.</summary>
    public string? Cgroup { get; set; }
    /// <summary>
    /// The cgroup analogue of zone watermarks, as percentages of the cgroup's limit: free memory
    /// (limit - usage) below these counts as below the min, low and high watermark.
    /// </summary>
    public double MinFreePct { get; set; } = 1;
    public double LowFreePct { get; set; } = 2;
    public double HighFreePct { get; set; } = 4;

    public bool IsCgroup => !string.IsNullOrWhiteSpace(Cgroup);
}

public sealed class PsiOptions
{
    /// <summary>PSI trigger levels. Empty in the file means the Android lmkd defaults (see <see cref="DefaultLevels"/>).</summary>
    public List<PsiLevelOptions> Levels { get; set; } = [];
    /// <summary>Sampling fallback (no trigger support): fastest interval while stall grows.</summary>
    public int SampleMinIntervalMs { get; set; } = 10;
    /// <summary>Sampling fallback: slowest interval when idle.</summary>
    public int SampleMaxIntervalMs { get; set; } = 1000;
    /// <summary>How long to keep polling memory after an event (lmkd: PSI_WINDOW_SIZE_MS).</summary>
    public int PollWindowMs { get; set; } = 1000;

    /// <summary>Android lmkd's new strategy: ro.lmk.psi_partial_stall_ms = 70 and ro.lmk.psi_complete_stall_ms = 700 per 1 s.</summary>
    public static List<PsiLevelOptions> DefaultLevels() =>
    [
        new() { Name = "medium", Kind = "some", StallMs = 70, WindowMs = 1000 },
        new() { Name = "critical", Kind = "full", StallMs = 700, WindowMs = 1000 },
    ];
}

public sealed class PsiLevelOptions
{
    public string Name { get; set; } = "";
    /// <summary>"some" (partial stall: Android's medium level) or "full" (complete stall: critical).</summary>
    public string Kind { get; set; } = "some";
    public int StallMs { get; set; }
    public int WindowMs { get; set; } = 1000;
}

public sealed class KillOptions
{
    /// <summary>How long to wait for a victim's pidfd to report its exit before judging pressure again (ro.lmk.kill_timeout_ms).</summary>
    public int TimeoutMs { get; set; } = 1000;
    /// <summary>Force a kill mode instead of the probed one: "auto", "reap-kill", "kill-then-reap", "kill-only".</summary>
    public string Mode { get; set; } = "auto";
    /// <summary>What to do when killed workers keep being re-created by their parent.</summary>
    public RespawnOptions Respawn { get; set; } = new();
}

/// <summary>Rules on what a process cannot forge: uid, executable path (glob), cgroup (prefix).</summary>
public sealed class MatchOptions
{
    public List<uint> Uids { get; set; } = [];
    public List<string> ExePaths { get; set; } = [];
    public List<string> Cgroups { get; set; } = [];
}

public sealed class SelfProtectionOptions
{
    /// <summary>Set Lmkd's own oom_score_adj to -1000 at start.</summary>
    public bool OomScoreAdj { get; set; } = true;
    /// <summary>mlockall(MCL_CURRENT) then mlockall(MCL_FUTURE|MCL_ONFAULT): the daemon never waits on its own page-ins under pressure.</summary>
    public bool LockMemory { get; set; } = true;
    /// <summary>SCHED_FIFO priority for the monitor thread (1-99); 0 leaves the scheduler alone.</summary>
    public int RealtimePriority { get; set; }
}

public sealed class MetricsOptions
{
    public bool Enabled { get; set; } = true;
    /// <summary>host:port for /metrics. Loopback unless AllowNonLoopback is set.</summary>
    public string Listen { get; set; } = "127.0.0.1:9469";
    public bool AllowNonLoopback { get; set; }
    /// <summary>
    /// This kernel should have process_mrelease's REAP_KILL flag: exported as lmkd_reap_kill_expected so an
    /// alert fires when the probe says otherwise (no kernel version says it for sure; the operator knows).
    /// </summary>
    public bool ExpectReapKill { get; set; }
}

/// <summary>Kill notifications on the D-Bus system bus (see README, "Kill notifications").</summary>
public sealed class NotifyOptions
{
    /// <summary>Broadcast org.lmkd.Lmkd1.ProcessKilled for each kill and dry-run kill; false: no bus connection at all.</summary>
    public bool Enabled { get; set; } = true;
    /// <summary>Also emit net.nuetzlich.SystemNotifications.Notify, which systembus-notify shows on the desktop (as earlyoom -n).</summary>
    public bool Desktop { get; set; } = true;
    /// <summary>Desktop notifications shown at once before the rate limit applies.</summary>
    public int DesktopBurst { get; set; } = 3;
    /// <summary>After the burst, one desktop notification per this interval; the kills in between are summed up in the next one.</summary>
    public int DesktopIntervalMs { get; set; } = 30_000;
}

/// <summary>A program run after each kill (see README, "The post-kill hook").</summary>
public sealed class HooksOptions
{
    /// <summary>Absolute path of the program; empty: no hook.</summary>
    public string PostKill { get; set; } = "";
    /// <summary>Its arguments, one list element each: never a shell string.</summary>
    public List<string> PostKillArgs { get; set; } = [];
    /// <summary>After this long the hook (and what it started) is killed with SIGKILL.</summary>
    public int PostKillTimeoutMs { get; set; } = 10_000;
}

public sealed class LogOptions
{
    /// <summary>Verbose, Debug, Information, Warning, Error, Fatal.</summary>
    public string Level { get; set; } = "Information";
    /// <summary>"auto" (journal under systemd, else console), "console", "json" (compact JSON lines) or "journal".</summary>
    public string Format { get; set; } = "auto";
}
