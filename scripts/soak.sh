#!/usr/bin/env bash
# Soak (issue 10): N consecutive pressure episodes (default 50) against one daemon in a memory-limited
# test cgroup; each episode one `lmkd hog` at oom_score_adj 900 growing anonymous memory into the
# limit, which one kill must resolve. Prints a row per episode and a summary (kills by Lmkd, kernel
# OOM kills, the daemon's RSS after episode 1 and at the end, its threads and open fds at start and
# end, time per episode), a `soak result:` line of figures and `soak: PASS` or `soak: FAIL`; exits 0
# on PASS, 1 on FAIL, 2 on bad arguments, 130 when interrupted. Needs root.
#
# Usage: scripts/soak.sh [--episodes N (50)] [--binary PATH] [--limit-mb N (384)] [--lock-memory auto|on|off]
#                        [--gen0-kib N (1024; 0: the runtime default): the daemon's GC gen0 budget]
# The daemon's own log (JSON lines) goes to artifacts/soak/daemon.log (--daemon-log PATH).
# The daemon: --binary (the native lmkd, or an lmkd.dll, run under dotnet: the JIT build), else
# $LMKD_BINARY, else artifacts/aot/lmkd, published first (scripts/publish-aot.sh) when it is missing or
# older than the sources. The daemon runs in cgroup scope (--Lmkd:Scope:Cgroup=the test cgroup), never
# for the whole machine; real pressure only ever happens inside that cgroup.
#
# Clean-up: the driver (the benchmarks program's `soak` mode) stops the daemon and removes the cgroup
# on every way out: the end, a failure, Ctrl-C, SIGTERM, SIGHUP. Should the driver itself die without
# cleaning up (SIGKILL), this script removes what it left: its daemon (by the pid and start time it
# recorded) and its cgroups (lmkd-soak-<driver pid>-N). Should the script die with it, the next run
# removes the cgroups and daemons of every soak driver that no longer runs.
set -uo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

binary=${LMKD_BINARY:-}
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --binary)
      [ -n "${2:-}" ] || { echo "soak: --binary needs a path" >&2; exit 2; }
      binary=$2; shift 2 ;;
    -h|--help)
      sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) args+=("$1"); shift ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "soak: needs root (it makes a memory-limited cgroup)" >&2; exit 1; }

# Signals before the driver runs stop the script; once it runs, they ask the driver to clean up and stop.
driver=
on_signal() {
  if [ -n "$driver" ]; then
    kill -TERM "$driver" 2>/dev/null
  else
    echo "soak: interrupted" >&2
    exit 130
  fi
}
trap on_signal INT TERM HUP

if [ -z "$binary" ]; then
  binary=artifacts/aot/lmkd
  if [ ! -x "$binary" ] || [ -n "$(find src Directory.*.props appsettings.json -newer "$binary" -type f \
        -not -path '*/obj/*' -not -path '*/bin/*' 2>/dev/null | head -1)" ]; then
    echo "soak: publishing the Native AOT binary ($binary missing or older than the sources)" >&2
    scripts/publish-aot.sh artifacts/aot >&2 || { echo "soak: Native AOT publish failed" >&2; exit 1; }
  fi
fi
[ -f "$binary" ] || { echo "soak: $binary does not exist" >&2; exit 1; }
case "$binary" in
  *.dll) ;;
  *) [ -x "$binary" ] || { echo "soak: $binary is not an executable" >&2; exit 1; } ;;
esac

# The driver, built when it is missing or older than what it is built from (after `dotnet build
# Lmkd.slnx` it is up to date and this costs nothing).
dll=benchmarks/Lmkd.Benchmarks/bin/Debug/net10.0/Lmkd.Benchmarks.dll
if [ ! -f "$dll" ] || [ -n "$(find benchmarks/Lmkd.Benchmarks src Directory.*.props -newer "$dll" -type f \
      \( -name '*.cs' -o -name '*.csproj' -o -name '*.props' -o -name '*.json' \) -not -path '*/obj/*' -not -path '*/bin/*' 2>/dev/null | head -1)" ]; then
  echo "soak: building the driver (benchmarks/Lmkd.Benchmarks)" >&2
  dotnet build benchmarks/Lmkd.Benchmarks -v q -nologo -clp:NoSummary >&2 || { echo "soak: building the driver failed" >&2; exit 1; }
fi

# Removes what the driver with pid $1 left: daemons scoped to its cgroups (the only processes run with
# --Lmkd:Scope:Cgroup=/lmkd-soak-$1-N), what is inside those cgroups, and the cgroups.
remove_leftovers_of() {
  local d=$1 f pid root dir
  for f in /proc/[0-9]*/cmdline; do
    pid=${f#/proc/}; pid=${pid%/cmdline}
    if { tr '\0' '\n' <"$f"; } 2>/dev/null | grep -q -- "^--Lmkd:Scope:Cgroup=/lmkd-soak-$d-[0-9]*\$"; then
      echo "soak: stopping daemon $pid, left by soak driver $d" >&2
      kill -KILL "$pid" 2>/dev/null
    fi
  done
  for root in /sys/fs/cgroup/memory /sys/fs/cgroup/unified /sys/fs/cgroup; do
    for dir in "$root"/lmkd-soak-"$d"-*; do
      [ -d "$dir" ] || continue
      echo "soak: removing $dir, left by soak driver $d" >&2
      [ -f "$dir/cgroup.kill" ] && echo 1 >"$dir/cgroup.kill" 2>/dev/null
      while read -r p; do kill -KILL "$p" 2>/dev/null; done <"$dir/cgroup.procs"
      for _ in $(seq 50); do rmdir "$dir" 2>/dev/null && break; sleep 0.1; done
    done
  done
}

# A soak killed outright with its script (SIGKILL of the whole tree) leaves its cgroup and daemon:
# the next run removes them, for every soak driver that no longer runs.
for dir in /sys/fs/cgroup/memory/lmkd-soak-* /sys/fs/cgroup/unified/lmkd-soak-* /sys/fs/cgroup/lmkd-soak-*; do
  [ -d "$dir" ] || continue
  d=${dir##*/lmkd-soak-}; d=${d%%-*}
  case "$d" in ''|*[!0-9]*) continue ;; esac
  { tr '\0' ' ' <"/proc/$d/cmdline"; } 2>/dev/null | grep -q "Lmkd.Benchmarks.dll soak" || remove_leftovers_of "$d"
done

pidfile=$(mktemp /tmp/lmkd-soak-daemon.XXXXXX)
sweep() {
  if [ -n "$driver" ]; then
    local pid start now
    read -r pid start <"$pidfile" 2>/dev/null
    if [ -n "${pid:-}" ] && [ -r "/proc/$pid/stat" ]; then
      # Field 22 of stat, counted after the parenthesised comm.
      now=$(sed 's/.*) //' "/proc/$pid/stat" | cut -d' ' -f20)
      if [ "$now" = "$start" ]; then
        echo "soak: stopping the daemon $pid the driver left" >&2
        kill -KILL "$pid" 2>/dev/null
      fi
    fi
    remove_leftovers_of "$driver"
  fi
  rm -f "$pidfile"
}
trap sweep EXIT

# In the background, so this shell can pass signals on (bash runs no trap while it waits for a
# foreground child) and sweep after it.
mkdir -p artifacts/soak
dotnet "$dll" soak --binary "$binary" --daemon-pid-file "$pidfile" --daemon-log artifacts/soak/daemon.log "${args[@]}" &
driver=$!
# wait returns early when a trapped signal arrives: wait again for the driver's own exit.
while :; do
  wait "$driver"; status=$?
  kill -0 "$driver" 2>/dev/null || break
done
exit "$status"
