using Lmkd.Policies;

namespace Lmkd.Policies.Tests;

/// <summary>
/// Exe rules that a process can neither forge nor lose: identity (device, inode, birth time) in any mount namespace,
/// the path only in pid 1's, an unlinked binary kept, an unreadable exe spared; and namespace inits.
/// </summary>
public class ExeRuleTests
{
    private const int SelfPid = 4242;
    private const string Sshd = "/usr/sbin/sshd";

    /// <summary>sshd as the rules resolved it at load.</summary>
    private static readonly FileIdentity Loaded = new(Device: 0x8_00000001, Inode: 1234, BirthTimeNs: 1_700_000_000_000_000_000);
    /// <summary>The binary an upgrade installed after the load: another inode at the same path.</summary>
    private static readonly FileIdentity Upgraded = Loaded with { Inode = 5678, BirthTimeNs = 1_800_000_000_000_000_000 };
    /// <summary>A user's file that got sshd's old inode number once the unlinked binary was freed.</summary>
    private static readonly FileIdentity ReusedInode = Loaded with { BirthTimeNs = 1_900_000_000_000_000_000 };
    /// <summary>A file on a file system without birth times: (device, inode) alone.</summary>
    private static readonly FileIdentity NoBirthTime = new(0x8_00000002, 99, 0);

    private static ProcessInfo P(int pid, string? exe = Sshd, FileIdentity? id = null, bool initNs = true, bool deleted = false,
        bool unreadable = false, bool nsInit = false, int adj = 900, string cgroup = "/system.slice/ssh.service", char state = 'S') => new()
        {
            Pid = pid,
            StartTime = 1000,
            OomScoreAdj = adj,
            RssAnonBytes = 64L << 20,
            Uid = 1000,
            ExePath = exe,
            ExeIdentity = id,
            ExeDeleted = deleted,
            ExeUnreadable = unreadable,
            InInitMountNamespace = initNs,
            IsNamespaceInit = nsInit,
            CgroupPath = cgroup,
            State = state,
        };

    private static RankingRules Protect(params FileIdentity[] loaded) =>
        new() { ProtectedExePaths = [Sshd], ProtectedExeIdentities = loaded.ToHashSet() };

    public static TheoryData<string, ProcessInfo, RankingRules, ExclusionReason> Cases => new()
    {
        // The executable's identity holds wherever the process lives.
        { "the loaded file, in pid 1's mount namespace", P(10, id: Loaded), Protect(Loaded), ExclusionReason.ProtectedExe },
        { "the loaded file, seen through another mount namespace under any path", P(10, exe: "/srv/x", id: Loaded, initNs: false), Protect(Loaded), ExclusionReason.ProtectedExe },
        { "a file system without birth times: device and inode", P(10, exe: "/srv/x", id: NoBirthTime, initNs: false), Protect(NoBirthTime), ExclusionReason.ProtectedExe },
        // A path means what the host means only in pid 1's mount namespace.
        { "a bind mount makes another binary look like sshd: not protected", P(10, id: new FileIdentity(0x8_00000003, 77, 5), initNs: false), Protect(Loaded), ExclusionReason.None },
        { "the path alone, outside pid 1's namespace, identity unknown: not protected", P(10, id: null, initNs: false), Protect(Loaded), ExclusionReason.None },
        { "a binary installed after the load matches by path in pid 1's namespace", P(10, id: Upgraded), Protect(Loaded), ExclusionReason.ProtectedExe },
        { "a rule whose file did not exist at load still matches by path", P(10, id: Upgraded), Protect(), ExclusionReason.ProtectedExe },
        { "a glob matches by path in pid 1's namespace", P(10, exe: "/opt/db/bin/server", id: Upgraded), new RankingRules { ProtectedExePaths = ["/opt/db/**"] }, ExclusionReason.ProtectedExe },
        // An upgrade unlinks the running binary: it stays protected both ways.
        { "an unlinked binary keeps its load-time identity, any namespace", P(10, exe: Sshd, id: Loaded, deleted: true, initNs: false), Protect(Loaded), ExclusionReason.ProtectedExe },
        { "an unlinked binary matches by its former path in pid 1's namespace", P(10, exe: Sshd, id: Upgraded, deleted: true), Protect(Loaded), ExclusionReason.ProtectedExe },
        // An inode number reused by a user's file is another file: its birth time differs.
        { "a reused inode number is not the loaded file", P(10, exe: "/home/u/hog", id: ReusedInode), Protect(Loaded), ExclusionReason.None },
        // What cannot be read cannot be cleared.
        { "an unreadable exe with exe protections in force is spared", P(10, exe: null, unreadable: true), Protect(Loaded), ExclusionReason.ExeUnreadable },
        { "an unreadable exe with only resolved identities in force is spared", P(10, exe: null, unreadable: true), new RankingRules { ProtectedExeIdentities = new HashSet<FileIdentity> { Loaded } }, ExclusionReason.ExeUnreadable },
        { "an unreadable exe without exe protections is a candidate", P(10, exe: null, unreadable: true), new RankingRules { ProtectedUids = [0] }, ExclusionReason.None },
        { "an unreadable exe in a protected cgroup says cgroup", P(10, exe: null, unreadable: true, cgroup: "/system.slice/db.service"), Protect(Loaded) with { ProtectedCgroups = ["/system.slice"] }, ExclusionReason.ProtectedCgroup },
        { "a matching identity beats an unreadable path", P(10, exe: null, id: Loaded, unreadable: true, initNs: false), Protect(Loaded), ExclusionReason.ProtectedExe },
        { "an unreadable exe below the decision's reach is spared for its exe first", P(10, exe: null, unreadable: true, adj: 0), Protect(Loaded), ExclusionReason.ExeUnreadable },
        // A namespace init is skipped: its death kills its whole pid namespace.
        { "a container's init", P(10, exe: "/usr/bin/app", nsInit: true), RankingRules.None, ExclusionReason.NamespaceInit },
        { "a container's init beats protections", P(10, id: Loaded, nsInit: true), Protect(Loaded), ExclusionReason.NamespaceInit },
        { "a container's init at -1000 is still a namespace init", P(10, exe: "/usr/bin/app", nsInit: true, adj: -1000), RankingRules.None, ExclusionReason.NamespaceInit },
        { "a dead container init is a zombie", P(10, exe: "/usr/bin/app", nsInit: true, state: 'Z'), RankingRules.None, ExclusionReason.Zombie },
        { "the global init is Init", P(1, exe: "/sbin/init", nsInit: true), RankingRules.None, ExclusionReason.Init },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void ExeRulesAndNamespaceInits(string why, ProcessInfo p, RankingRules rules, ExclusionReason expected)
    {
        Assert.True(why.Length > 0);
        var bystander = P(500, exe: "/usr/bin/other", id: new FileIdentity(9, 9, 9), adj: 100, cgroup: "/user.slice/x");
        var result = VictimRanking.Rank([p, bystander], 100, rules, SelfPid);
        if (expected == ExclusionReason.None)
        {
            Assert.Equal(10, result.Victim?.Pid); // adj 900 beats the bystander's 100
            Assert.Empty(result.Rejected);
        }
        else
        {
            Assert.Equal(new RejectedCandidate(p, expected), Assert.Single(result.Rejected));
            Assert.Equal(500, result.Victim?.Pid);
        }
        Assert.Equal(result.Victim, VictimRanking.Pick([p, bystander], 100, rules, SelfPid));
    }

    public static TheoryData<string, ProcessInfo, bool> PreferenceCases => new()
    {
        { "preferred by identity in another mount namespace", P(10, exe: "/srv/batch", id: Loaded, initNs: false), true },
        { "preferred by path in pid 1's namespace", P(10, id: Upgraded), true },
        { "not preferred by a path another namespace shows", P(10, id: Upgraded, initNs: false), false },
        { "an unreadable exe is never preferred", P(10, exe: null, unreadable: true), false },
    };

    [Theory]
    [MemberData(nameof(PreferenceCases))]
    public void PreferenceFollowsTheSameRules(string why, ProcessInfo p, bool preferred)
    {
        Assert.True(why.Length > 0);
        var rules = new RankingRules { PreferredExePaths = [Sshd], PreferredExeIdentities = new HashSet<FileIdentity> { Loaded } };
        var heavier = P(500, exe: "/usr/bin/other", id: new FileIdentity(9, 9, 9), adj: 1000);
        // A preferred process goes first even against a higher oom_score_adj.
        Assert.Equal(preferred ? 10 : 500, VictimRanking.Pick([p with { OomScoreAdj = 100 }, heavier], 0, rules, SelfPid)?.Pid);
    }

    [Theory]
    [InlineData(Sshd, true)]
    [InlineData("/usr/sbin/sshd-helper", false)]
    [InlineData("/opt/batch/bin/job", true)]
    [InlineData("/opt/other/job", false)]
    public void AnyExePathGlobMatchesCoversProtectionsAndPreferences(string path, bool matches)
    {
        var rules = new RankingRules { ProtectedExePaths = [Sshd], PreferredExePaths = ["/opt/batch/**"] };
        Assert.Equal(matches, rules.AnyExePathGlobMatches(path));
    }
}
