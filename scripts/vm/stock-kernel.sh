#!/usr/bin/env bash
# Debian's stock 6.1 kernel (no REAP_KILL), fetched once with apt-get download and cached;
# prints the path of its bzImage (the zram modules the guest loads are in ../modules beside it). It boots the same initramfs guest as the REAP_KILL kernel:
# PSI, memcg and cgroup v2 are built in, and the 8250 serial console too, so no module is needed.
#
#   scripts/vm/stock-kernel.sh [PACKAGE]     default: the newest linux-image-6.1.0-N-amd64-unsigned
set -euo pipefail
cache=$("$(dirname "$0")/cache-dir.sh")/kernels
mkdir -p "$cache"
pkg=${1:-${LMKD_VM_STOCK_PACKAGE:-}}
if [ -z "$pkg" ]; then
  # A cached image is used as is: no network at all on the second run.
  img=$(ls "$cache"/*/boot/vmlinuz-6.1.* 2>/dev/null | sort -V | tail -1 || true)
  [ -n "$img" ] && { echo "$img"; exit 0; }
  pkg=$(apt-cache pkgnames linux-image-6.1 | grep -E '^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$' | sort -V | tail -1)
  [ -n "$pkg" ] || { echo "stock-kernel: no linux-image-6.1.0-N-amd64-unsigned known to apt (apt-get update? Debian 12 sources?)" >&2; exit 1; }
fi
dir="$cache/$pkg"
if ! ls "$dir"/boot/vmlinuz-* >/dev/null 2>&1; then
  tmp=$(mktemp -d "$cache/dl.XXXXXX")
  # _apt cannot write into root's cache: download as root, quietly.
  (cd "$tmp" && apt-get download -q "$pkg" >&2 2>/dev/null || apt-get download "$pkg" >&2)
  dpkg-deb -x "$tmp"/*.deb "$tmp/x"
  rm -rf "$dir"; mkdir -p "$dir/modules"; mv "$tmp/x/boot" "$dir/boot"
  # zram (swap in RAM) is a module here, built in on the REAP_KILL kernel. Gzipped, because
  # run-in-vm runs ldd on every ELF file it is given and stops on one that is not a program.
  for m in drivers/block/zram/zram.ko mm/zsmalloc.ko; do
    gzip -c "$tmp"/x/lib/modules/*/kernel/$m > "$dir/modules/$(basename $m).gz"
  done
  rm -rf "$tmp"
fi
ls "$dir"/boot/vmlinuz-* | head -1
