using System.Diagnostics;
using Lmkd.Daemon;
using Lmkd.Linux;
using Lmkd.Policies;
using Lmkd.ProcFs;

namespace Lmkd.Tests.ProcFs;

/// <summary>
/// Exe protections and namespace inits on the real kernel: a process cannot borrow a protected path through a mount
/// namespace of its own, a protected binary replaced while it runs stays protected, and a pid namespace's init is
/// recognised. The protected "binaries" are copies of sleep in a temporary directory; every child is killed after.
/// </summary>
public sealed class ExeProtectionKernelTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly List<Process> _children = [];

    public void Dispose()
    {
        foreach (var c in _children)
        {
            try
            {
                c.Kill(entireProcessTree: true);
                c.WaitForExit(5000);
            }
            catch (InvalidOperationException)
            {
            }
            c.Dispose();
        }
        _dir.Dispose();
    }

    private string CopyOfSleep(string name)
    {
        string path = _dir.PathOf(name);
        File.Copy(Tools.Find("sleep")!, path); // keeps the mode: executable
        return path;
    }

    private Process Start(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { UseShellExecute = false };
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        _children.Add(p);
        return p;
    }

    /// <summary>Waits until <paramref name="pid"/> runs <paramref name="comm"/> (it has exec'd), then returns it read by the scanner.</summary>
    private static ProcessInfo ReadWhenRunning(ProcessScanner scanner, int pid, string comm)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(10))
        {
            if (scanner.Read(pid) is { } p && p.Comm == comm)
                return p;
            Thread.Sleep(10);
        }
        throw new TimeoutException($"pid {pid} never ran {comm}");
    }

    /// <summary>The single child of <paramref name="parent"/> once it runs <paramref name="comm"/> (unshare --fork's child).</summary>
    private static int ChildRunning(int parent, string comm)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(10))
        {
            foreach (var c in File.ReadAllText($"/proc/{parent}/task/{parent}/children").Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                try
                {
                    if (File.ReadAllText($"/proc/{c}/comm").Trim() == comm)
                        return int.Parse(c);
                }
                catch (IOException)
                {
                }
            }
            Thread.Sleep(10);
        }
        throw new TimeoutException($"no child of {parent} runs {comm}");
    }

    private static ExclusionReason Reason(ProcessInfo p, RankingRules rules) =>
        VictimRanking.Rank([p], 0, rules, Environment.ProcessId).Rejected.SingleOrDefault().Reason;

    private static RankingRules Protect(string path) =>
        new() { ProtectedExePaths = [path], ProtectedExeIdentities = ExeRuleFiles.Resolve([path]) };

    [PrivilegedFact("unshare", "mount")]
    public void A_bind_mount_in_a_mount_namespace_of_its_own_does_not_borrow_a_protected_path()
    {
        string prot = CopyOfSleep("protected");
        string impostor = CopyOfSleep("impostor");
        var rules = Protect(prot);
        var scanner = new ProcessScanner { ExePathRules = rules };

        // What any user can do: a user and mount namespace of its own, its binary mounted over the protected path.
        var forger = Start("unshare", "-Urm", "--propagation", "private", "sh", "-c",
            $"mount --bind '{impostor}' '{prot}' && exec '{prot}' 60");
        var forged = ReadWhenRunning(scanner, forger.Id, "protected");
        Assert.Equal(prot, forged.ExePath);                 // the link text says "protected"...
        Assert.True(FileStat.TryIdentify(impostor, out var impostorId));
        Assert.Equal(impostorId, forged.ExeIdentity);       // ...the file is the impostor
        Assert.False(forged.InInitMountNamespace);
        Assert.Equal(ExclusionReason.None, Reason(forged, rules));
        // Matched on its path alone, as exe rules were before, it would have been protected.
        Assert.Equal(ExclusionReason.ProtectedExe, Reason(forged with { InInitMountNamespace = true }, rules));

        // The real binary, in the host's namespace, is protected.
        var real = ReadWhenRunning(scanner, Start(prot, "60").Id, "protected");
        Assert.True(real.InInitMountNamespace);
        Assert.Equal(ExclusionReason.ProtectedExe, Reason(real, rules));
        // And through identity alone, whatever namespace it is seen from: the path rule removed.
        Assert.Equal(ExclusionReason.ProtectedExe, Reason(real with { InInitMountNamespace = false }, rules));
    }

    [PrivilegedFact]
    public void A_protected_binary_replaced_while_it_runs_stays_protected()
    {
        string daemon = CopyOfSleep("daemon");
        var loaded = Protect(daemon);
        var scanner = new ProcessScanner { ExePathRules = loaded };
        int pid = Start(daemon, "60").Id;
        var before = ReadWhenRunning(scanner, pid, "daemon");
        Assert.False(before.ExeDeleted);

        // A package upgrade: the new file is written beside the old and renamed over it; the old one is unlinked.
        File.Copy(Tools.Find("sleep")!, daemon + ".dpkg-new");
        File.Move(daemon + ".dpkg-new", daemon, overwrite: true);

        var after = scanner.Read(pid)!;
        Assert.True(after.ExeDeleted);
        Assert.Equal(daemon, after.ExePath);                 // without " (deleted)"
        Assert.Equal(before.ExeIdentity, after.ExeIdentity); // the old file, still running
        Assert.Equal(ExclusionReason.ProtectedExe, Reason(after, loaded));
        // Identity alone (seen from anywhere) holds with the rules loaded before the upgrade...
        Assert.Equal(ExclusionReason.ProtectedExe, Reason(after with { InInitMountNamespace = false }, loaded));

        // ...and after a reload, which knows only the new file, the former path holds in pid 1's namespace.
        var reloaded = Protect(daemon);
        Assert.DoesNotContain(after.ExeIdentity!.Value, reloaded.ProtectedExeIdentities);
        Assert.Equal(ExclusionReason.ProtectedExe, Reason(after, reloaded));
        // A process started from the new binary is protected too.
        var fresh = ReadWhenRunning(scanner, Start(daemon, "60").Id, "daemon");
        Assert.Equal(ExclusionReason.ProtectedExe, Reason(fresh, loaded));
        Assert.False(fresh.ExeDeleted);
    }

    [PrivilegedFact("unshare")]
    public void A_pid_namespace_init_is_recognised_and_skipped_and_its_other_processes_are_not()
    {
        // The forked child is pid 1 of a new pid namespace; its own child is an ordinary process there.
        var unshare = Start("unshare", "--pid", "--fork", "--mount-proc", "sh", "-c", "sleep 61 & exec sleep 60");
        int init = ChildRunning(unshare.Id, "sleep");
        var scanner = new ProcessScanner();
        var initInfo = scanner.Read(init)!;
        Assert.True(initInfo.IsNamespaceInit);
        Assert.Equal(ExclusionReason.NamespaceInit, Reason(initInfo, RankingRules.None));

        int member = ChildRunning(init, "sleep");
        var memberInfo = scanner.Read(member)!;
        Assert.False(memberInfo.IsNamespaceInit);
        Assert.Equal(ExclusionReason.None, Reason(memberInfo, RankingRules.None));

        // The full scan says the same; and neither Lmkd (the test) nor unshare itself is a namespace init.
        var byPid = scanner.Scan().ToDictionary(p => p.Pid);
        Assert.True(byPid[init].IsNamespaceInit);
        Assert.False(byPid[member].IsNamespaceInit);
        Assert.False(byPid[unshare.Id].IsNamespaceInit);
        Assert.False(byPid[Environment.ProcessId].IsNamespaceInit);
    }
}
