#!/usr/bin/env bash
# Assemble the directory a throw-away VM runs (run-in-vm copies it to /work in the guest):
#   lmkd + appsettings.json   Native AOT, InvariantGlobalization (the guest has no ICU)
#   vmhelper                  tests/Lmkd.Tests/Vm/vmhelper.c, static
#   guest-suite.sh            the scenarios
#   guest-side-by-side.sh     Lmkd and earlyoom on the same whole-machine scenarios (boot-side-by-side.sh)
#   guest-gave-back.sh        what a kill gave back, anon and file, per mode (boot-gave-back.sh)
#   guest-healthy.sh          a healthy server's steady state, where nothing must die (boot-healthy.sh)
#   guest-disk.sh             sourced by the three above: modules, /dev/vda, the mount on /mnt
# The AOT publish (~40 s here) is cached by a hash of the sources it is built from.
#
#   scripts/vm/build-guest.sh OUT_DIR [MODULES_DIR]   (MODULES_DIR: *.ko.gz the guest may insmod)
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:?usage: build-guest.sh OUT_DIR [MODULES_DIR]}
modules=${2:-}
cache=$("$repo/scripts/vm/cache-dir.sh")

cd "$repo"
hash=$(find src Directory.Build.props Directory.Packages.props global.json appsettings.json -type f \
  -not -path '*/bin/*' -not -path '*/obj/*' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
aot="$cache/aot-$hash"
if [ ! -x "$aot/lmkd" ]; then
  tmp=$(mktemp -d "$cache/aot-tmp.XXXXXX")
  # A RID-specific publish uses its own obj/bin folders, so it does not disturb a Debug test build.
  if [ -x scripts/publish-aot.sh ] && [ -n "${LMKD_VM_USE_PUBLISH_SCRIPT:-}" ]; then
    scripts/publish-aot.sh "$tmp" >&2
  else
    dotnet publish src/Lmkd -c Release -r linux-x64 -p:PublishAot=true -p:InvariantGlobalization=true \
      -nologo -v:q -o "$tmp" >&2
  fi
  rm -rf "$aot"; mv "$tmp" "$aot"
fi

rm -rf "$out"; mkdir -p "$out"
# Readable by everyone: one scenario runs lmkd as an unprivileged user in the guest.
chmod 755 "$out"
cp "$aot/lmkd" "$aot/appsettings.json" "$out/"
for so in "$aot"/*.so; do [ -e "$so" ] && cp "$so" "$out/"; done
# Dynamic on purpose: run-in-vm exits 1 silently on a static ELF (ldd finds no library, and
# grep failing under pipefail ends the script).
gcc -O2 -Wall -Wextra -Werror -o "$out/vmhelper" tests/Lmkd.Tests/Vm/vmhelper.c
cp scripts/vm/guest-suite.sh scripts/vm/guest-side-by-side.sh scripts/vm/guest-gave-back.sh scripts/vm/guest-healthy.sh scripts/vm/guest-disk.sh "$out/"
# ORDER: the order to insmod them in (scripts/vm/stock-kernel.sh).
if [ -n "$modules" ]; then mkdir -p "$out/modules"; cp "$modules"/*.ko.gz "$out/modules/"; cp "$modules"/ORDER "$out/modules/" 2>/dev/null || true; fi
echo "$out"
