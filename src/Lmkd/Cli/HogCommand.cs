using System.Globalization;
using System.Runtime.InteropServices;

namespace Lmkd.Cli;

/// <summary>
/// <c>lmkd hog</c>: a memory hog for tests and demos. Anonymous memory from NativeMemory (not the
/// GC heap, so the size is exact and the GC never moves or frees it), every page written so it is
/// resident, optionally growing and optionally thrashing the page cache by re-reading a file.
/// </summary>
public static class HogCommand
{
    public const string Usage =
        "usage: lmkd hog --mb N [--grow-mb N [--every-ms M] --max-mb N] [--oom-score-adj N]\n" +
        "                [--read-file PATH [--readers N]] [--compress-ratio N] [--ready-file PATH] [--stop-file PATH]\n" +
        "  Allocates and touches N MiB of anonymous memory, writes PID to --ready-file when done,\n" +
        "  then sleeps (or grows by --grow-mb every --every-ms ms, default 1000, up to --max-mb,\n" +
        "  and/or re-reads --read-file in a loop with N staggered readers, default 1). Growth stops for good\n" +
        "  once --stop-file exists (a test holds a cgroup steady near its limit that way).\n" +
        "  --oom-score-adj is written first (-1000..1000). --compress-ratio N writes random bytes in 1/N of\n" +
        "  each page (zram then stores it about N:1, like real program memory) instead of one byte a page.";

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr) =>
        Run(args, stdout, stderr, CancellationToken.None);

    /// <summary>Runs until <paramref name="stop"/> is cancelled (never, from the command line); then frees everything.</summary>
    internal static int Run(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken stop)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        if (!Options.TryParse(args, out var o, out string? error))
        {
            stderr.WriteLine($"lmkd hog: {error}");
            stderr.WriteLine(Usage);
            return 2;
        }

        // First, so the hog is the kernel OOM killer's (and lmkd's) preferred victim before it grows.
        if (o.OomScoreAdj is int adj)
        {
            try
            {
                File.WriteAllText("/proc/self/oom_score_adj", adj.ToString(CultureInfo.InvariantCulture));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                stderr.WriteLine($"lmkd hog: cannot set oom_score_adj to {adj}: {e.Message}");
                return 1;
            }
        }

        var blocks = new List<(nint Ptr, nuint Bytes)>();
        var readers = new List<Thread>();
        using var readerStop = CancellationTokenSource.CreateLinkedTokenSource(stop);
        try
        {
            if (!TryAllocate(o.Mb, o.CompressRatio, blocks, stderr))
                return 1;
            long held = o.Mb;

            if (o.ReadFile is { } path)
            {
                // Several readers, each starting at its own offset: a single sequential reader leaves
                // the stall too thin to tell thrashing from plain I/O.
                for (int i = 0; i < o.Readers; i++)
                {
                    FileStream file;
                    try
                    {
                        file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 0);
                    }
                    catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                    {
                        stderr.WriteLine($"lmkd hog: cannot read {path}: {e.Message}");
                        return 1;
                    }
                    long start = file.Length / o.Readers * i;
                    var reader = new Thread(() => ReadForever(file, start, readerStop.Token, stderr)) { IsBackground = true, Name = "hog-reader" };
                    reader.Start();
                    readers.Add(reader);
                }
            }

            stdout.WriteLine($"lmkd hog: pid {Environment.ProcessId} holds {held} MiB");
            stdout.Flush();
            if (o.ReadyFile is { } ready)
                WriteReadyFile(ready);

            while (!stop.IsCancellationRequested)
            {
                if (o.GrowMb > 0 && held < o.MaxMb && (o.StopFile is null || !File.Exists(o.StopFile)))
                {
                    if (stop.WaitHandle.WaitOne(o.EveryMs))
                        break;
                    long step = Math.Min(o.GrowMb, o.MaxMb - held);
                    if (!TryAllocate(step, o.CompressRatio, blocks, stderr))
                        return 1;
                    held += step;
                    stdout.WriteLine($"lmkd hog: holds {held} MiB");
                    stdout.Flush();
                }
                else
                {
                    stop.WaitHandle.WaitOne();
                }
            }
            return 0;
        }
        finally
        {
            readerStop.Cancel();
            foreach (var reader in readers)
                reader.Join();
            foreach (var (ptr, _) in blocks)
                unsafe { NativeMemory.Free((void*)ptr); }
        }
    }

    private static unsafe bool TryAllocate(long mb, int compressRatio, List<(nint, nuint)> blocks, TextWriter stderr)
    {
        nuint bytes = (nuint)mb << 20;
        byte* p;
        try
        {
            p = (byte*)NativeMemory.Alloc(bytes);
        }
        catch (OutOfMemoryException)
        {
            stderr.WriteLine($"lmkd hog: cannot allocate {mb} MiB");
            return false;
        }
        blocks.Add(((nint)p, bytes));
        // A write per page makes it resident and private (a read would only map the shared zero page).
        nuint page = (nuint)Environment.SystemPageSize;
        if (compressRatio > 0)
        {
            // Pages of zeros cost zram nothing, and random pages do not compress at all: neither is
            // like a real program's memory. Random bytes (xorshift64) in 1/N of each page, zeros in
            // the rest, compress about N:1.
            ulong x = 0x9E3779B97F4A7C15UL ^ (ulong)Environment.ProcessId ^ (ulong)blocks.Count;
            nuint words = page / 8 / (nuint)compressRatio;
            for (nuint off = 0; off < bytes; off += page)
            {
                ulong* q = (ulong*)(p + off);
                for (nuint i = 0; i < words; i++)
                {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    q[i] = x;
                }
                p[off + page - 1] = 0; // the rest of the page: written, so it is resident either way
            }
            return true;
        }
        for (nuint off = 0; off < bytes; off += page)
            p[off] = 1;
        return true;
    }

    private static void ReadForever(FileStream file, long start, CancellationToken stop, TextWriter stderr)
    {
        var buffer = new byte[1 << 20];
        using (file)
        {
            try
            {
                file.Position = start;
                while (!stop.IsCancellationRequested)
                {
                    if (file.Position >= file.Length)
                        file.Position = 0;
                    while (!stop.IsCancellationRequested && file.Read(buffer) > 0)
                    {
                    }
                }
            }
            catch (IOException e)
            {
                stderr.WriteLine($"lmkd hog: reading stopped: {e.Message}");
            }
        }
    }

    // Written aside and renamed, so a watcher never sees an empty file.
    private static void WriteReadyFile(string path)
    {
        string tmp = path + ".tmp";
        File.WriteAllText(tmp, Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "\n");
        File.Move(tmp, path, overwrite: true);
    }

    private sealed record Options(long Mb, long GrowMb, int EveryMs, long MaxMb, int? OomScoreAdj, string? ReadFile, string? ReadyFile,
        int Readers = 1, int CompressRatio = 0, string? StopFile = null)
    {
        private static readonly string[] Names =
            ["--mb", "--grow-mb", "--max-mb", "--every-ms", "--oom-score-adj", "--read-file", "--readers", "--compress-ratio", "--ready-file", "--stop-file"];

        public static bool TryParse(string[] args, out Options options, out string? error)
        {
            options = new Options(0, 0, 1000, 0, null, null, null);
            long? mb = null, grow = null, max = null;
            int? every = null, adj = null, readers = null, ratio = null;
            string? read = null, ready = null, stopFile = null;
            for (int i = 0; i < args.Length; i++)
            {
                string name = args[i];
                if (Array.IndexOf(Names, name) < 0)
                {
                    error = $"unknown argument '{name}'";
                    return false;
                }
                if (i + 1 >= args.Length)
                {
                    error = $"{name} needs a value";
                    return false;
                }
                string value = args[++i];
                bool ok = name switch
                {
                    "--mb" => TryLong(value, 1, out mb),
                    "--grow-mb" => TryLong(value, 1, out grow),
                    "--max-mb" => TryLong(value, 1, out max),
                    "--every-ms" => TryInt(value, 1, int.MaxValue, out every),
                    "--oom-score-adj" => TryInt(value, -1000, 1000, out adj),
                    "--read-file" => Set(value, out read),
                    "--readers" => TryInt(value, 1, 16, out readers),
                    "--compress-ratio" => TryInt(value, 1, 64, out ratio),
                    "--ready-file" => Set(value, out ready),
                    "--stop-file" => Set(value, out stopFile),
                    _ => false,
                };
                if (!ok)
                {
                    error = $"bad value '{value}' for {name}";
                    return false;
                }
            }
            if (mb is null)
            {
                error = "--mb is required";
                return false;
            }
            // Unbounded growth on a shared host is exactly the system-wide pressure tests must not make.
            if (grow is not null && max is null)
            {
                error = "--grow-mb needs --max-mb";
                return false;
            }
            if ((every is not null || max is not null) && grow is null)
            {
                error = "--every-ms and --max-mb need --grow-mb";
                return false;
            }
            if (stopFile is not null && grow is null)
            {
                error = "--stop-file needs --grow-mb";
                return false;
            }
            if (readers is not null && read is null)
            {
                error = "--readers needs --read-file";
                return false;
            }
            options = new Options(mb.Value, grow ?? 0, every ?? 1000, max ?? mb.Value, adj, read, ready, readers ?? 1, ratio ?? 0, stopFile);
            error = null;
            return true;
        }

        private static bool TryLong(string s, long min, out long? value)
        {
            bool ok = long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out long v) && v >= min && v <= (1L << 24);
            value = ok ? v : null;
            return ok;
        }

        private static bool TryInt(string s, int min, int max, out int? value)
        {
            bool ok = int.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int v) && v >= min && v <= max;
            value = ok ? v : null;
            return ok;
        }

        private static bool Set(string s, out string? value)
        {
            value = s;
            return s.Length > 0;
        }
    }
}
