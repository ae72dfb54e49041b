using System.Text;
using Lmkd.ProcFs;

namespace Lmkd.Tests.ProcFs;

public class ProcParseTests
{
    [Theory]
    [InlineData("0", 0L)]
    [InlineData("42", 42L)]
    [InlineData("-17", -17L)]
    [InlineData("9223372036854775807", long.MaxValue)]
    [InlineData("9223372036854775808", long.MaxValue)]
    [InlineData("18446744073709551615", long.MaxValue)]
    [InlineData("99999999999999999999999999999", long.MaxValue)]
    [InlineData("-9223372036854775808", long.MinValue)]
    [InlineData("-99999999999999999999999", long.MinValue)]
    public void Int64_saturates_instead_of_overflowing(string text, long expected)
    {
        Assert.True(ProcParse.TryParseInt64Saturating(Encoding.ASCII.GetBytes(text), out long v));
        Assert.Equal(expected, v);
    }

    [Theory]
    [InlineData("")]
    [InlineData("-")]
    [InlineData("12a")]
    [InlineData(" 1")]
    [InlineData("max")]
    public void Int64_rejects_non_numbers(string text) =>
        Assert.False(ProcParse.TryParseInt64Saturating(Encoding.ASCII.GetBytes(text), out _));

    [Fact]
    public void UInt64_fails_on_overflow_rather_than_lying()
    {
        Assert.True(ProcParse.TryParseUInt64("18446744073709551615"u8, out ulong max));
        Assert.Equal(ulong.MaxValue, max);
        Assert.False(ProcParse.TryParseUInt64("18446744073709551616"u8, out _));
        Assert.False(ProcParse.TryParseUInt64("-1"u8, out _));
    }

    [Fact]
    public void Int32_fails_out_of_range()
    {
        Assert.True(ProcParse.TryParseInt32("-1000"u8, out int v));
        Assert.Equal(-1000, v);
        Assert.False(ProcParse.TryParseInt32("2147483648"u8, out _));
    }

    [Fact]
    public void FindValue_matches_whole_keys_in_both_formats()
    {
        var content = "anon_thp 7\nanon 5\nMemTotal:   1234 kB\nMemTotalX: 9\nempty:\n"u8;
        Assert.True(ProcParse.TryFindValue(content, "anon"u8, out long anon));
        Assert.Equal(5, anon);
        Assert.True(ProcParse.TryFindValue(content, "MemTotal"u8, out long total));
        Assert.Equal(1234, total);
        Assert.False(ProcParse.TryFindValue(content, "an"u8, out _));
        Assert.False(ProcParse.TryFindValue(content, "empty"u8, out _));
        Assert.False(ProcParse.TryFindValue(content, "missing"u8, out _));
        Assert.False(ProcParse.TryFindValue(""u8, "anon"u8, out _));
    }

    [Fact]
    public void FindValue_tolerates_a_truncated_last_line()
    {
        Assert.True(ProcParse.TryFindValue("a 1\nb 2"u8, "b"u8, out long b));
        Assert.Equal(2, b);
        Assert.False(ProcParse.TryFindValue("a 1\nb"u8, "b"u8, out _));
    }

    [Theory]
    [InlineData(-1L, 1024L, -1L)]
    [InlineData(0L, 1024L, 0L)]
    [InlineData(3L, 1024L, 3072L)]
    [InlineData(long.MaxValue, 4L, long.MaxValue)]
    public void MultiplySaturating(long value, long factor, long expected) =>
        Assert.Equal(expected, ProcParse.MultiplySaturating(value, factor));
}
