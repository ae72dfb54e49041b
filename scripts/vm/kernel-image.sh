#!/usr/bin/env bash
# The kernel a boot script was asked for: prints the bzImage's path, then the folder of modules
# the guest must insmod (an empty line when the kernel has them built in).
#
#   scripts/vm/kernel-image.sh reapkill|reapkill-file|stock|PATH
#   LMKD_VM_KERNEL_DIR  the folder with run-in-vm and the REAP_KILL bzImages (default ../shared/kernel)
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
shared=${LMKD_VM_KERNEL_DIR:-$repo/../shared/kernel}
shared=$(cd "$shared" && pwd)
modules=
case ${1:?usage: kernel-image.sh reapkill|reapkill-file|stock|PATH} in
  # The REAP_KILL kernel of ../shared/kernel (run-in-vm's default).
  reapkill) image="$shared/bzImage-6.1.192-reapkill" ;;
  # The lab kernel: REAP_KILL also drops the victim's private clean file pages from the page cache.
  reapkill-file) image="$shared/bzImage-6.1.192-reapkill-file" ;;
  stock) image=$("$repo/scripts/vm/stock-kernel.sh"); modules=$(cd "$(dirname "$image")/../modules" && pwd) ;;
  *) image=$1 ;;
esac
[ -f "$image" ] || { echo "kernel-image: no kernel image $image" >&2; exit 2; }
printf '%s\n%s\n' "$image" "$modules"
