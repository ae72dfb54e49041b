#!/usr/bin/env bash
# One boot of a throw-away 1 GiB guest with a 200 MiB file on an ext4 disk, running
# scripts/vm/guest-gave-back.sh: what a kill gave back, anonymous and file-backed, per kill mode
# (issue 11). Prints the guest's output; exits with the guest's exit code (124: out of time).
#
#   scripts/vm/boot-gave-back.sh [--kernel reapkill|reapkill-file|stock|PATH] [--mem MiB] [VICTIM...]
#       VICTIM = starved | idle (default: both)
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
. "$repo/scripts/vm/boot-lib.sh"
boot_options 1024 "$@"
set -- ${args[@]+"${args[@]}"}
boot_guest
disk=$("$repo/scripts/vm/disk-image.sh" 200)
rc=0
"$repo/scripts/vm/run-in-vm" --kernel "$image" --mem "$mem" --cpus 2 --timeout 240 --disk "$disk" \
  "$dir" -- sh guest-gave-back.sh "$@" || rc=$?
exit $rc
