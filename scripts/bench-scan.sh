#!/usr/bin/env bash
# Full /proc scan cost per process at 2,000 and 10,000 processes, against a C loop (compiled here with gcc) and the
# naive scanner, in the same run. Needs root (idle sleeps in a cgroup of their own, removed at the end) and gcc.
# Arguments go to the scan mode: --procs 2000,10000 --runs 7.
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build -c Release benchmarks/Lmkd.Benchmarks -v q -nologo >/dev/null
# Fully optimized code from the first call, as in the Native AOT daemon: no tier-0 code in the cold scan.
export DOTNET_TieredCompilation=0
exec dotnet benchmarks/Lmkd.Benchmarks/bin/Release/net10.0/Lmkd.Benchmarks.dll scan "$@"
