using System.Runtime.InteropServices;

namespace Lmkd.Linux;

/// <summary>kill(2), for signalling a whole process group (a negative pid): the post-kill hook's at its timeout.</summary>
internal static partial class Native
{
    [LibraryImport(Libc, EntryPoint = "kill", SetLastError = true)]
    public static partial int Kill(int pid, int signal);
}
