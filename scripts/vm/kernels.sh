#!/usr/bin/env bash
# Makes sure every kernel the VM tests boot is in the cache: the two REAP_KILL kernels built from
# kernel/ (kernel/build.sh; about 12 minutes on 2 cores the first time) and Debian's stock 6.1
# (scripts/vm/stock-kernel.sh). scripts/test runs it before the tests, so that a first build
# shows its progress here rather than inside a test. Prints the images' paths.
#
#   scripts/vm/kernels.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
started=$SECONDS
"$repo/kernel/build.sh" all
stock=$("$repo/scripts/vm/stock-kernel.sh")
echo "$stock"
echo "vm kernels: ready in $((SECONDS - started)) s (stock: $(basename "$(dirname "$(dirname "$stock")")"))" >&2
