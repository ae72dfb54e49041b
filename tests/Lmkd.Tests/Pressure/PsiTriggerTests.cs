using System.Text;
using Lmkd.Pressure;

namespace Lmkd.Tests.Pressure;

public class PsiTriggerTests
{
    [Theory]
    [InlineData(PsiKind.Some, 150_000, 1_000_000, "some 150000 1000000")]
    [InlineData(PsiKind.Full, 2_000_000, 2_000_000, "full 2000000 2000000")]
    [InlineData(PsiKind.Some, 1, 10_000_000, "some 1 10000000")]
    public void Format_ends_with_the_nul_the_kernel_overwrites(PsiKind kind, long stall, long window, string expected)
    {
        Span<byte> buf = stackalloc byte[PsiTrigger.MaxLength];
        int n = PsiTrigger.Format(kind, stall, window, buf);
        Assert.Equal(expected.Length + 1, n);
        Assert.Equal(0, buf[n - 1]);
        Assert.Equal(expected, Encoding.ASCII.GetString(buf[..(n - 1)]));
    }

    [Theory]
    [InlineData(70_000, 1_000_000, 140_000, 2_000_000)]
    [InlineData(700_000, 1_000_000, 1_400_000, 2_000_000)]
    [InlineData(300_000, 3_000_000, 400_000, 4_000_000)]
    [InlineData(100_000, 500_000, 400_000, 2_000_000)]
    [InlineData(1_000_000, 1_000_000, 2_000_000, 2_000_000)] // stall == window stays == window
    [InlineData(150_000, 2_000_000, 150_000, 2_000_000)]    // already a multiple: unchanged
    [InlineData(500_000, 4_000_000, 500_000, 4_000_000)]
    [InlineData(1, 1_000_000, 2, 2_000_000)]
    public void Widen_to_the_next_multiple_of_2s_keeping_the_ratio(long stall, long window, long wStall, long wWindow)
    {
        Assert.Equal((wStall, wWindow), PsiTrigger.Widen(stall, window));
    }
}
