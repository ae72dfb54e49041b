#!/usr/bin/env bash
# Debian's stock 6.1 kernel (no REAP_KILL), fetched once with apt-get download and cached;
# prints the path of its bzImage. It boots the same initramfs guest as the REAP_KILL kernel:
# PSI, memcg and cgroup v2 are built in, and the 8250 serial console too. What the REAP_KILL
# kernel has built in and this one has as modules sits in ../modules beside the image, gzipped
# (run-in-vm runs ldd on every ELF file it is given and stops on one that is not a program),
# with ORDER: their names in the order the guest must insmod them (dependencies first):
#   zram (swap in RAM), virtio_pci + virtio_blk (run-in-vm --disk), ext4 (the disk's file system).
#
#   scripts/vm/stock-kernel.sh [PACKAGE]     default: the newest linux-image-6.1.0-N-amd64-unsigned
set -euo pipefail
cache=$("$(dirname "$0")/cache-dir.sh")/kernels
mkdir -p "$cache"
# The modules the guest needs. The guest has no modprobe, so nothing resolves a module alias there:
# crc32c_generic is named because ext4 and jbd2 declare "softdep=pre: crypto-crc32c" (ext4 asks
# the crypto API for crc32c at mount; without a provider loaded first the mount fails).
wanted=(zram virtio_pci virtio_blk crc32c_generic ext4)

pkg=${1:-${LMKD_VM_STOCK_PACKAGE:-}}
if [ -z "$pkg" ]; then
  # A cached image is used as is (no network at all on the second run), once its modules are complete.
  img=$(ls "$cache"/*/boot/vmlinuz-6.1.* 2>/dev/null | sort -V | tail -1 || true)
  if [ -n "$img" ]; then
    have=$(dirname "$(dirname "$img")")
    if [ "$(cat "$have/modules/WANTED" 2>/dev/null)" = "${wanted[*]}" ]; then echo "$img"; exit 0; fi
    pkg=$(basename "$have")   # cached by an older version of this script: extract the new modules
  else
    "$(dirname "$0")/apt-lists.sh" linux-image-amd64 || { echo "stock-kernel: cannot look up Debian's kernels" >&2; exit 1; }
    # `|| true`: under pipefail a grep that finds nothing would end the script before the message below.
    pkg=$(apt-cache pkgnames linux-image-6.1 | grep -E '^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$' | sort -V | tail -1 || true)
    [ -n "$pkg" ] || { echo "stock-kernel: no linux-image-6.1.0-N-amd64-unsigned known to apt (apt-get update? Debian 12 sources?)" >&2; exit 1; }
  fi
fi
dir="$cache/$pkg"
if ! ls "$dir"/boot/vmlinuz-* >/dev/null 2>&1 || [ "$(cat "$dir/modules/WANTED" 2>/dev/null)" != "${wanted[*]}" ]; then
  [ -z "${LMKD_VM_KERNEL_ERROR:-}" ] || { echo "stock-kernel: not fetched: $LMKD_VM_KERNEL_ERROR" >&2; exit 1; }
  tmp=$(mktemp -d "$cache/dl.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  # The .deb is kept: a later change of the module list re-extracts it without the network.
  deb=$(ls "$dir"/*.deb 2>/dev/null | head -1 || true)
  if [ -z "$deb" ]; then
    # _apt cannot write into root's cache: download as root, quietly.
    (cd "$tmp" && { apt-get download -q "$pkg" >&2 2>/dev/null || apt-get download "$pkg" >&2; })
    deb=$(ls "$tmp"/*.deb)
  fi
  dpkg-deb -x "$deb" "$tmp/x"
  kdir=$(ls -d "$tmp"/x/lib/modules/*/kernel)
  # The package has no modules.dep (depmod makes it at install): each module's own modinfo
  # section ("depends=a,b", NUL-separated strings) gives its dependencies.
  order=()
  add() {
    local m=$1 f deps d
    for d in "${order[@]}"; do [ "$d" = "$m" ] && return 0; done
    f=$(find "$kdir" -name "$m.ko" -print -quit)
    [ -n "$f" ] || { echo "stock-kernel: no module $m.ko in $pkg" >&2; exit 1; }
    deps=$(tr '\0' '\n' < "$f" | sed -n 's/^depends=//p' | tr ',' ' ')
    for d in $deps; do add "$d"; done
    order+=("$m")
    gzip -c "$f" > "$tmp/modules/$m.ko.gz"
  }
  mkdir -p "$tmp/modules"
  for m in "${wanted[@]}"; do add "$m"; done
  printf '%s\n' "${order[@]}" > "$tmp/modules/ORDER"
  echo "${wanted[*]}" > "$tmp/modules/WANTED"
  [ "$deb" = "$tmp/$(basename "$deb")" ] && mv "$deb" "$tmp/keep.deb"
  mkdir -p "$dir"
  rm -rf "$dir/boot" "$dir/modules"
  mv "$tmp/x/boot" "$dir/boot"; mv "$tmp/modules" "$dir/modules"
  [ -e "$tmp/keep.deb" ] && mv "$tmp/keep.deb" "$dir/$(basename "$deb")"
fi
ls "$dir"/boot/vmlinuz-* | head -1
