namespace Lmkd.ProcFs;

/// <summary>How cgroups are mounted under the cgroup root.</summary>
public enum CgroupLayout
{
    /// <summary>Neither a v2 tree nor a v1 memory hierarchy was found.</summary>
    None = 0,
    /// <summary>Pure v2 (modern hosts): the root itself is the v2 tree.</summary>
    Unified,
    /// <summary>v1 controllers plus a v2 tree at &lt;root&gt;/unified (this development machine).</summary>
    Hybrid,
    /// <summary>v1 only: no v2 tree, so no memory.pressure.</summary>
    Legacy,
}

/// <summary>Where one cgroup lives. A directory is the computed path; it may not exist yet.</summary>
public sealed record CgroupLocation(CgroupLayout Layout, string? V2Directory, string? V1MemoryDirectory);

public static class CgroupPaths
{
    /// <summary>
    /// Finds the v2 directory (pure v2: &lt;root&gt;/&lt;rel&gt;; hybrid: &lt;root&gt;/unified/&lt;rel&gt;) and the
    /// v1 memory directory (&lt;root&gt;/memory/&lt;rel&gt;) when a v1 memory hierarchy is mounted.
    /// </summary>
    public static CgroupLocation Resolve(string cgroupRoot, string relativePath)
    {
        string rel = relativePath.Trim('/');
        string Under(string dir) => rel.Length == 0 ? dir : Path.Combine(dir, rel);

        // cgroup.controllers exists only at a v2 mount; memory.usage_in_bytes only in a v1 memory hierarchy.
        string unified = Path.Combine(cgroupRoot, "unified");
        string v1Memory = Path.Combine(cgroupRoot, "memory");
        bool rootIsV2 = File.Exists(Path.Combine(cgroupRoot, "cgroup.controllers"));
        bool hasUnified = !rootIsV2 && File.Exists(Path.Combine(unified, "cgroup.controllers"));
        bool hasV1Memory = !rootIsV2 && File.Exists(Path.Combine(v1Memory, "memory.usage_in_bytes"));

        if (rootIsV2)
            return new CgroupLocation(CgroupLayout.Unified, Under(cgroupRoot), null);
        if (hasUnified)
            return new CgroupLocation(CgroupLayout.Hybrid, Under(unified), hasV1Memory ? Under(v1Memory) : null);
        if (hasV1Memory)
            return new CgroupLocation(CgroupLayout.Legacy, null, Under(v1Memory));
        return new CgroupLocation(CgroupLayout.None, null, null);
    }
}
