namespace Lmkd.Linux;

/// <summary>
/// The capabilities a thread passes on to the programs it starts. Under the unit, Lmkd holds its
/// capabilities as ambient ones, which execve hands to every child of a non-root process; .NET's
/// Process runs no code between fork and exec, but the child is forked from the calling thread and
/// copies that thread's credentials. So a thread that empties its own ambient and inheritable sets
/// starts programs that get no capability from Lmkd, while Lmkd's other threads keep theirs.
/// </summary>
public static unsafe class ThreadCapabilities
{
    /// <summary>
    /// Empties the calling thread's ambient and inheritable sets (its permitted and effective sets
    /// stay). Returns null on success, else which call failed and its errno.
    /// </summary>
    public static string? ClearForChildren()
    {
        if (Native.Prctl(Native.PR_CAP_AMBIENT, Native.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0)
            return "prctl(PR_CAP_AMBIENT_CLEAR_ALL): " + Failure();
        var header = new Native.CapHeader { Version = Native.LINUX_CAPABILITY_VERSION_3 };
        var data = stackalloc Native.CapData[2];
        if (Native.CapGet(&header, data) != 0)
            return "capget: " + Failure();
        if (data[0].Inheritable == 0 && data[1].Inheritable == 0)
            return null;
        data[0].Inheritable = 0;
        data[1].Inheritable = 0;
        // Lowering a set never needs a privilege; only a seccomp filter that denies capset refuses it.
        if (Native.CapSet(&header, data) != 0)
            return "capset: " + Failure();
        return null;
    }

    private static string Failure() => System.Runtime.InteropServices.Marshal.GetPInvokeErrorMessage(Native.Errno);
}
