namespace Lmkd.ProcFs;

/// <summary>The /proc/&lt;pid&gt;/stat fields Lmkd uses. Comm points into the parsed buffer.</summary>
public readonly ref struct StatFields
{
    /// <summary>PF_KTHREAD in the flags field (field 9).</summary>
    public const uint PfKthread = 0x00200000;

    public int Pid { get; init; }
    public ReadOnlySpan<byte> Comm { get; init; }
    public char State { get; init; }
    public int Ppid { get; init; }
    public uint Flags { get; init; }
    /// <summary>Field 22, clock ticks since boot.</summary>
    public ulong StartTime { get; init; }

    /// <summary>A kernel thread: PF_KTHREAD, or kthreadd (pid 2) and its children.</summary>
    public bool IsKernelThread => (Flags & PfKthread) != 0 || Pid == 2 || Ppid == 2;

    /// <summary>Zombie or dead: nothing left to kill.</summary>
    public bool IsZombie => State is 'Z' or 'X' or 'x';
}

/// <summary>/proc/&lt;pid&gt;/stat.</summary>
public static class ProcStat
{
    /// <summary>
    /// comm runs from the FIRST '(' to the LAST ')': a process may name itself "a) R 1 (b", and only the last ')'
    /// is the kernel's. False when truncated or malformed.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> s, out StatFields fields)
    {
        fields = default;
        int open = s.IndexOf((byte)'(');
        int close = s.LastIndexOf((byte)')');
        if (open <= 0 || close < open)
            return false;
        if (!ProcParse.TryParseInt32(ProcParse.FirstToken(s[..open]), out int pid) || pid <= 0)
            return false;
        var comm = s[(open + 1)..close];
        var rest = s[(close + 1)..];

        // rest starts at field 3 (state); starttime is field 22, the 20th token here.
        var stateToken = ProcParse.NextToken(ref rest);
        if (stateToken.Length != 1)
            return false;
        int ppid = 0;
        ulong flags = 0, startTime = 0;
        for (int field = 4; field <= 22; field++)
        {
            var token = ProcParse.NextToken(ref rest);
            if (token.IsEmpty)
                return false; // truncated
            switch (field)
            {
                case 4:
                    if (!ProcParse.TryParseInt32(token, out ppid) || ppid < 0)
                        return false;
                    break;
                case 9:
                    if (!ProcParse.TryParseUInt64(token, out flags) || flags > uint.MaxValue)
                        return false;
                    break;
                case 22:
                    if (!ProcParse.TryParseUInt64(token, out startTime))
                        return false;
                    break;
            }
        }
        fields = new StatFields
        {
            Pid = pid, Comm = comm, State = (char)stateToken[0], Ppid = ppid, Flags = (uint)flags, StartTime = startTime,
        };
        return true;
    }
}
