namespace Lmkd.Policies;

/// <summary>
/// One process as the scanner saw it. Identity is (Pid, StartTime): the kill path re-checks the
/// start time through a pidfd so a recycled pid is never signalled.
/// </summary>
public sealed record ProcessInfo
{
    public required int Pid { get; init; }
    /// <summary>Start time in clock ticks since boot (/proc/&lt;pid&gt;/stat field 22).</summary>
    public required ulong StartTime { get; init; }
    /// <summary>The parent's pid (/proc/&lt;pid&gt;/stat field 4): who re-creates a worker that was killed.</summary>
    public int Ppid { get; init; }
    /// <summary>State letter from /proc/&lt;pid&gt;/stat field 3 (R, S, D, Z, ...).</summary>
    public char State { get; init; } = 'S';
    /// <summary>Real uid (first value of the Uid: line of /proc/&lt;pid&gt;/status).</summary>
    public uint Uid { get; init; }
    /// <summary>The process's own name: set by the process itself, so never trusted for protection.</summary>
    public string Comm { get; init; } = "";
    /// <summary>
    /// Target of /proc/&lt;pid&gt;/exe, or null where it could not be read. A path as the process's own mount
    /// namespace shows it: only <see cref="InInitMountNamespace"/> makes it the path the host means. For an unlinked
    /// executable (<see cref="ExeDeleted"/>), its former path, without the kernel's " (deleted)".
    /// </summary>
    public string? ExePath { get; init; }
    /// <summary>
    /// The running executable's identity, or null where it is unknown (or not read: no exe rule asked for it).
    /// Unlike the path, it holds in any mount namespace.
    /// </summary>
    public FileIdentity? ExeIdentity { get; init; }
    /// <summary>The executable was unlinked while it runs (a package upgrade replaced it).</summary>
    public bool ExeDeleted { get; init; }
    /// <summary>The exe link or the executable's identity could not be read while the process's other files could.</summary>
    public bool ExeUnreadable { get; init; }
    /// <summary>
    /// The process shares pid 1's mount namespace, so <see cref="ExePath"/> names the file the host's path names.
    /// In a namespace of its own a process chooses what its paths show (an unprivileged `unshare -Urm` and a bind mount).
    /// </summary>
    public bool InInitMountNamespace { get; init; }
    /// <summary>pid 1 of a pid namespace below the root one (a container's init): its death kills its whole namespace.</summary>
    public bool IsNamespaceInit { get; init; }
    /// <summary>Cgroup path (v2 "0::" line, else the v1 memory controller's), e.g. "/system.slice/foo.service".</summary>
    public string CgroupPath { get; init; } = "/";
    public int OomScoreAdj { get; init; }
    public long RssAnonBytes { get; init; }
    public long RssFileBytes { get; init; }
    public long RssShmemBytes { get; init; }
    public long SwapBytes { get; init; }
    public bool IsKernelThread { get; init; }

    public long RssBytes => RssAnonBytes + RssFileBytes + RssShmemBytes;
    /// <summary>What a kill gives back, as Android lmkd weighs it: resident memory plus swap.</summary>
    public long WeightBytes => RssBytes + SwapBytes;

    /// <summary>
    /// This process with a resident size read later by itself (statm gives the total, not its parts:
    /// it counts as anonymous until the next full read); swap as it was.
    /// </summary>
    public ProcessInfo WithResidentBytes(long rssBytes) => rssBytes == RssBytes ? this
        : this with { RssAnonBytes = rssBytes, RssFileBytes = 0, RssShmemBytes = 0 };
}
