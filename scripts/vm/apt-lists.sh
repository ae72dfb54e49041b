#!/usr/bin/env bash
# Makes sure apt knows PACKAGE before a script downloads it: a fresh machine has no package lists
# yet, so they are fetched once (as root; .ci/install-deps does the same). Exits 1, saying why,
# when apt still does not know it.
#
#   scripts/vm/apt-lists.sh PACKAGE
set -euo pipefail
pkg=${1:?usage: apt-lists.sh PACKAGE}
apt-cache show "$pkg" > /dev/null 2>&1 && exit 0
[ "$(id -u)" = 0 ] || { echo "apt knows no package $pkg: run apt-get update as root" >&2; exit 1; }
apt-get update -qq >&2
apt-cache show "$pkg" > /dev/null 2>&1 || { echo "apt knows no package $pkg, even after apt-get update (Debian 12 sources?)" >&2; exit 1; }
