using Lmkd.Policies;

namespace Lmkd.ProcFs;

/// <summary>
/// A scope's memory state, read from files kept open. One instance per thread: the monitor thread
/// reads through one, the reaper thread (what a kill gave back) through another.
/// </summary>
public interface IMemoryReader : IDisposable
{
    /// <summary>The snapshot; throws IOException when the files cannot be read.</summary>
    MemorySnapshot Read();

    /// <summary>
    /// False when the last <see cref="Read"/> could not read /proc/swaps: which swap is zram is then
    /// unknown, and all of it counts as disk swap, at face value.
    /// </summary>
    bool SwapDevicesKnown => true;

    /// <summary>What a snapshot's <see cref="MemorySnapshot.BindingLevel"/> names, for status and logs.</summary>
    string LevelName(int bindingLevel) => "the machine";
}
