namespace Lmkd.Linux;

/// <summary>errno values as operators read them in logs and metric labels.</summary>
public static class Errno
{
    /// <summary>Symbolic errno for logs and metric labels; "OK" for 0 and "NONE" for not attempted.</summary>
    public static string Name(int errno) => errno switch
    {
        0 => "OK",
        -1 => "NONE", // a step not attempted (KillResult.NotAttempted)
        Native.EPERM => "EPERM",
        Native.ENOENT => "ENOENT",
        Native.ESRCH => "ESRCH",
        Native.EINTR => "EINTR",
        Native.EBADF => "EBADF",
        Native.EAGAIN => "EAGAIN",
        Native.ENOMEM => "ENOMEM",
        Native.EACCES => "EACCES",
        Native.EFAULT => "EFAULT",
        Native.EBUSY => "EBUSY",
        Native.ENODEV => "ENODEV",
        Native.EINVAL => "EINVAL",
        Native.EMFILE => "EMFILE",
        Native.ENOSYS => "ENOSYS",
        Native.EOPNOTSUPP => "EOPNOTSUPP",
        _ => "E" + errno.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}
