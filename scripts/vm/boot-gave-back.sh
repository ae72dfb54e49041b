#!/usr/bin/env bash
# One boot of a throw-away 1 GiB guest with a 200 MiB file on an ext4 disk, running
# scripts/vm/guest-gave-back.sh: what a kill gave back, anonymous and file-backed, per kill mode
# (issue 11). Prints the guest's output; exits with the guest's exit code (124: out of time).
#
#   scripts/vm/boot-gave-back.sh [--kernel reapkill|reapkill-file|stock|PATH] [VICTIM...]
#       VICTIM = starved | idle (default: both)
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
kernel=reapkill
while [ $# -gt 0 ]; do
  case $1 in
    --kernel) kernel=$2; shift 2;;
    -*) echo "boot-gave-back: unknown option $1" >&2; exit 2;;
    *) break;;
  esac
done
k=$("$repo/scripts/vm/kernel-image.sh" "$kernel")
image=$(sed -n 1p <<< "$k") modules=$(sed -n 2p <<< "$k")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dir="$work/guest"
"$repo/scripts/vm/build-guest.sh" "$dir" "$modules" > /dev/null
disk=$("$repo/scripts/vm/disk-image.sh" 200)
rc=0
"$repo/scripts/vm/run-in-vm" --kernel "$image" --mem 1024 --cpus 2 --timeout 240 --disk "$disk" \
  "$dir" -- sh guest-gave-back.sh "$@" || rc=$?
exit $rc
