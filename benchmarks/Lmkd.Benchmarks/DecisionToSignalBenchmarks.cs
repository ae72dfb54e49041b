using BenchmarkDotNet.Attributes;
using Lmkd.Cli;
using Lmkd.Daemon;
using Lmkd.Linux;
using Lmkd.Policies;
using Lmkd.ProcFs;

namespace Lmkd.Benchmarks;

/// <summary>
/// Everything from a kill decision to the moment SIGKILL would be sent, with about 2,000 processes on the
/// machine: scan /proc, pick the victim, then the Killer's identity check (pidfd_open, re-read the start
/// time, compare). The signal itself is not sent and the pidfd is closed. Target: under 5 ms.
/// The baseline is the same work with a naive scanner, measured in the same run.
/// </summary>
[MemoryDiagnoser]
public class DecisionToSignalBenchmarks
{
    /// <summary>Processes on the machine during the benchmark (kernel threads included), as /proc lists them.</summary>
    public const int TargetProcesses = 2000;

    private IdleProcesses _idle = null!;
    private SandboxCgroup _scope = null!;
    private ProcessScanner _scanner = null!;
    private Func<string, bool> _inScope = null!;
    private IReadOnlyList<ProcessInfo> _warmMachine = null!, _warmCgroup = null!;
    private int[] _neverMachine = [], _neverCgroup = [];
    private Scope _scopeLister = null!, _machine = null!;
    private VictimChooser _machineChooser = null!, _cgroupChooser = null!, _machineChooserUnswept = null!;
    private readonly RankingRules _rules = RankingRules.None;
    private readonly int _self = Environment.ProcessId;

    [GlobalSetup]
    public void Setup()
    {
        _idle = IdleProcesses.Shared(TargetProcesses);
        // The pressure scenario's shape: a few processes in a watched cgroup among the machine's ~2,000.
        _scope = SandboxCgroup.Create("lmkd-bench-scope", 64L << 20);
        for (int i = 0; i < 3; i++)
            _scope.StartShell("exec sleep 900").Dispose();
        while (_scope.Pids().Count < 3)
            Thread.Sleep(20);
        string rel = _scope.RelativePath;
        _inScope = path => CgroupPrefix.Covers(rel, path);
        _scanner = new ProcessScanner();
        var all = _scanner.Scan();
        var counts = _scanner.LastScanCounts;
        _neverMachine = _scanner.LastNeverCandidates;
        // What the daemon's CandidateCache holds when a kill comes: a list scanned off the monitor thread.
        _warmMachine = all.ToArray();
        _warmCgroup = _scanner.Scan(_inScope).ToArray();
        _neverCgroup = _scanner.LastNeverCandidates;
        _scopeLister = Scope.Open(new Lmkd.Configuration.LmkdOptions { Scope = new Lmkd.Configuration.ScopeOptions { Cgroup = rel } });
        _machine = Scope.Open(new Lmkd.Configuration.LmkdOptions());
        // The list the daemon's scanner thread would hold, fresh: the chooser trusts it (no scan at the kill).
        _machineChooser = new VictimChooser(new ScopeProcessSource(_scanner, _machine),
            () => new CandidateCache.Snapshot(_warmMachine, Environment.TickCount64, TimeSpan.Zero, _neverMachine), _self) { Rules = _rules };
        // The same list with sizes a second old: no sweep since (the scanner thread starved), so the
        // chooser reads the top bucket's sizes itself.
        _machineChooserUnswept = new VictimChooser(new ScopeProcessSource(_scanner, _machine),
            () => new CandidateCache.Snapshot(_warmMachine, Environment.TickCount64 - 1000, TimeSpan.Zero, _neverMachine), _self) { Rules = _rules };
        _cgroupChooser = new VictimChooser(new ScopeProcessSource(_scanner, _scopeLister),
            () => new CandidateCache.Snapshot(_warmCgroup, Environment.TickCount64, TimeSpan.Zero, _neverCgroup), _self) { Rules = _rules };
        Console.WriteLine($"// /proc lists {counts.Entries} processes, {IdleProcesses.CountLiveProcesses()} live ({_idle.Started} idle sleeps added); {all.Count} are kill candidates; {_scanner.Scan(_inScope).Count} in {rel}");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _scopeLister.Dispose();
        _machine.Dispose();
        _scope.Dispose(); // the idle processes are shared by every case: Program ends them
    }

    [Benchmark(Baseline = true, Description = "Naive: ReadAllText+Split scan, Pick, identity check (machine)")]
    public bool NaiveMachine() => IdentityHolds(VictimRanking.Pick(NaiveScanner.Scan(), 0, _rules, _self), NaiveScanner.ReadStartTime);

    [Benchmark(Description = "ProcessScanner.Scan+Pick+identity check (machine)")]
    public bool ScannerMachine() => IdentityHolds(VictimRanking.Pick(_scanner.Scan(), 0, _rules, _self), _scanner.ReadStartTime);

    [Benchmark(Description = "ProcessScanner.Scan+Pick+identity check (cgroup scope, 3 of ~2,000)")]
    public bool ScannerCgroup() => IdentityHolds(VictimRanking.Pick(_scanner.Scan(_inScope), 0, _rules, _self), _scanner.ReadStartTime);

    [Benchmark(Description = "Naive scan+Pick+identity check (cgroup scope, 3 of ~2,000)")]
    public bool NaiveCgroup() => IdentityHolds(VictimRanking.Pick(NaiveScanner.Scan(_inScope), 0, _rules, _self), NaiveScanner.ReadStartTime);

    [Benchmark(Description = "Daemon's path: VictimChooser (list pids, newcomers, swept sizes, top re-read), identity check (machine)")]
    public bool WarmMachine() => IdentityHolds(_machineChooser.Choose(0, Environment.TickCount64).Victim, _scanner.ReadStartTime);

    [Benchmark(Description = "Daemon's path, sizes unswept for 1 s: VictimChooser reads 256 sizes of the top bucket too, identity check (machine)")]
    public bool WarmMachineUnswept() => IdentityHolds(_machineChooserUnswept.Choose(0, Environment.TickCount64).Victim, _scanner.ReadStartTime);

    [Benchmark(Description = "Daemon's path: VictimChooser on the cgroup's cgroup.procs, identity check (cgroup scope)")]
    public bool WarmCgroup() => IdentityHolds(_cgroupChooser.Choose(0, Environment.TickCount64).Victim, _scanner.ReadStartTime);

    [Benchmark(Description = "ProcessScanner.Scan only (machine)")]
    public int ScanOnlyMachine() => _scanner.Scan().Count;

    [Benchmark(Description = "ProcessScanner.Scan only (cgroup scope)")]
    public int ScanOnlyCgroup() => _scanner.Scan(_inScope).Count;

    /// <summary>Killer.Kill's steps up to the signal: pidfd_open, start time re-read and compared, then (here) close instead of signal.</summary>
    private static bool IdentityHolds(ProcessInfo? victim, Func<int, ulong?> readStartTime)
    {
        if (victim is null)
            throw new InvalidOperationException("no victim: the benchmark would measure nothing");
        var open = LinuxKernel.Instance.PidfdOpen(victim.Pid);
        if (!open.Ok)
            return false;
        try
        {
            return readStartTime(victim.Pid) == victim.StartTime;
        }
        finally
        {
            LinuxKernel.Instance.Close(open.Value);
        }
    }
}
