using System.Diagnostics;
using Lmkd.Daemon;
using Lmkd.Policies;
using Lmkd.ProcFs;

namespace Lmkd.Benchmarks;

/// <summary>
/// Where the daemon's kill-time choice (VictimChooser.Choose, machine scope) spends its time with
/// ~2,000 processes: the pid listing, the full re-reads, the size reads, and the rest (ranking,
/// membership). Not a BenchmarkDotNet case: it splits one path into its parts, which the
/// DecisionToSignal benchmark times as a whole. Run it with DOTNET_TieredCompilation=0 so the
/// figures are those of optimized code from the first call, as in the AOT daemon.
/// </summary>
public static class ChooserProfile
{
    private sealed class TimedSource(IProcessSource inner) : IProcessSource
    {
        public readonly Stopwatch ListTime = new(), ReadTime = new(), SizeTime = new();
        public int Reads, SizeReads;
        public void ListPids(List<int> into) { ListTime.Start(); inner.ListPids(into); ListTime.Stop(); }
        public ProcessInfo? Read(int pid) { ReadTime.Start(); var p = inner.Read(pid); ReadTime.Stop(); Reads++; return p; }
        public IReadOnlyList<ProcessInfo> Scan(IReadOnlyList<int> pids) => inner.Scan(pids);
        public bool InScope(ProcessInfo p) => inner.InScope(p);
        public long ReadResidentBytes(int pid) { SizeTime.Start(); long r = inner.ReadResidentBytes(pid); SizeTime.Stop(); SizeReads++; return r; }
        public void Reset() { ListTime.Reset(); ReadTime.Reset(); SizeTime.Reset(); Reads = SizeReads = 0; }
    }

    public static int Run(string[] args)
    {
        int rounds = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 50;
        using var idle = IdleProcesses.FillTo(DecisionToSignalBenchmarks.TargetProcesses);
        using var machine = Scope.Open(new Lmkd.Configuration.LmkdOptions());
        var scanner = new ProcessScanner();
        var list = scanner.Scan().ToArray();
        var never = scanner.LastNeverCandidates;
        var source = new TimedSource(new ScopeProcessSource(scanner, machine));
        // A fresh list, as the scanner thread keeps it while pressure lasts.
        var chooser = new VictimChooser(source, () => new CandidateCache.Snapshot(list, Environment.TickCount64, TimeSpan.Zero, never), Environment.ProcessId);
        for (int i = 0; i < 10; i++)
            chooser.Choose(0, Environment.TickCount64);
        source.Reset();
        var total = Stopwatch.StartNew();
        for (int i = 0; i < rounds; i++)
            chooser.Choose(0, Environment.TickCount64);
        total.Stop();
        double Ms(Stopwatch s) => s.Elapsed.TotalMilliseconds / rounds;
        double rest = Ms(total) - Ms(source.ListTime) - Ms(source.ReadTime) - Ms(source.SizeTime);
        Console.WriteLine($"{list.Length} candidates, {never.Length} kernel threads and zombies; per choice (mean of {rounds}): " +
            $"{Ms(total):F2} ms = list pids {Ms(source.ListTime):F2} + {source.Reads / rounds} full reads {Ms(source.ReadTime):F2} + " +
            $"{source.SizeReads / rounds} size reads {Ms(source.SizeTime):F2} + ranking and membership {rest:F2}");
        // What one of the scanner thread's sweeps costs (CandidateCache: every listed size, statm only).
        var sweep = Stopwatch.StartNew();
        for (int i = 0; i < rounds; i++)
            foreach (var p in list)
                scanner.ReadResidentBytes(p.Pid);
        sweep.Stop();
        Console.WriteLine($"one size sweep of the {list.Length} listed processes (the scanner thread, every 100 ms while pressure lasts): {sweep.Elapsed.TotalMilliseconds / rounds:F1} ms");
        return 0;
    }
}
