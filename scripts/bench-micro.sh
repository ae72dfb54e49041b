#!/usr/bin/env bash
# BenchmarkDotNet micro-benchmarks (short job, a few minutes) plus the exact per-thread allocation check.
# Needs root: the setups make small test cgroups and fill the machine to ~2,000 idle processes.
# Arguments go to BenchmarkDotNet, e.g. --filter '*WakeToDecision*'; default: every benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build -c Release benchmarks/Lmkd.Benchmarks -v q -nologo >/dev/null
bin=benchmarks/Lmkd.Benchmarks/bin/Release/net10.0/Lmkd.Benchmarks.dll
dotnet "$bin" allocs
if [ $# -eq 0 ]; then set -- --filter '*'; fi
exec dotnet "$bin" "$@"
