using Lmkd.Policies;

namespace Lmkd.Linux;

/// <summary>A file's <see cref="FileIdentity"/> through statx(2), following symlinks (and /proc's magic links).</summary>
internal static unsafe class FileStat
{
    private const uint Wanted = Native.STATX_INO | Native.STATX_NLINK | Native.STATX_BTIME;

    /// <summary>
    /// Identifies <paramref name="pathNul"/> (NUL-terminated UTF-8) relative to <paramref name="dirFd"/>. The device is
    /// (major &lt;&lt; 32) | minor; the birth time is 0 where the file system does not report one.
    /// </summary>
    public static bool TryIdentify(int dirFd, ReadOnlySpan<byte> pathNul, out FileIdentity identity, out uint linkCount, out int errno)
    {
        Native.Statx st;
        int rc;
        fixed (byte* p = pathNul)
            rc = Native.StatX(dirFd, p, Native.AT_STATX_DONT_SYNC, Wanted, &st);
        if (rc != 0 || (st.Mask & Native.STATX_INO) == 0)
        {
            errno = rc != 0 ? Native.Errno : Native.EINVAL;
            identity = default;
            linkCount = 0;
            return false;
        }
        errno = 0;
        long birth = (st.Mask & Native.STATX_BTIME) != 0 ? st.BirthTimeSec * 1_000_000_000 + st.BirthTimeNsec : 0;
        identity = new FileIdentity(((ulong)st.DevMajor << 32) | st.DevMinor, st.Ino, birth);
        linkCount = (st.Mask & Native.STATX_NLINK) != 0 ? st.NLink : 1;
        return true;
    }

    /// <summary>Identifies the file at an absolute or working-directory-relative path.</summary>
    public static bool TryIdentify(string path, out FileIdentity identity)
    {
        int max = System.Text.Encoding.UTF8.GetMaxByteCount(path.Length) + 1;
        Span<byte> bytes = max <= 1024 ? stackalloc byte[max] : new byte[max];
        int n = System.Text.Encoding.UTF8.GetBytes(path, bytes);
        bytes[n] = 0;
        return TryIdentify(Native.AT_FDCWD, bytes[..(n + 1)], out identity, out _, out _);
    }

    /// <summary>Whether <paramref name="path"/> itself (not a symlink's target) is a socket; false when it does not exist.</summary>
    public static bool IsSocket(string path)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(path + "\0");
        Native.Statx st;
        fixed (byte* p = bytes)
            if (Native.StatX(Native.AT_FDCWD, p, Native.AT_SYMLINK_NOFOLLOW, Native.STATX_TYPE, &st) != 0)
                return false;
        return (st.Mask & Native.STATX_TYPE) != 0 && (st.Mode & Native.S_IFMT) == Native.S_IFSOCK;
    }
}
