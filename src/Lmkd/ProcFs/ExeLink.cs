namespace Lmkd.ProcFs;

/// <summary>The target of /proc/&lt;pid&gt;/exe: the executable's path, as the process's mount namespace shows it.</summary>
public static class ExeLink
{
    private static ReadOnlySpan<byte> DeletedSuffix => " (deleted)"u8;

    /// <summary>
    /// The path without the " (deleted)" the kernel appends once the file was unlinked, when
    /// <paramref name="linkCount"/> (of the executable itself) says it was: a file may also be named "x (deleted)".
    /// </summary>
    public static ReadOnlySpan<byte> FormerPath(ReadOnlySpan<byte> target, uint linkCount, out bool deleted)
    {
        deleted = linkCount == 0 && target.EndsWith(DeletedSuffix) && target.Length > DeletedSuffix.Length;
        return deleted ? target[..^DeletedSuffix.Length] : target;
    }
}
