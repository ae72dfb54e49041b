#!/usr/bin/env bash
# One boot of a throw-away guest running scripts/vm/guest-healthy.sh: a healthy server's steady
# state (a page cache that fills memory, kswapd cycling, 2 GiB of swap 92 % full of idle pages, idle
# services and pods, a batch job), on which Lmkd, whole machine and not in dry run, must decide
# nothing. Prints the guest's output; exits with the guest's exit code (124: out of time).
#
#   scripts/vm/boot-healthy.sh [--kernel reapkill|stock|PATH] [--mem MiB] SWAP [SECONDS]
#       SWAP = disk | zram; SECONDS the daemon watches (default 90); --mem default 6144
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
. "$repo/scripts/vm/boot-lib.sh"
boot_options 6144 "$@"
set -- ${args[@]+"${args[@]}"}
swap=${1:?usage: boot-healthy.sh [--kernel K] [--mem MiB] disk|zram [SECONDS]} secs=${2:-90}
boot_guest
# An empty ext4 disk, sparse on the host; the guest writes through a throw-away overlay
# (the swap file, the sparse file it streams), so this image stays empty.
command -v mkfs.ext4 >/dev/null || PATH=$PATH:/sbin:/usr/sbin
truncate -s 4G "$work/disk.ext4"
mkfs.ext4 -q -F "$work/disk.ext4"
# Setup under emulation: 1.9 GiB pushed to swap, the cache filled, 20 s of settling.
timeout=$((420 + secs))
rc=0
"$repo/scripts/vm/run-in-vm" --kernel "$image" --mem "$mem" --cpus 2 --timeout "$timeout" --disk-rw "$work/disk.ext4" \
  "$dir" -- sh guest-healthy.sh "$swap" "$secs" || rc=$?
exit $rc
