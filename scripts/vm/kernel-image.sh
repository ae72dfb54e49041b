#!/usr/bin/env bash
# The kernel a boot script was asked for: prints the bzImage's path, then the folder of modules
# the guest must insmod (an empty line when the kernel has them built in). A named kernel is
# built (kernel/build.sh) or fetched (stock-kernel.sh) into the cache the first time.
#
#   scripts/vm/kernel-image.sh reapkill|reapkill-file|stock|PATH
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
modules=
case ${1:?usage: kernel-image.sh reapkill|reapkill-file|stock|PATH} in
  # Debian's 6.1 with the REAP_KILL backport (kernel/0001), everything the guest needs built in.
  reapkill) image=$("$repo/kernel/build.sh" reapkill) ;;
  # The lab kernel: REAP_KILL also drops the victim's private clean file pages (kernel/0002).
  reapkill-file) image=$("$repo/kernel/build.sh" reapkill-file) ;;
  stock) image=$("$repo/scripts/vm/stock-kernel.sh"); modules=$(cd "$(dirname "$image")/../modules" && pwd) ;;
  *) image=$1 ;;
esac
[ -f "$image" ] || { echo "kernel-image: no kernel image $image" >&2; exit 2; }
printf '%s\n%s\n' "$image" "$modules"
