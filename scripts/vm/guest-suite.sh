#!/bin/sh
# Runs inside a throw-away guest (busybox sh, /work = the VM dir from build-guest.sh). Every
# scenario of the VM tests in one boot, each between "=== BEGIN name" and "=== END name" lines
# that Lmkd.Tests/Vm parses. Memory pressure is safe here: the guest is disposable.
set -u
cd /work
H=./vmhelper
# The script and the busybox tools it starts are never victims, of Lmkd or of the kernel: this
# keeps the scenarios clean (the hogs raise their own oom_score_adj).
echo -1000 > /proc/self/oom_score_adj

begin() { echo "=== BEGIN $1"; }
end() { echo "=== END $1"; }
# wait_file PATH [TENTHS]: until PATH exists (default 30 s under software emulation).
wait_file() { n=0; while [ ! -e "$1" ] && [ $n -lt "${2:-300}" ]; do sleep 0.1; n=$((n+1)); done; [ -e "$1" ]; }
# dead PID: gone or a zombie.
dead() { s=$($H state "$1"); [ "$s" = gone ] || [ "$s" = Z ]; }
wait_dead() { n=0; while ! dead "$1" && [ $n -lt "${2:-300}" ]; do sleep 0.1; n=$((n+1)); done; dead "$1"; }
oom_kills() { sed -n 's/^oom_kill //p' /proc/vmstat; }

echo "kernel=$(cat /proc/sys/kernel/osrelease)"
echo "cgroup_fs=$(awk '$2=="/sys/fs/cgroup"{print $3}' /proc/mounts)"

# 1. The kernel check: same binary, same command on every kernel.
begin killtest
./lmkd kill-test --mb 64 --json; echo "rc=$?"
end killtest

# 4a. A victim sharing its mm with a second process (CLONE_VM, not a thread).
begin sharevm
$H sharevm 64 1000 /tmp/sv.ready &
wait_file /tmp/sv.ready; read -r pid sib < /tmp/sv.ready
echo "victim=$pid sibling=$sib"
./lmkd kill-test --victim-pid "$pid" --json; echo "rc=$?"
sleep 0.5
echo "after500ms victim=$($H state "$pid") sibling=$($H state "$sib") avail_kb=$($H avail)"
kill -9 "$sib" 2>/dev/null; wait
echo "after_cleanup avail_kb=$($H avail)"
end sharevm

# 4b. A victim starved of CPU (SCHED_IDLE behind two spinning processes), killed by the probed
# mode, then another by SIGKILL alone for comparison.
for mode in auto kill-only; do
  begin "starved-$mode"
  rm -f /tmp/st.ready
  ./lmkd hog --mb 64 --oom-score-adj 1000 --ready-file /tmp/st.ready >/dev/null &
  wait_file /tmp/st.ready; pid=$(cat /tmp/st.ready)
  $H idle "$pid"
  $H burn 6 & b1=$!; $H burn 6 & b2=$!
  sleep 0.5
  if [ $mode = auto ]; then ./lmkd kill-test --victim-pid "$pid" --timeout-ms 10000 --json; else ./lmkd kill-test --victim-pid "$pid" --timeout-ms 10000 --mode kill-only --json; fi
  echo "rc=$?"
  kill "$b1" "$b2"; wait
  end "starved-$mode"
done

# 4c. EBUSY: an unprivileged caller may not kill a root process; REAP_KILL says EBUSY and the
# documented fallback (signal, then reap) is refused too, so the victim lives.
begin ebusy
# run-in-vm packs / with mode 0700 (its mktemp dir): let the unprivileged user reach /work.
chmod 755 /
rm -f /tmp/eb.ready
./lmkd hog --mb 16 --oom-score-adj 1000 --ready-file /tmp/eb.ready >/dev/null &
wait_file /tmp/eb.ready; pid=$(cat /tmp/eb.ready)
$H asuser 65534 ./lmkd kill-test --victim-pid "$pid" --json; echo "rc=$?"
echo "victim_after=$($H state "$pid")"
kill -9 "$pid"; wait
end ebusy

# 3. Cgroup scope on pure cgroup v2, with memory.max (and memory.high, whose throttling is
# the stall PSI sees when nothing can be reclaimed: no swap, no disk).
begin cgroup
cg=/sys/fs/cgroup/lmkd-e2e
echo +memory > /sys/fs/cgroup/cgroup.subtree_control
mkdir -p $cg; echo 112M > $cg/memory.max; echo 96M > $cg/memory.high
./lmkd run --Lmkd:Log:Format=json --Lmkd:Metrics:Enabled=false \
  --Lmkd:Scope:Cgroup=/lmkd-e2e > /tmp/lmkd-cg.log 2>&1 &
lm=$!
n=0; while ! grep -q 'Lmkd ready' /tmp/lmkd-cg.log && [ $n -lt 300 ]; do sleep 0.1; n=$((n+1)); done
rm -f /tmp/cg.ready
sh -c "echo \$\$ > $cg/cgroup.procs; exec ./lmkd hog --mb 16 --grow-mb 8 --every-ms 200 --max-mb 400 --oom-score-adj 800 --ready-file /tmp/cg.ready" >/dev/null &
hog=$!
wait_dead "$hog" 400; echo "hog_dead=$?"
kill "$lm"; wait
echo "memory.events: $(tr '\n' ' ' < $cg/memory.events)"
cat /tmp/lmkd-cg.log
rmdir $cg
end cgroup

# 3b. Anonymous growth into a swapless memory.max on pure v2, at 20 and 50 MiB/s: a protected
# process (oom_score_adj -500, in a child cgroup a Protect rule names), two background processes
# at 900 (32 and 24 MiB) and a hog at 0. Nothing can be reclaimed, so PSI barely stalls: the
# headroom watch must kill in order (32, 24, then the hog) before the cgroup's OOM killer.
for rate in 20 50; do
begin cgroup-anon-$rate
cg=/sys/fs/cgroup/lmkd-anon
mkdir -p $cg $cg/protected $cg/work; echo 160M > $cg/memory.max
./lmkd run --Lmkd:Log:Format=json --Lmkd:Metrics:Enabled=false --Lmkd:Notify:Enabled=false \
  --Lmkd:Scope:Cgroup=/lmkd-anon --Lmkd:Protect:Cgroups:0=/lmkd-anon/protected > /tmp/lmkd-anon.log 2>&1 &
lm=$!
n=0; while ! grep -q 'Lmkd ready' /tmp/lmkd-anon.log && [ $n -lt 300 ]; do sleep 0.1; n=$((n+1)); done
start() { # start NAME CGROUP HOGARGS: a hog in CGROUP, its pid printed once its memory is resident
  rm -f /tmp/$1.ready
  sh -c "echo \$\$ > $2/cgroup.procs; exec ./lmkd hog $3 --ready-file /tmp/$1.ready" >/dev/null &
  eval "$1=\$!"; wait_file /tmp/$1.ready
}
start prot $cg/protected "--mb 16 --oom-score-adj -500"
start bg32 $cg/work "--mb 32 --oom-score-adj 900"
start bg24 $cg/work "--mb 24 --oom-score-adj 900"
start hog $cg/work "--mb 8 --grow-mb $((rate / 10)) --every-ms 100 --max-mb 1000 --oom-score-adj 0"
echo "pids protected=$prot bg32=$bg32 bg24=$bg24 hog=$hog"
wait_dead "$hog" 600; echo "hog_dead=$?"
echo "protected_alive=$(dead "$prot" && echo no || echo yes)"
sleep 0.5
kill "$lm"; wait "$lm"
echo "memory.events: $(tr '\n' ' ' < $cg/memory.events)"
cat /tmp/lmkd-anon.log
for p in $prot $bg32 $bg24; do kill -9 "$p" 2>/dev/null; done; wait
rmdir $cg/protected $cg/work $cg
end cgroup-anon-$rate
done

# 2. Whole-machine scope for real: a protected process, two background processes at high
# oom_score_adj, a growing hog. The protected one runs from a copy of lmkd, a file of its own.
# Swap on zram, as on Android: without it nothing here is reclaimable (no disk, the files live in
# RAM), memory never stalls before it runs out, and the kernel's OOM killer fires with no PSI event.
# The workloads write random bytes (--compress-ratio 3): pages of zeros cost zram nothing, so swap would fill
# up long before memory runs short, a shape no real workload has.
begin machine
if [ ! -e /sys/block/zram0 ]; then
  # The stock kernel has zram as modules (shipped gzipped: run-in-vm cannot take non-executable ELF files).
  for m in zsmalloc zram; do gunzip -c modules/$m.ko.gz > /tmp/$m.ko && insmod /tmp/$m.ko; done
fi
echo 96M > /sys/block/zram0/disksize && mkswap /dev/zram0 >/dev/null && swapon /dev/zram0
# As Android devices do, widen the gap between the zone watermarks (here ~8 MiB): with the default
# ~0.5 MiB, free memory falls from "above low" to an OOM kill faster than one 10 ms poll, because
# zram itself needs memory to take pages.
echo 200 > /proc/sys/vm/watermark_scale_factor
# The workloads compress about 3:1, and so free swap is worth at most 3x the memory left to hold it
# (Android's ro.lmk.swap_compression_ratio): without that, 60 MiB of "free" zram can hide that memory is gone.
echo "swap: $(grep SwapTotal /proc/meminfo)"
# A copy, not a hard link: exe rules match the file itself (its identity), and a link would make
# every ./lmkd hog the protected binary too.
cp lmkd keeper
for f in k b1 b2; do rm -f /tmp/$f.ready; done
./keeper hog --mb 40 --compress-ratio 3 --oom-score-adj 800 --ready-file /tmp/k.ready >/dev/null & keep=$!
./lmkd hog --mb 60 --compress-ratio 3 --oom-score-adj 1000 --ready-file /tmp/b1.ready >/dev/null & b1=$!
./lmkd hog --mb 60 --compress-ratio 3 --oom-score-adj 900 --ready-file /tmp/b2.ready >/dev/null & b2=$!
for f in k b1 b2; do wait_file /tmp/$f.ready; done
echo "keeper=$keep bg1000=$b1 bg900=$b2"
oom0=$(oom_kills)
$H watch /tmp/watch.log 60 & w=$!
./lmkd run --Lmkd:Log:Format=json --Lmkd:Metrics:Enabled=false \
  --Lmkd:Log:Level=Debug --Lmkd:Policy:SwapCompressionRatio=3 --Lmkd:Policy:SwapFreeLowPercentage=35 --Lmkd:Protect:ExePaths:0=/work/keeper > /tmp/lmkd.log 2>&1 &
lm=$!
n=0; while ! grep -q 'Lmkd ready' /tmp/lmkd.log && [ $n -lt 300 ]; do sleep 0.1; n=$((n+1)); done
./lmkd hog --mb 16 --grow-mb 4 --every-ms 300 --max-mb 1024 --compress-ratio 3 --oom-score-adj 800 >/dev/null & hog=$!
echo "hog=$hog"
wait_dead "$hog" 450; echo "hog_dead=$?"
# The last kill's result is logged once the victim's exit is seen and its reap accounted: under
# software emulation on a loaded host that can take more than a second after the hog is gone.
sleep 3
kill "$lm" "$w"; 
echo "states keeper=$($H state $keep) bg1000=$($H state $b1) bg900=$($H state $b2) hog=$($H state $hog)"
kill -9 "$keep" "$b1" "$b2" "$hog" 2>/dev/null; wait
swapoff /dev/zram0
echo "oom_kill_delta=$(( $(oom_kills) - oom0 ))"
echo "dmesg_out_of_memory=$(dmesg | grep -c 'Out of memory')"
echo "--- lmkd log"
cat /tmp/lmkd.log
echo "--- watch log"
cat /tmp/watch.log
end machine
