#!/usr/bin/env bash
# Lmkd and earlyoom side by side, whole machine, in throw-away QEMU guests (issue 9): each scenario
# of scripts/vm/guest-side-by-side.sh runs N times per kernel for both daemons, and this prints per
# kernel and scenario, median and worst over the runs: the protected process's longest gap between
# two wake-ups (the stall it suffered), the time from the hog's start to the first kill, the kernel
# OOM killer's kills, the kill orders seen, and the ratio of Lmkd's longest gap to earlyoom's.
#
#   scripts/bench-vm-earlyoom.sh [--runs N] [--kernel reapkill|stock|both] [--scenario S[,S...]]...
#       defaults: 3 runs, both kernels, scenarios noswap-20 noswap-50 zram-20 zram-50 noneed
#       a scenario: noswap-RATE | zram-RATE | zram512-RATE | zram512fit-RATE | noneed[-RATE]
#       (RATE: the hog's growth in MiB/s; zram512: an empty 512 MiB zram, the hog never stops;
#       zram512fit: the same, the hog stops once it fits in memory plus zram: nothing needs to die)
#   LMKD_VM_ARGS="--Lmkd:Policy:...=..."   extra switches for Lmkd in the guest (the shipped
#                                           appsettings.json otherwise); earlyoom runs as Debian ships it
#   scripts/bench-vm-earlyoom.sh --summarize DIR/results.txt   the tables again, from an earlier run
#   LMKD_BENCH_OUT=DIR                      where the guests' logs and summary.md go
#                                           (default artifacts/bench-vm-earlyoom/DATE)
#
# One boot per kernel and repetition runs every scenario for both daemons (a boot costs 10-25 s
# under emulation; the guest resets its state between runs), the daemons' order alternating from
# one repetition to the next. Cost: about 40 s per run under TCG, so 3 runs x 5 scenarios x 2
# daemons x 2 kernels take about 40 minutes. One VM at a time.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
runs=3 kernels=(reapkill stock) scenarios=() summarize=
while [ $# -gt 0 ]; do
  case $1 in
    --summarize) summarize=$2; shift 2;;
    --runs) runs=$2; shift 2;;
    --kernel) case $2 in both) kernels=(reapkill stock);; reapkill|stock) kernels=("$2");; *) echo "bench-vm-earlyoom: --kernel reapkill|stock|both" >&2; exit 2;; esac; shift 2;;
    --scenario) IFS=, read -r -a more <<< "$2"; scenarios+=("${more[@]}"); shift 2;;
    -h|--help) sed -n '2,23p' "$0"; exit 0;;
    *) echo "bench-vm-earlyoom: unknown argument $1 (see --help)" >&2; exit 2;;
  esac
done
[ ${#scenarios[@]} -gt 0 ] || scenarios=(noswap-20 noswap-50 zram-20 zram-50 noneed)
for s in "${scenarios[@]}"; do
  [[ $s =~ ^(noswap-[0-9]+|zram-[0-9]+|zram512-[0-9]+|zram512fit-[0-9]+|noneed(-[0-9]+)?)$ ]] || { echo "bench-vm-earlyoom: unknown scenario $s" >&2; exit 2; }
done
if [ -n "$summarize" ]; then
  results=$(cd "$(dirname "$summarize")" && pwd)/$(basename "$summarize")
  out=$(dirname "$results")
  [ -f "$results" ] || { echo "bench-vm-earlyoom: no $results" >&2; exit 2; }
  runs=$(sed -n 's/.* rep=\([0-9]*\) .*/\1/p' "$results" | sort -n | tail -1)
  LMKD_VM_ARGS=$(cat "$out/lmkd-args" 2>/dev/null || true)
else
  out=${LMKD_BENCH_OUT:-$repo/artifacts/bench-vm-earlyoom/$(date -u +%Y%m%d-%H%M%S)}
  mkdir -p "$out"
  out=$(cd "$out" && pwd)
  echo "bench-vm-earlyoom: ${runs} run(s) x ${scenarios[*]} x {lmkd, earlyoom} on ${kernels[*]}; LMKD_VM_ARGS='${LMKD_VM_ARGS:-}'; logs in $out" >&2
  printf '%s\n' "${LMKD_VM_ARGS:-}" > "$out/lmkd-args"
  results="$out/results.txt"
  : > "$results"
  for k in "${kernels[@]}"; do
    for ((i = 1; i <= runs; i++)); do
      list=()
      for s in "${scenarios[@]}"; do
        if (( i % 2 )); then list+=("$s:lmkd" "$s:earlyoom"); else list+=("$s:earlyoom" "$s:lmkd"); fi
      done
      log="$out/$k-$i.log"
      echo "bench-vm-earlyoom: $k, repetition $i/$runs: ${list[*]}" >&2
      start=$(date +%s)
      rc=0
      "$repo/scripts/vm/boot-side-by-side.sh" --kernel "$k" "${list[@]}" > "$log" 2>&1 || rc=$?
      n=$(grep -c '^RESULT ' "$log" || true)
      echo "bench-vm-earlyoom:   $n of ${#list[@]} runs finished in $(( $(date +%s) - start )) s (exit $rc; $log)" >&2
      release=$(sed -n 's/^kernel=//p' "$log" | head -1)
      grep '^RESULT ' "$log" | sed "s/^RESULT /kernel=$k release=${release:-?} rep=$i /" >> "$results" || true
    done
  done
fi

# Aggregation: one line per kernel, scenario and daemon, then the gap ratio.
summary="$out/summary.md"
awk -v runs="$runs" '
function val(k,   i, kv) { for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) return substr($i, length(k) + 2) } return "" }
function sortn(a, n,   i, j, t) { for (i = 2; i <= n; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]; a[j + 1] = t } }
function median(list,   a, n) { n = split(list, a, " "); if (n == 0) return ""; sortn(a, n); return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
function worst(list,   a, n, i, m) { n = split(list, a, " "); if (n == 0) return ""; m = a[1] + 0; for (i = 2; i <= n; i++) if (a[i] + 0 > m) m = a[i] + 0; return m }
function fmt(list,   m) { m = median(list); return m == "" ? "-" : sprintf("%d / %d", m, worst(list)) }
{
  key = val("kernel") SUBSEP val("scenario") SUBSEP val("daemon")
  if (!(key in n)) { order[++keys] = key; n[key] = 0 }
  # A soft lockup before the hog started: the host starved the guest, the run measures nothing.
  if (val("soft_lockups_before_hog") + 0 > 0) { excluded[key]++; excl = excl sprintf("\n- %s %s %s, repetition %s: %s soft lockup(s) in the guest before the hog started", val("kernel"), val("scenario"), val("daemon"), val("rep"), val("soft_lockups_before_hog")); next }
  if (val("soft_lockups") + 0 > 0) lockups[key] += val("soft_lockups")
  n[key]++
  release[val("kernel")] = val("release")
  g = val("gap_max_ms"); if (g ~ /^[0-9]+$/) gaps[key] = gaps[key] " " g
  f = val("first_kill_ms"); if (f ~ /^[0-9]+$/) { firsts[key] = firsts[key] " " f } else { nokill[key]++ }
  ooms[key] = ooms[key] " " val("kernel_oom_kills")
  rate[key] = rate[key] " " val("hog_rate_mib_s")
  if (val("protected") != "alive") dead[key]++
  o = val("kills"); seen[key, o]++; if (!((key, o) in listed)) { listed[key, o] = 1; orders[key] = orders[key] SUBSEP o }
}
END {
  print "| kernel | scenario | daemon | runs | longest gap ms (median / worst) | hog start -> first kill ms (median / latest) | runs without a kill | kernel OOM kills (median / worst) | protected killed | hog MiB/s reached (median) | guest soft lockups | kill orders (victim:killer, times seen) |"
  print "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  for (i = 1; i <= keys; i++) {
    key = order[i]; split(key, p, SUBSEP)
    ol = ""; m = split(orders[key], os, SUBSEP)
    for (j = 2; j <= m; j++) ol = ol (ol == "" ? "" : "; ") os[j] " x" seen[key, os[j]]
    printf "| %s (%s) | %s | %s | %d%s | %s | %s | %d | %s | %d | %s | %d | %s |\n", p[1], release[p[1]], p[2], p[3], n[key], excluded[key] ? sprintf(" (+%d left out)", excluded[key]) : "", fmt(gaps[key]), fmt(firsts[key]), nokill[key], fmt(ooms[key]), dead[key], median(rate[key]), lockups[key], ol
  }
  print ""
  print "| kernel | scenario | Lmkd / earlyoom longest gap, medians | worst / worst |"
  print "| --- | --- | --- | --- |"
  for (i = 1; i <= keys; i++) {
    key = order[i]; split(key, p, SUBSEP)
    if (p[3] != "lmkd") continue
    e = p[1] SUBSEP p[2] SUBSEP "earlyoom"
    if (!(e in n) || gaps[key] == "" || gaps[e] == "") continue
    lm = median(gaps[key]); em = median(gaps[e]); lw = worst(gaps[key]); ew = worst(gaps[e])
    printf "| %s | %s | %.2f (%d / %d ms) | %.2f (%d / %d ms) |\n", p[1], p[2], em ? lm / em : 0, lm, em, ew ? lw / ew : 0, lw, ew
  }
  if (excl != "") print "\nLeft out (the host starved the guest):" excl
}' "$results" > "$summary"
{
  echo
  echo "Lmkd and earlyoom, whole machine, QEMU TCG, 2 vCPUs, 1 GiB; ${runs} run(s) each; LMKD_VM_ARGS='${LMKD_VM_ARGS:-}'; $(date -u '+%Y-%m-%d %H:%M') UTC"
  echo
  cat "$summary"
  echo
  echo "(gap: between two wake-ups of the protected process, ideal 100 ms plus its own work; worst = the largest; raw results: $results)"
} | tee "$summary.tmp"
mv "$summary.tmp" "$summary"
