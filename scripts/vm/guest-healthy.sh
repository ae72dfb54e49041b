#!/bin/sh
# Runs inside a throw-away guest (scripts/vm/boot-healthy.sh): a healthy server's steady state, on
# which nothing needs to die. Lmkd watches the whole machine for real (not in dry run) with the
# shipped appsettings.json; any decision it makes is a false positive.
#
#   sh guest-healthy.sh SWAP SECONDS       SWAP = disk | zram
#
# - the disk (/dev/vda, writable through run-in-vm's overlay) holds a sparse file larger than the
#   guest's memory, streamed in a loop: the page cache fills memory and kswapd cycles through the
#   low watermark;
# - 2 GiB of swap, a file on the disk (disk) or a zram device (zram), 92 % full of one idle
#   process's pages (MADV_PAGEOUT): swap counts as low, as an old server's does after weeks of uptime;
# - three idle services at oom_score_adj 0, two idle processes at 1000 and 900 (a BestEffort pod,
#   a cached app), 64 MiB each;
# - a batch job that allocates and frees 10 % of memory every 3 s.
# Prints "=== BEGIN healthy-SWAP" ... "=== END healthy-SWAP" with a RESULT line, the daemon's
# log, the monitor thread's wake-ups, and the kernel's OOM lines.
set -u
cd /work
H=./vmhelper
echo -1000 > /proc/self/oom_score_adj
swap=${1:-disk} secs=${2:-120}
SWAP_MB=2048 IDLE_MB=64
PAGEOUT_MB=$((SWAP_MB * 92 / 100))

wait_file() { n=0; while [ ! -e "$1" ] && [ $n -lt "${2:-600}" ]; do sleep 0.1; n=$((n+1)); done; [ -e "$1" ]; }
oom_kills() { sed -n 's/^oom_kill //p' /proc/vmstat; }
kb() { sed -n "s/^$1: *\([0-9]*\).*/\1/p" /proc/meminfo; }

echo "kernel=$(cat /proc/sys/kernel/osrelease)"
echo "=== BEGIN healthy-$swap"
. ./guest-disk.sh
load_modules || { echo "=== END healthy-$swap"; exit 1; }
mount -t ext4 /dev/vda /mnt || { echo "error=mount /dev/vda read-write failed"; echo "=== END healthy-$swap"; exit 1; }
total_kb=$(kb MemTotal)
echo "memtotal_kb=$total_kb swap=$swap swap_mb=$SWAP_MB pageout_mb=$PAGEOUT_MB seconds=$secs"

case $swap in
  disk)
    { fallocate -l "${SWAP_MB}M" /mnt/swapfile 2>/dev/null || dd if=/dev/zero of=/mnt/swapfile bs=1M count=$SWAP_MB 2>/dev/null; } &&
      chmod 600 /mnt/swapfile && mkswap /mnt/swapfile > /dev/null && swapon /mnt/swapfile || echo "error=swapon /mnt/swapfile failed" ;;
  zram)
    echo "${SWAP_MB}M" > /sys/block/zram0/disksize && mkswap /dev/zram0 > /dev/null && swapon /dev/zram0 || echo "error=swapon /dev/zram0 failed" ;;
esac
echo "swap: $(grep -E '^Swap(Total|Free)' /proc/meminfo | tr -s ' ' | tr '\n' ' ')"

# The old swap: one idle process's pages, pushed out at once.
$H pageout $PAGEOUT_MB /tmp/pageout.ready & po=$!
wait_file /tmp/pageout.ready 1800 || echo "error=pageout not ready"
echo "pageout $(cat /tmp/pageout.ready 2>/dev/null)"
# The idle services and pods.
PIDS="$po"
for adj in 0 0 0 1000 900; do
  rm -f /tmp/idle.ready
  $H hog $adj $IDLE_MB 0 /tmp/idle.ready & p=$!
  wait_file /tmp/idle.ready || echo "error=idle $adj not ready"
  PIDS="$PIDS $p"
done
echo "idle $PIDS"
# A file larger than memory, streamed through the page cache for as long as the scenario lasts.
truncate -s $((total_kb * 3 / 2 / 1024))M /mnt/big 2>/dev/null || dd if=/dev/zero of=/mnt/big bs=1M count=0 seek=$((total_kb * 3 / 2 / 1024)) 2>/dev/null
( while :; do cat /mnt/big > /dev/null; done ) & reader=$!
sleep 20   # the cache fills before the daemon starts, as on a server that has run for a while
echo "before avail_kb=$(kb MemAvailable) free_kb=$(kb MemFree) cached_kb=$(kb Cached) swapfree_kb=$(kb SwapFree)"

oom0=$(oom_kills)
./lmkd run --Lmkd:Log:Format=json --Lmkd:Metrics:Enabled=false > /tmp/daemon.log 2>&1 & d=$!
n=0; while ! grep -q 'Lmkd ready' /tmp/daemon.log 2>/dev/null && [ $n -lt 300 ]; do sleep 0.1; n=$((n+1)); done
$H batch $((total_kb / 10 / 1024)) 3000 /tmp/batch.ready & b=$!
wait_file /tmp/batch.ready

# The monitor thread's wake-ups: its voluntary context switches over the run.
mon=
for t in /proc/$d/task/*; do [ "$(cat "$t/comm" 2>/dev/null)" = lmkd-monitor ] && mon=$t; done
ctx() { sed -n 's/^voluntary_ctxt_switches:[^0-9]*//p' "$mon/status" 2>/dev/null || echo 0; }
c0=$(ctx); t0=$($H now)
min_free=$(kb MemFree) max_free=0 below_low=0 samples=0
low_kb=$(awk '$1=="low" {l+=$2} END {print l*4}' /proc/zoneinfo 2>/dev/null || echo 0)
end=$(( $(date +%s) + secs ))
while [ "$(date +%s)" -lt "$end" ]; do
  f=$(kb MemFree)
  [ "$f" -lt "$min_free" ] && min_free=$f
  [ "$f" -gt "$max_free" ] && max_free=$f
  [ "$f" -lt "$low_kb" ] && below_low=$((below_low + 1))
  samples=$((samples + 1))
  sleep 1
done
c1=$(ctx); t1=$($H now)
wakeups=$(( (c1 - c0) * 1000 / (t1 - t0 + 1) ))
alive=0; for p in $PIDS $b; do [ -d /proc/$p ] && alive=$((alive + 1)); done
decisions=$(grep -c '"@mt":"Kill {KillId} decided' /tmp/daemon.log)
kills=$(grep -c '"@mt":"Kill {KillId} {Outcome}' /tmp/daemon.log)
oomd=$(( $(oom_kills) - oom0 ))
echo "after avail_kb=$(kb MemAvailable) free_kb=$(kb MemFree) cached_kb=$(kb Cached) swapfree_kb=$(kb SwapFree) free_min_kb=$min_free free_max_kb=$max_free low_kb=$low_kb samples_below_low=$below_low/$samples"
kill "$d" 2>/dev/null; sleep 0.5
echo "RESULT swap=$swap decisions=$decisions kills=$kills kernel_oom_kills=$oomd alive=$alive/7 monitor_wakeups_per_s=$wakeups"
echo "--- dmesg"
dmesg | grep -E 'invoked oom-killer|Out of memory|oom-kill:|Killed process' 
echo "--- daemon log"
grep -v '"@l":"Debug"' /tmp/daemon.log | head -200
echo "--- end of daemon log"
kill $reader $PIDS $b 2>/dev/null
echo "=== END healthy-$swap"
