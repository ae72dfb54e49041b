namespace Lmkd.Hosting;

/// <summary>Who is at the other end of a Unix socket, as the kernel recorded it at connect (SO_PEERCRED): not forgeable.</summary>
public readonly record struct PeerCredentials(int Pid, uint Uid, uint Gid);

/// <summary>
/// Who may read the daemon's status: root and the uid Lmkd runs as, nobody else. The status names
/// processes, their uids, cgroups and executables, which `hidepid` or the unit's
/// ProtectProc= may hide from other users; non-root tools have the metrics, which name no process.
/// </summary>
public sealed class StatusAccess
{
    private readonly uint[] _uids;

    /// <param name="uids">The uids allowed (tests pass a uid that is not theirs to be refused).</param>
    public StatusAccess(params uint[] uids) => _uids = uids;

    /// <summary>Root and Lmkd's effective uid (under the unit: its DynamicUser).</summary>
    public static StatusAccess RootAndSelf()
    {
        uint self = Tmds.Linux.LibC.geteuid();
        return self == 0 ? new StatusAccess(0) : new StatusAccess(0, self);
    }

    public IReadOnlyList<uint> Uids => _uids;

    /// <summary>Null when <paramref name="peer"/> may read; else why not, in words for the operator.</summary>
    public string? Refusal(PeerCredentials peer) => _uids.Contains(peer.Uid) ? null
        : $"uid {peer.Uid} may not read Lmkd's status: only {Who} may (try: sudo lmkd status)";

    private string Who
    {
        get
        {
            var others = _uids.Where(u => u != 0).ToList();
            string root = _uids.Contains(0u) ? "root" : "";
            string own = others.Count == 0 ? "" : $"uid {string.Join(", ", others)} (Lmkd's own)";
            return root.Length > 0 && own.Length > 0 ? $"{root} and {own}" : root + own;
        }
    }
}
