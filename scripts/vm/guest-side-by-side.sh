#!/bin/sh
# Runs inside a throw-away guest (busybox sh; /work = the dir from scripts/vm/boot-side-by-side.sh,
# /dev/vda = the ext4 image from scripts/vm/disk-image.sh): Lmkd and earlyoom side by side on the
# same whole-machine scenarios (issue 9). Memory pressure is safe here: the guest is disposable.
#
#   sh guest-side-by-side.sh RUN...        RUN = SCENARIO:DAEMON, DAEMON = lmkd | earlyoom
#   SCENARIO = noswap-RATE | zram-RATE | zram512-RATE | zram512fit-RATE | noneed[-RATE]
#   RATE: the hog's growth in MiB/s
#
# Each run, one after the other in this boot, between "=== BEGIN run-N-SCENARIO-DAEMON" and
# "=== END ..." lines (Lmkd.Tests/Vm parses them), ending with one "RESULT ..." line that
# scripts/bench-vm-earlyoom.sh aggregates:
#   - a protected process (oom_score_adj -900): 32 MiB anonymous + 48 MiB of a file on the disk,
#     touched every 100 ms; its longest gap between wake-ups is the stall it suffered;
#   - two background processes holding 80 MiB each, at oom_score_adj 1000 and 800;
#   - the daemon, whole-machine scope, for real (Lmkd: the shipped appsettings.json plus the
#     switches in ./lmkd-args; earlyoom: the EARLYOOM_ARGS Debian's package ships, thresholds at
#     their defaults);
#   - a hog at oom_score_adj 0 growing RATE MiB/s until killed. noneed: it stops once MemAvailable
#     is under 5 % of MemTotal and holds 20 s; nothing needs to die there.
#   noswap: no swap at all; zram: a small zram swap ($ZRAM_MB MiB) that the workloads fill 3:1.
#   zram512: an empty 512 MiB zram swap, a desktop's or device's; zram512fit: the same, and the hog
#   stops at $FIT_MB MiB (more than memory alone holds, less than memory and zram do) and holds
#   30 s, then exits: nothing needs to die.
# With ./trace (LMKD_VM_TRACE=1 for boot-side-by-side.sh), each run also prints the protected
# process's gaps over 150 ms and memory's figures every 20 ms (vmhelper trace).
# Between runs the state is reset: leftovers killed, swap off and zram reset, caches dropped, the
# kernel log cleared.
set -u
cd /work
H=./vmhelper
# The script and the busybox tools it starts are never victims (each workload sets its own adj).
echo -1000 > /proc/self/oom_score_adj
ZRAM_MB=${ZRAM_MB:-128}
ANON_MB=32 FILE_MB=48 BG_MB=80 FIT_MB=900
HOLD_PCT=5 HOLD_S=20
LMKD_ARGS=$(cat lmkd-args 2>/dev/null || true)
EARLYOOM_ARGS=
[ -f earlyoom.default ] && . ./earlyoom.default

wait_file() { n=0; while [ ! -e "$1" ] && [ $n -lt "${2:-300}" ]; do sleep 0.1; n=$((n+1)); done; [ -e "$1" ]; }
dead() { s=$($H state "$1"); [ "$s" = gone ] || [ "$s" = Z ]; }
wait_dead() { n=0; while ! dead "$1" && [ $n -lt "${2:-300}" ]; do sleep 0.1; n=$((n+1)); done; dead "$1"; }
oom_kills() { sed -n 's/^oom_kill //p' /proc/vmstat; }

echo "kernel=$(cat /proc/sys/kernel/osrelease)"
. ./guest-disk.sh
mount_disk || exit 1
echo "memtotal_kb=$(sed -n 's/^MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo) memavailable_kb=$($H avail) lmkd_args=$LMKD_ARGS earlyoom_args=$EARLYOOM_ARGS"

PIDS=
reset() {
  for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
  wait
  PIDS=
  swapoff /dev/zram0 2>/dev/null
  [ -e /sys/block/zram0/reset ] && echo 1 > /sys/block/zram0/reset
  sync; echo 3 > /proc/sys/vm/drop_caches
  echo 1 > /proc/sys/vm/compact_memory 2>/dev/null
  dmesg -c > /dev/null
  rm -f /tmp/*.ready /tmp/*.out /tmp/*.log /tmp/*.gaps
}

# by PID: who killed PID, from the kernel's log and the daemon's.
by() {
  if dmesg | grep -q "Killed process $1 ("; then echo kernel
  elif grep '"@mt":"Kill {KillId} {Outcome}' /tmp/daemon.log 2>/dev/null | grep -q "\"Pid\":$1[,}]"; then echo lmkd
  elif grep -q "sending SIG[A-Z]* to process $1 " /tmp/daemon.log 2>/dev/null; then echo earlyoom
  else echo unknown
  fi
}

run=0
run_one() {
  scenario=$1 daemon=$2 run=$((run + 1))
  name="run-$run-$scenario-$daemon"
  case $scenario in
    noswap-*) swap=none rate=${scenario#noswap-} hold= ;;
    zram-*) swap=zram zram_mb=$ZRAM_MB rate=${scenario#zram-} hold= ;;
    zram512-*) swap=zram zram_mb=512 rate=${scenario#zram512-} hold= ;;
    zram512fit-*) swap=zram zram_mb=512 rate=${scenario#zram512fit-} hold="0 30 $FIT_MB" ;;
    noneed) swap=none rate=20 hold="$HOLD_PCT $HOLD_S" ;;
    noneed-*) swap=none rate=${scenario#noneed-} hold="$HOLD_PCT $HOLD_S" ;;
    *) echo "unknown scenario $scenario"; return ;;
  esac
  ts=$($H now)
  reset
  tr=$($H now)
  echo "=== BEGIN $name"
  echo "scenario=$scenario daemon=$daemon swap=$swap rate_mib_s=$rate hold=${hold:-no}"
  if [ $swap = zram ]; then
    echo "${zram_mb}M" > /sys/block/zram0/disksize && mkswap /dev/zram0 > /dev/null && swapon /dev/zram0
    echo "swap: $(grep SwapTotal /proc/meminfo)"
  fi
  $H protected /mnt/ws.bin $ANON_MB $FILE_MB /tmp/prot.ready /tmp/prot.out & prot=$!
  $H hog 1000 $BG_MB 0 /tmp/bg1000.ready & b1=$!
  $H hog 800 $BG_MB 0 /tmp/bg800.ready & b2=$!
  PIDS="$prot $b1 $b2"
  waited=
  for f in prot bg1000 bg800; do wait_file /tmp/$f.ready 600 || echo "error=$f not ready"; waited="$waited $f=$(( $($H now) - tr ))"; done
  tw=$($H now)
  if [ $daemon = lmkd ]; then
    # shellcheck disable=SC2086 # the switches are words
    ./lmkd run --Lmkd:Log:Format=json --Lmkd:Metrics:Enabled=false $LMKD_ARGS > /tmp/daemon.log 2>&1 & d=$!
    ready='Lmkd ready'
  else
    # As the Debian service runs it (oom_score_adj 0), as root here instead of a DynamicUser with CAP_KILL.
    # shellcheck disable=SC2086
    sh -c 'echo 0 > /proc/self/oom_score_adj; exec ./earlyoom "$@"' earlyoom $EARLYOOM_ARGS > /tmp/daemon.log 2>&1 & d=$!
    ready='mem avail'
  fi
  PIDS="$PIDS $d"
  n=0; while ! grep -q "$ready" /tmp/daemon.log && [ $n -lt 300 ]; do sleep 0.1; n=$((n+1)); done
  td=$($H now)
  sleep 0.5
  echo "before avail_kb=$($H avail) free_kb=$(sed -n 's/^MemFree: *\([0-9]*\).*/\1/p' /proc/meminfo)"
  oom0=$(oom_kills)
  # Under emulation a host short of CPU can stop the guest's vCPUs for seconds: the guest kernel
  # then reports soft lockups. One before the hog starts (no pressure yet) says the host starved
  # this run; scripts/bench-vm-earlyoom.sh leaves such runs out of its figures.
  sl0=$(dmesg | grep -c 'soft lockup')
  kill -USR2 "$prot"   # the gaps are counted from here on
  sleep 0.2
  # shellcheck disable=SC2086
  $H hog 0 0 "$rate" /tmp/hog.ready $hold > /tmp/hog.out & hog=$!
  $H deaths /tmp/deaths.log protected=$prot bg1000=$b1 bg800=$b2 hog=$hog & w=$!
  PIDS="$PIDS $hog $w"
  tr_pid=
  if [ -e trace ]; then $H trace /tmp/trace.log 20 & tr_pid=$!; PIDS="$PIDS $tr_pid"; fi
  echo "pids protected=$prot bg1000=$b1 bg800=$b2 hog=$hog daemon=$d"
  echo "setup_ms reset=$((tr - ts)) workloads=$((tw - tr)) ($waited ) daemon=$((td - tw))"
  wait_dead "$hog" 1800; hog_dead=$?
  sleep 1.5   # what happens right after: a late kill, the protected process's last gaps
  states="states protected=$($H state "$prot") bg1000=$($H state "$b1") bg800=$($H state "$b2")"
  kill "$d" 2>/dev/null; sleep 0.3
  kill "$w" "$prot" $tr_pid 2>/dev/null; sleep 0.3
  dead "$hog" || kill -9 "$hog"   # not killed within the time: ended here, not counted as a kill
  wait "$hog"; hog_rc=$?
  t0=0; [ -f /tmp/hog.ready ] && read -r _ t0 < /tmp/hog.ready
  # The rate the hog reached: under emulation, filling pages costs CPU, and reclaim makes it wait.
  last=$(cat /tmp/hog.ready.size 2>/dev/null); lt=${last%% *}; lt=${lt#t=}; lmb=${last##*hog_mb=}
  hog_rate=$([ -n "$last" ] && [ "$lt" -gt "$t0" ] && echo $((lmb * 1000 / (lt - t0))) || echo none)
  echo "hog_t0=$t0 hog_dead=$hog_dead hog_rc=$hog_rc hog_last_mb=${lmb:-0} hog_rate_mib_s=$hog_rate"
  cat /tmp/hog.out
  cat /tmp/deaths.log
  cat /tmp/prot.out
  echo "$states"
  oomd=$(( $(oom_kills) - oom0 ))
  sl=$(( $(dmesg | grep -c 'soft lockup') - sl0 ))
  echo "oom_kill_delta=$oomd"
  echo "dmesg_out_of_memory=$(dmesg | grep -c 'Out of memory')"
  echo "--- dmesg"
  dmesg | grep -E 'invoked oom-killer|Out of memory|oom-kill:|Killed process|oom_reaper'
  echo "--- daemon log"
  cat /tmp/daemon.log
  echo "--- end of daemon log"
  if [ -n "$tr_pid" ]; then
    echo "--- trace (kB; vmstat counters in pages)"
    cat /tmp/prot.out.gaps /tmp/trace.log 2>/dev/null
    echo "--- end of trace"
  fi
  # The result: kills in the order the deaths came, each with its killer; the first kill timed
  # from the hog's start; the protected process's longest gap.
  kills= first=none
  while read -r t _ label pid _; do
    t=${t#t=}
    if [ "$label" = hog ] && [ "$hog_rc" = 0 ]; then continue; fi   # noneed: it ended by itself
    kills="$kills${kills:+,}$label:$(by "$pid")"
    [ "$first" = none ] && first=$((t - t0))
  done < /tmp/deaths.log
  gap=$(sed -n 's/.*gap_max_ms=\([0-9]*\).*/\1/p' /tmp/prot.out)
  if grep -q " protected $prot" /tmp/deaths.log; then protected=dead; else protected=alive; fi
  sigterm=$(grep -c 'sending SIGTERM to' /tmp/daemon.log) sigkill=$(grep -c -E 'sending SIGKILL to|escalating to SIGKILL' /tmp/daemon.log)
  echo "RESULT scenario=$scenario daemon=$daemon gap_max_ms=${gap:-none} first_kill_ms=$first kills=${kills:-none} kernel_oom_kills=$oomd protected=$protected hog_rate_mib_s=$hog_rate earlyoom_sigterm=$sigterm earlyoom_sigkill=$sigkill soft_lockups_before_hog=$sl0 soft_lockups=$sl"
  echo "=== END $name"
}

for r in "$@"; do
  run_one "${r%%:*}" "${r#*:}"
done
reset
echo "side-by-side done"
