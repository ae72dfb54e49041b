using System.Diagnostics;

namespace Lmkd.Linux;

/// <summary>The real <see cref="IKernel"/>: raw syscalls with errno captured by the P/Invoke layer.</summary>
public sealed class LinuxKernel : IKernel
{
    public static LinuxKernel Instance { get; } = new();

    public SysResult PidfdOpen(int pid) =>
        FromSyscall(Native.Syscall2(Native.SYS_pidfd_open, pid, 0));

    public SysResult PidfdSendSignal(int pidfd, int signal) =>
        FromSyscall(Native.Syscall4(Native.SYS_pidfd_send_signal, pidfd, signal, 0, 0));

    public SysResult ProcessMrelease(int pidfd, uint flags) =>
        FromSyscall(Native.Syscall2(Native.SYS_process_mrelease, pidfd, flags));

    public unsafe SysResult WaitForExit(int pidfd, int timeoutMs)
    {
        var pfd = new Native.PollFd { Fd = pidfd, Events = Native.POLLIN };
        long start = Stopwatch.GetTimestamp();
        int remaining = timeoutMs;
        while (true)
        {
            pfd.REvents = 0;
            int n = Native.Poll(&pfd, 1, remaining);
            if (n > 0)
            {
                // POLLNVAL: not an open fd; anything else on a pidfd means the process exited.
                return (pfd.REvents & Native.POLLNVAL) != 0 ? SysResult.Failure(Native.EBADF) : SysResult.Success(1);
            }
            if (n == 0)
                return SysResult.Success(0);
            int errno = Native.Errno;
            if (errno != Native.EINTR)
                return SysResult.Failure(errno);
            // A signal interrupted the wait: go on with what is left of the timeout, not a fresh one.
            if (timeoutMs >= 0)
            {
                long elapsed = (long)Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                remaining = (int)Math.Max(0, timeoutMs - elapsed);
            }
        }
    }

    public int ReserveFd() => Native.Open("/dev/null", Native.O_RDONLY | Native.O_CLOEXEC);

    // close() is never retried on EINTR: on Linux the fd is released either way.
    public SysResult Close(int fd) => Native.Close(fd) == 0 ? SysResult.Success() : SysResult.Failure(Native.Errno);

    private static SysResult FromSyscall(long ret) =>
        ret >= 0 ? SysResult.Success((int)ret) : SysResult.Failure(Native.Errno);
}
