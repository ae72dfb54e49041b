#!/usr/bin/env bash
# One boot of a throw-away guest that runs Lmkd and earlyoom side by side on whole-machine
# scenarios (scripts/vm/guest-side-by-side.sh, which says what each scenario is). Prints the
# guest's output; exits with the guest's exit code (124: the guest did not finish in time).
#
#   scripts/vm/boot-side-by-side.sh [--kernel reapkill|stock|PATH] [--mem MiB] RUN...
#       RUN = SCENARIO:DAEMON, e.g. noswap-20:lmkd zram-50:earlyoom noneed:lmkd
#
#   LMKD_VM_ARGS     extra switches for Lmkd in the guest, e.g. "--Lmkd:Policy:SwapFreeLowPercentage=20"
#   LMKD_VM_TRACE=1  each run also prints the protected process's gaps and memory every 20 ms
# A guest of 1 GiB by default: the size issue 9 measured on, big enough that Lmkd, earlyoom, two
# background processes, the protected process and its page cache leave the hog most of it.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
. "$repo/scripts/vm/boot-lib.sh"
boot_options 1024 "$@"
set -- ${args[@]+"${args[@]}"}
[ $# -gt 0 ] || { sed -n '5,6p' "$0" >&2; exit 2; }
boot_guest
case " $* " in
  *:earlyoom\ *)
    eo=$("$repo/scripts/vm/earlyoom.sh")
    cp "$eo" "$dir/earlyoom"
    # The arguments Debian's service passes (EARLYOOM_ARGS, sourced by the guest script).
    cp "$(dirname "$eo")/../../etc/default/earlyoom" "$dir/earlyoom.default" ;;
esac
printf '%s\n' "${LMKD_VM_ARGS:-}" > "$dir/lmkd-args"
[ -z "${LMKD_VM_TRACE:-}" ] || touch "$dir/trace"
disk=$("$repo/scripts/vm/disk-image.sh" 64)
# Every run takes 25-90 s under emulation (a 20 MiB/s hog fills 1 GiB in about 40 s; the guest
# gives a hog 180 s to die).
timeout=$((60 + 200 * $#))
rc=0
"$repo/scripts/vm/run-in-vm" --kernel "$image" --mem "$mem" --cpus 2 --timeout "$timeout" --disk "$disk" \
  "$dir" -- sh guest-side-by-side.sh "$@" || rc=$?
exit $rc
