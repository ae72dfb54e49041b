namespace Lmkd.Policies;

/// <summary>
/// Matches an absolute path against an operator's glob: '*' is any run of characters inside one
/// path segment, '**' is any run including '/', '?' is one character other than '/'. The whole
/// path must match. "a/**/b" also matches "a/b", as in .gitignore, so "/usr/**/bin/*" covers
/// "/usr/bin/x" too.
/// </summary>
/// <remarks>
/// Works directly on the pattern text: nothing to compile or cache, nothing allocated. Backtracking
/// is bounded by the segment length for '*' and by the path length for '**'; operator patterns have
/// few stars, so this stays cheap.
/// </remarks>
public static class PathGlob
{
    public static bool IsMatch(string pattern, string? path) =>
        path is not null && IsMatch(pattern.AsSpan(), path.AsSpan());

    public static bool IsMatch(ReadOnlySpan<char> pattern, ReadOnlySpan<char> path)
    {
        while (!pattern.IsEmpty)
        {
            char c = pattern[0];
            if (c == '*')
            {
                bool crossesSegments = pattern.Length > 1 && pattern[1] == '*';
                var rest = pattern[(crossesSegments ? 2 : 1)..];
                // Consecutive stars beyond "**" add nothing.
                while (!rest.IsEmpty && rest[0] == '*')
                    rest = rest[1..];

                // "**/" may stand for zero whole segments.
                if (crossesSegments && !rest.IsEmpty && rest[0] == '/' && IsMatch(rest[1..], path))
                    return true;

                for (int taken = 0; ; taken++)
                {
                    if (IsMatch(rest, path[taken..]))
                        return true;
                    if (taken == path.Length || (!crossesSegments && path[taken] == '/'))
                        return false;
                }
            }

            if (path.IsEmpty)
                return false;
            if (c == '?' ? path[0] == '/' : path[0] != c)
                return false;
            pattern = pattern[1..];
            path = path[1..];
        }
        return path.IsEmpty;
    }
}
