using Lmkd.Linux;
using Lmkd.Policies;

namespace Lmkd.Daemon;

/// <summary>
/// The files exe rules name, identified (device, inode, birth time) in Lmkd's own mount namespace when the rules are
/// loaded: at start and on each reload. A process runs one of them, whatever its mount namespace shows, when its
/// executable has the same identity; and a binary a package upgrade unlinked keeps the identity recorded here.
/// <para>A literal path names one file. A glob names the files that match it when the rules are loaded, found by
/// listing the directories below its literal prefix (symlinked directories are not followed; symlinked files are
/// identified by their target, as the kernel runs the target). A binary installed later is matched by its path, in
/// pid 1's mount namespace only, until the next reload. The walk stops after <see cref="MaxEntriesVisited"/>
/// directory entries and <see cref="MaxFiles"/> files per rule list: a glob over a whole tree is not a rule
/// Lmkd can resolve.</para>
/// </summary>
public static class ExeRuleFiles
{
    public const int MaxFiles = 4096;
    public const int MaxEntriesVisited = 100_000;

    /// <summary>Pseudo file systems hold no executables; a "**" from the root would only lose its budget in them.</summary>
    private static readonly string[] NotWalked = ["/proc", "/sys", "/dev"];

    private static readonly EnumerationOptions Listing = new() { IgnoreInaccessible = true, AttributesToSkip = 0, RecurseSubdirectories = false };

    /// <summary>The identities of the files <paramref name="patterns"/> name now; files that do not exist are skipped.</summary>
    public static IReadOnlySet<FileIdentity> Resolve(IReadOnlyList<string> patterns)
    {
        var found = new HashSet<FileIdentity>();
        int visited = 0;
        foreach (string pattern in patterns)
        {
            if (found.Count >= MaxFiles)
                break;
            if (pattern.AsSpan().IndexOfAny('*', '?') < 0)
            {
                if (FileStat.TryIdentify(pattern, out var id))
                    found.Add(id);
                continue;
            }
            string[] segments = pattern.Split('/');
            int firstWild = Array.FindIndex(segments, s => s.AsSpan().IndexOfAny('*', '?') >= 0);
            string start = string.Join('/', segments[..firstWild]);
            if (start.Length == 0)
                start = "/";
            // Without "**" a match lies exactly as deep as the pattern; with it, anywhere below.
            int maxDepth = pattern.Contains("**", StringComparison.Ordinal) ? int.MaxValue : segments.Length - firstWild;
            Walk(new DirectoryInfo(start), pattern, 1, maxDepth, found, ref visited);
        }
        return found;
    }

    private static void Walk(DirectoryInfo dir, string pattern, int depth, int maxDepth, HashSet<FileIdentity> found, ref int visited)
    {
        IEnumerable<FileSystemInfo> entries;
        try
        {
            entries = dir.EnumerateFileSystemInfos("*", Listing);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return; // absent or unreadable: nothing there to protect
        }
        foreach (var entry in entries)
        {
            if (++visited > MaxEntriesVisited || found.Count >= MaxFiles)
                return;
            if (entry is DirectoryInfo directory)
            {
                // A symlinked directory is not walked: it could loop, and its files are reached by their own path.
                if ((entry.Attributes & FileAttributes.ReparsePoint) == 0 && depth < maxDepth && !NotWalked.Contains(entry.FullName))
                    Walk(directory, pattern, depth + 1, maxDepth, found, ref visited);
            }
            else if (PathGlob.IsMatch(pattern, entry.FullName) && FileStat.TryIdentify(entry.FullName, out var id))
            {
                found.Add(id);
            }
        }
    }
}
