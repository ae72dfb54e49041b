#!/usr/bin/env bash
# Real-pressure latency benchmark: runs the end-to-end pressure scenario N times (default 5) inside a
# memory-limited test cgroup, with the machine filled to ~2,000 processes, and prints per kill and as
# median/max: first PSI event -> SIGKILL, wake -> decision, decision -> SIGKILL, SIGKILL -> exit.
# Needs root. Everything it makes (cgroups, hogs, sleeps, the thrash file) is removed, also on failure.
# Arguments go to the `pressure` mode: --runs N --procs N --limit-mb N --timeout-s N.
# LMKD_BINARY=/path/to/native/lmkd measures a native AOT daemon instead of `dotnet lmkd.dll`.
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build -c Release benchmarks/Lmkd.Benchmarks -v q -nologo >/dev/null
exec dotnet benchmarks/Lmkd.Benchmarks/bin/Release/net10.0/Lmkd.Benchmarks.dll pressure "$@"
