using Lmkd.Configuration;
using Lmkd.Policies;
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
    public required Func<MemorySnapshot> ReadMemory { get; init; }
    public Func<long>? ReadOomKills { get; init; }
    /// <summary>
    /// The cgroup directory whose subtree's cgroup.procs list the scope's processes (the v1 memory
    /// cgroup on hybrid hosts, as the scanner's cgroup paths are), or null for the whole machine.
    /// </summary>
    public string? ProcsDirectory { get; init; }
    /// <summary>The cgroup mount (Lmkd:CgroupRoot): the scanner may read every process's cgroup from its tree.</summary>
    public string? CgroupRoot { get; init; }
    private IDisposable? _reader;

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

    private static void AddProcs(string dir, List<int> into)
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
            var reader = new SystemMemoryReader(options.ProcRoot);
            return new Scope
            {
                Description = "whole machine",
                PressureFile = Path.Combine(options.ProcRoot, "pressure/memory"),
                ReadMemory = reader.Read,
                CgroupRoot = options.CgroupRoot,
                _reader = reader as IDisposable,
            };
        }

        var rel = "/" + options.Scope.Cgroup!.Trim('/');
        var paths = CgroupPaths.Resolve(options.CgroupRoot, rel);
        if (paths.V2Directory is null || !Directory.Exists(paths.V2Directory))
            throw new ScopeException($"Lmkd:Scope:Cgroup: no cgroup v2 directory for '{rel}' under {options.CgroupRoot}");
        var pressure = Path.Combine(paths.V2Directory, "memory.pressure");
        if (!File.Exists(pressure))
            throw new ScopeException($"Lmkd:Scope:Cgroup: {pressure} does not exist (is PSI enabled?)");
        var memReader = new CgroupMemoryReader(paths.V2Directory, paths.V1MemoryDirectory,
            options.Scope.MinFreePct, options.Scope.LowFreePct, options.Scope.HighFreePct, options.ProcRoot);
        return new Scope
        {
            Description = $"cgroup {rel} ({paths.Layout})",
            PressureFile = pressure,
            CgroupPath = rel,
            ProcsDirectory = paths.V1MemoryDirectory ?? paths.V2Directory,
            CgroupRoot = options.CgroupRoot,
            ReadMemory = memReader.Read,
            ReadOomKills = memReader.ReadOomKills,
            _reader = memReader as IDisposable,
        };
    }

    public void Dispose() => _reader?.Dispose();
}

public sealed class ScopeException(string message) : Exception(message);
