namespace Lmkd.ProcFs;

/// <summary>The target of a /proc/&lt;pid&gt;/ns/* link: "mnt:[4026531841]", the namespace's type and inode number.</summary>
public static class NamespaceLink
{
    /// <summary>The inode number when <paramref name="target"/> is "&lt;type&gt;:[&lt;inode&gt;]" for <paramref name="type"/>.</summary>
    public static bool TryParse(ReadOnlySpan<byte> target, ReadOnlySpan<byte> type, out ulong inode)
    {
        inode = 0;
        if (target.Length < type.Length + 4 || !target.StartsWith(type) || target[type.Length] != (byte)':'
            || target[type.Length + 1] != (byte)'[' || target[^1] != (byte)']')
            return false;
        return ProcParse.TryParseUInt64(target[(type.Length + 2)..^1], out inode);
    }
}
