using System.Globalization;
using Lmkd.Policies;

namespace Lmkd.Benchmarks;

/// <summary>
/// The baseline: the scan as one would first write it. Same files and same result as ProcessScanner
/// (stat, cgroup, status, oom_score_adj, the exe link), but File.ReadAllText/ReadAllLines per file,
/// string paths, Split and Parse. The ratio against it is what the span parsers and reused buffers buy.
/// </summary>
public static class NaiveScanner
{
    public static List<ProcessInfo> Scan(Func<string, bool>? cgroupFilter = null)
    {
        var result = new List<ProcessInfo>();
        foreach (string dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out int pid))
                continue;
            try
            {
                if (Read(dir, pid, cgroupFilter) is { } info)
                    result.Add(info);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
            {
                // Gone mid-read, or unreadable: skipped, as the real scanner does.
            }
        }
        return result;
    }

    /// <summary>Start time from /proc/&lt;pid&gt;/stat, the naive way; null when the process is gone.</summary>
    public static ulong? ReadStartTime(int pid)
    {
        try
        {
            return ParseStat(File.ReadAllText($"/proc/{pid}/stat")).StartTime;
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static ProcessInfo? Read(string dir, int pid, Func<string, bool>? cgroupFilter)
    {
        var (comm, state, ppid, flags, startTime) = ParseStat(File.ReadAllText(dir + "/stat"));
        if ((flags & 0x00200000) != 0 || pid == 2 || ppid == 2 || state is 'Z' or 'X')
            return null;

        string cgroup = "/";
        foreach (string line in File.ReadAllLines(dir + "/cgroup"))
        {
            string[] parts = line.Split(':', 3);
            if (parts.Length == 3 && parts[1].Split(',').Contains("memory"))
            {
                cgroup = parts[2];
                break;
            }
            if (parts.Length == 3 && parts[0] == "0" && parts[1].Length == 0)
                cgroup = parts[2];
        }
        if (cgroupFilter is not null && !cgroupFilter(cgroup))
            return null;

        uint uid = 0;
        long anon = -1, file = 0, shmem = 0, swap = 0;
        foreach (string line in File.ReadAllLines(dir + "/status"))
        {
            int colon = line.IndexOf(':');
            if (colon < 0)
                continue;
            string key = line[..colon];
            string[] values = line[(colon + 1)..].Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            switch (key)
            {
                case "Uid": uid = uint.Parse(values[0], CultureInfo.InvariantCulture); break;
                case "RssAnon": anon = long.Parse(values[0], CultureInfo.InvariantCulture) * 1024; break;
                case "RssFile": file = long.Parse(values[0], CultureInfo.InvariantCulture) * 1024; break;
                case "RssShmem": shmem = long.Parse(values[0], CultureInfo.InvariantCulture) * 1024; break;
                case "VmSwap": swap = long.Parse(values[0], CultureInfo.InvariantCulture) * 1024; break;
            }
        }
        if (anon < 0)
            return null; // no mm

        int adj = int.Parse(File.ReadAllText(dir + "/oom_score_adj").Trim(), CultureInfo.InvariantCulture);
        string? exe;
        try
        {
            exe = new FileInfo(dir + "/exe").LinkTarget;
        }
        catch (IOException)
        {
            exe = null;
        }
        catch (UnauthorizedAccessException)
        {
            exe = null;
        }

        return new ProcessInfo
        {
            Pid = pid, StartTime = startTime, State = state, Uid = uid, Comm = comm, ExePath = exe, CgroupPath = cgroup,
            OomScoreAdj = adj, RssAnonBytes = anon, RssFileBytes = file, RssShmemBytes = shmem, SwapBytes = swap,
        };
    }

    private static (string Comm, char State, int Ppid, uint Flags, ulong StartTime) ParseStat(string stat)
    {
        int open = stat.IndexOf('(');
        int close = stat.LastIndexOf(')');
        string[] f = stat[(close + 2)..].Split(' ');
        // f[0] is field 3 (state): field n is f[n - 3].
        return (stat[(open + 1)..close], f[0][0], int.Parse(f[1], CultureInfo.InvariantCulture),
            uint.Parse(f[6], CultureInfo.InvariantCulture), ulong.Parse(f[19], CultureInfo.InvariantCulture));
    }
}
