using Lmkd.Policies;

namespace Lmkd.Policies.Tests;

public class PathGlobTests
{
    [Theory]
    // Literal patterns match only themselves.
    [InlineData("/usr/bin/sshd", "/usr/bin/sshd", true)]
    [InlineData("/usr/bin/sshd", "/usr/bin/sshd2", false)]
    [InlineData("/usr/bin/sshd", "/usr/bin/ssh", false)]
    [InlineData("/usr/bin/sshd", "/usr/sbin/sshd", false)]
    // '*' stays inside one segment.
    [InlineData("/usr/bin/*", "/usr/bin/sshd", true)]
    [InlineData("/usr/bin/*", "/usr/bin/", true)]
    [InlineData("/usr/bin/*", "/usr/bin/x/y", false)]
    [InlineData("/usr/*/sshd", "/usr/sbin/sshd", true)]
    [InlineData("/usr/*/sshd", "/usr/local/sbin/sshd", false)]
    [InlineData("/usr/bin/ssh*", "/usr/bin/sshd", true)]
    [InlineData("/usr/bin/*d", "/usr/bin/sshd", true)]
    [InlineData("/usr/bin/*d", "/usr/bin/ssh", false)]
    [InlineData("/opt/*/bin/*", "/opt/app/bin/run", true)]
    // '**' crosses segments, and "/**/" may also stand for no segment at all.
    [InlineData("/opt/**", "/opt/a/b/c", true)]
    [InlineData("/opt/**", "/opt/", true)]
    [InlineData("/opt/**", "/optx/a", false)]
    [InlineData("/usr/**/sshd", "/usr/local/sbin/sshd", true)]
    [InlineData("/usr/**/sshd", "/usr/sshd", true)]
    [InlineData("/usr/**/sshd", "/usr/local/sbin/sshd-helper", false)]
    [InlineData("**/sshd", "/usr/sbin/sshd", true)]
    [InlineData("**", "/anything/at/all", true)]
    [InlineData("/a/***/b", "/a/x/y/b", true)]
    // '?' is exactly one character, never '/'.
    [InlineData("/usr/bin/ss?d", "/usr/bin/sshd", true)]
    [InlineData("/usr/bin/ss?d", "/usr/bin/ssd", false)]
    [InlineData("/usr/bin?sshd", "/usr/bin/sshd", false)]
    // The whole path must match; matching is case-sensitive like the file system.
    [InlineData("/usr/bin", "/usr/bin/sshd", false)]
    [InlineData("/usr/bin/SSHD", "/usr/bin/sshd", false)]
    [InlineData("", "", true)]
    [InlineData("", "/x", false)]
    public void Matches(string pattern, string path, bool expected) =>
        Assert.Equal(expected, PathGlob.IsMatch(pattern, path));

    [Theory]
    [InlineData("**")]
    [InlineData("*")]
    [InlineData("")]
    public void NullPathNeverMatches(string pattern) =>
        Assert.False(PathGlob.IsMatch(pattern, null));
}
