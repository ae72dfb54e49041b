using System.Text;
using Lmkd.Linux;

namespace Lmkd.ProcFs;

/// <summary>Outcome of reading a /proc or cgroup file.</summary>
public enum ProcReadStatus
{
    Ok = 0,
    /// <summary>ENOENT or ESRCH: the file or the process is gone. A normal outcome for /proc/&lt;pid&gt;.</summary>
    Missing,
    /// <summary>Any other errno (EACCES, ENODEV for a removed cgroup, ...); see the reader's LastErrno.</summary>
    Failed,
}

/// <summary>
/// Reads whole small /proc and cgroup files into one reused buffer. Not thread-safe: one per thread.
/// The returned span is valid until the next read on the same reader.
/// </summary>
public sealed unsafe class ProcFileReader
{
    /// <summary>A file bigger than this is refused rather than grown into: /proc files we read are a few kB.</summary>
    public const int MaxFileSize = 16 << 20;

    private byte[] _buffer;

    public ProcFileReader(int initialCapacity = 4096) => _buffer = new byte[Math.Max(64, initialCapacity)];

    /// <summary>errno of the last failed open/read (0 after a success).</summary>
    public int LastErrno { get; private set; }

    public int Capacity => _buffer.Length;

    /// <summary>Reads the file at <paramref name="path"/>. The path is marshalled on the stack.</summary>
    public ProcReadStatus Read(string path, out ReadOnlySpan<byte> content)
    {
        content = default;
        int fd = OpenPath(path, out int errno);
        if (fd < 0)
            return Fail(errno);
        try
        {
            return ReadOpenFd(fd, out content);
        }
        finally
        {
            Native.Close(fd);
        }
    }

    /// <summary>Reads <paramref name="relativePath"/> (NUL-terminated UTF-8, e.g. "stat\0"u8) under a directory fd.</summary>
    public ProcReadStatus ReadAt(int dirFd, ReadOnlySpan<byte> relativePath, out ReadOnlySpan<byte> content)
    {
        content = default;
        int fd;
        fixed (byte* p = relativePath)
            fd = Native.OpenAt(dirFd, p, Native.O_RDONLY | Native.O_CLOEXEC);
        if (fd < 0)
            return Fail(Native.Errno);
        try
        {
            return ReadOpenFd(fd, out content);
        }
        finally
        {
            Native.Close(fd);
        }
    }

    /// <summary>
    /// <see cref="ReadAt"/> for a file the kernel generates in one piece: one seq_file record or one value, as
    /// /proc/&lt;pid&gt;/stat, status, cgroup and oom_score_adj are. A read that does not fill the buffer then returned
    /// the whole file, so the read that would only see EOF is skipped: one system call fewer per file. Not for files
    /// of many records (cgroup.procs, meminfo): the kernel may return those a page at a time.
    /// </summary>
    public ProcReadStatus ReadAtOnce(int dirFd, ReadOnlySpan<byte> relativePath, out ReadOnlySpan<byte> content)
    {
        content = default;
        int fd;
        fixed (byte* p = relativePath)
            fd = Native.OpenAt(dirFd, p, Native.O_RDONLY | Native.O_CLOEXEC);
        if (fd < 0)
            return Fail(Native.Errno);
        try
        {
            while (true)
            {
                nint n;
                fixed (byte* b = _buffer)
                    n = Native.PRead(fd, b, (nuint)_buffer.Length, 0);
                if (n < 0)
                {
                    int e = Native.Errno;
                    if (e == Native.EINTR)
                        continue;
                    return Fail(e);
                }
                if (n < _buffer.Length)
                {
                    LastErrno = 0;
                    content = _buffer.AsSpan(0, (int)n);
                    return ProcReadStatus.Ok;
                }
                if (_buffer.Length >= MaxFileSize)
                    return Fail(Native.EINVAL);
                _buffer = new byte[Math.Min(MaxFileSize, _buffer.Length * 2)];
            }
        }
        finally
        {
            Native.Close(fd);
        }
    }

    /// <summary>Reads an fd the caller owns from offset 0 (pread: the fd's position is not used).</summary>
    public ProcReadStatus ReadOpenFd(int fd, out ReadOnlySpan<byte> content)
    {
        var status = ReadWhole(fd, ref _buffer, out int length, out int errno);
        LastErrno = errno;
        content = status == ProcReadStatus.Ok ? _buffer.AsSpan(0, length) : default;
        return status;
    }

    private ProcReadStatus Fail(int errno)
    {
        LastErrno = errno;
        return Classify(errno);
    }

    public static ProcReadStatus Classify(int errno) =>
        errno is Native.ENOENT or Native.ESRCH ? ProcReadStatus.Missing : ProcReadStatus.Failed;

    /// <summary>
    /// pread from offset 0 until EOF. When the buffer fills, grow it and read again from the start
    /// rather than stitching two partial reads: the kernel regenerates these files on each read.
    /// </summary>
    internal static ProcReadStatus ReadWhole(int fd, ref byte[] buffer, out int length, out int errno)
    {
        while (true)
        {
            int total = 0;
            fixed (byte* p = buffer)
            {
                while (total < buffer.Length)
                {
                    nint n = Native.PRead(fd, p + total, (nuint)(buffer.Length - total), total);
                    if (n < 0)
                    {
                        int e = Native.Errno;
                        if (e == Native.EINTR)
                            continue;
                        length = 0;
                        errno = e;
                        return Classify(e);
                    }
                    if (n == 0)
                        break;
                    total += (int)n;
                }
            }
            if (total < buffer.Length)
            {
                length = total;
                errno = 0;
                return ProcReadStatus.Ok;
            }
            if (buffer.Length >= MaxFileSize)
            {
                length = 0;
                errno = Native.EINVAL;
                return ProcReadStatus.Failed;
            }
            buffer = new byte[Math.Min(MaxFileSize, buffer.Length * 2)];
        }
    }

    /// <summary>open(2) with the path converted to NUL-terminated UTF-8 on the stack (short paths) or a temporary array.</summary>
    internal static int OpenPath(string path, out int errno, int flags = Native.O_RDONLY | Native.O_CLOEXEC)
    {
        int max = Encoding.UTF8.GetMaxByteCount(path.Length) + 1;
        Span<byte> bytes = max <= 1024 ? stackalloc byte[max] : new byte[max];
        int n = Encoding.UTF8.GetBytes(path, bytes);
        bytes[n] = 0;
        int fd;
        fixed (byte* p = bytes)
            fd = Native.Open(p, flags);
        errno = fd < 0 ? Native.Errno : 0;
        return fd;
    }
}

/// <summary>
/// A /proc or cgroup file kept open and re-read with pread at offset 0: the hot path's meminfo,
/// vmstat and memory.* files. No open/close and no allocation per read once the buffer has grown
/// to fit. Not thread-safe.
/// </summary>
public sealed class ProcFile : IDisposable
{
    private byte[] _buffer;
    private int _fd;

    private ProcFile(string path, int fd, int initialCapacity)
    {
        Path = path;
        _fd = fd;
        _buffer = new byte[Math.Max(64, initialCapacity)];
    }

    public string Path { get; }

    /// <summary>errno of the last failed read (0 after a success).</summary>
    public int LastErrno { get; private set; }

    /// <summary>Opens <paramref name="path"/>; null with the errno when it cannot be opened (absent file: a normal answer).</summary>
    public static ProcFile? TryOpen(string path, out int errno, int initialCapacity = 4096)
    {
        int fd = ProcFileReader.OpenPath(path, out errno);
        return fd < 0 ? null : new ProcFile(path, fd, initialCapacity);
    }

    public static ProcFile? TryOpen(string path, int initialCapacity = 4096) => TryOpen(path, out _, initialCapacity);

    /// <summary>Opens <paramref name="path"/> or throws an <see cref="IOException"/> naming it and the errno.</summary>
    public static ProcFile Open(string path, int initialCapacity = 4096) =>
        TryOpen(path, out int errno, initialCapacity) ?? throw new IOException($"open {path}: errno {errno}");

    /// <summary>Re-reads the whole file. The span is valid until the next read.</summary>
    public ProcReadStatus Read(out ReadOnlySpan<byte> content)
    {
        ObjectDisposedException.ThrowIf(_fd < 0, this);
        var status = ProcFileReader.ReadWhole(_fd, ref _buffer, out int length, out int errno);
        LastErrno = errno;
        content = status == ProcReadStatus.Ok ? _buffer.AsSpan(0, length) : default;
        return status;
    }

    /// <summary>Re-reads the file or throws an <see cref="IOException"/> (for files that must exist: meminfo, vmstat).</summary>
    public ReadOnlySpan<byte> ReadOrThrow()
    {
        if (Read(out var content) != ProcReadStatus.Ok)
            throw new IOException($"read {Path}: errno {LastErrno}");
        return content;
    }

    public void Dispose()
    {
        if (_fd >= 0)
        {
            Native.Close(_fd);
            _fd = -1;
        }
    }
}
