using System.Text;
using Lmkd.Linux;
using Lmkd.Policies;

namespace Lmkd.ProcFs;

/// <summary>What the last <see cref="ProcessScanner.Scan"/> saw, for logs and metrics.</summary>
/// <param name="CgroupsWalked">Cgroups whose cgroup.procs gave the processes' cgroups (0: each process's file was read).</param>
public readonly record struct ScanCounts(int Entries, int Returned, int Skipped, int Vanished, int CgroupsWalked = 0);

/// <summary>
/// Reads processes from /proc (or a fixture tree shaped like it). Each process is read through one
/// fd on its /proc/&lt;pid&gt; directory, so all its files come from the same process even if the
/// pid is recycled mid-read (the old directory then answers ESRCH/ENOENT). A process that vanishes
/// is skipped quietly: that is a normal outcome, not an error.
/// <para>Per process a scan reads stat, status and oom_score_adj (one read each) and the exe link, with the
/// executable's identity when exe rules exist; the cgroup comes from one walk of the cgroup tree when that is cheaper
/// (see <see cref="CgroupMembership"/>). Every file a scan touches also costs the kernel an inode and a dentry the
/// first time, charged to Lmkd's cgroup, so the mount namespace is read only for processes whose exe path a rule
/// matches.</para>
/// <para>Scan and Read share buffers and are not thread-safe; ReadStartTime and ReadOomScoreAdj are
/// (they use only the stack), so the kill path may call them from its own thread.</para>
/// </summary>
public sealed unsafe class ProcessScanner
{
    /// <summary>
    /// Memory figures saturate here (1 EiB), not at long.MaxValue, so ProcessInfo's sums of four
    /// fields (RssBytes, WeightBytes) cannot overflow on a hostile or corrupt status file.
    /// </summary>
    public const long MaxMemoryBytes = long.MaxValue / 8;

    private const int MaxSmallFile = 4096; // stat and oom_score_adj are a few hundred bytes at most

    /// <summary>A walk of the cgroup tree pays off only with a few processes per cgroup; with fewer, the files cost less.</summary>
    private const int ProcessesPerCgroupForWalk = 4;
    /// <summary>After a walk that did not pay off (or did not agree with /proc), this many scans read the files.</summary>
    private const int ScansBetweenWalkRetries = 16;

    private readonly byte[] _rootUtf8;
    private readonly bool _preferV1Memory;
    private readonly ProcFileReader _reader = new(4096);
    private readonly Utf8StringPool _strings = new();
    private readonly CgroupMembership? _membership;
    private readonly byte[] _dirents = new byte[32 * 1024];
    private readonly byte[] _link = new byte[4096 + 1];
    private int _lastCount = 64;
    private readonly List<int> _neverCandidates = [];
    private bool _readNeverCandidate;
    private int _scansUntilWalk;
    private ulong? _initMountNamespace;
    private volatile RankingRules? _exePathRules;
    private readonly List<int> _pids = new(256);

    /// <param name="procRoot">/proc, or a fixture directory of pid directories.</param>
    /// <param name="preferV1Memory">Take the v1 memory controller's cgroup line when present (hybrid hosts keep
    /// the memory controller on v1), else the v2 "0::" line. See <see cref="ProcCgroup.TryFindPath"/>.</param>
    /// <param name="cgroupRoot">The cgroup mount (Lmkd:CgroupRoot): when given, a scan may take every process's
    /// cgroup from one walk of the hierarchy it reports instead of one file per process. Null: always the files.</param>
    public ProcessScanner(string procRoot = "/proc", bool preferV1Memory = true, string? cgroupRoot = null)
    {
        ProcRoot = procRoot.Length > 1 ? procRoot.TrimEnd('/') : procRoot;
        _preferV1Memory = preferV1Memory;
        _rootUtf8 = Encoding.UTF8.GetBytes(ProcRoot);
        if (cgroupRoot is not null && ReportedHierarchy(cgroupRoot, preferV1Memory) is { } hierarchy)
            _membership = new CgroupMembership(hierarchy, _strings);
    }

    public string ProcRoot { get; }

    public ScanCounts LastScanCounts { get; private set; }

    /// <summary>
    /// The pids the last <see cref="ScanPids"/> found to be kernel threads or zombies: they stay
    /// non-candidates for as long as the pid lives, so a chooser need not read them again.
    /// </summary>
    public int[] LastNeverCandidates { get; private set; } = [];

    /// <summary>Clock ticks since boot, as /proc/&lt;pid&gt;/stat counts a start time (tests set a fixture's clock).</summary>
    internal Func<ulong> BootTimeTicks { get; init; } = Native.BootTimeTicks;

    /// <summary>
    /// The rules that decide what is read of each executable: its identity only when they hold an exe rule, its
    /// mount namespace only when one of their globs matches its path. Null, the default, reads both for every
    /// process: correct whatever the rules, at the cost of a statx and two more /proc entries per process. The
    /// daemon sets it at start and on reload.
    /// </summary>
    public RankingRules? ExePathRules
    {
        get => _exePathRules;
        set => _exePathRules = value;
    }

    /// <summary>
    /// Every user process (no kernel threads, zombies or processes without an mm) whose cgroup path
    /// passes <paramref name="cgroupFilter"/>. Throws only when the root itself cannot be listed.
    /// </summary>
    public IReadOnlyList<ProcessInfo> Scan(Func<string, bool>? cgroupFilter = null)
    {
        ListPids(_pids);
        return ScanPids(_pids, cgroupFilter);
    }

    /// <summary>The pids /proc lists now: one getdents64 pass, no per-process file opened.</summary>
    public void ListPids(List<int> into)
    {
        into.Clear();
        int rootFd = ProcFileReader.OpenPath(ProcRoot, out int errno);
        if (rootFd < 0)
            throw new IOException($"open {ProcRoot}: errno {errno}");
        try
        {
            fixed (byte* buf = _dirents)
            {
                while (true)
                {
                    nint n = Native.GetDents64(rootFd, buf, (nuint)_dirents.Length);
                    if (n < 0)
                    {
                        if (Native.Errno == Native.EINTR)
                            continue;
                        throw new IOException($"getdents64 {ProcRoot}: errno {Native.Errno}");
                    }
                    if (n == 0)
                        break;
                    for (nint off = 0; off < n;)
                    {
                        byte* rec = buf + off;
                        int recLen = *(ushort*)(rec + Native.DirentRecLenOffset);
                        off += recLen;
                        var name = new ReadOnlySpan<byte>(rec + Native.DirentNameOffset, recLen - Native.DirentNameOffset);
                        int nul = name.IndexOf((byte)0);
                        if (nul >= 0 && TryParsePidName(name[..nul], out int pid))
                            into.Add(pid);
                    }
                }
            }
        }
        finally
        {
            Native.Close(rootFd);
        }
    }

    /// <summary>
    /// The user processes among <paramref name="pids"/> (from <see cref="ListPids"/>, or a cgroup's
    /// cgroup.procs) whose cgroup path passes <paramref name="cgroupFilter"/>; pids that are gone are skipped.
    /// </summary>
    public IReadOnlyList<ProcessInfo> ScanPids(IReadOnlyList<int> pids, Func<string, bool>? cgroupFilter = null)
    {
        _strings.BeginGeneration();
        var result = new List<ProcessInfo>(Math.Min(_lastCount, pids.Count) + 16);
        int skipped = 0, vanished = 0;
        ulong walkedBefore = 0;
        _neverCandidates.Clear();
        int rootFd = ProcFileReader.OpenPath(ProcRoot, out int errno);
        if (rootFd < 0)
            throw new IOException($"open {ProcRoot}: errno {errno}");
        try
        {
            _initMountNamespace = ReadInitMountNamespace(rootFd);
            // Processes that started after the walk began were not in it (nor is a later owner of a listed pid).
            walkedBefore = WalkCgroups(rootFd, pids.Count) ? BootTimeTicksAtWalk : 0;
            Span<byte> name = stackalloc byte[16];
            foreach (int pid in pids)
            {
                // "<pid>\0", relative to the /proc fd.
                if (pid <= 0 || !pid.TryFormat(name, out int len, provider: System.Globalization.CultureInfo.InvariantCulture))
                    continue;
                name[len] = 0;
                int dirFd;
                fixed (byte* n = name)
                    dirFd = Native.OpenAt(rootFd, n, Native.O_RDONLY | Native.O_CLOEXEC);
                if (dirFd < 0)
                {
                    vanished++;
                    continue;
                }
                try
                {
                    _readNeverCandidate = false;
                    var outcome = ReadProcess(dirFd, pid, cgroupFilter, walkedBefore, out var info);
                    if (info is not null)
                        result.Add(info);
                    else if (_readNeverCandidate)
                    {
                        _neverCandidates.Add(pid);
                        skipped++;
                    }
                    else if (outcome == ProcReadStatus.Missing)
                        vanished++;
                    else
                        skipped++;
                }
                finally
                {
                    Native.Close(dirFd);
                }
            }
        }
        finally
        {
            Native.Close(rootFd);
        }
        _lastCount = result.Count;
        LastNeverCandidates = [.. _neverCandidates];
        LastScanCounts = new ScanCounts(pids.Count, result.Count, skipped, vanished, walkedBefore > 0 ? _membership!.Cgroups : 0);
        return result;
    }

    /// <summary>One process, or null when it is gone, is a kernel thread or zombie, or its files are unreadable.</summary>
    public ProcessInfo? Read(int pid)
    {
        if (pid <= 0)
            return null;
        Span<byte> path = stackalloc byte[_rootUtf8.Length + 16];
        BuildPath(path, pid, default);
        int dirFd;
        fixed (byte* p = path)
            dirFd = Native.Open(p, Native.O_RDONLY | Native.O_CLOEXEC);
        if (dirFd < 0)
            return null;
        try
        {
            _initMountNamespace ??= ReadInitMountNamespace(-1);
            ReadProcess(dirFd, pid, null, 0, out var info);
            return info;
        }
        finally
        {
            Native.Close(dirFd);
        }
    }

    /// <summary>The start time from /proc/&lt;pid&gt;/stat only; null when the process is gone. Thread-safe, no allocation.</summary>
    public ulong? ReadStartTime(int pid)
    {
        Span<byte> buffer = stackalloc byte[MaxSmallFile];
        int n = ReadSmallFile(pid, "stat"u8, buffer);
        return n >= 0 && ProcStat.TryParse(buffer[..n], out var stat) ? stat.StartTime : null;
    }

    /// <summary>
    /// Resident memory from /proc/&lt;pid&gt;/statm (its second field, in pages): one small file, the
    /// cheapest size there is (about 4 µs a process here); -1 when the process is gone. Thread-safe, no allocation.
    /// </summary>
    public long ReadResidentBytes(int pid)
    {
        Span<byte> buffer = stackalloc byte[256];
        int n = ReadSmallFile(pid, "statm"u8, buffer);
        if (n < 0)
            return -1;
        var content = (ReadOnlySpan<byte>)buffer[..n];
        ProcParse.NextToken(ref content); // size
        return ProcParse.TryParseInt64Saturating(ProcParse.NextToken(ref content), out long pages)
            ? Math.Min(ProcParse.MultiplySaturating(pages, Environment.SystemPageSize), MaxMemoryBytes) : -1;
    }

    /// <summary>/proc/&lt;pid&gt;/oom_score_adj; null when the process is gone. Thread-safe, no allocation.</summary>
    public int? ReadOomScoreAdj(int pid)
    {
        Span<byte> buffer = stackalloc byte[64];
        int n = ReadSmallFile(pid, "oom_score_adj"u8, buffer);
        return n >= 0 && ProcParse.TryParseInt32(ProcParse.FirstToken(buffer[..n]), out int adj) ? adj : null;
    }

    /// <summary>
    /// Reads the process's files through its directory fd. Returns Missing when it vanished. The cgroup comes from
    /// the walk for a process that started before <paramref name="walkedBefore"/> (clock ticks; 0: no walk).
    /// </summary>
    private ProcReadStatus ReadProcess(int dirFd, int pid, Func<string, bool>? cgroupFilter, ulong walkedBefore, out ProcessInfo? info)
    {
        info = null;
        var status = _reader.ReadAtOnce(dirFd, "stat\0"u8, out var content);
        if (status != ProcReadStatus.Ok)
            return status;
        if (!ProcStat.TryParse(content, out var stat))
            return ProcReadStatus.Failed;
        if (stat.IsKernelThread || stat.IsZombie)
        {
            _readNeverCandidate = true;
            return ProcReadStatus.Failed;
        }
        // Keep what we need from stat before the buffer is reused.
        char state = stat.State;
        ulong startTime = stat.StartTime;
        int ppid = stat.Ppid;
        string comm = _strings.Get(stat.Comm);

        // cgroup before status: a filtered scope skips the rest cheaply.
        if (startTime >= walkedBefore || !_membership!.TryGet(pid, out string cgroup))
        {
            status = ReadCgroup(dirFd, out cgroup);
            if (status != ProcReadStatus.Ok)
                return status;
        }
        if (cgroupFilter is not null && !cgroupFilter(cgroup))
            return ProcReadStatus.Failed;

        status = _reader.ReadAtOnce(dirFd, "status\0"u8, out content);
        if (status != ProcReadStatus.Ok)
            return status;
        if (!ProcStatus.TryParse(content, out var st) || !st.HasMm)
            return ProcReadStatus.Failed;

        status = _reader.ReadAtOnce(dirFd, "oom_score_adj\0"u8, out content);
        if (status != ProcReadStatus.Ok)
            return status;
        if (!ProcParse.TryParseInt32(ProcParse.FirstToken(content), out int adj))
            return ProcReadStatus.Failed;

        var exe = ReadExe(dirFd);
        info = new ProcessInfo
        {
            Pid = pid,
            StartTime = startTime,
            Ppid = ppid,
            State = state,
            Uid = st.Uid,
            Comm = comm,
            ExePath = exe.Path,
            ExeIdentity = exe.Identity,
            ExeDeleted = exe.Deleted,
            ExeUnreadable = exe.Unreadable,
            InInitMountNamespace = exe.InInitMountNamespace,
            IsNamespaceInit = st.IsNamespaceInit,
            CgroupPath = cgroup,
            OomScoreAdj = adj,
            RssAnonBytes = st.RssAnonBytes,
            RssFileBytes = st.RssFileBytes,
            RssShmemBytes = st.RssShmemBytes,
            SwapBytes = st.SwapBytes,
        };
        return ProcReadStatus.Ok;
    }

    private ProcReadStatus ReadCgroup(int dirFd, out string cgroup)
    {
        var status = _reader.ReadAtOnce(dirFd, "cgroup\0"u8, out var content);
        cgroup = status == ProcReadStatus.Ok && ProcCgroup.TryFindPath(content, _preferV1Memory, out var bytes) ? _strings.Get(bytes) : "/";
        return status;
    }

    private readonly record struct Exe(string? Path, FileIdentity? Identity, bool Deleted, bool InInitMountNamespace, bool Unreadable);

    /// <summary>
    /// The exe link's text, and the executable's identity through the same magic link (statx follows it to the file
    /// itself, in whatever mount namespace the process lives, also once the file is unlinked). Rules without any
    /// exe rule need neither the identity nor the namespace: then only the path is read, for the logs.
    /// </summary>
    private Exe ReadExe(int dirFd)
    {
        var rules = _exePathRules;
        bool identify = rules is null || rules.HasExeRules;
        nint n;
        fixed (byte* p = _link)
        fixed (byte* name = "exe\0"u8)
            n = Native.ReadLinkAt(dirFd, name, p, (nuint)_link.Length);
        uint links = 1;
        FileIdentity? identity = identify && FileStat.TryIdentify(dirFd, "exe\0"u8, out var id, out links, out _) ? id : null;
        bool identityMissing = identify && identity is null;
        // n == buffer size means it may be truncated: better no path than a wrong one (exe paths feed protection rules).
        if (n <= 0 || n >= _link.Length)
            return new Exe(null, identity, false, false, Unreadable: true);
        var target = ExeLink.FormerPath(_link.AsSpan(0, (int)n), identity is null ? 1u : links, out bool deleted);
        string path = _strings.Get(target);
        bool inInitNamespace = (rules is null || rules.AnyExePathGlobMatches(path)) && IsInInitMountNamespace(dirFd);
        return new Exe(path, identity, deleted, inInitNamespace, identityMissing);
    }

    private bool IsInInitMountNamespace(int dirFd) =>
        _initMountNamespace is { } init && ReadMountNamespace(dirFd, "ns/mnt\0"u8) is { } mine && mine == init;

    /// <summary>
    /// The reference mount namespace: pid 1's, where a path means what the host means (Lmkd's own differs under the
    /// systemd unit). Where pid 1's link cannot be read (without CAP_SYS_PTRACE, or a locked-down init), Lmkd's own.
    /// </summary>
    private ulong? ReadInitMountNamespace(int rootFd)
    {
        int fd = rootFd;
        if (fd < 0 && (fd = ProcFileReader.OpenPath(ProcRoot, out _)) < 0)
            return null;
        try
        {
            return ReadMountNamespace(fd, "1/ns/mnt\0"u8) ?? ReadMountNamespace(fd, "self/ns/mnt\0"u8);
        }
        finally
        {
            if (rootFd < 0)
                Native.Close(fd);
        }
    }

    private ulong? ReadMountNamespace(int dirFd, ReadOnlySpan<byte> linkNul)
    {
        Span<byte> target = stackalloc byte[64];
        nint n;
        fixed (byte* p = target)
        fixed (byte* name = linkNul)
            n = Native.ReadLinkAt(dirFd, name, p, (nuint)target.Length);
        return n > 0 && n < target.Length && NamespaceLink.TryParse(target[..(int)n], "mnt"u8, out ulong inode) ? inode : null;
    }

    private ulong BootTimeTicksAtWalk { get; set; }

    /// <summary>
    /// Walks the cgroup tree when it should pay off: enough processes per cgroup, and the walk agrees with /proc
    /// (Lmkd's own cgroup, as its /proc file names it; a cgroup namespace or another mount could make them differ).
    /// </summary>
    private bool WalkCgroups(int rootFd, int processes)
    {
        if (_membership is null || processes < 2 * ProcessesPerCgroupForWalk)
            return false;
        if (_scansUntilWalk > 0)
        {
            _scansUntilWalk--;
            return false;
        }
        BootTimeTicksAtWalk = BootTimeTicks();
        if (BootTimeTicksAtWalk > 0 && _membership.TryWalk(processes / ProcessesPerCgroupForWalk) && WalkAgreesWithProc(rootFd))
            return true;
        _scansUntilWalk = ScansBetweenWalkRetries;
        return false;
    }

    private bool WalkAgreesWithProc(int rootFd)
    {
        Span<byte> target = stackalloc byte[16];
        nint n;
        fixed (byte* p = target)
        fixed (byte* name = "self\0"u8)
            n = Native.ReadLinkAt(rootFd, name, p, (nuint)target.Length);
        if (n <= 0 || n >= target.Length || !TryParsePidName(target[..(int)n], out int self) || !_membership!.TryGet(self, out string walked))
            return false;
        int dirFd;
        fixed (byte* name = "self\0"u8)
            dirFd = Native.OpenAt(rootFd, name, Native.O_RDONLY | Native.O_CLOEXEC);
        if (dirFd < 0)
            return false;
        try
        {
            return ReadCgroup(dirFd, out string fromProc) == ProcReadStatus.Ok && fromProc == walked;
        }
        finally
        {
            Native.Close(dirFd);
        }
    }

    /// <summary>The hierarchy whose paths /proc/&lt;pid&gt;/cgroup reports under <paramref name="preferV1Memory"/>, or null.</summary>
    private static string? ReportedHierarchy(string cgroupRoot, bool preferV1Memory)
    {
        var root = CgroupPaths.Resolve(cgroupRoot, "");
        return preferV1Memory ? root.V1MemoryDirectory ?? root.V2Directory : root.V2Directory ?? root.V1MemoryDirectory;
    }

    private int ReadSmallFile(int pid, ReadOnlySpan<byte> name, Span<byte> buffer)
    {
        if (pid <= 0)
            return -1;
        Span<byte> path = stackalloc byte[_rootUtf8.Length + 16 + name.Length];
        BuildPath(path, pid, name);
        int fd;
        fixed (byte* p = path)
            fd = Native.Open(p, Native.O_RDONLY | Native.O_CLOEXEC);
        if (fd < 0)
            return -1;
        try
        {
            int total = 0;
            fixed (byte* b = buffer)
            {
                while (total < buffer.Length)
                {
                    nint n = Native.PRead(fd, b + total, (nuint)(buffer.Length - total), total);
                    if (n < 0 && Native.Errno == Native.EINTR)
                        continue;
                    if (n < 0)
                        return -1;
                    if (n == 0)
                        return total;
                    total += (int)n;
                }
            }
            return -1; // larger than any real stat/oom_score_adj: refuse rather than parse a prefix
        }
        finally
        {
            Native.Close(fd);
        }
    }

    /// <summary>Writes "&lt;root&gt;/&lt;pid&gt;[/name]\0" and returns its length without the NUL.</summary>
    private int BuildPath(Span<byte> path, int pid, ReadOnlySpan<byte> name)
    {
        _rootUtf8.CopyTo(path);
        int len = _rootUtf8.Length;
        if (len == 0 || path[len - 1] != (byte)'/')
            path[len++] = (byte)'/';
        pid.TryFormat(path[len..], out int written);
        len += written;
        if (!name.IsEmpty)
        {
            path[len++] = (byte)'/';
            name.CopyTo(path[len..]);
            len += name.Length;
        }
        path[len] = 0;
        return len;
    }

    private static bool TryParsePidName(ReadOnlySpan<byte> name, out int pid)
    {
        pid = 0;
        if (name.IsEmpty || name.Length > 10 || name[0] == (byte)'0')
            return false;
        return ProcParse.TryParseInt32(name, out pid) && pid > 0;
    }
}
