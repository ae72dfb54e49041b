using Lmkd.Policies;
using Lmkd.ProcFs;

namespace Lmkd.Tests.ProcFs;

public class MemoryReaderFixtureTests
{
    /// <summary>An independent, naive reading of a "Key: value" file to check the span parser against.</summary>
    private static long Field(string file, string key)
    {
        foreach (var line in File.ReadAllLines(Fixtures.Path(file)))
        {
            var parts = line.Split([':', ' '], 2);
            if (parts[0] == key)
                return long.Parse(parts[1].Trim().Split(' ')[0]);
        }
        throw new KeyNotFoundException(key);
    }

    [Fact]
    public void MemInfo_matches_a_naive_reading_of_a_real_capture()
    {
        var m = MemInfo.Parse(Fixtures.Bytes("system/meminfo"));
        Assert.Equal(Field("system/meminfo", "MemTotal"), m.MemTotalKb);
        Assert.Equal(Field("system/meminfo", "MemFree"), m.MemFreeKb);
        Assert.Equal(Field("system/meminfo", "MemAvailable"), m.MemAvailableKb);
        Assert.Equal(2048, m.CmaFreeKb);
        Assert.Equal(Field("system/meminfo", "SwapTotal"), m.SwapTotalKb);
        Assert.Equal(Field("system/meminfo", "Active(anon)"), m.ActiveAnonKb);
        Assert.Equal(Field("system/meminfo", "Inactive(anon)"), m.InactiveAnonKb);
        Assert.Equal(Field("system/meminfo", "Active(file)"), m.ActiveFileKb);
        Assert.Equal(Field("system/meminfo", "Inactive(file)"), m.InactiveFileKb);
        Assert.Equal(Field("system/meminfo", "Shmem"), m.ShmemKb);
        // Cached, not SwapCached; AnonPages, not Active(anon).
        Assert.Equal(365164, m.CachedKb);
        Assert.Equal(160824, m.AnonPagesKb);
    }

    [Fact]
    public void MemInfo_truncated_huge_and_empty()
    {
        var t = MemInfo.Parse(Fixtures.Bytes("meminfo-truncated"));
        Assert.Equal(24684092, t.MemTotalKb);
        Assert.Equal(2429, t.MemFreeKb);
        Assert.Equal(0, t.MemAvailableKb);

        var h = MemInfo.Parse(Fixtures.Bytes("meminfo-huge"));
        Assert.Equal(long.MaxValue, h.MemTotalKb);
        Assert.Equal(long.MaxValue, h.MemFreeKb);
        Assert.Equal(0, h.MemAvailableKb);
        Assert.Equal(0, h.SwapTotalKb);

        Assert.False(MemInfo.Parse(""u8).IsValid);
    }

    [Fact]
    public void VmStat_prefers_workingset_refault_file()
    {
        var v = VmStat.Parse(Fixtures.Bytes("system/vmstat"));
        Assert.Equal(Field("system/vmstat", "workingset_refault_file"), v.WorkingsetRefaultFile);
        Assert.Equal(Field("system/vmstat", "pgscan_kswapd"), v.PgscanKswapd);
        Assert.Equal(Field("system/vmstat", "pgscan_direct"), v.PgscanDirect);
        Assert.Equal(Field("system/vmstat", "nr_free_pages"), v.NrFreePages);
        Assert.Equal(Field("system/vmstat", "workingset_activate_file"), v.WorkingsetActivateFile);
        Assert.Equal(Field("system/vmstat", "pgsteal_kswapd"), v.PgstealKswapd);
        Assert.Equal(Field("system/vmstat", "pgsteal_direct"), v.PgstealDirect);
        Assert.Equal(Field("system/vmstat", "nr_active_file"), v.NrActiveFile);
        Assert.Equal(Field("system/vmstat", "nr_inactive_file"), v.NrInactiveFile);
    }

    [Fact]
    public void VmStat_before_5_9_falls_back_to_workingset_refault()
    {
        var v = VmStat.Parse(Fixtures.Bytes("vmstat-pre59"));
        Assert.Equal(4242, v.WorkingsetRefaultFile);
        Assert.Equal(7, v.WorkingsetActivateFile);
        Assert.Equal(-1, v.PgstealKswapd);
        Assert.Equal(11, v.PgscanKswapd);
        Assert.Equal(12, v.PgscanDirect);
        Assert.Equal(1000, v.NrFreePages);
        var empty = VmStat.Parse(""u8);
        Assert.Equal(-1, empty.PgscanKswapd);
        Assert.Equal(-1, empty.WorkingsetRefaultFile);
    }

    [Fact]
    public void ZoneInfo_multinode_zones()
    {
        var zones = ZoneInfo.ParseZones(Fixtures.Bytes("zoneinfo-multinode"));
        Assert.Equal(["DMA", "DMA32", "Normal", "Movable", "Normal", "Movable"], zones.Select(z => z.Name));
        Assert.Equal([0, 0, 0, 0, 1, 1], zones.Select(z => z.Stats.Node));
        var dma = zones[0].Stats;
        Assert.Equal(3840, dma.Free);  // "pages free", not the per-node nr_free_pages
        Assert.Equal(30, dma.High);     // not the per-cpu "high:" line
        Assert.Equal(200, dma.MaxProtection);
        Assert.Equal(3998, dma.Present);
        Assert.Equal(3840, dma.Managed);
    }

    [Fact]
    public void ZoneInfo_watermarks_sum_populated_zones_plus_their_max_protection()
    {
        // min: (10+200) + (1000+50) + 2000 + 4000 = 7260 pages; the empty Movable zones (one with
        // a huge protection) do not count. 4 KiB pages.
        var w = ZoneInfo.ComputeWatermarks(Fixtures.Bytes("zoneinfo-multinode"), 4096);
        Assert.Equal(new Watermarks(7260 * 4, 9020 * 4, 10780 * 4), w);
        var w64k = ZoneInfo.ComputeWatermarks(Fixtures.Bytes("zoneinfo-multinode"), 65536);
        Assert.Equal(7260 * 64, w64k.MinKb);
    }

    /// <summary>
    /// The kernel caps each zone's reserve at its managed pages (calculate_totalreserve_pages()). On
    /// x86-64 the DMA zone's protection against Normal allocations is far above its 3,840 pages on
    /// any host above 4 GiB; uncapped it put "min" above where kswapd keeps free memory.
    /// </summary>
    [Theory]
    // Captured here: DMA's min 34 + protection 7,242 capped at 3,840 managed.
    [InlineData("zoneinfo-big/zoneinfo-24g-captured", 24924, 29138, 33352, 28360)]
    // Computed with 6.1's boot arithmetic (make.py): DMA 1 + 64,456 capped at 3,840; DMA32 376 + 61,464.
    [InlineData("zoneinfo-big/zoneinfo-64g", 73426, 89926, 106426, 134043)]
    // Two nodes: node 1 has Normal only; node 0's DMA32 reserves 1/256 of its Normal.
    [InlineData("zoneinfo-big/zoneinfo-512g-2node", 281749, 413810, 545871, 535827)]
    public void ZoneInfo_watermarks_cap_each_zone_s_reserve_at_its_managed_pages_as_the_kernel_does(string fixture, long min, long low, long high, long uncappedMin)
    {
        var w = ZoneInfo.ComputeWatermarks(Fixtures.Bytes(fixture), 4096);
        Assert.Equal(new Watermarks(min * 4, low * 4, high * 4), w);
        Assert.True(min < uncappedMin, "the fixture does not exercise the cap");
    }

    [Fact]
    public void ZoneInfo_truncated_and_empty()
    {
        var zones = ZoneInfo.ParseZones(Fixtures.Bytes("zoneinfo-truncated"));
        Assert.Equal(2, zones.Count);
        Assert.Equal(7, zones[1].Stats.MaxProtection);
        Assert.Equal(0, zones[1].Stats.Present);
        Assert.Equal(new Watermarks(15 * 4, 25 * 4, 35 * 4), ZoneInfo.ComputeWatermarks(Fixtures.Bytes("zoneinfo-truncated"), 4096));
        Assert.False(ZoneInfo.ComputeWatermarks(""u8, 4096).IsKnown);
        Assert.False(ZoneInfo.ComputeWatermarks("Node x, zone DMA\n  present 5\n"u8, 4096).IsKnown);
    }

    [Fact]
    public void ZoneInfo_real_capture_is_known()
    {
        var w = ZoneInfo.ComputeWatermarks(Fixtures.Bytes("system/zoneinfo"), 4096);
        Assert.True(w.IsKnown);
        Assert.True(w.MinKb < w.LowKb && w.LowKb < w.HighKb);
    }

    [Fact]
    public void SystemMemoryReader_maps_the_files_and_rereads_zoneinfo_at_most_once_a_minute()
    {
        using var dir = TempDir.CopyOf("system");
        long now = 1_000;
        using var reader = new SystemMemoryReader(dir.Root, () => now, 4096);
        var s = reader.Read();
        var mem = MemInfo.Parse(Fixtures.Bytes("system/meminfo"));
        var vm = VmStat.Parse(Fixtures.Bytes("system/vmstat"));
        Assert.Equal(mem.MemTotalKb, s.TotalKb);
        Assert.Equal(mem.MemFreeKb - 2048, s.FreeKb);
        Assert.Equal(mem.MemAvailableKb, s.AvailableKb);
        Assert.Equal(mem.ActiveAnonKb + mem.InactiveAnonKb, s.AnonKb);
        Assert.Equal(mem.ActiveFileKb + mem.InactiveFileKb, s.FileLruKb);
        Assert.Equal(mem.ShmemKb, s.ShmemKb);
        Assert.Equal(vm.WorkingsetRefaultFile * 4, s.RefaultFileKb);
        Assert.Equal(vm.WorkingsetActivateFile * 4, s.ActivateFileKb);
        Assert.Equal(mem.MemAvailableKb, s.HeadroomKb);
        Assert.Equal(vm.PgscanKswapd, s.PgscanKswapd);
        Assert.Equal(vm.PgscanKswapd + vm.PgscanDirect, s.PgscanTotal);
        Assert.Equal(vm.PgstealKswapd + vm.PgstealDirect, s.PgstealTotal);
        Assert.Equal(0, s.ZramTotalKb); // no swap in this capture
        Assert.Equal(ZoneInfo.ComputeWatermarks(Fixtures.Bytes("system/zoneinfo"), 4096), s.Watermarks);

        // The files stay open: rewriting them in place is seen on the next read, except zoneinfo until 60 s pass.
        File.WriteAllText(dir.PathOf("meminfo"), "MemTotal: 100 kB\nMemFree: 40 kB\n");
        File.WriteAllBytes(dir.PathOf("zoneinfo"), Fixtures.Bytes("zoneinfo-multinode"));
        now += 59_999;
        s = reader.Read();
        Assert.Equal(100, s.TotalKb);
        Assert.Equal(40, s.FreeKb);
        Assert.NotEqual(7260 * 4, s.Watermarks.MinKb);
        now += 1;
        Assert.Equal(7260 * 4, reader.Read().Watermarks.MinKb);
    }

    [Fact]
    public void Swaps_lists_every_device_and_skips_the_header_and_bad_lines()
    {
        var seen = new List<(string, long, long)>();
        SwapsParser.Parse(Fixtures.Bytes("zram/proc/swaps"), (name, size, used) => seen.Add((System.Text.Encoding.UTF8.GetString(name), size, used)));
        Assert.Equal([("/dev/zram0", 131068L, 65536L), ("/var/swap\\040file", 1048572L, 0L), ("/dev/zram1", 65532L, 0L)], seen);
        seen.Clear();
        SwapsParser.Parse("Filename Type Size Used Priority\n/dev/sda2 partition x 0 -2\n/dev/sda3\n\n"u8, (n, s, u) => seen.Add(("", s, u)));
        Assert.Empty(seen);
    }

    [Fact]
    public void Zram_share_and_compression_from_swaps_and_mm_stat()
    {
        using var zram = new ZramReader(Fixtures.Path("zram/proc"), Fixtures.Path("zram/block"));
        var z = zram.Read();
        Assert.Equal(131068 + 65532, z.TotalKb);       // the file swap is not zram
        Assert.Equal(131068 + 65532 - 65536, z.FreeKb);
        Assert.Equal((262144L, 65536L), (z.StoredKb, z.MemUsedKb));
        Assert.Equal(4.0, z.Ratio, 3);                  // 256 MiB stored in 64 MiB; the empty zram1 adds nothing
        Assert.True(ZramMmStat.TryParse("1000 500 800 0 800 0 0 0\n"u8, out long orig, out long used));
        Assert.Equal((1000, 800), (orig, used));
        Assert.False(ZramMmStat.TryParse("garbage"u8, out _, out _));

        using var none = new ZramReader(Fixtures.Path("system"), Fixtures.Path("zram/block"));
        Assert.Equal(default, none.Read()); // no swaps file in that fixture: no zram, and said so
        Assert.False(none.SwapsReadable);
    }

    [Fact]
    public void Zram_devices_that_come_go_and_reset_are_read_as_they_are_now()
    {
        using var dir = TempDir.CopyOf("zram");
        using var zram = new ZramReader(dir.PathOf("proc"), dir.PathOf("block"));
        Assert.Equal(262144, zram.Read().StoredKb);

        // zram0's mm_stat unreadable (a device reset or removed under Lmkd reads empty or fails):
        // still listed in swaps, what it stores unknown, so the default ratio applies.
        File.WriteAllText(dir.PathOf("block/zram0/mm_stat"), "");
        var reset = zram.Read();
        Assert.True(zram.SwapsReadable);
        Assert.Equal((131068L + 65532, 0L), (reset.TotalKb, reset.StoredKb));

        // It comes back, holding something else: read afresh, not from the file that went away.
        File.WriteAllText(dir.PathOf("block/zram0/mm_stat"), "104857600 30000000 33554432 0 33554432 0 0 0 0\n");
        Assert.Equal((102400L, 32768L), (zram.Read().StoredKb, zram.Read().MemUsedKb));

        // swapoff of every zram device, swapon of a file: swap is the file's alone.
        File.WriteAllText(dir.PathOf("proc/swaps"), "Filename Type Size Used Priority\n/swapfile file 1048572 0 -2\n");
        Assert.Equal(default, zram.Read());
        Assert.True(zram.SwapsReadable);

        // An unreadable /proc/swaps: no zram figure, and the reader says it could not read.
        File.WriteAllText(dir.PathOf("proc/swaps"), "");
        File.Delete(dir.PathOf("proc/swaps"));
        Directory.CreateDirectory(dir.PathOf("proc/swaps"));
        using var broken = new ZramReader(dir.PathOf("proc"), dir.PathOf("block"));
        Assert.Equal(default, broken.Read());
        Assert.False(broken.SwapsReadable);
    }

    [Fact]
    public void SystemMemoryReader_missing_files_throw_at_construction()
    {
        using var dir = new TempDir();
        Assert.Throws<IOException>(() => new SystemMemoryReader(dir.Root));
    }

    [Fact]
    public void CgroupPaths_recognises_the_layouts()
    {
        var v2 = CgroupPaths.Resolve(Fixtures.Path("cgroup-v2"), "/test.slice");
        Assert.Equal(CgroupLayout.Unified, v2.Layout);
        Assert.Equal(Fixtures.Path("cgroup-v2/test.slice"), v2.V2Directory);
        Assert.Null(v2.V1MemoryDirectory);

        var hybrid = CgroupPaths.Resolve(Fixtures.Path("cgroup-hybrid"), "test/");
        Assert.Equal(CgroupLayout.Hybrid, hybrid.Layout);
        Assert.Equal(Fixtures.Path("cgroup-hybrid/unified/test"), hybrid.V2Directory);
        Assert.Equal(Fixtures.Path("cgroup-hybrid/memory/test"), hybrid.V1MemoryDirectory);

        Assert.Equal(Fixtures.Path("cgroup-hybrid/memory"), CgroupPaths.Resolve(Fixtures.Path("cgroup-hybrid"), "/").V1MemoryDirectory);

        using var legacy = new TempDir();
        Directory.CreateDirectory(legacy.PathOf("memory"));
        File.WriteAllText(legacy.PathOf("memory/memory.usage_in_bytes"), "0\n");
        Assert.Equal(CgroupLayout.Legacy, CgroupPaths.Resolve(legacy.Root, "x").Layout);

        using var none = new TempDir();
        Assert.Equal(new CgroupLocation(CgroupLayout.None, null, null), CgroupPaths.Resolve(none.Root, "x"));
    }

    [Fact]
    public void CgroupMemoryReader_v2()
    {
        using var reader = new CgroupMemoryReader(Fixtures.Path("cgroup-v2/test.slice"), procRoot: Fixtures.Path("system-swap"), pageSizeBytes: 4096);
        Assert.False(reader.IsV1);
        var s = reader.Read();
        Assert.Equal(262144, s.TotalKb);
        // limit - usage + the reclaimable file cache as MemAvailable counts it: 36,864 kB of file LRU,
        // less the low watermark (2 % of the limit, below half of it), less 1,024 kB dirty.
        Assert.Equal((159744L * 1024 + 36864L * 1024 - (268435456L * 2 / 100) - 1048576) / 1024, s.HeadroomKb);
        Assert.Equal(s.HeadroomKb, s.FreeKb);
        Assert.Equal(159744 + 36864, s.AvailableKb);
        Assert.Equal(1000 * 4, s.ActivateFileKb);
        Assert.Equal(102400 - 36864, s.CommittedKb);
        Assert.Equal(500, s.PgscanTotal);
        Assert.Equal(400, s.PgstealTotal);
        Assert.Equal(51200, s.AnonKb);
        Assert.Equal(4096, s.ShmemKb);
        Assert.Equal(36864, s.FileLruKb);
        Assert.Equal(1234 * 4, s.RefaultFileKb);
        Assert.Equal(300, s.PgscanKswapd);
        Assert.Equal(200, s.PgscanDirect);
        Assert.Equal(2097152, s.SwapTotalKb);       // swap.max "max": the machine's swap
        Assert.Equal(1000000, s.SwapFreeKb);        // 1 MiB used of its own, but the machine has only 1,000,000 kB free
        Assert.Equal(new Watermarks(2621, 5242, 10485), s.Watermarks);
        Assert.Equal(2, reader.ReadOomKills());
    }

    [Fact]
    public void CgroupMemoryReader_v2_unlimited_uses_the_machine_and_legacy_refault()
    {
        using var reader = new CgroupMemoryReader(Fixtures.Path("cgroup-v2/unlimited.slice"), null, 1, 2, 4, Fixtures.Path("system"), 4096);
        var s = reader.Read();
        var machine = MemInfo.Parse(Fixtures.Bytes("system/meminfo"));
        Assert.Equal(machine.MemTotalKb, s.TotalKb);
        // Nothing limits the scope but the machine: its headroom is MemAvailable.
        Assert.Equal(machine.MemAvailableKb, s.HeadroomKb);
        Assert.Equal(s.HeadroomKb, s.FreeKb);
        Assert.Equal(36, s.RefaultFileKb);
        Assert.Equal(-1, s.ActivateFileKb);
        Assert.Equal(-1, s.PgscanKswapd);
        Assert.Equal(0, s.SwapTotalKb);
        Assert.Equal(-1, reader.ReadOomKills());
    }

    [Fact]
    public void CgroupMemoryReader_v1()
    {
        var location = CgroupPaths.Resolve(Fixtures.Path("cgroup-hybrid"), "test");
        using var reader = CgroupMemoryReader.Open(location, 1, 2, 4, Fixtures.Path("system"));
        Assert.True(reader.IsV1);
        var s = reader.Read();
        const string stat = "cgroup-hybrid/memory/test/memory.stat";
        Assert.Equal(262144, s.TotalKb);
        // limit - usage + the reclaimable file cache (more than the limit leaves in this capture: capped at the limit).
        long file = Field(stat, "total_active_file") + Field(stat, "total_inactive_file");
        long reclaimable = file - Math.Min(file / 2, 268435456L * 2 / 100) - Field(stat, "total_dirty");
        Assert.Equal(Math.Min(262144, (57344L * 1024 + reclaimable) / 1024), s.HeadroomKb);
        Assert.Equal(s.HeadroomKb, s.FreeKb);
        Assert.Equal(-1, s.ActivateFileKb);     // v1 reports no activations
        Assert.Equal(-1, s.PgscanTotal);
        Assert.Equal((Field(stat, "total_active_anon") + Field(stat, "total_inactive_anon")) / 1024, s.AnonKb);
        Assert.Equal(Field(stat, "total_shmem") / 1024, s.ShmemKb);
        Assert.Equal((Field(stat, "total_active_file") + Field(stat, "total_inactive_file")) / 1024, s.FileLruKb);
        Assert.Equal(Field(stat, "total_workingset_refault_file") * Environment.SystemPageSize / 1024, s.RefaultFileKb);
        Assert.Equal(-1, s.PgscanKswapd);
        Assert.Equal(42, s.PgscanDirect);      // memory.failcnt stands in for direct reclaim
        Assert.Equal(5, reader.ReadOomKills());
    }

    [Fact]
    public void CgroupMemoryReader_headroom_is_the_smallest_over_the_cgroup_and_its_limited_ancestors()
    {
        // child.scope: memory.max "max", memory.high 144 MiB, 90 MiB used, 4 MiB of file cache of which
        // half counts (the low watermark, 2.9 MiB, is more): 56 MiB of headroom.
        // parent.slice: memory.max 200 MiB, 180 MiB used (the child's siblings too), 10 MiB of file
        // cache less the 4 MiB low watermark: 26 MiB.
        string child = Fixtures.Path("cgroup-v2/parent.slice/child.scope");
        var ancestors = Lmkd.Daemon.Scope.Ancestors(child, "/parent.slice/child.scope");
        Assert.Equal([Fixtures.Path("cgroup-v2/parent.slice")], ancestors);
        using var reader = new CgroupMemoryReader(child, procRoot: Fixtures.Path("system"), pageSizeBytes: 4096, ancestors: ancestors);
        var s = reader.Read();
        Assert.Equal(26 * 1024, s.HeadroomKb);
        Assert.Equal(170 * 1024, s.CommittedKb); // the parent decides: 180 MiB used, 10 MiB of it file
        Assert.Equal(200 * 1024, s.TotalKb);     // memory.high (144 MiB on the child) throttles; it is no limit
        Assert.Equal(1, s.BindingLevel);
        Assert.Equal(Fixtures.Path("cgroup-v2/parent.slice"), reader.LevelName(s.BindingLevel));
        Assert.Equal(8, s.ActivateFileKb);
        Assert.Equal(100, s.PgscanTotal);

        // Without the ancestor nothing limits the child (memory.max "max"): the machine binds.
        using var alone = new CgroupMemoryReader(child, procRoot: Fixtures.Path("system"), pageSizeBytes: 4096);
        var a = alone.Read();
        Assert.Equal(MemInfo.Parse(Fixtures.Bytes("system/meminfo")).MemAvailableKb, a.HeadroomKb);
        Assert.Equal((-1, "the machine"), (a.BindingLevel, alone.LevelName(a.BindingLevel)));
    }

    [Fact]
    public void CgroupMemoryReader_the_machine_binds_when_limits_add_up_to_more_than_it_has_and_swap_is_read_now()
    {
        // test.slice: memory.max 256 MiB, 100 MiB used. The machine: 1 GiB, 700,000 kB available.
        using var dir = TempDir.CopyOf("cgroup-v2");
        Directory.CreateDirectory(dir.PathOf("proc"));
        void Machine(long availableKb, long swapTotalKb, long swapFreeKb) => File.WriteAllText(dir.PathOf("proc/meminfo"),
            $"MemTotal: 1048576 kB\nMemFree: 100000 kB\nMemAvailable: {availableKb} kB\nSwapTotal: {swapTotalKb} kB\nSwapFree: {swapFreeKb} kB\n");
        Machine(700_000, 2_097_152, 1_000_000);
        using var reader = new CgroupMemoryReader(dir.PathOf("test.slice"), procRoot: dir.PathOf("proc"), pageSizeBytes: 4096);
        var own = reader.Read();
        Assert.Equal(0, own.BindingLevel);
        Assert.Equal(262144, own.TotalKb);
        // The cgroup may use all its swap.max ("max"), less what it uses, but not more than the machine has free now.
        Assert.Equal((2_097_152L, 1_000_000L), (own.SwapTotalKb, own.SwapFreeKb));

        // Other tenants leave the machine 100 MiB: less than the cgroup's own room, so the machine binds.
        Machine(102_400, 2_097_152, 1_000_000);
        var tight = reader.Read();
        Assert.Equal((-1, 102_400L, 1048576L), (tight.BindingLevel, tight.HeadroomKb, tight.TotalKb));
        Assert.Equal(1048576 - 102_400, tight.CommittedKb);

        // swapoff -a after start: no swap, at once (it was read once at start before).
        Machine(700_000, 0, 0);
        Assert.Equal((0L, 0L), (reader.Read().SwapTotalKb, reader.Read().SwapFreeKb));

        // A cgroup without swap accounting files uses the machine's swap, not none.
        File.Delete(dir.PathOf("test.slice/memory.swap.max"));
        File.Delete(dir.PathOf("test.slice/memory.swap.current"));
        Machine(700_000, 524_288, 400_000);
        using var noAccounting = new CgroupMemoryReader(dir.PathOf("test.slice"), procRoot: dir.PathOf("proc"), pageSizeBytes: 4096);
        Assert.Equal((524_288L, 400_000L), (noAccounting.Read().SwapTotalKb, noAccounting.Read().SwapFreeKb));
    }

    [Theory]
    [InlineData("/a", new string[0])]
    [InlineData("/a/b/c", new[] { "/r/a/b", "/r/a" })]
    public void Scope_ancestors_stop_below_the_hierarchy_root(string rel, string[] expected) =>
        Assert.Equal(expected, Lmkd.Daemon.Scope.Ancestors("/r" + rel, rel));

    [Fact]
    public void CgroupMemoryReader_v1_near_2_pow_63_limit_is_the_machine()
    {
        using var reader = new CgroupMemoryReader(null, Fixtures.Path("cgroup-hybrid/memory/unlimited"), procRoot: Fixtures.Path("system"));
        var s = reader.Read();
        Assert.Equal(MemInfo.Parse(Fixtures.Bytes("system/meminfo")).MemTotalKb, s.TotalKb);
        Assert.Equal(8, s.AnonKb); // total_rss when the anon LRU figures are absent
        Assert.Equal(-1, reader.ReadOomKills());
    }

    [Fact]
    public void CgroupMemoryReader_reports_a_removed_cgroup()
    {
        using var dir = TempDir.CopyOf("cgroup-v2/test.slice");
        using var reader = new CgroupMemoryReader(dir.Root, procRoot: Fixtures.Path("system"));
        Assert.True(reader.TryRead(out _));
        File.WriteAllText(dir.PathOf("memory.current"), "garbage\n");
        Assert.False(reader.TryRead(out _));
        Assert.Throws<IOException>(() => reader.Read());
        Assert.Throws<ArgumentOutOfRangeException>(() => new CgroupMemoryReader(dir.Root, null, 5, 2, 4, Fixtures.Path("system")));
        Assert.Throws<ArgumentException>(() => new CgroupMemoryReader(null, null, procRoot: Fixtures.Path("system")));
    }

    [Fact]
    public void ProcFileReader_missing_grow_and_reread()
    {
        using var dir = new TempDir();
        var reader = new ProcFileReader(64);
        Assert.Equal(ProcReadStatus.Missing, reader.Read(dir.PathOf("absent"), out var none));
        Assert.True(none.IsEmpty);
        Assert.Equal(2, reader.LastErrno);

        var big = new string('x', 10_000) + "\nkey 7\n";
        File.WriteAllText(dir.PathOf("big"), big);
        Assert.Equal(ProcReadStatus.Ok, reader.Read(dir.PathOf("big"), out var content));
        Assert.Equal(big.Length, content.Length);
        Assert.True(ProcParse.TryFindValue(content, "key"u8, out long v));
        Assert.Equal(7, v);
        Assert.True(reader.Capacity >= big.Length + 1);

        File.WriteAllText(dir.PathOf("empty"), "");
        Assert.Equal(ProcReadStatus.Ok, reader.Read(dir.PathOf("empty"), out content));
        Assert.True(content.IsEmpty);

        Assert.Equal(ProcReadStatus.Failed, reader.Read(dir.Root, out _)); // EISDIR
        Assert.Null(ProcFile.TryOpen(dir.PathOf("absent"), out int errno));
        Assert.Equal(2, errno);

        using var file = ProcFile.Open(dir.PathOf("big"), 16);
        Assert.Equal(big.Length, file.ReadOrThrow().Length);
        File.WriteAllText(dir.PathOf("big"), "key 8\n");
        Assert.True(ProcParse.TryFindValue(file.ReadOrThrow(), "key"u8, out v));
        Assert.Equal(8, v);
        file.Dispose();
        Assert.Throws<ObjectDisposedException>(() => file.Read(out _));
    }
}
