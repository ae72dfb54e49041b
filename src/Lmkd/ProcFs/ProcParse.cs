namespace Lmkd.ProcFs;

/// <summary>
/// Span helpers for the line-and-number formats of /proc and cgroup files. They never throw on
/// content: a missing field, a truncated line or a non-number is a false return; counters too big
/// for a long saturate (a memory limit of 2^64-1 is "unlimited", not an error).
/// </summary>
public static class ProcParse
{
    public static bool IsBlank(byte b) => b is (byte)' ' or (byte)'\t';

    /// <summary>Splits off the next line (without its '\n'). False when nothing is left.</summary>
    public static bool NextLine(scoped ref ReadOnlySpan<byte> s, out ReadOnlySpan<byte> line)
    {
        if (s.IsEmpty)
        {
            line = default;
            return false;
        }
        int nl = s.IndexOf((byte)'\n');
        if (nl < 0)
        {
            line = s;
            s = default;
        }
        else
        {
            line = s[..nl];
            s = s[(nl + 1)..];
        }
        return true;
    }

    /// <summary>Skips blanks and returns the next blank-separated token (empty at the end).</summary>
    public static ReadOnlySpan<byte> NextToken(scoped ref ReadOnlySpan<byte> s)
    {
        int start = 0;
        while (start < s.Length && (IsBlank(s[start]) || s[start] == (byte)'\n'))
            start++;
        int end = start;
        while (end < s.Length && !IsBlank(s[end]) && s[end] != (byte)'\n')
            end++;
        var token = s[start..end];
        s = s[end..];
        return token;
    }

    public static ReadOnlySpan<byte> TrimStart(ReadOnlySpan<byte> s)
    {
        int i = 0;
        while (i < s.Length && IsBlank(s[i]))
            i++;
        return s[i..];
    }

    /// <summary>
    /// Splits "Key:  value ..." or "key value ..." into the key and the rest after the separator
    /// and blanks. False for a line with no separator.
    /// </summary>
    public static bool TrySplitKey(ReadOnlySpan<byte> line, out ReadOnlySpan<byte> key, out ReadOnlySpan<byte> rest)
    {
        int i = line.IndexOfAny((byte)':', (byte)' ', (byte)'\t');
        if (i <= 0)
        {
            key = rest = default;
            return false;
        }
        key = line[..i];
        rest = TrimStart(line[(i + 1)..]);
        return true;
    }

    /// <summary>
    /// Finds the line whose key is exactly <paramref name="key"/> ("MemTotal" matches "MemTotal: 1 kB",
    /// "anon" matches "anon 5" but not "anon_thp 5") and parses its first value, saturating.
    /// </summary>
    public static bool TryFindValue(ReadOnlySpan<byte> content, ReadOnlySpan<byte> key, out long value)
    {
        while (NextLine(ref content, out var line))
        {
            if (line.Length > key.Length && line.StartsWith(key)
                && TrySplitKey(line, out var k, out var rest) && k.Length == key.Length)
                return TryParseInt64Saturating(FirstToken(rest), out value);
        }
        value = 0;
        return false;
    }

    public static ReadOnlySpan<byte> FirstToken(ReadOnlySpan<byte> s) => NextToken(ref s);

    /// <summary>Parses the first value of a rest-of-line, saturating; <paramref name="fallback"/> when it is not a number.</summary>
    public static long ValueOr(ReadOnlySpan<byte> rest, long fallback) =>
        TryParseInt64Saturating(FirstToken(rest), out long v) ? v : fallback;

    /// <summary>
    /// Decimal with an optional '-'. Values beyond the range of a long saturate to
    /// long.MaxValue/MinValue (still true). False for empty input or any non-digit.
    /// </summary>
    public static bool TryParseInt64Saturating(ReadOnlySpan<byte> s, out long value)
    {
        value = 0;
        bool negative = false;
        if (!s.IsEmpty && s[0] == (byte)'-')
        {
            negative = true;
            s = s[1..];
        }
        if (s.IsEmpty)
            return false;
        ulong acc = 0;
        bool overflow = false;
        foreach (byte b in s)
        {
            uint d = (uint)(b - '0');
            if (d > 9)
                return false;
            if (!overflow)
            {
                if (acc > (ulong.MaxValue - d) / 10)
                    overflow = true;
                else
                    acc = acc * 10 + d;
            }
        }
        if (negative)
            value = overflow || acc > (ulong)long.MaxValue + 1 ? long.MinValue : (long)(0 - acc);
        else
            value = overflow || acc > long.MaxValue ? long.MaxValue : (long)acc;
        return true;
    }

    /// <summary>Unsigned decimal; false on overflow (for identities such as a start time, where a saturated value would lie).</summary>
    public static bool TryParseUInt64(ReadOnlySpan<byte> s, out ulong value)
    {
        value = 0;
        if (s.IsEmpty)
            return false;
        ulong acc = 0;
        foreach (byte b in s)
        {
            uint d = (uint)(b - '0');
            if (d > 9 || acc > (ulong.MaxValue - d) / 10)
                return false;
            acc = acc * 10 + d;
        }
        value = acc;
        return true;
    }

    /// <summary>Decimal int with optional '-'; false when out of range.</summary>
    public static bool TryParseInt32(ReadOnlySpan<byte> s, out int value)
    {
        value = 0;
        if (!TryParseInt64Saturating(s, out long v) || v < int.MinValue || v > int.MaxValue)
            return false;
        value = (int)v;
        return true;
    }

    /// <summary>
    /// value * factor (kB to bytes, pages to kB), saturating at long.MaxValue. A negative value is a
    /// "not reported" sentinel and passes through unchanged.
    /// </summary>
    public static long MultiplySaturating(long value, long factor)
    {
        if (value < 0)
            return value;
        if (value == 0 || factor <= 0)
            return 0;
        return value > long.MaxValue / factor ? long.MaxValue : value * factor;
    }
}
