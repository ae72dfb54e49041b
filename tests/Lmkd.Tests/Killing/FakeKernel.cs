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

    /// <summary>The pid of the last pidfd_open, which the fake's one descriptor stands for.</summary>
    public int LastOpenedPid { get; private set; }
    /// <summary>The pids signalled, in order (lock <see cref="Calls"/> to read while others call).</summary>
    public List<int> Signalled { get; } = [];
    /// <summary>Runs inside pidfd_send_signal with the pid the descriptor stands for: the process dies.</summary>
    public Action<int>? DuringSignal { get; set; }

    public SysResult PidfdOpen(int pid)
    {
        lock (Calls)
        {
            Calls.Add($"pidfd_open {pid}");
            LastOpenedPid = pid;
        }
        if (DuringOpen?.Invoke(pid) is { } answer)
            return answer;
        return OpenResults.TryDequeue(out var r) ? r : OpenResult;
    }

    /// <summary>Runs inside pidfd_open; a result it returns is the answer (a process that exits just then: ESRCH).</summary>
    public Func<int, SysResult?>? DuringOpen { get; set; }

    public int ReserveFd() { ReservesOpened++; return Reserve; }

    public SysResult PidfdSendSignal(int pidfd, int signal)
    {
        lock (Calls)
        {
            Calls.Add($"pidfd_send_signal {pidfd} {signal}");
            Signalled.Add(LastOpenedPid);
        }
        DuringSignal?.Invoke(LastOpenedPid);
        return SignalResult;
    }

    public SysResult ProcessMrelease(int pidfd, uint flags)
    {
        lock (Calls)
            Calls.Add($"process_mrelease {pidfd} {flags}");
        DuringMrelease?.Invoke(flags);
        return MreleaseResults.TryGetValue(flags, out var r) ? r : SysResult.Success();
    }

    public SysResult WaitForExit(int pidfd, int timeoutMs) { lock (Calls) Calls.Add($"wait {pidfd} {timeoutMs}"); return WaitResult; }

    public SysResult Close(int fd) { lock (Calls) Calls.Add($"close {fd}"); return SysResult.Success(); }
}
