using Lmkd.Configuration;
using Lmkd.Daemon;
using Lmkd.ProcFs;

namespace Lmkd.Tests.Daemon;

public sealed class ScopeTests
{
    [PrivilegedFact]
    public void A_cgroup_scope_lists_the_processes_of_its_subtree_and_no_others()
    {
        using var cg = TestCgroup.Create("lmkd-scope", 64L << 20);
        var child = cg.Child("inner");
        using var a = cg.StartShell("exec sleep 60");
        using var b = child.StartShell("exec sleep 60");
        using var scope = Scope.Open(new LmkdOptions { Scope = new ScopeOptions { Cgroup = cg.RelativePath } });
        var pids = new List<int>();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        do
        {
            scope.ListPids(new ProcessScanner(), pids);
        } while (pids.Count < 2 && DateTime.UtcNow < deadline && Sleep());

        Assert.Equal(new[] { a.Id, b.Id }.Order(), pids.Order());
        Assert.DoesNotContain(Environment.ProcessId, pids);
        Assert.True(scope.Contains(cg.RelativePath + "/inner"));
        Assert.False(scope.Contains(cg.RelativePath + "x"));
    }

    [Fact]
    public void The_whole_machine_lists_every_pid_in_proc()
    {
        using var scope = Scope.Open(new LmkdOptions());
        var pids = new List<int>();
        scope.ListPids(new ProcessScanner(), pids);
        Assert.Contains(Environment.ProcessId, pids);
        Assert.Contains(1, pids);
    }

    private static bool Sleep()
    {
        Thread.Sleep(20);
        return true;
    }
}
