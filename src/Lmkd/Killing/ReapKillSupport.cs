using Lmkd.Linux;

namespace Lmkd.Killing;

/// <summary>How a victim is killed and its memory given back.</summary>
public enum ReapMode
{
    /// <summary>One process_mrelease(pidfd, REAP_KILL): SIGKILL and reap, no exit_mm race.</summary>
    ReapKill,
    /// <summary>pidfd_send_signal(SIGKILL), then process_mrelease(pidfd, 0) (ESRCH when the victim won the race).</summary>
    KillThenReap,
    /// <summary>No process_mrelease at all: SIGKILL and let the victim free its own memory.</summary>
    KillOnly,
}

/// <summary>Finds out once, at start, which <see cref="ReapMode"/> this kernel allows.</summary>
public static class ReapKillSupport
{
    /// <summary>
    /// Asks the kernel with an invalid pidfd, so nothing is ever killed: flags are checked before
    /// the pidfd, so EBADF means the flag passed that check.
    /// </summary>
    public static ReapMode Probe(IKernel kernel, out int probeErrno)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        probeErrno = kernel.ProcessMrelease(-1, Native.PROCESS_MRELEASE_REAP_KILL).Errno;
        switch (probeErrno)
        {
            case Native.EBADF:
                return ReapMode.ReapKill;
            case Native.EINVAL:
                return ReapMode.KillThenReap;
            case Native.ENOSYS:
                return ReapMode.KillOnly;
            default:
                // E.g. EPERM from a seccomp filter: the flag answer is unknown, so use the plain call
                // only if it is itself reachable.
                return kernel.ProcessMrelease(-1, 0).Errno == Native.EBADF ? ReapMode.KillThenReap : ReapMode.KillOnly;
        }
    }
}
