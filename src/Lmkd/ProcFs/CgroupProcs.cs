namespace Lmkd.ProcFs;

/// <summary>A cgroup's cgroup.procs: one pid per line, in the reader's pid namespace.</summary>
public static class CgroupProcs
{
    /// <summary>Adds each pid of <paramref name="content"/> to <paramref name="into"/>; lines that are not pids are skipped.</summary>
    public static void Parse(ReadOnlySpan<byte> content, List<int> into)
    {
        while (ProcParse.NextLine(ref content, out var line))
        {
            if (ProcParse.TryParseInt32(line, out int pid) && pid > 0)
                into.Add(pid);
        }
    }
}
