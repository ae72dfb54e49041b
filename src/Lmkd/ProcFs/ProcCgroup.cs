using System.Text;

namespace Lmkd.ProcFs;

/// <summary>/proc/&lt;pid&gt;/cgroup: "id:controllers:path" lines, one per mounted hierarchy.</summary>
public static class ProcCgroup
{
    /// <summary>
    /// The cgroup path. With <paramref name="preferV1Memory"/>, the v1 line whose controllers include "memory" wins
    /// when present (a hybrid host's memory controller is on v1), else the v2 "0::" line; without it, the "0::" line
    /// wins and the memory line is the fallback. Null when neither exists.
    /// </summary>
    public static string? ParsePath(ReadOnlySpan<byte> content, bool preferV1Memory) =>
        TryFindPath(content, preferV1Memory, out var path) ? Encoding.UTF8.GetString(path) : null;

    /// <summary><see cref="ParsePath"/> without the string: the path points into <paramref name="content"/>.</summary>
    public static bool TryFindPath(ReadOnlySpan<byte> content, bool preferV1Memory, out ReadOnlySpan<byte> path)
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
