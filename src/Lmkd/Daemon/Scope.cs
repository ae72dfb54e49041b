using Lmkd.Configuration;
using Lmkd.Policies;
using Lmkd.Pressure;
using Lmkd.ProcFs;

namespace Lmkd.Daemon;

/// <summary>
/// What Lmkd watches and may kill: the whole machine, or one cgroup subtree. Resolves the files
/// for either, on pure cgroup v2 hosts and on hybrid ones (v1 memory controller, v2 for PSI).
/// </summary>
public sealed class Scope : IDisposable
{
    public required string Description { get; init; }
    public required string PressureFile { get; init; }
    /// <summary>The cgroup path processes must be inside to be candidates, or null for the whole machine.</summary>
    public string? CgroupPath { get; init; }
    /// <summary>The scope's memory, read by the monitor thread.</summary>
    public required IMemoryReader Memory { get; init; }
    /// <summary>Another reader of the same files, for another thread (the reaper's "what the kill gave back").</summary>
    public required Func<IMemoryReader> OpenMemoryReader { get; init; }
    public Func<long>? ReadOomKills { get; init; }
    /// <summary>A kernel wake-up when the cgroup's memory moves (v2 memory.events, v1 usage threshold); null for the machine or when refused.</summary>
    public MemoryEventWatch? MemoryEvents { get; init; }
    /// <summary>Why there is no <see cref="MemoryEvents"/> (for the startup log).</summary>
    public string? MemoryEventsMissing { get; init; }
    /// <summary>The cgroup's own usage and effective limit at the last memory read; null for the machine.</summary>
    public Func<(long UsageBytes, long LimitBytes)>? LastUsage { get; init; }
    /// <summary>
    /// The cgroup directory whose subtree's cgroup.procs list the scope's processes (the v1 memory
    /// cgroup on hybrid hosts, as the scanner's cgroup paths are), or null for the whole machine.
    /// </summary>
    public string? ProcsDirectory { get; init; }
    /// <summary>The cgroup mount (Lmkd:CgroupRoot): the scanner may read every process's cgroup from its tree.</summary>
    public string? CgroupRoot { get; init; }

    public bool Contains(string processCgroup) => CgroupPath is null || CgroupPrefix.Covers(CgroupPath, processCgroup);

    /// <summary>The scanner's cgroup filter: null (everyone) for the whole machine. Made once, not per scan.</summary>
    public Func<string, bool>? Filter => CgroupPath is null ? null : _filter ??= Contains;
    private Func<string, bool>? _filter;

    /// <summary>
    /// The pids that may be candidates: /proc's list for the whole machine; for a cgroup, the
    /// cgroup.procs of its subtree, so a kill in a cgroup scope reads only that cgroup's processes.
    /// </summary>
    public void ListPids(ProcessScanner scanner, List<int> into)
    {
        if (ProcsDirectory is null)
        {
            scanner.ListPids(into);
            return;
        }
        into.Clear();
        AddProcs(ProcsDirectory, into);
    }

    internal static void AddProcs(string dir, List<int> into)
    {
        try
        {
            foreach (var line in File.ReadLines(Path.Combine(dir, "cgroup.procs")))
                if (int.TryParse(line, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int pid))
                    into.Add(pid);
            foreach (var child in Directory.EnumerateDirectories(dir))
                AddProcs(child, into);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A child cgroup removed while we walk it: its processes are gone or moved; nothing to list.
        }
    }

    public static Scope Open(LmkdOptions options)
    {
        if (!options.Scope.IsCgroup)
        {
            string procRoot = options.ProcRoot;
            return new Scope
            {
                Description = "whole machine",
                PressureFile = Path.Combine(procRoot, "pressure/memory"),
                Memory = new SystemMemoryReader(procRoot),
                OpenMemoryReader = () => new SystemMemoryReader(procRoot),
                CgroupRoot = options.CgroupRoot,
            };
        }

        var rel = "/" + options.Scope.Cgroup!.Trim('/');
        var paths = CgroupPaths.Resolve(options.CgroupRoot, rel);
        if (paths.V2Directory is null || !Directory.Exists(paths.V2Directory))
            throw new ScopeException($"Lmkd:Scope:Cgroup: no cgroup v2 directory for '{rel}' under {options.CgroupRoot}");
        var pressure = Path.Combine(paths.V2Directory, "memory.pressure");
        if (!File.Exists(pressure))
            throw new ScopeException($"Lmkd:Scope:Cgroup: {pressure} does not exist (is PSI enabled?)");
        var ancestors = Ancestors(paths.V1MemoryDirectory ?? paths.V2Directory, rel);
        CgroupMemoryReader OpenReader() => new(paths.V2Directory, paths.V1MemoryDirectory,
            options.Scope.MinFreePct, options.Scope.LowFreePct, options.Scope.HighFreePct, options.ProcRoot, ancestors: ancestors);
        var memReader = OpenReader();
        memReader.TryRead(out _);
        var events = MemoryEventWatch.Open(paths.V1MemoryDirectory is null ? paths.V2Directory : null, paths.V1MemoryDirectory,
            memReader.LastLimitBytes, EventThresholdPct(options), out string why);
        return new Scope
        {
            Description = $"cgroup {rel} ({paths.Layout})",
            PressureFile = pressure,
            CgroupPath = rel,
            ProcsDirectory = paths.V1MemoryDirectory ?? paths.V2Directory,
            Memory = memReader,
            OpenMemoryReader = OpenReader,
            CgroupRoot = options.CgroupRoot,
            ReadOomKills = memReader.ReadOomKills,
            MemoryEvents = events,
            MemoryEventsMissing = events is null ? why : null,
            LastUsage = () => (memReader.LastUsageBytes, memReader.LastLimitBytes),
        };
    }

    /// <summary>
    /// Where the v1 usage threshold sits, as headroom in percent of the limit: 10 points above the
    /// first headroom level, so the watch starts sampling well before a level can be crossed.
    /// </summary>
    internal static double EventThresholdPct(LmkdOptions options) =>
        Math.Min(90, options.Headroom.EffectiveLevels().Select(l => l.HeadroomPct).DefaultIfEmpty(0).Max() + 10);

    /// <summary>The directories of the cgroup's ancestors below the hierarchy's root, nearest first: "/a/b/c" gives .../a/b, .../a.</summary>
    internal static List<string> Ancestors(string directory, string relativePath)
    {
        var list = new List<string>();
        int depth = relativePath.Trim('/').Split('/', StringSplitOptions.RemoveEmptyEntries).Length;
        string? dir = directory;
        for (int i = 1; i < depth && (dir = Path.GetDirectoryName(dir)) is not null; i++)
            list.Add(dir);
        return list;
    }

    public void Dispose()
    {
        MemoryEvents?.Dispose();
        Memory.Dispose();
    }
}

public sealed class ScopeException(string message) : Exception(message);
