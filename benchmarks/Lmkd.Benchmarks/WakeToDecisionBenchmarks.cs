using BenchmarkDotNet.Attributes;
using Lmkd.Cli;
using Lmkd.Daemon;
using Lmkd.Policies;
using Lmkd.Pressure;
using Lmkd.ProcFs;

namespace Lmkd.Benchmarks;

/// <summary>
/// One steady-state wake-up of the monitor thread on the real kernel files, as MonitorLoop.Evaluate does it
/// after poll returns: read the scope's memory, read PSI, decide, update the metrics. Target: under 1 ms,
/// and 0 B allocated. PSI is armed (kernel triggers, 2 s windows without CAP_SYS_RESOURCE) but no pressure
/// is made: the cost of a wake-up does not depend on whether the trigger fired.
/// </summary>
[MemoryDiagnoser]
public class WakeToDecisionBenchmarks
{
    private SandboxCgroup _cgroup = null!;
    private PsiMonitor _machinePsi = null!;
    private PsiMonitor _cgroupPsi = null!;
    private SystemMemoryReader _system = null!;
    private CgroupMemoryReader _cgroupMemory = null!;
    private KillPolicy _policy = null!;
    private LmkdMetrics _metrics = null!;
    private MemorySnapshot _memory;
    private PsiSnapshot _psi;

    // The daemon's default levels (Android lmkd's): some 70 ms / full 700 ms per 1 s, widened here to 2 s windows.
    private static readonly PsiLevelConfig[] Levels =
    [
        new("medium", PsiKind.Some, 70, 1000),
        new("critical", PsiKind.Full, 700, 1000),
    ];

    [GlobalSetup]
    public void Setup()
    {
        _cgroup = SandboxCgroup.Create("lmkd-bench-wake", 64L << 20);
        var location = CgroupPaths.Resolve("/sys/fs/cgroup", _cgroup.RelativePath);
        _cgroupMemory = CgroupMemoryReader.Open(location);
        _system = new SystemMemoryReader();
        _machinePsi = new PsiMonitor("/proc/pressure/memory", Levels);
        _machinePsi.Arm();
        _cgroupPsi = new PsiMonitor(_cgroup.MemoryPressurePath, Levels);
        _cgroupPsi.Arm();
        _policy = new KillPolicy(new KillPolicyOptions());
        _metrics = new LmkdMetrics();
        _memory = _system.Read();
        _psi = _machinePsi.ReadSnapshot();
        Console.WriteLine($"// {_machinePsi.Description}");
        Console.WriteLine($"// {_cgroupPsi.Description}; memory files: {_cgroupMemory.Directory}");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _machinePsi.Dispose();
        _cgroupPsi.Dispose();
        _system.Dispose();
        _cgroupMemory.Dispose();
        _cgroup.Dispose();
    }

    [Benchmark(Description = "PsiMonitor.ReadSnapshot (/proc/pressure/memory)")]
    public PsiSnapshot PsiReadSnapshot() => _machinePsi.ReadSnapshot();

    [Benchmark(Description = "PsiMonitor.Wait(0), no event (poll on the trigger fds)")]
    public WaitResult PsiWaitNoEvent() => _machinePsi.Wait(0);

    [Benchmark(Description = "SystemMemoryReader.Read (meminfo+vmstat)")]
    public MemorySnapshot SystemMemoryRead() => _system.Read();

    [Benchmark(Description = "CgroupMemoryReader.Read (test cgroup)")]
    public MemorySnapshot CgroupMemoryRead() => _cgroupMemory.Read();

    [Benchmark(Description = "KillPolicy.Evaluate")]
    public KillDecision PolicyEvaluate() => _policy.Evaluate(Environment.TickCount64, PressureLevel.Medium, in _memory, in _psi, inPsiWindow: true);

    [Benchmark(Description = "Wake-up, machine scope: memory+PSI+Evaluate+metrics")]
    public KillDecision WakeUpMachine()
    {
        var memory = _system.Read();
        var psi = _machinePsi.ReadSnapshot();
        var decision = _policy.Evaluate(Environment.TickCount64, PressureLevel.Medium, in memory, in psi, inPsiWindow: true);
        _metrics.Observed(memory, decision, inPsiWindow: true);
        return decision;
    }

    [Benchmark(Description = "Wake-up, cgroup scope: memory+PSI+Evaluate+metrics")]
    public KillDecision WakeUpCgroup()
    {
        var memory = _cgroupMemory.Read();
        var psi = _cgroupPsi.ReadSnapshot();
        var decision = _policy.Evaluate(Environment.TickCount64, PressureLevel.Medium, in memory, in psi, inPsiWindow: true);
        _metrics.Observed(memory, decision, inPsiWindow: true);
        return decision;
    }
}
