using BenchmarkDotNet.Running;
using Lmkd.Benchmarks;

// `allocs` counts the monitor thread's own allocations per wake-up (exact, per thread).
// `chooser-profile` splits the daemon's kill-time choice (~2,000 processes) into its parts;
// `scan` times a full /proc scan per process at 2,000 and 10,000 processes against a C loop and the naive scanner.
// `pressure` runs the real daemon under real pressure (a scenario, not BenchmarkDotNet);
// `held` measures what watching a full but steady cgroup costs the daemon, against a half-empty one in the same run;
// `soak` runs one daemon through N consecutive pressure episodes and checks its kills, RSS, threads and fds (scripts/soak.sh);
// anything else goes to BenchmarkDotNet (no arguments: every benchmark, not the interactive menu).
if (args.Length > 0 && args[0] == "pressure")
    return PressureScenario.Run(args[1..]);
if (args.Length > 0 && args[0] == "held")
    return HeldCost.Run(args[1..]);
if (args.Length > 0 && args[0] == "soak")
    return Soak.Run(args[1..]);
if (args.Length > 0 && args[0] == "allocs")
    return AllocationCheck.Run(args[1..]);
if (args.Length > 0 && args[0] == "chooser-profile")
    return ChooserProfile.Run(args[1..]);
if (args.Length > 0 && args[0] == "scan")
    return ScanCost.Run(args[1..]);

// The idle processes some benchmarks share must not outlive the program, also on Ctrl-C.
Console.CancelKeyPress += (_, _) => IdleProcesses.DisposeShared();
IEnumerable<BenchmarkDotNet.Reports.Summary> summaries;
try
{
    summaries = BenchmarkSwitcher.FromAssembly(typeof(BenchConfig).Assembly)
        .Run(args.Length == 0 ? ["--filter", "*"] : args, new BenchConfig());
}
finally
{
    IdleProcesses.DisposeShared();
}
return summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success)) ? 1 : 0;
