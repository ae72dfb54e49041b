using System.Text;
using Lmkd.Pressure;

namespace Lmkd.Tests.Pressure;

public class PsiParserTests
{
    private const string Normal =
        "some avg10=1.63 avg60=0.29 avg300=0.06 total=183027\n" +
        "full avg10=0.51 avg60=0.10 avg300=0.02 total=79164\n";

    private static bool Parse(string text, out Lmkd.Policies.PsiSnapshot s) =>
        PsiParser.TryParse(Encoding.ASCII.GetBytes(text), out s);

    [Fact]
    public void Normal_file()
    {
        Assert.True(Parse(Normal, out var s));
        Assert.Equal(1.63, s.SomeAvg10, 6);
        Assert.Equal(0.51, s.FullAvg10, 6);
        Assert.Equal(183027, s.SomeTotalUs);
        Assert.Equal(79164, s.FullTotalUs);
        Assert.Equal(79164, PsiParser.Total(s, PsiKind.Full));
        Assert.Equal(183027, PsiParser.Total(s, PsiKind.Some));
    }

    [Fact]
    public void Missing_full_line_leaves_full_at_zero()
    {
        Assert.True(Parse("some avg10=2.96 avg60=1.97 avg300=1.63 total=8485771\n", out var s));
        Assert.Equal(2.96, s.SomeAvg10, 6);
        Assert.Equal(8485771, s.SomeTotalUs);
        Assert.Equal(0, s.FullTotalUs);
        Assert.Equal(0, s.FullAvg10);
    }

    [Theory]
    [InlineData("")]
    [InlineData("\n")]
    [InlineData("hello world\n")]
    [InlineData("full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")] // full without some
    [InlineData("some avg10=x avg60=0.00 avg300=0.00 total=1\n")]
    [InlineData("some avg10=0.00 avg60=0.00 avg300=0.00 total=-5\n")]
    [InlineData("some avg10=-1.00 avg60=0.00 avg300=0.00 total=5\n")]
    [InlineData("some avg10=0.00 avg60=0.00 avg300=0.00 total=12abc\n")]
    [InlineData("some avg60=0.00 avg10=0.00 avg300=0.00 total=1\n")]
    [InlineData("some avg10=0.00 avg60=0.00 avg300=0.00 total=1\nsome avg10=0.00 avg60=0.00 avg300=0.00 total=1\n")]
    [InlineData("some avg10=0.00 avg60=0.00 avg300=0.00 total=1\n\0\0\0")]
    [InlineData("some avg10=NaN avg60=0.00 avg300=0.00 total=1\n")]
    public void Garbage_is_rejected(string text) => Assert.False(Parse(text, out _));

    [Fact]
    public void Every_truncation_is_rejected_or_complete()
    {
        // Cut the file at every byte: a prefix parses only when it ends on a complete line.
        for (int len = 0; len < Normal.Length; len++)
        {
            string prefix = Normal[..len];
            bool ok = Parse(prefix, out var s);
            bool completeSome = len == Normal.IndexOf('\n') + 1;
            Assert.True(ok == completeSome, $"prefix of {len} bytes: parsed={ok}");
            if (ok)
                Assert.Equal(183027, s.SomeTotalUs);
        }
    }

    [Fact]
    public void Huge_totals()
    {
        Assert.True(Parse("some avg10=100.00 avg60=99.99 avg300=12.50 total=9223372036854775807\n", out var s));
        Assert.Equal(long.MaxValue, s.SomeTotalUs);
        Assert.Equal(100.0, s.SomeAvg10, 6);
        // A u64 beyond long (not reachable in practice: 292,000 years) is refused, not wrapped.
        Assert.False(Parse("some avg10=0.00 avg60=0.00 avg300=0.00 total=18446744073709551615\n", out _));
    }
}
