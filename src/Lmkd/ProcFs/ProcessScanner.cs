using System.Text;
using Lmkd.Linux;
using Lmkd.Policies;

namespace Lmkd.ProcFs;

/// <summary>The /proc/&lt;pid&gt;/stat fields Lmkd uses. Comm points into the parsed buffer.</summary>
public readonly ref struct StatFields
{
    /// <summary>PF_KTHREAD in the flags field (field 9).</summary>
    public const uint PfKthread = 0x00200000;

    public int Pid { get; init; }
    public ReadOnlySpan<byte> Comm { get; init; }
    public char State { get; init; }
    public int Ppid { get; init; }
    public uint Flags { get; init; }
    /// <summary>Field 22, clock ticks since boot.</summary>
    public ulong StartTime { get; init; }

    /// <summary>A kernel thread: PF_KTHREAD, or kthreadd (pid 2) and its children.</summary>
    public bool IsKernelThread => (Flags & PfKthread) != 0 || Pid == 2 || Ppid == 2;

    /// <summary>Zombie or dead: nothing left to kill.</summary>
    public bool IsZombie => State is 'Z' or 'X' or 'x';
}

/// <summary>The /proc/&lt;pid&gt;/status fields Lmkd uses, converted to bytes.</summary>
public readonly record struct StatusFields
{
    /// <summary>The real uid (first value of "Uid:").</summary>
    public uint Uid { get; init; }
    public long RssAnonBytes { get; init; }
    public long RssFileBytes { get; init; }
    public long RssShmemBytes { get; init; }
    public long SwapBytes { get; init; }
    /// <summary>False when the Rss lines are absent: a kernel thread, or a process whose mm is already gone.</summary>
    public bool HasMm { get; init; }
}

/// <summary>What the last <see cref="ProcessScanner.Scan"/> saw, for logs and metrics.</summary>
public readonly record struct ScanCounts(int Entries, int Returned, int Skipped, int Vanished);

/// <summary>
/// Reads processes from /proc (or a fixture tree shaped like it). Each process is read through one
/// fd on its /proc/&lt;pid&gt; directory, so all its files come from the same process even if the
/// pid is recycled mid-read (the old directory then answers ESRCH/ENOENT). A process that vanishes
/// is skipped quietly: that is a normal outcome, not an error.
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

    private readonly byte[] _rootUtf8;
    private readonly bool _preferV1Memory;
    private readonly ProcFileReader _reader = new(4096);
    private readonly Utf8StringPool _strings = new();
    private readonly byte[] _dirents = new byte[32 * 1024];
    private readonly byte[] _link = new byte[4096 + 1];
    private int _lastCount = 64;
    private readonly List<int> _pids = new(256);

    /// <param name="procRoot">/proc, or a fixture directory of pid directories.</param>
    /// <param name="preferV1Memory">Take the v1 memory controller's cgroup line when present (hybrid hosts keep
    /// the memory controller on v1), else the v2 "0::" line. See <see cref="ParseCgroupPath"/>.</param>
    public ProcessScanner(string procRoot = "/proc", bool preferV1Memory = true)
    {
        ProcRoot = procRoot.Length > 1 ? procRoot.TrimEnd('/') : procRoot;
        _preferV1Memory = preferV1Memory;
        _rootUtf8 = Encoding.UTF8.GetBytes(ProcRoot);
    }

    public string ProcRoot { get; }

    public ScanCounts LastScanCounts { get; private set; }

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
        int rootFd = ProcFileReader.OpenPath(ProcRoot, out int errno);
        if (rootFd < 0)
            throw new IOException($"open {ProcRoot}: errno {errno}");
        try
        {
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
                    var outcome = ReadProcess(dirFd, pid, cgroupFilter, out var info);
                    if (info is not null)
                        result.Add(info);
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
        LastScanCounts = new ScanCounts(pids.Count, result.Count, skipped, vanished);
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
            ReadProcess(dirFd, pid, null, out var info);
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
        return n >= 0 && TryParseStat(buffer[..n], out var stat) ? stat.StartTime : null;
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

    /// <summary>Reads the process's files through its directory fd. Returns Missing when it vanished.</summary>
    private ProcReadStatus ReadProcess(int dirFd, int pid, Func<string, bool>? cgroupFilter, out ProcessInfo? info)
    {
        info = null;
        var status = _reader.ReadAt(dirFd, "stat\0"u8, out var content);
        if (status != ProcReadStatus.Ok)
            return status;
        if (!TryParseStat(content, out var stat) || stat.IsKernelThread || stat.IsZombie)
            return ProcReadStatus.Failed;
        // Keep what we need from stat before the buffer is reused.
        char state = stat.State;
        ulong startTime = stat.StartTime;
        string comm = _strings.Get(stat.Comm);

        // cgroup before status: a filtered scope skips the rest cheaply.
        status = _reader.ReadAt(dirFd, "cgroup\0"u8, out content);
        if (status != ProcReadStatus.Ok)
            return status;
        string cgroup = TryFindCgroupPath(content, _preferV1Memory, out var cgroupBytes) ? _strings.Get(cgroupBytes) : "/";
        if (cgroupFilter is not null && !cgroupFilter(cgroup))
            return ProcReadStatus.Failed;

        status = _reader.ReadAt(dirFd, "status\0"u8, out content);
        if (status != ProcReadStatus.Ok)
            return status;
        if (!TryParseStatus(content, out var st) || !st.HasMm)
            return ProcReadStatus.Failed;

        status = _reader.ReadAt(dirFd, "oom_score_adj\0"u8, out content);
        if (status != ProcReadStatus.Ok)
            return status;
        if (!ProcParse.TryParseInt32(ProcParse.FirstToken(content), out int adj))
            return ProcReadStatus.Failed;

        info = new ProcessInfo
        {
            Pid = pid,
            StartTime = startTime,
            State = state,
            Uid = st.Uid,
            Comm = comm,
            ExePath = ReadExe(dirFd),
            CgroupPath = cgroup,
            OomScoreAdj = adj,
            RssAnonBytes = st.RssAnonBytes,
            RssFileBytes = st.RssFileBytes,
            RssShmemBytes = st.RssShmemBytes,
            SwapBytes = st.SwapBytes,
        };
        return ProcReadStatus.Ok;
    }

    private string? ReadExe(int dirFd)
    {
        nint n;
        fixed (byte* p = _link)
        fixed (byte* name = "exe\0"u8)
            n = Native.ReadLinkAt(dirFd, name, p, (nuint)_link.Length);
        // n == buffer size means it may be truncated: better no path than a wrong one (exe paths feed protection rules).
        return n <= 0 || n >= _link.Length ? null : _strings.Get(_link.AsSpan(0, (int)n));
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

    // ---- parsers over spans (public so tests can drive them with fixture bytes) ----

    /// <summary>
    /// Parses /proc/&lt;pid&gt;/stat. comm runs from the FIRST '(' to the LAST ')': a process may name
    /// itself "a) R 1 (b", and only the last ')' is the kernel's. False when truncated or malformed.
    /// </summary>
    public static bool TryParseStat(ReadOnlySpan<byte> s, out StatFields fields)
    {
        fields = default;
        int open = s.IndexOf((byte)'(');
        int close = s.LastIndexOf((byte)')');
        if (open <= 0 || close < open)
            return false;
        if (!ProcParse.TryParseInt32(ProcParse.FirstToken(s[..open]), out int pid) || pid <= 0)
            return false;
        var comm = s[(open + 1)..close];
        var rest = s[(close + 1)..];

        // rest starts at field 3 (state); starttime is field 22, the 20th token here.
        var stateToken = ProcParse.NextToken(ref rest);
        if (stateToken.Length != 1)
            return false;
        int ppid = 0;
        ulong flags = 0, startTime = 0;
        for (int field = 4; field <= 22; field++)
        {
            var token = ProcParse.NextToken(ref rest);
            if (token.IsEmpty)
                return false; // truncated
            switch (field)
            {
                case 4:
                    if (!ProcParse.TryParseInt32(token, out ppid) || ppid < 0)
                        return false;
                    break;
                case 9:
                    if (!ProcParse.TryParseUInt64(token, out flags) || flags > uint.MaxValue)
                        return false;
                    break;
                case 22:
                    if (!ProcParse.TryParseUInt64(token, out startTime))
                        return false;
                    break;
            }
        }
        fields = new StatFields
        {
            Pid = pid, Comm = comm, State = (char)stateToken[0], Ppid = ppid, Flags = (uint)flags, StartTime = startTime,
        };
        return true;
    }

    /// <summary>
    /// Parses /proc/&lt;pid&gt;/status: real uid and the Rss/Swap lines (kB, converted to bytes, saturating).
    /// A later line with the same key wins, so a forged line smuggled into Name (which comes first)
    /// cannot override the kernel's own. False when there is no Uid line.
    /// </summary>
    public static bool TryParseStatus(ReadOnlySpan<byte> s, out StatusFields fields)
    {
        fields = default;
        bool haveUid = false, hasMm = false;
        uint uid = 0;
        long anon = 0, file = 0, shmem = 0, swap = 0;
        while (ProcParse.NextLine(ref s, out var line))
        {
            if (!ProcParse.TrySplitKey(line, out var key, out var rest))
                continue;
            if (key.SequenceEqual("Uid"u8))
            {
                haveUid = ProcParse.TryParseUInt64(ProcParse.FirstToken(rest), out ulong u) && u <= uint.MaxValue;
                uid = haveUid ? (uint)u : 0;
            }
            else if (key.SequenceEqual("RssAnon"u8)) { anon = Kb(rest); hasMm = true; }
            else if (key.SequenceEqual("RssFile"u8)) { file = Kb(rest); hasMm = true; }
            else if (key.SequenceEqual("RssShmem"u8)) { shmem = Kb(rest); hasMm = true; }
            else if (key.SequenceEqual("VmSwap"u8)) swap = Kb(rest);
        }
        if (!haveUid)
            return false;
        fields = new StatusFields
        {
            Uid = uid, RssAnonBytes = anon, RssFileBytes = file, RssShmemBytes = shmem, SwapBytes = swap, HasMm = hasMm,
        };
        return true;

        static long Kb(ReadOnlySpan<byte> rest) =>
            ProcParse.TryParseInt64Saturating(ProcParse.FirstToken(rest), out long kb) && kb >= 0
                ? Math.Min(ProcParse.MultiplySaturating(kb, 1024), MaxMemoryBytes) : 0;
    }

    /// <summary>
    /// The cgroup path from /proc/&lt;pid&gt;/cgroup ("id:controllers:path" lines). With
    /// <paramref name="preferV1Memory"/>, the v1 line whose controllers include "memory" wins when
    /// present (a hybrid host's memory controller is on v1), else the v2 "0::" line; without it, the
    /// "0::" line wins and the memory line is the fallback. Null when neither exists.
    /// </summary>
    public static string? ParseCgroupPath(ReadOnlySpan<byte> content, bool preferV1Memory) =>
        TryFindCgroupPath(content, preferV1Memory, out var path) ? Encoding.UTF8.GetString(path) : null;

    internal static bool TryFindCgroupPath(ReadOnlySpan<byte> content, bool preferV1Memory, out ReadOnlySpan<byte> path)
    {
        ReadOnlySpan<byte> v2 = default, memory = default;
        bool haveV2 = false, haveMemory = false;
        while (ProcParse.NextLine(ref content, out var line))
        {
            int c1 = line.IndexOf((byte)':');
            if (c1 < 0)
                continue;
            int c2 = line[(c1 + 1)..].IndexOf((byte)':');
            if (c2 < 0)
                continue;
            var id = line[..c1];
            var controllers = line.Slice(c1 + 1, c2);
            var p = line[(c1 + c2 + 2)..]; // the path may itself contain ':'
            if (p.IsEmpty || p[0] != (byte)'/')
                continue;
            if (id.SequenceEqual("0"u8) && controllers.IsEmpty)
            {
                v2 = p;
                haveV2 = true;
            }
            else if (HasController(controllers, "memory"u8))
            {
                memory = p;
                haveMemory = true;
            }
        }
        if (haveMemory && (preferV1Memory || !haveV2))
        {
            path = memory;
            return true;
        }
        path = v2;
        return haveV2;
    }

    private static bool HasController(ReadOnlySpan<byte> list, ReadOnlySpan<byte> name)
    {
        foreach (var range in list.Split((byte)','))
        {
            if (list[range].SequenceEqual(name))
                return true;
        }
        return false;
    }
}
