using Lmkd.Linux;

namespace Lmkd.ProcFs;

/// <summary>
/// Every process's cgroup, read from the cgroup side: each cgroup's cgroup.procs once, instead of each process's
/// /proc/&lt;pid&gt;/cgroup. A host has far fewer cgroups than processes, and /proc/&lt;pid&gt;/cgroup is one of the
/// dearest files per process (on a hybrid host the kernel formats a line per hierarchy under a spinlock taken with
/// interrupts off), so a walk costs a fraction of those reads. Not thread-safe.
/// <para>The walk is a snapshot like any read: a process that moves while it runs appears in the cgroup it left or
/// the one it joined, or in both or neither; <see cref="TryGet"/> answers only for a pid listed exactly once, and
/// the scanner reads the file for the rest.</para>
/// </summary>
internal sealed unsafe class CgroupMembership
{
    private readonly string _hierarchy;
    private readonly Utf8StringPool _strings;
    private readonly Dictionary<int, string?> _byPid = new();
    private readonly ProcFileReader _reader = new(16 * 1024);
    private readonly List<int> _pids = new(256);
    private readonly byte[] _dirents = new byte[32 * 1024];
    // Names of the subdirectories still to visit, for every level being walked (a stack: no allocation per cgroup).
    private readonly List<byte> _pending = new(4096);
    private byte[] _path = new byte[4096];
    private readonly byte[] _name = new byte[256];
    private int _budget;

    /// <param name="hierarchy">The mount point of the hierarchy whose paths the scanner reports (the v1 memory
    /// controller's on hybrid hosts, else the v2 tree).</param>
    public CgroupMembership(string hierarchy, Utf8StringPool strings)
    {
        _hierarchy = hierarchy;
        _strings = strings;
    }

    /// <summary>Cgroups visited by the last walk.</summary>
    public int Cgroups { get; private set; }

    /// <summary>
    /// Walks the hierarchy, reading every cgroup.procs. False when the root cannot be opened, or when more than
    /// <paramref name="maxCgroups"/> cgroups exist: past that the per-process reads cost less.
    /// </summary>
    public bool TryWalk(int maxCgroups)
    {
        _byPid.Clear();
        Cgroups = 0;
        _budget = maxCgroups;
        int rootFd = ProcFileReader.OpenPath(_hierarchy, out _);
        if (rootFd < 0)
            return false;
        _path[0] = (byte)'/';
        bool ok;
        try
        {
            ok = Visit(rootFd, 1);
        }
        finally
        {
            Native.Close(rootFd);
        }
        if (!ok)
            _byPid.Clear();
        return ok;
    }

    /// <summary>The cgroup of <paramref name="pid"/> when the last walk listed it exactly once.</summary>
    public bool TryGet(int pid, out string path)
    {
        if (_byPid.TryGetValue(pid, out var p) && p is not null)
        {
            path = p;
            return true;
        }
        path = "";
        return false;
    }

    /// <summary>Reads the cgroup at <paramref name="dirFd"/> (its path is _path[..pathLength]), then its children.</summary>
    private bool Visit(int dirFd, int pathLength)
    {
        if (++Cgroups > _budget)
            return false;
        // Gone (removed meanwhile) or unreadable: its processes are left to the per-process read.
        if (_reader.ReadAt(dirFd, "cgroup.procs\0"u8, out var content) == ProcReadStatus.Ok)
        {
            _pids.Clear();
            CgroupProcs.Parse(content, _pids);
            if (_pids.Count > 0)
            {
                string path = _strings.Get(_path.AsSpan(0, pathLength));
                foreach (int pid in _pids)
                    _byPid[pid] = _byPid.ContainsKey(pid) ? null : path; // listed twice: it moved (or its threads differ)
            }
        }

        int mark = _pending.Count;
        if (!ListChildren(dirFd))
            return true; // removed while we walk: nothing below it to read
        try
        {
            // Each name is stored NUL-terminated, for openat.
            for (int start = mark; start < _pending.Count;)
            {
                int end = _pending.IndexOf(0, start);
                int nameLength = end - start;
                int childLength = pathLength + (pathLength > 1 ? 1 : 0) + nameLength;
                if (childLength > _path.Length)
                    Array.Resize(ref _path, Math.Max(childLength, _path.Length * 2));
                int at = pathLength;
                if (pathLength > 1)
                    _path[at++] = (byte)'/';
                // Used only for this openat, before the recursion reuses it. Names are at most NAME_MAX (255) bytes.
                for (int i = 0; i <= nameLength; i++)
                    _name[i] = _pending[start + i];
                _name.AsSpan(0, nameLength).CopyTo(_path.AsSpan(at));
                start = end + 1;

                int childFd;
                fixed (byte* n = _name)
                    childFd = Native.OpenAt(dirFd, n, Native.O_RDONLY | Native.O_CLOEXEC);
                if (childFd < 0)
                    continue;
                try
                {
                    if (!Visit(childFd, childLength))
                        return false;
                }
                finally
                {
                    Native.Close(childFd);
                }
            }
            return true;
        }
        finally
        {
            _pending.RemoveRange(mark, _pending.Count - mark);
        }
    }

    /// <summary>Appends the names of the subdirectories of <paramref name="dirFd"/> to the pending stack.</summary>
    private bool ListChildren(int dirFd)
    {
        fixed (byte* buf = _dirents)
        {
            while (true)
            {
                nint n = Native.GetDents64(dirFd, buf, (nuint)_dirents.Length);
                if (n < 0)
                {
                    if (Native.Errno == Native.EINTR)
                        continue;
                    return false;
                }
                if (n == 0)
                    return true;
                for (nint off = 0; off < n;)
                {
                    byte* rec = buf + off;
                    int recLen = *(ushort*)(rec + Native.DirentRecLenOffset);
                    off += recLen;
                    if (rec[Native.DirentTypeOffset] != Native.DT_DIR)
                        continue; // control files; a cgroup file system reports every entry's type
                    var name = new ReadOnlySpan<byte>(rec + Native.DirentNameOffset, recLen - Native.DirentNameOffset);
                    name = name[..name.IndexOf((byte)0)];
                    if (name.SequenceEqual("."u8) || name.SequenceEqual(".."u8))
                        continue;
                    foreach (byte b in name)
                        _pending.Add(b);
                    _pending.Add(0);
                }
            }
        }
    }

    public override string ToString() => $"{_hierarchy}: {Cgroups} cgroups, {_byPid.Count} pids";
}
