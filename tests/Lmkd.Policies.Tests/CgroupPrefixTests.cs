using Lmkd.Policies;

namespace Lmkd.Policies.Tests;

public class CgroupPrefixTests
{
    [Theory]
    [InlineData("/a", "/a", true)]
    [InlineData("/a", "/a/b", true)]
    [InlineData("/a", "/a/b/c", true)]
    [InlineData("/a", "/ab", false)]
    [InlineData("/a", "/b/a", false)]
    [InlineData("/a", "/", false)]
    [InlineData("/a/", "/a/b", true)]
    [InlineData("/a/", "/ab", false)]
    [InlineData("/a/b", "/a", false)]
    [InlineData("/system.slice", "/system.slice/sshd.service", true)]
    [InlineData("/system.slice", "/system.slice-other/x", false)]
    [InlineData("/", "/", true)]
    [InlineData("/", "/anything/deep", true)]
    [InlineData("", "/", false)]
    [InlineData("", "/a", false)]
    public void Covers(string prefix, string path, bool expected) =>
        Assert.Equal(expected, CgroupPrefix.Covers(prefix, path));
}
