using Lmkd.Linux;

namespace Lmkd.Tests.Killing;

/// <summary>An <see cref="IKernel"/> that records every call as a line and answers from settable results.</summary>
internal sealed class FakeKernel : IKernel
{
    public const int Fd = 77;

    public List<string> Calls { get; } = [];
    public SysResult OpenResult { get; set; } = SysResult.Success(Fd);
    public SysResult SignalResult { get; set; } = SysResult.Success();
    /// <summary>Answers to process_mrelease by flags; missing flags answer 0.</summary>
    public Dictionary<uint, SysResult> MreleaseResults { get; } = [];
    public SysResult WaitResult { get; set; } = SysResult.Success(1);
    /// <summary>Runs inside process_mrelease before it answers, on the caller's thread: a reap that blocks.</summary>
    public Action<uint>? DuringMrelease { get; set; }

    /// <summary>Answers to pidfd_open taken first, in order, before <see cref="OpenResult"/>.</summary>
    public Queue<SysResult> OpenResults { get; } = new();
    public const int Reserve = 99;
    /// <summary>How often the reserve descriptor was opened.</summary>
    public int ReservesOpened { get; private set; }

    public SysResult PidfdOpen(int pid) { Calls.Add($"pidfd_open {pid}"); return OpenResults.TryDequeue(out var r) ? r : OpenResult; }

    public int ReserveFd() { ReservesOpened++; return Reserve; }

    public SysResult PidfdSendSignal(int pidfd, int signal) { Calls.Add($"pidfd_send_signal {pidfd} {signal}"); return SignalResult; }

    public SysResult ProcessMrelease(int pidfd, uint flags)
    {
        Calls.Add($"process_mrelease {pidfd} {flags}");
        DuringMrelease?.Invoke(flags);
        return MreleaseResults.TryGetValue(flags, out var r) ? r : SysResult.Success();
    }

    public SysResult WaitForExit(int pidfd, int timeoutMs) { Calls.Add($"wait {pidfd} {timeoutMs}"); return WaitResult; }

    public SysResult Close(int fd) { Calls.Add($"close {fd}"); return SysResult.Success(); }
}
