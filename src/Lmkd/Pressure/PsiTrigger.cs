using System.Buffers.Text;

namespace Lmkd.Pressure;

/// <summary>Pure arithmetic and formatting of PSI trigger strings (kernel Documentation/accounting/psi.rst).</summary>
public static class PsiTrigger
{
    /// <summary>Without CAP_SYS_RESOURCE the kernel accepts only windows that are whole multiples of this.</summary>
    public const long UnprivilegedWindowStepUs = 2_000_000;

    /// <summary>The kernel's window bounds (psi.rst: 500 ms .. 10 s).</summary>
    public const long MinWindowUs = 500_000, MaxWindowUs = 10_000_000;

    /// <summary>Room for "full 10000000 10000000" plus the NUL.</summary>
    public const int MaxLength = 64;

    /// <summary>
    /// Writes "some|full &lt;stall_us&gt; &lt;window_us&gt;" followed by a NUL into <paramref name="destination"/>
    /// and returns the byte count to write, NUL included. The kernel copies the buffer and overwrites its last
    /// byte with a terminator, so without our NUL it would cut the last digit ("2000000" -> "200000").
    /// </summary>
    public static int Format(PsiKind kind, long stallUs, long windowUs, Span<byte> destination)
    {
        ReadOnlySpan<byte> prefix = kind == PsiKind.Full ? "full "u8 : "some "u8;
        prefix.CopyTo(destination);
        int n = prefix.Length;
        if (!Utf8Formatter.TryFormat(stallUs, destination[n..], out int w))
            throw new ArgumentException("destination too small", nameof(destination));
        n += w;
        destination[n++] = (byte)' ';
        if (!Utf8Formatter.TryFormat(windowUs, destination[n..], out w))
            throw new ArgumentException("destination too small", nameof(destination));
        n += w;
        destination[n++] = 0;
        return n;
    }

    /// <summary>
    /// The nearest window an unprivileged writer may use: the next whole multiple of 2 s (at least 2 s), with the
    /// stall scaled so the stall/window ratio stays the same (1 s/70 ms -> 2 s/140 ms). A window already a
    /// multiple of 2 s comes back unchanged.
    /// </summary>
    public static (long StallUs, long WindowUs) Widen(long stallUs, long windowUs)
    {
        if (windowUs <= 0 || stallUs <= 0)
            throw new ArgumentOutOfRangeException(nameof(windowUs), "stall and window must be positive");
        long widened = Math.Max(UnprivilegedWindowStepUs,
            (windowUs + UnprivilegedWindowStepUs - 1) / UnprivilegedWindowStepUs * UnprivilegedWindowStepUs);
        if (widened == windowUs)
            return (stallUs, windowUs);
        // Round the scaled stall to nearest; Int128 because stall*window can pass 2^63 for absurd configs.
        long scaled = (long)(((Int128)stallUs * widened + windowUs / 2) / windowUs);
        return (Math.Clamp(scaled, 1, widened), widened);
    }
}
