using System.Runtime.InteropServices;

namespace Lmkd.Benchmarks;

/// <summary>
/// Ctrl-C and SIGTERM (and any other signal named) cancel <see cref="Token"/> instead of ending the
/// process, so a benchmark that made cgroups, workloads and files always gets to remove them.
/// </summary>
internal sealed class StopSignals : IDisposable
{
    private readonly CancellationTokenSource _cts = new();
    private readonly ConsoleCancelEventHandler _onCtrlC;
    private readonly List<PosixSignalRegistration> _registrations = [];

    public StopSignals(params PosixSignal[] more)
    {
        _onCtrlC = (_, e) => { e.Cancel = true; _cts.Cancel(); };
        Console.CancelKeyPress += _onCtrlC;
        foreach (var signal in more.Prepend(PosixSignal.SIGTERM).Distinct())
            _registrations.Add(PosixSignalRegistration.Create(signal, c => { c.Cancel = true; _cts.Cancel(); }));
    }

    public CancellationToken Token => _cts.Token;

    public bool IsCancellationRequested => _cts.IsCancellationRequested;

    public void Dispose()
    {
        Console.CancelKeyPress -= _onCtrlC;
        foreach (var r in _registrations)
            r.Dispose();
        _cts.Dispose();
    }
}
