#!/usr/bin/env bash
# Soak (issue 10): N consecutive pressure episodes (default 50) against one Native AOT daemon in a
# memory-limited test cgroup; each episode one `lmkd hog` at oom_score_adj 900 growing anonymous
# memory into the limit, which one kill resolves. Prints a row per episode and a summary (kills by
# Lmkd, kernel OOM kills, the daemon's RSS after episode 1 and at the end, its threads and open fds at
# start and end, time per episode) and PASS/FAIL; exits non-zero on FAIL. Needs root.
# Usage: scripts/soak.sh [--episodes N] [--binary PATH] [--limit-mb N (192)] [--lock-memory auto|on|off]
# The binary: --binary, else $LMKD_BINARY, else artifacts/aot/lmkd (published first if missing).
# Real pressure only inside the cgroup it makes; it removes the cgroup and stops the daemon at the
# end, also on failure, Ctrl-C or SIGTERM (the driver cleans up; this script sweeps what a killed
# driver left).
set -uo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

binary=${LMKD_BINARY:-}
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary=${2:-}; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
if [ -z "$binary" ]; then
  binary=artifacts/aot/lmkd
  [ -x "$binary" ] || scripts/publish-aot.sh artifacts/aot || { echo "soak: Native AOT publish failed" >&2; exit 1; }
fi
[ -x "$binary" ] || { echo "soak: $binary is not an executable" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "soak: needs root (it makes a memory-limited cgroup)" >&2; exit 1; }

# The driver (the benchmarks program's `soak` mode). Incremental: after scripts/test it is up to date.
dotnet build benchmarks/Lmkd.Benchmarks -v q -nologo -clp:NoSummary >/dev/null || { echo "soak: building the driver failed" >&2; exit 1; }

pidfile=$(mktemp /tmp/lmkd-soak-daemon.XXXXXX)
driver=
sweep() {
  # Only what a driver that died without cleaning up left: its daemon (by the pid it recorded, if that
  # process still runs this binary) and its cgroups (named lmkd-soak-<driver pid>-N).
  if [ -n "$driver" ]; then
    local d; d=$(cat "$pidfile" 2>/dev/null)
    if [ -n "$d" ] && [ "$(readlink "/proc/$d/exe" 2>/dev/null)" = "$(readlink -f "$binary")" ]; then
      kill -KILL "$d" 2>/dev/null
    fi
    local root dir
    for root in /sys/fs/cgroup/memory /sys/fs/cgroup/unified /sys/fs/cgroup; do
      for dir in "$root"/lmkd-soak-"$driver"-*; do
        [ -d "$dir" ] || continue
        echo "soak: removing leftover $dir" >&2
        [ -f "$dir/cgroup.kill" ] && echo 1 >"$dir/cgroup.kill" 2>/dev/null
        while read -r p; do kill -KILL "$p" 2>/dev/null; done <"$dir/cgroup.procs"
        for _ in $(seq 50); do rmdir "$dir" 2>/dev/null && break; sleep 0.1; done
      done
    done
  fi
  rm -f "$pidfile"
}
trap sweep EXIT
trap 'kill -TERM "$driver" 2>/dev/null' INT TERM

dotnet benchmarks/Lmkd.Benchmarks/bin/Debug/net10.0/Lmkd.Benchmarks.dll soak --binary "$binary" --daemon-pid-file "$pidfile" "${args[@]}" &
driver=$!
# wait returns early when a trapped signal arrives: wait again for the driver's own exit.
while :; do
  wait "$driver"; status=$?
  kill -0 "$driver" 2>/dev/null || break
done
exit "$status"
