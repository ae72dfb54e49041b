#!/usr/bin/env bash
# An ext4 image holding ws.bin, the protected process's file-backed working set: a real disk gives
# the guest clean page cache the kernel can evict and read back (the initramfs and tmpfs cannot
# be evicted). Made once with mkfs.ext4 -d (e2fsprogs) and cached; prints its path. The guest
# mounts it read-only: mount -o ro,noload /dev/vda /mnt (run-in-vm --disk IMG attaches it).
#
#   scripts/vm/disk-image.sh [FILE_MB]       default 64
set -euo pipefail
mb=${1:-64}
cache=$("$(dirname "$0")/cache-dir.sh")/disks
img="$cache/ws-${mb}m.ext4"
if [ ! -s "$img" ]; then
  command -v mkfs.ext4 >/dev/null || PATH=$PATH:/sbin:/usr/sbin
  command -v mkfs.ext4 >/dev/null || { echo "disk-image: mkfs.ext4 missing (apt-get install e2fsprogs)" >&2; exit 2; }
  mkdir -p "$cache"
  tmp=$(mktemp -d "$cache/mk.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  mkdir "$tmp/root"
  # Random bytes: nothing the page cache or the disk could make smaller.
  head -c "$((mb << 20))" /dev/urandom > "$tmp/root/ws.bin"
  # Room for the file plus ext4's own metadata and journal.
  mkfs.ext4 -q -F -L lmkd-ws -d "$tmp/root" "$tmp/img" "$((mb + mb / 4 + 16))M" >&2
  mv "$tmp/img" "$img"
fi
echo "$img"
