using Lmkd.Daemon;
using Lmkd.Policies;

namespace Lmkd.Tests.Daemon;

/// <summary>The scope's processes as they are now (what reads return), and the pids the scope lists.</summary>
internal sealed class FakeProcessSource(params ProcessInfo[] processes) : IProcessSource
{
    public readonly Dictionary<int, ProcessInfo> ByPid = processes.ToDictionary(p => p.Pid);
    public readonly List<int> Reads = [];
    public int Scans;
    /// <summary>The scope's pids (cgroup.procs); by default every process in /scope.</summary>
    public List<int>? Listed;

    public void ListPids(List<int> into)
    {
        into.Clear();
        into.AddRange(Listed ?? [.. ByPid.Values.Where(InScope).Select(p => p.Pid).Order()]);
    }

    public ProcessInfo? Read(int pid)
    {
        Reads.Add(pid);
        return ByPid.GetValueOrDefault(pid);
    }

    public IReadOnlyList<ProcessInfo> Scan(IReadOnlyList<int> pids)
    {
        Scans++;
        return [.. pids.Select(p => ByPid.GetValueOrDefault(p)).OfType<ProcessInfo>().Where(InScope)];
    }

    public bool InScope(ProcessInfo p) => p.CgroupPath.StartsWith("/scope", StringComparison.Ordinal);

    public readonly List<int> SizeReads = [];

    public long ReadResidentBytes(int pid)
    {
        SizeReads.Add(pid);
        return ByPid.TryGetValue(pid, out var p) ? p.RssBytes : -1;
    }
}
