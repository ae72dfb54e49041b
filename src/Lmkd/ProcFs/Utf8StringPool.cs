using System.Buffers;
using System.Text;

namespace Lmkd.ProcFs;

/// <summary>
/// Turns UTF-8 bytes into strings, reusing the string from this or the previous generation when
/// the text is the same. A rescan of unchanged processes then allocates no comm, exe or cgroup
/// strings, and identical paths across processes share one string. Two generations bound the
/// memory to what the last two scans saw. Not thread-safe.
/// </summary>
internal sealed class Utf8StringPool
{
    private const int MaxPerGeneration = 16384;

    private HashSet<string> _current = new(StringComparer.Ordinal);
    private HashSet<string> _previous = new(StringComparer.Ordinal);

    /// <summary>Starts a generation (call once per scan): strings not seen since the one before are dropped.</summary>
    public void BeginGeneration()
    {
        (_previous, _current) = (_current, _previous);
        _current.Clear();
    }

    public string Get(ReadOnlySpan<byte> utf8)
    {
        if (utf8.IsEmpty)
            return "";
        if (_current.Count >= MaxPerGeneration)
            BeginGeneration(); // callers that never scan (Read(pid) only) still stay bounded

        char[]? rented = null;
        int max = Encoding.UTF8.GetMaxCharCount(utf8.Length);
        Span<char> chars = max <= 512 ? stackalloc char[512] : (rented = ArrayPool<char>.Shared.Rent(max));
        try
        {
            // Invalid UTF-8 (comm is arbitrary bytes) decodes to U+FFFD: fine for logs, and comm is never trusted.
            var text = chars[..Encoding.UTF8.GetChars(utf8, chars)];
            if (_current.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(text, out var s))
                return s;
            if (_previous.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(text, out s))
            {
                _current.Add(s);
                return s;
            }
            s = new string(text);
            _current.Add(s);
            return s;
        }
        finally
        {
            if (rented is not null)
                ArrayPool<char>.Shared.Return(rented);
        }
    }
}
