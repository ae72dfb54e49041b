#!/usr/bin/env bash
# Where the VM tests cache what is expensive to make (AOT builds, the stock kernel): never the repo.
set -euo pipefail
dir=${LMKD_VM_CACHE:-}
if [ -z "$dir" ]; then
  if [ -w /var/cache ]; then dir=/var/cache/lmkd-vm; else dir=${XDG_CACHE_HOME:-$HOME/.cache}/lmkd-vm; fi
fi
mkdir -p "$dir"
echo "$dir"
