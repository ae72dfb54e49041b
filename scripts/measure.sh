#!/usr/bin/env bash
# Measure the Native AOT build against the JIT build of lmkd: time from exec to READY=1 (through a
# notify socket, as systemd sees it), resident memory and CPU time after an idle period with the
# metrics endpoint on, and the size of what gets installed. Prints a Markdown table.
#
# The daemons run in dry run (they never signal anything) over the whole machine, with metrics on
# 127.0.0.1 ports 19469/19470. CPU is only "idle" if the machine is: other memory pressure wakes
# the daemons (the table says how many pressure events they saw).
#
# Usage: scripts/measure.sh [--seconds N] [--starts N] [--no-build]
#   --seconds N   idle period before reading RSS and CPU (default 60)
#   --starts N    start-ups per build for the time to READY; the median is reported (default 5)
#   --no-build    reuse artifacts/aot and artifacts/jit
# Needs: the .NET 10 SDK, gcc and zlib1g-dev (AOT), python3, curl.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=60 starts=5 build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --starts) starts=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    *) sed -n '2,16p' "$0" >&2; exit 2 ;;
  esac
done
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

if [ "$build" = 1 ]; then
  scripts/publish-aot.sh artifacts/aot >&2
  # The JIT build as it would be installed: framework-dependent, Release.
  dotnet publish src/Lmkd/Lmkd.csproj -c Release -o artifacts/jit -nologo -v:q -clp:NoSummary >&2
fi

exec python3 - "$seconds" "$starts" <<'PY'
import os, socket, subprocess, sys, tempfile, time, statistics, urllib.request, json

seconds, starts = int(sys.argv[1]), int(sys.argv[2])
builds = [("AOT", "artifacts/aot/lmkd", 19469), ("JIT", "artifacts/jit/lmkd", 19470)]
tmp = tempfile.mkdtemp(prefix="lmkd-measure-")
clk = os.sysconf("SC_CLK_TCK")

def start(binary, port, name):
    """Start one daemon with its own notify socket; return (process, socket, start time)."""
    path = os.path.join(tmp, f"notify-{name}")
    if os.path.exists(path):
        os.unlink(path)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LMKD_") and k not in ("JOURNAL_STREAM",)}
    env["NOTIFY_SOCKET"] = path
    env["WATCHDOG_USEC"] = "10000000"
    args = [binary, "run", "--Lmkd:DryRun=true", "--Lmkd:Metrics:Enabled=true", f"--Lmkd:Metrics:Listen=127.0.0.1:{port}",
            "--Lmkd:Log:Format=json", "--Lmkd:Log:Level=Warning"]
    t0 = time.monotonic()
    p = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return p, s, t0

def wait_ready(p, s, t0, timeout=30):
    s.settimeout(timeout)
    while True:
        msg = s.recv(4096).decode()
        if "READY=1" in msg.split("\n"):
            return (time.monotonic() - t0) * 1000

def stop(p, s):
    p.terminate()
    try:
        p.wait(5)
    except subprocess.TimeoutExpired:
        p.kill(); p.wait()
    s.close()

def status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0

def cpu_ms(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / clk  # utime + stime

def size_kib(binary):
    d = os.path.dirname(binary)
    if binary.endswith("aot/lmkd"):
        return os.path.getsize(binary) / 1024, "1 file"
    files = [os.path.join(d, f) for f in os.listdir(d) if not f.endswith(".pdb")]
    return sum(os.path.getsize(f) for f in files) / 1024, f"{len(files)} files + the shared .NET runtime"

def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        return r.read().decode()

def pressure_events(text):
    return sum(float(l.split()[-1]) for l in text.splitlines() if l.startswith(("lmkd_psi_events_total", "lmkd_pressure_events_total")))

results = {}
for name, binary, port in builds:
    times = []
    for _ in range(starts):
        p, s, t0 = start(binary, port, name)
        try:
            times.append(wait_ready(p, s, t0))
        finally:
            stop(p, s)
    results[name] = {"ready_ms": statistics.median(times), "ready_all": times}

# Idle phase: both daemons side by side, one scrape at start (the endpoint is warm), then nothing.
running = []
for name, binary, port in builds:
    p, s, t0 = start(binary, port, name)
    wait_ready(p, s, t0)
    scrape(port)
    running.append((name, p, s, port, cpu_ms(p.pid)))
time.sleep(seconds)
for name, p, s, port, cpu0 in running:
    r = results[name]
    r["cpu_ms"] = cpu_ms(p.pid) - cpu0
    r["rss_kib"] = status_kb(p.pid, "VmRSS")
    r["hwm_kib"] = status_kb(p.pid, "VmHWM")
    r["events"] = pressure_events(scrape(port))
    stop(p, s)

print(f"Measured by scripts/measure.sh on {os.uname().release}, {os.cpu_count()} CPUs; idle period {seconds} s, time to READY the median of {starts} starts.\n")
print("| build | time to READY | RSS after idle (peak) | CPU over idle | pressure events seen | installed size |")
print("| --- | --- | --- | --- | --- | --- |")
for name, binary, port in builds:
    r = results[name]
    size, what = size_kib(binary)
    print(f"| {name} | {r['ready_ms']:.0f} ms | {r['rss_kib']/1024:.1f} MiB ({r['hwm_kib']/1024:.1f} MiB) | {r['cpu_ms']:.0f} ms | {r['events']:.0f} | {size/1024:.1f} MiB ({what}) |")
PY
