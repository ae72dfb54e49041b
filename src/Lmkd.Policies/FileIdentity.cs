namespace Lmkd.Policies;

/// <summary>
/// Which file a path named, whatever the path: its device, inode number and birth time. Lmkd reads a process's from
/// the kernel (through /proc/&lt;pid&gt;/exe, the file itself in any mount namespace), so a process cannot choose it,
/// and a running binary keeps it after a package upgrade unlinks its path. The birth time tells a reused inode
/// number apart from the file that held it before; it is 0 where the file system does not record one, and then
/// (device, inode) alone identify the file.
/// </summary>
public readonly record struct FileIdentity(ulong Device, ulong Inode, long BirthTimeNs);
