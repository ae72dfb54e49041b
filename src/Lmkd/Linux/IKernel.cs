namespace Lmkd.Linux;

/// <summary>
/// The result of one system call: <see cref="Value"/> on success, or the errno that decides what
/// the caller does next. A value type so the kill path allocates nothing for it.
/// </summary>
public readonly record struct SysResult(int Value, int Errno)
{
    public bool Ok => Errno == 0;

    public static SysResult Success(int value = 0) => new(value, 0);
    public static SysResult Failure(int errno) => new(-1, errno);
}

/// <summary>
/// The few syscalls the kill path makes. Behind an interface so the REAP_KILL path, its fallbacks
/// and the ESRCH races can be tested with a fake, and the real kernel with <see cref="LinuxKernel"/>.
/// </summary>
public interface IKernel
{
    /// <summary>pidfd_open(pid, 0); Value is the pidfd (close-on-exec by default).</summary>
    SysResult PidfdOpen(int pid);

    /// <summary>pidfd_send_signal(pidfd, signal, NULL, 0).</summary>
    SysResult PidfdSendSignal(int pidfd, int signal);

    /// <summary>process_mrelease(pidfd, flags).</summary>
    SysResult ProcessMrelease(int pidfd, uint flags);

    /// <summary>
    /// Waits until the pidfd is readable (the process exited). Value 1 = exited, 0 = timed out.
    /// A negative timeout waits without bound.
    /// </summary>
    SysResult WaitForExit(int pidfd, int timeoutMs);

    SysResult Close(int fd);

    /// <summary>A descriptor held in reserve (of /dev/null), closed to make room when pidfd_open meets EMFILE; -1 when none could be opened.</summary>
    int ReserveFd();
}
