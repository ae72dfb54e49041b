using Lmkd.Policies;

namespace Lmkd.Policies.Tests;

public class VictimRankingTests
{
    private const int SelfPid = 4242;
    private const long MiB = 1024 * 1024;

    /// <summary>A process as the scanner reports one in pid 1's mount namespace; a null exe is one it could not read.</summary>
    private static ProcessInfo P(int pid, int adj = 0, long rssMiB = 10, ulong start = 1000, uint uid = 1000,
        string? exe = "/usr/bin/app", string cgroup = "/user.slice/app", string comm = "app", char state = 'S',
        bool kthread = false, long swapMiB = 0) => new()
        {
            Pid = pid,
            StartTime = start,
            OomScoreAdj = adj,
            RssAnonBytes = rssMiB * MiB,
            SwapBytes = swapMiB * MiB,
            Uid = uid,
            ExePath = exe,
            ExeUnreadable = exe is null && !kthread,
            InInitMountNamespace = true,
            CgroupPath = cgroup,
            Comm = comm,
            State = state,
            IsKernelThread = kthread,
        };

    private static int[] Order(IReadOnlyList<ProcessInfo> candidates, int minAdj = 0, RankingRules? rules = null)
    {
        var result = VictimRanking.Rank(candidates, minAdj, rules ?? RankingRules.None, SelfPid);
        return result.Ranked.Select(p => p.Pid).ToArray();
    }

    // ---- order of eligible candidates -------------------------------------------------------

    public static TheoryData<string, ProcessInfo[], int[]> OrderCases => new()
    {
        {
            "higher oom_score_adj bucket first, whatever the size",
            [P(10, adj: 0, rssMiB: 900), P(11, adj: 900, rssMiB: 1), P(12, adj: 500, rssMiB: 50)],
            [11, 12, 10]
        },
        {
            "heaviest first inside a bucket",
            [P(10, adj: 800, rssMiB: 5), P(11, adj: 800, rssMiB: 50), P(12, adj: 800, rssMiB: 20)],
            [11, 12, 10]
        },
        {
            "weight counts swap as well as rss",
            [P(10, adj: 800, rssMiB: 30), P(11, adj: 800, rssMiB: 10, swapMiB: 25)],
            [11, 10]
        },
        {
            "same adj and weight: younger (larger start time) first",
            [P(10, adj: 800, start: 100), P(11, adj: 800, start: 300), P(12, adj: 800, start: 200)],
            [11, 12, 10]
        },
        {
            "same adj, weight and start time: higher pid first",
            [P(10, adj: 800), P(30, adj: 800), P(20, adj: 800)],
            [30, 20, 10]
        },
        {
            "start time beats pid",
            [P(99, adj: 800, start: 100), P(11, adj: 800, start: 101)],
            [11, 99]
        },
    };

    [Theory]
    [MemberData(nameof(OrderCases))]
    public void RanksInKillOrder(string why, ProcessInfo[] candidates, int[] expected)
    {
        Assert.True(why.Length > 0);
        Assert.Equal(expected, Order(candidates));
        Assert.Equal(expected[0], VictimRanking.Pick(candidates, 0, RankingRules.None, SelfPid)!.Pid);
    }

    [Theory]
    [InlineData(700, 700, true)]   // == min is reachable
    [InlineData(699, 700, false)]
    [InlineData(701, 700, true)]
    [InlineData(0, 0, true)]
    [InlineData(-1, 0, false)]
    [InlineData(-999, -999, true)]
    public void MinScoreAdjBoundary(int adj, int minAdj, bool eligible)
    {
        var result = VictimRanking.Rank([P(10, adj: adj)], minAdj, RankingRules.None, SelfPid);
        if (eligible)
        {
            Assert.Equal(10, result.Victim?.Pid);
            Assert.Empty(result.Rejected);
        }
        else
        {
            Assert.Null(result.Victim);
            Assert.Equal(ExclusionReason.BelowMinScoreAdj, Assert.Single(result.Rejected).Reason);
        }
        Assert.Equal(minAdj, result.MinScoreAdj);
    }

    // ---- never-kill rules --------------------------------------------------------------------

    public static TheoryData<string, ProcessInfo, RankingRules, ExclusionReason> ExclusionCases => new()
    {
        { "init", P(1, adj: 900), RankingRules.None, ExclusionReason.Init },
        { "self", P(SelfPid, adj: 900), RankingRules.None, ExclusionReason.Self },
        { "kernel thread", P(2, adj: 900, kthread: true, exe: null), RankingRules.None, ExclusionReason.KernelThread },
        { "zombie Z", P(10, adj: 900, state: 'Z'), RankingRules.None, ExclusionReason.Zombie },
        { "dead X", P(10, adj: 900, state: 'X'), RankingRules.None, ExclusionReason.Zombie },
        { "oom disabled", P(10, adj: -1000), RankingRules.None, ExclusionReason.OomDisabled },
        { "below min adj", P(10, adj: 99), RankingRules.None, ExclusionReason.BelowMinScoreAdj },
        { "no memory", P(10, adj: 900, rssMiB: 0), RankingRules.None, ExclusionReason.NoMemory },
        { "protected uid", P(10, adj: 900, uid: 0), new RankingRules { ProtectedUids = [0] }, ExclusionReason.ProtectedUid },
        {
            "protected exe, '*' glob", P(10, adj: 900, exe: "/usr/sbin/sshd"),
            new RankingRules { ProtectedExePaths = ["/usr/sbin/*"] }, ExclusionReason.ProtectedExe
        },
        {
            "protected exe, '**' glob", P(10, adj: 900, exe: "/opt/db/lib/bin/server"),
            new RankingRules { ProtectedExePaths = ["/opt/db/**"] }, ExclusionReason.ProtectedExe
        },
        {
            "protected cgroup, exact", P(10, adj: 900, cgroup: "/system.slice"),
            new RankingRules { ProtectedCgroups = ["/system.slice"] }, ExclusionReason.ProtectedCgroup
        },
        {
            "protected cgroup, subtree", P(10, adj: 900, cgroup: "/system.slice/sshd.service"),
            new RankingRules { ProtectedCgroups = ["/system.slice"] }, ExclusionReason.ProtectedCgroup
        },
        // Precedence when several reasons apply.
        { "init beats everything", P(1, adj: -1000, state: 'Z', kthread: true, rssMiB: 0), RankingRules.None, ExclusionReason.Init },
        { "self beats kernel thread", P(SelfPid, kthread: true), RankingRules.None, ExclusionReason.Self },
        { "kernel thread beats zombie", P(10, kthread: true, state: 'Z'), RankingRules.None, ExclusionReason.KernelThread },
        { "zombie beats oom disabled", P(10, adj: -1000, state: 'Z'), RankingRules.None, ExclusionReason.Zombie },
        {
            "oom disabled beats protection", P(10, adj: -1000, uid: 0),
            new RankingRules { ProtectedUids = [0] }, ExclusionReason.OomDisabled
        },
        {
            "uid beats exe beats cgroup", P(10, uid: 0, exe: "/usr/sbin/sshd", cgroup: "/system.slice"),
            new RankingRules { ProtectedUids = [0], ProtectedExePaths = ["/usr/sbin/sshd"], ProtectedCgroups = ["/system.slice"] },
            ExclusionReason.ProtectedUid
        },
        {
            "exe beats cgroup", P(10, exe: "/usr/sbin/sshd", cgroup: "/system.slice"),
            new RankingRules { ProtectedExePaths = ["/usr/sbin/sshd"], ProtectedCgroups = ["/system.slice"] },
            ExclusionReason.ProtectedExe
        },
        {
            "protection beats below min adj", P(10, adj: -5, cgroup: "/system.slice"),
            new RankingRules { ProtectedCgroups = ["/system.slice"] }, ExclusionReason.ProtectedCgroup
        },
        { "below min adj beats no memory", P(10, adj: -5, rssMiB: 0), RankingRules.None, ExclusionReason.BelowMinScoreAdj },
    };

    [Theory]
    [MemberData(nameof(ExclusionCases))]
    public void NeverKills(string why, ProcessInfo excluded, RankingRules rules, ExclusionReason reason)
    {
        Assert.True(why.Length > 0);
        // Min adj 100 for every case; the bystander sits exactly on it.
        var bystander = P(500, adj: 100, rssMiB: 1, exe: "/usr/bin/other", cgroup: "/other", uid: 2000);
        var result = VictimRanking.Rank([excluded, bystander], 100, rules, SelfPid);

        var rejected = Assert.Single(result.Rejected);
        Assert.Same(excluded, rejected.Process);
        Assert.Equal(reason, rejected.Reason);
        // The excluded one, however attractive, is never picked: the small bystander is.
        Assert.Equal(500, result.Victim?.Pid);
        Assert.Equal(500, VictimRanking.Pick([excluded, bystander], 100, rules, SelfPid)?.Pid);
    }

    [Theory]
    [InlineData("/a", "/a", true)]
    [InlineData("/a", "/a/b", true)]
    [InlineData("/a", "/ab", false)]
    [InlineData("/a/", "/ab", false)]
    [InlineData("/", "/", true)]
    [InlineData("/", "/user.slice/x", true)]
    public void CgroupProtectionIsOnWholeSegments(string prefix, string cgroup, bool isProtected)
    {
        var rules = new RankingRules { ProtectedCgroups = [prefix] };
        var victim = VictimRanking.Pick([P(10, adj: 900, cgroup: cgroup)], 0, rules, SelfPid);
        Assert.Equal(isProtected ? null : 10, victim?.Pid);
    }

    [Fact]
    public void UnreadableExeIsProtectedFailSafeButNeverPreferred()
    {
        var rules = new RankingRules { ProtectedExePaths = ["/usr/sbin/*"], PreferredExePaths = ["**"] };
        var unknownExe = P(10, adj: 500, exe: null);
        var knownExe = P(11, adj: 900, exe: "/usr/bin/x");

        var result = VictimRanking.Rank([unknownExe, knownExe], 0, rules, SelfPid);

        // An exe Lmkd cannot read might be /usr/sbin/something: with exe protections in force it is spared...
        Assert.Equal(new RejectedCandidate(unknownExe, ExclusionReason.ExeUnreadable), Assert.Single(result.Rejected));
        Assert.Equal([11], result.Ranked.Select(p => p.Pid));

        // ...without them it is an ordinary candidate, and no exe preference promotes it.
        var preferOnly = new RankingRules { PreferredExePaths = ["**"] };
        Assert.Equal([11, 10], Order([unknownExe, knownExe with { OomScoreAdj = 100 }], rules: preferOnly));
    }

    [Fact]
    public void CommNeverProtects()
    {
        // An operator protects sshd by its exe; a hog naming itself "sshd" gains nothing from it.
        var rules = new RankingRules { ProtectedExePaths = ["/usr/sbin/sshd"] };
        var realSshd = P(10, adj: 900, rssMiB: 500, exe: "/usr/sbin/sshd", comm: "sshd");
        var impostor = P(11, adj: 900, rssMiB: 400, exe: "/tmp/hog", comm: "sshd");
        var result = VictimRanking.Rank([realSshd, impostor], 0, rules, SelfPid);
        Assert.Equal(11, result.Victim?.Pid);
        Assert.Equal(10, Assert.Single(result.Rejected).Process.Pid);
    }

    // ---- preferences -------------------------------------------------------------------------

    public static TheoryData<string, RankingRules> PreferenceRules => new()
    {
        { "uid", new RankingRules { PreferredUids = [3000] } },
        { "exe glob", new RankingRules { PreferredExePaths = ["/opt/batch/**"] } },
        { "cgroup prefix", new RankingRules { PreferredCgroups = ["/batch.slice"] } },
    };

    [Theory]
    [MemberData(nameof(PreferenceRules))]
    public void PreferredLowAdjBeatsNonPreferredHighAdj(string why, RankingRules rules)
    {
        Assert.True(why.Length > 0);
        var preferred = P(10, adj: 100, rssMiB: 1, uid: 3000, exe: "/opt/batch/bin/job", cgroup: "/batch.slice/job1");
        var ordinary = P(11, adj: 900, rssMiB: 900);
        Assert.Equal([10, 11], Order([ordinary, preferred], rules: rules));
        Assert.Equal([11, 10], Order([ordinary, preferred])); // without the rule, adj decides
    }

    [Fact]
    public void PreferredAreOrderedAmongThemselvesByTheUsualRules()
    {
        var rules = new RankingRules { PreferredUids = [3000] };
        var candidates = new[]
        {
            P(10, adj: 100, rssMiB: 5, uid: 3000),
            P(11, adj: 100, rssMiB: 50, uid: 3000),
            P(12, adj: 300, rssMiB: 1, uid: 3000),
            P(13, adj: 999, rssMiB: 999),
        };
        Assert.Equal([12, 11, 10, 13], Order(candidates, rules: rules));
    }

    [Fact]
    public void PreferredBelowMinAdjStaysRejected()
    {
        var rules = new RankingRules { PreferredUids = [3000] };
        var preferred = P(10, adj: 100, uid: 3000);
        var result = VictimRanking.Rank([preferred, P(11, adj: 800)], 201, rules, SelfPid);
        Assert.Equal(11, result.Victim?.Pid);
        Assert.Equal(new RejectedCandidate(preferred, ExclusionReason.BelowMinScoreAdj), Assert.Single(result.Rejected));
    }

    [Fact]
    public void ProtectionBeatsPreference()
    {
        var rules = new RankingRules { PreferredCgroups = ["/batch.slice"], ProtectedExePaths = ["/opt/db/*"] };
        var both = P(10, adj: 900, exe: "/opt/db/server", cgroup: "/batch.slice/db");
        var result = VictimRanking.Rank([both, P(11, adj: 100)], 0, rules, SelfPid);
        Assert.Equal(11, result.Victim?.Pid);
        Assert.Equal(ExclusionReason.ProtectedExe, Assert.Single(result.Rejected).Reason);
    }

    // ---- result shape ------------------------------------------------------------------------

    [Fact]
    public void EveryRejectedCarriesItsReasonSortedByPid()
    {
        var rules = new RankingRules { ProtectedUids = [0], ProtectedCgroups = ["/system.slice"] };
        var candidates = new[]
        {
            P(900, adj: 800, rssMiB: 0),
            P(SelfPid, adj: 800),
            P(1, adj: 0),
            P(700, adj: 800, uid: 0),
            P(20, adj: 800, state: 'Z'),
            P(3, kthread: true),
            P(600, adj: 800, cgroup: "/system.slice/x"),
            P(50, adj: -1000),
            P(400, adj: 100),
            P(800, adj: 800),
        };
        var result = VictimRanking.Rank(candidates, 200, rules, SelfPid);

        Assert.Equal(
            [
                (1, ExclusionReason.Init),
                (3, ExclusionReason.KernelThread),
                (20, ExclusionReason.Zombie),
                (50, ExclusionReason.OomDisabled),
                (400, ExclusionReason.BelowMinScoreAdj),
                (600, ExclusionReason.ProtectedCgroup),
                (700, ExclusionReason.ProtectedUid),
                (900, ExclusionReason.NoMemory),
                (SelfPid, ExclusionReason.Self),
            ],
            result.Rejected.Select(r => (r.Process.Pid, r.Reason)));
        Assert.Equal([800], result.Ranked.Select(p => p.Pid));
        Assert.Equal(candidates.Length, result.Ranked.Count + result.Rejected.Count);
    }

    [Fact]
    public void NoCandidatesGivesNoVictim()
    {
        var result = VictimRanking.Rank([], 0, RankingRules.None, SelfPid);
        Assert.Null(result.Victim);
        Assert.Empty(result.Rejected);
        Assert.Null(VictimRanking.Pick([], 0, RankingRules.None, SelfPid));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(2024)]
    public void PickAgreesWithRankOnRandomSets(int seed)
    {
        var rng = new Random(seed);
        var rules = new RankingRules
        {
            ProtectedUids = [0],
            ProtectedCgroups = ["/system.slice"],
            ProtectedExePaths = ["/usr/sbin/*"],
            PreferredUids = [3000],
            PreferredCgroups = ["/batch.slice"],
        };
        uint[] uids = [0, 1000, 2000, 3000];
        string[] cgroups = ["/", "/system.slice/a", "/user.slice/b", "/batch.slice/c", "/batch.slicex"];
        string?[] exes = [null, "/usr/sbin/sshd", "/usr/bin/app", "/opt/x/bin/y"];
        int[] adjs = [-1000, -900, 0, 100, 200, 201, 700, 900, 999, 1000];

        for (int round = 0; round < 200; round++)
        {
            int count = rng.Next(0, 40);
            var candidates = new List<ProcessInfo>(count);
            for (int i = 0; i < count; i++)
            {
                candidates.Add(P(
                    pid: rng.Next(1, 60),       // small ranges force ties on every key
                    adj: adjs[rng.Next(adjs.Length)],
                    rssMiB: rng.Next(0, 4),
                    start: (ulong)rng.Next(0, 4),
                    uid: uids[rng.Next(uids.Length)],
                    exe: exes[rng.Next(exes.Length)],
                    cgroup: cgroups[rng.Next(cgroups.Length)],
                    state: rng.Next(10) == 0 ? 'Z' : 'S',
                    kthread: rng.Next(20) == 0));
            }
            int minAdj = adjs[rng.Next(adjs.Length)];

            var ranked = VictimRanking.Rank(candidates, minAdj, rules, SelfPid);
            var picked = VictimRanking.Pick(candidates, minAdj, rules, SelfPid);

            Assert.Equal(ranked.Victim, picked);
            Assert.Equal(count, ranked.Ranked.Count + ranked.Rejected.Count);
            Assert.All(ranked.Ranked, p => Assert.True(p.OomScoreAdj >= minAdj && p.WeightBytes > 0));
            for (int i = 1; i < ranked.Ranked.Count; i++)
            {
                ProcessInfo a = ranked.Ranked[i - 1], b = ranked.Ranked[i];
                Assert.True(VictimRanking.Compare(a, VictimRanking.IsPreferred(a, rules), b, VictimRanking.IsPreferred(b, rules)) <= 0,
                    $"round {round}: {a.Pid} ranked before {b.Pid}");
            }
        }
    }

    [Fact]
    public void Sizes_that_differ_by_less_than_a_page_still_order_the_bucket()
    {
        // The rank sorts by a key that counts whole pages; the bytes below a page must still decide.
        var lighter = P(10) with { RssAnonBytes = 40L * 4096 + 1 };
        var heavier = P(11) with { RssAnonBytes = 40L * 4096 + 100 };
        var older = P(12, start: 500) with { RssAnonBytes = 40L * 4096 + 100 };
        Assert.Equal([11, 12, 10], Order([lighter, older, heavier]));
        Assert.Equal([11, 12, 10], Order([heavier, lighter, older]));
    }

    [Fact]
    public void PickDoesNotAllocate()
    {
        var rules = new RankingRules
        {
            ProtectedUids = [0],
            ProtectedExePaths = ["/usr/sbin/*", "/opt/**/db"],
            ProtectedExeIdentities = new HashSet<FileIdentity> { new(1, 2, 3), new(1, 7, 3) },
            ProtectedCgroups = ["/system.slice"],
            PreferredCgroups = ["/batch.slice"],
            PreferredExeIdentities = new HashSet<FileIdentity> { new(1, 9, 3) },
        };
        var candidates = Enumerable.Range(2, 300)
            .Select(i => P(i, adj: i % 1001, rssMiB: i % 7, cgroup: i % 3 == 0 ? "/batch.slice/x" : "/user.slice/y",
                exe: i % 5 == 0 ? "/opt/a/b/db" : "/usr/bin/app") with { ExeIdentity = new FileIdentity(1, (ulong)(i % 11), 3) })
            .ToArray();
        VictimRanking.Pick(candidates, 100, rules, SelfPid); // warm up

        long before = GC.GetAllocatedBytesForCurrentThread();
        var victim = VictimRanking.Pick(candidates, 100, rules, SelfPid);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(VictimRanking.Rank(candidates, 100, rules, SelfPid).Victim, victim);
        Assert.NotNull(victim);
    }
}
