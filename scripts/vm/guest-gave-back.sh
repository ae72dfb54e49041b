#!/bin/sh
# Runs inside a throw-away guest (busybox sh; /work = the dir from scripts/vm/boot-gave-back.sh,
# /dev/vda = the ext4 image of scripts/vm/disk-image.sh 200, holding ws.bin): what a kill truly
# gave back (issue 11), anonymous and file-backed, per kill mode. Memory pressure is safe here.
#
#   sh guest-gave-back.sh [VICTIM...]      VICTIM = starved | idle (default: starved idle)
#
# For each kill mode the kernel has (reap-kill where process_mrelease knows REAP_KILL, i.e. on
# the two *-reapkill* kernels; kill-then-reap; kill-only) and each victim kind, between
# "=== BEGIN gave-MODE-VICTIM" and "=== END ..." lines (Lmkd.Tests/Vm parses them):
#   - the page cache is dropped, then a victim (vmhelper filemap, oom_score_adj 1000) maps the
#     whole 200 MiB file MAP_PRIVATE, reads every page of it (page cache mapped by it alone) and
#     touches 32 MiB of anonymous memory; nothing else is dropped or started;
#   - starved: the victim is SCHED_IDLE behind two spinning processes (2 vCPUs) for STARVE_S
#     seconds (default 6), so it can hardly run its own exit before they stop; idle: it sleeps at
#     normal priority and exits in parallel with the reap;
#   - lmkd kill-test --victim-pid PID --mode MODE --json: its JSON (what came back just before the
#     signal, when the call returned, at the exit and 1 s later) is the section's first JSON line.
set -u
cd /work
H=./vmhelper
echo -1000 > /proc/self/oom_score_adj
ANON_MB=${ANON_MB:-32}
# How long the two spinners run: a starved victim exits at the latest when they stop.
STARVE_S=${STARVE_S:-6}
wait_file() { n=0; while [ ! -e "$1" ] && [ $n -lt "${2:-600}" ]; do sleep 0.1; n=$((n+1)); done; [ -e "$1" ]; }

release=$(cat /proc/sys/kernel/osrelease)
echo "kernel=$release"
. ./guest-disk.sh
mount_disk || exit 1
echo "file_kb=$(( $(wc -c < /mnt/ws.bin) / 1024 )) anon_mb=$ANON_MB memtotal_kb=$(sed -n 's/^MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo)"

case $release in
  *reapkill*) modes="reap-kill kill-then-reap kill-only" ;;
  *) modes="kill-then-reap kill-only" ;;
esac
victims=${*:-starved idle}

for victim in $victims; do
  for mode in $modes; do
    name="gave-$mode-$victim"
    rm -f /tmp/v.ready
    sync; echo 3 > /proc/sys/vm/drop_caches
    echo "=== BEGIN $name"
    t0=$($H now)
    $H filemap /mnt/ws.bin "$ANON_MB" 1000 /tmp/v.ready & v=$!
    wait_file /tmp/v.ready || echo "error=victim not ready"
    echo "victim=$v mode=$mode kind=$victim setup_ms=$(( $($H now) - t0 ))"
    b1= b2=
    if [ "$victim" = starved ]; then
      $H idle "$v"
      $H burn "$STARVE_S" & b1=$!; $H burn "$STARVE_S" & b2=$!
      sleep 0.5
    fi
    ./lmkd kill-test --victim-pid "$v" --mode "$mode" --timeout-ms 20000 --json
    echo "rc=$?"
    [ -n "$b1" ] && kill "$b1" "$b2"
    wait
    echo "after victim=$($H state "$v")"
    echo "=== END $name"
  done
done
echo "gave-back done"
