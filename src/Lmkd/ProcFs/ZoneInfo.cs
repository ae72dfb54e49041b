using System.Text;
using Lmkd.Policies;

namespace Lmkd.ProcFs;

/// <summary>One zone of /proc/zoneinfo, in pages. A field the zone does not print is 0.</summary>
public readonly record struct ZoneStats
{
    public int Node { get; init; }
    public long Free { get; init; }
    public long Min { get; init; }
    public long Low { get; init; }
    public long High { get; init; }
    public long Present { get; init; }
    public long Managed { get; init; }
    /// <summary>The largest value of the zone's "protection: (...)" list (lowmem_reserve).</summary>
    public long MaxProtection { get; init; }
}

/// <summary>A zone with its name, for callers that want a list (tests, diagnostics).</summary>
public sealed record Zone(string Name, ZoneStats Stats);

/// <summary>
/// /proc/zoneinfo. The watermarks are summed as the kernel reserves them: per zone, min/low/high
/// plus the zone's largest protection (lowmem_reserve), capped at the zone's managed pages, summed
/// over nodes and zones. The protection counts because an allocation from a higher zone cannot dip
/// into a lower zone's reserve; the cap is the kernel's own (a zone cannot reserve more than it has).
/// </summary>
public static class ZoneInfo
{
    public static Enumerator EnumerateZones(ReadOnlySpan<byte> content) => new(content);

    /// <summary>Every zone with its name. Allocates; the hot path uses <see cref="ComputeWatermarks"/>.</summary>
    public static IReadOnlyList<Zone> ParseZones(ReadOnlySpan<byte> content)
    {
        var zones = new List<Zone>();
        var e = EnumerateZones(content);
        while (e.MoveNext())
            zones.Add(new Zone(Encoding.UTF8.GetString(e.CurrentName), e.Current));
        return zones;
    }

    /// <summary>Summed watermarks in kB; all 0 (unknown) when no populated zone was found. Does not allocate.</summary>
    /// <remarks>
    /// Mirrors calculate_totalreserve_pages() in mm/page_alloc.c, which does this for the high mark
    /// (the reserve MemAvailable leaves out): max(lowmem_reserve[]) + the mark, at most
    /// zone_managed_pages(zone). Android lmkd adds the protection uncapped: on x86-64 the DMA zone's
    /// protection against Normal allocations, (DMA32 + Normal) / 256 pages, is many times its 3,840
    /// managed pages on any machine above 4 GiB, which put "min" above where kswapd keeps free memory
    /// on a big host. A zone that reports no managed pages (a fixture without the line) is left uncapped.
    /// </remarks>
    public static Watermarks ComputeWatermarks(ReadOnlySpan<byte> content, long pageSizeBytes)
    {
        long min = 0, low = 0, high = 0;
        var e = EnumerateZones(content);
        while (e.MoveNext())
        {
            var z = e.Current;
            if (z.Present <= 0)
                continue;
            min = AddSaturating(min, Reserved(z, z.Min));
            low = AddSaturating(low, Reserved(z, z.Low));
            high = AddSaturating(high, Reserved(z, z.High));
        }
        return new Watermarks(PagesToKb(min, pageSizeBytes), PagesToKb(low, pageSizeBytes), PagesToKb(high, pageSizeBytes));
    }

    /// <summary>A mark plus the zone's largest protection, capped at its managed pages (calculate_totalreserve_pages()).</summary>
    private static long Reserved(in ZoneStats z, long mark)
    {
        long reserved = AddSaturating(mark, z.MaxProtection);
        return z.Managed > 0 ? Math.Min(reserved, z.Managed) : reserved;
    }

    internal static long PagesToKb(long pages, long pageSizeBytes) =>
        pageSizeBytes % 1024 == 0
            ? ProcParse.MultiplySaturating(pages, pageSizeBytes / 1024)
            : ProcParse.MultiplySaturating(pages, pageSizeBytes) / 1024;

    private static long AddSaturating(long a, long b)
    {
        long r = a + b;
        // Overflow iff both operands have the same sign and the result's sign differs.
        return ((a ^ r) & (b ^ r)) < 0 ? (a < 0 ? long.MinValue : long.MaxValue) : r;
    }

    /// <summary>Walks zones without allocating; a zone runs from its "Node N, zone NAME" line to the next.</summary>
    public ref struct Enumerator
    {
        private ReadOnlySpan<byte> _rest;

        internal Enumerator(ReadOnlySpan<byte> content)
        {
            _rest = content;
            Current = default;
            CurrentName = default;
        }

        public ZoneStats Current { get; private set; }
        public ReadOnlySpan<byte> CurrentName { get; private set; }

        public bool MoveNext()
        {
            int node = -1;
            while (ProcParse.NextLine(ref _rest, out var line))
            {
                if (TryParseHeader(line, out node, out var name))
                {
                    CurrentName = name;
                    break;
                }
            }
            if (node < 0)
                return false;

            long free = 0, min = 0, low = 0, high = 0, present = 0, managed = 0, protection = 0;
            while (true)
            {
                var before = _rest;
                if (!ProcParse.NextLine(ref _rest, out var line))
                    break;
                if (line.StartsWith("Node "u8))
                {
                    _rest = before; // the next zone's header: leave it for the next MoveNext
                    break;
                }
                var s = line;
                var key = ProcParse.NextToken(ref s);
                // Exact tokens: the per-cpu "high:" lines and "high_min:" must not match "high".
                if (key.SequenceEqual("pages"u8))
                {
                    if (ProcParse.NextToken(ref s).SequenceEqual("free"u8))
                        free = ProcParse.ValueOr(s, 0);
                }
                else if (key.SequenceEqual("min"u8)) min = ProcParse.ValueOr(s, 0);
                else if (key.SequenceEqual("low"u8)) low = ProcParse.ValueOr(s, 0);
                else if (key.SequenceEqual("high"u8)) high = ProcParse.ValueOr(s, 0);
                else if (key.SequenceEqual("present"u8)) present = ProcParse.ValueOr(s, 0);
                else if (key.SequenceEqual("managed"u8)) managed = ProcParse.ValueOr(s, 0);
                else if (key.SequenceEqual("protection:"u8)) protection = MaxOfList(s);
            }
            Current = new ZoneStats
            {
                Node = node, Free = free, Min = min, Low = low, High = high,
                Present = present, Managed = managed, MaxProtection = protection,
            };
            return true;
        }

        private static bool TryParseHeader(ReadOnlySpan<byte> line, out int node, out ReadOnlySpan<byte> name)
        {
            node = -1;
            name = default;
            if (!line.StartsWith("Node "u8))
                return false;
            var s = line[5..];
            int comma = s.IndexOf((byte)',');
            if (comma < 0 || !ProcParse.TryParseInt32(s[..comma], out node) || node < 0)
            {
                node = -1;
                return false;
            }
            s = s[(comma + 1)..];
            if (!ProcParse.NextToken(ref s).SequenceEqual("zone"u8))
            {
                node = -1;
                return false;
            }
            name = ProcParse.NextToken(ref s);
            return true;
        }

        /// <summary>"(0, 3019, 3915)" -> 3019... the largest value; tolerant of a truncated list.</summary>
        private static long MaxOfList(ReadOnlySpan<byte> s)
        {
            long max = 0;
            foreach (var range in s.SplitAny((byte)'(', (byte)',', (byte)')'))
            {
                var token = ProcParse.FirstToken(s[range]);
                if (ProcParse.TryParseInt64Saturating(token, out long v) && v > max)
                    max = v;
            }
            return max;
        }
    }
}
