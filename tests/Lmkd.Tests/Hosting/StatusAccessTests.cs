using Lmkd.Hosting;

namespace Lmkd.Tests.Hosting;

public sealed class StatusAccessTests
{
    [Fact]
    public void Root_and_the_daemons_own_uid_may_read_and_nobody_else()
    {
        var access = new StatusAccess(0, 61234);
        Assert.Null(access.Refusal(new PeerCredentials(10, 0, 0)));
        Assert.Null(access.Refusal(new PeerCredentials(11, 61234, 61234)));
        var refusal = access.Refusal(new PeerCredentials(12, 1000, 0));
        Assert.Equal("uid 1000 may not read Lmkd's status: only root and uid 61234 (Lmkd's own) may (try: sudo lmkd status)", refusal);
        // The gid is not a way in: a process can be in root's group without being root.
        Assert.NotNull(access.Refusal(new PeerCredentials(13, 1000, 61234)));
    }

    [Fact]
    public void A_daemon_running_as_root_lets_only_root_in()
    {
        var access = new StatusAccess(0);
        Assert.Equal("uid 65534 may not read Lmkd's status: only root may (try: sudo lmkd status)", access.Refusal(new PeerCredentials(1, 65534, 65534)));
    }

    [Fact]
    public void RootAndSelf_names_root_and_the_effective_uid()
    {
        var access = StatusAccess.RootAndSelf();
        uint self = Tmds.Linux.LibC.geteuid();
        Assert.Contains(0u, access.Uids);
        Assert.Contains(self, access.Uids);
        Assert.Equal(self == 0 ? 1 : 2, access.Uids.Count);
    }
}
