namespace Lmkd.Policies;

/// <summary>
/// Cgroup subtree membership on whole path segments: "/a" covers "/a" and "/a/b" but not "/ab";
/// "/" covers every cgroup. A trailing '/' on the prefix is ignored. An empty prefix covers nothing,
/// so a blank protection entry cannot silently protect the whole machine.
/// </summary>
public static class CgroupPrefix
{
    public static bool Covers(string prefix, string path) => Covers(prefix.AsSpan(), path.AsSpan());

    public static bool Covers(ReadOnlySpan<char> prefix, ReadOnlySpan<char> path)
    {
        if (prefix.IsEmpty)
            return false;
        prefix = prefix.TrimEnd('/');
        if (prefix.IsEmpty)
            return true; // the root
        return path.StartsWith(prefix, StringComparison.Ordinal)
            && (path.Length == prefix.Length || path[prefix.Length] == '/');
    }
}
