using System.Buffers.Text;
using Lmkd.Policies;

namespace Lmkd.Pressure;

/// <summary>
/// Parses a PSI pressure file ("some avg10=.. avg60=.. avg300=.. total=..", then an optional "full" line).
/// Works on bytes so the monitor's hot path never creates strings.
/// </summary>
public static class PsiParser
{
    /// <summary>
    /// Parses <paramref name="content"/>. A missing "full" line (the CPU file on older kernels) leaves the full
    /// fields at 0. Returns false, never throws, for anything else that does not look like a pressure file.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> content, out PsiSnapshot snapshot)
    {
        snapshot = default;
        bool haveSome = false, haveFull = false;
        double someAvg10 = 0, fullAvg10 = 0;
        long someTotal = 0, fullTotal = 0;

        while (!content.IsEmpty)
        {
            // The kernel ends every line with a newline; a line without one was cut off (even "total=12" could
            // be the start of "total=12345"), so it is truncation, not data.
            int eol = content.IndexOf((byte)'\n');
            if (eol < 0)
                return false;
            ReadOnlySpan<byte> line = content[..eol];
            content = content[(eol + 1)..];
            if (line.IsEmpty)
                continue;

            if (line.StartsWith("some "u8))
            {
                if (haveSome || !TryParseLine(line[5..], out someAvg10, out someTotal))
                    return false;
                haveSome = true;
            }
            else if (line.StartsWith("full "u8))
            {
                if (haveFull || !TryParseLine(line[5..], out fullAvg10, out fullTotal))
                    return false;
                haveFull = true;
            }
            else
            {
                return false;
            }
        }

        if (!haveSome)
            return false;
        snapshot = new PsiSnapshot(someAvg10, fullAvg10, someTotal, fullTotal);
        return true;
    }

    /// <summary>The total (us) of the given kind, as the sampler needs it.</summary>
    public static long Total(in PsiSnapshot snapshot, PsiKind kind) =>
        kind == PsiKind.Full ? snapshot.FullTotalUs : snapshot.SomeTotalUs;

    // "avg10=0.12 avg60=0.00 avg300=0.00 total=12345": all four fields, in this order.
    private static bool TryParseLine(ReadOnlySpan<byte> s, out double avg10, out long total)
    {
        total = 0;
        return TryField(ref s, "avg10="u8, out avg10)
            && TryField(ref s, "avg60="u8, out _)
            && TryField(ref s, "avg300="u8, out _)
            && s.StartsWith("total="u8)
            && Utf8Parser.TryParse(s[6..], out total, out int used)
            && used == s.Length - 6
            && total >= 0;
    }

    private static bool TryField(ref ReadOnlySpan<byte> s, ReadOnlySpan<byte> key, out double value)
    {
        value = 0;
        if (!s.StartsWith(key))
            return false;
        s = s[key.Length..];
        int space = s.IndexOf((byte)' ');
        if (space <= 0)
            return false;
        if (!Utf8Parser.TryParse(s[..space], out value, out int used) || used != space
            || !double.IsFinite(value) || value < 0)
            return false;
        s = s[(space + 1)..];
        return true;
    }
}
