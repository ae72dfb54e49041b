#!/usr/bin/env python3
"""Writes zoneinfo fixtures for big x86-64 hosts, computed as Linux 6.1 computes them at boot.

No such host is at hand, so the figures come from the kernel's own arithmetic (mm/page_alloc.c):
  calculate_min_free_kbytes(): min_free_kbytes = int_sqrt(lowmem_kbytes * 16), within [128, 262144]
  __setup_per_zone_wmarks():    min = pages_min * managed / lowmem_pages;
                                step = max(min / 4, managed * watermark_scale_factor / 10000);
                                low = min + step, high = min + 2 * step
  setup_per_zone_lowmem_reserve(): lowmem_reserve[j] of zone i = managed pages of zones i+1..j
                                / sysctl_lowmem_reserve_ratio[i] (256, 256, 32 for DMA, DMA32, Normal)
The zone layout is x86-64's: DMA below 16 MiB (3,840 managed pages), DMA32 up to the 3 GiB PCI
hole, Normal above 4 GiB; managed pages ~1.6 % under present (the memmap). Run it to rewrite them:
  python3 make.py
"""
import math, os

PAGE_KB = 4
RATIO = [256, 256, 32, 0]          # sysctl_lowmem_reserve_ratio: DMA, DMA32, Normal, Movable
SCALE = 10                          # vm.watermark_scale_factor

def host(nodes_gib):
    """nodes_gib: RAM per node in GiB; node 0 holds DMA and DMA32."""
    nodes = []
    for n, gib in enumerate(nodes_gib):
        pages = gib * 1024 * 1024 // PAGE_KB
        if n == 0:
            dma, dma32 = 3998, 782336 - 4096
            normal = pages - dma - dma32 - 4096
            zones = [("DMA", dma, 3840), ("DMA32", dma32, dma32 * 984 // 1000), ("Normal", normal, normal * 984 // 1000), ("Movable", 0, 0)]
        else:
            zones = [("DMA", 0, 0), ("DMA32", 0, 0), ("Normal", pages, pages * 984 // 1000), ("Movable", 0, 0)]
        nodes.append(zones)
    lowmem_pages = sum(m for zones in nodes for name, p, m in zones if name != "Movable")
    min_free_kb = min(max(math.isqrt(lowmem_pages * PAGE_KB * 16), 128), 262144)
    pages_min = min_free_kb // PAGE_KB
    out = []
    for n, zones in enumerate(nodes):
        for i, (name, present, managed) in enumerate(zones):
            wmin = pages_min * managed // lowmem_pages if lowmem_pages else 0
            step = max(wmin // 4, managed * SCALE // 10000)
            low, high = wmin + step, wmin + 2 * step
            prot, upper = [0] * 4, 0
            for j in range(i + 1, 4):
                upper += zones[j][2]
                prot[j] = 0 if RATIO[i] == 0 or managed == 0 else upper // RATIO[i]
            free = managed // 3 if managed else 0
            out.append(f"""Node {n}, zone {name:>8}
  pages free     {free}
        boost    0
        min      {wmin}
        low      {low}
        high     {high}
        promo    {wmin + 3 * step}
        spanned  {present}
        present  {present}
        managed  {managed}
        cma      0
        protection: ({', '.join(map(str, prot))})
      nr_free_pages {free}
  pagesets
    cpu: 0
              count:    10
              high:     9999
              high_min: 8888
              batch:    63
  node_unreclaimable:  0
  start_pfn:           1
""")
    return min_free_kb, "".join(out)

here = os.path.dirname(os.path.abspath(__file__))
for name, layout in [("64g", [64]), ("512g-2node", [256, 256])]:
    min_free_kb, text = host(layout)
    header = (f"# Computed, not captured: an x86-64 host with {' + '.join(f'{g} GiB' for g in layout)} (node 0, node 1, ...),\n"
              f"# Linux 6.1's boot-time arithmetic (make.py beside this file); min_free_kbytes {min_free_kb}.\n")
    with open(os.path.join(here, f"zoneinfo-{name}"), "w") as f:
        f.write(header + text)
