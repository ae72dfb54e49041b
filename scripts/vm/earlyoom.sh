#!/usr/bin/env bash
# Debian's earlyoom (the side-by-side comparison of issue 9), fetched once with apt-get download
# and cached like the stock kernel; prints the path of its binary. It is never installed on this
# host: the package would start a service that kills processes on a shared machine. Its binary
# runs only inside the throw-away guests (scripts/vm/guest-side-by-side.sh), with its defaults.
#
#   scripts/vm/earlyoom.sh [PACKAGE]     default: earlyoom (bookworm: 1.7-1+b1)
set -euo pipefail
cache=$("$(dirname "$0")/cache-dir.sh")/earlyoom
pkg=${1:-earlyoom}
bin=$(ls "$cache"/*/usr/bin/earlyoom 2>/dev/null | sort -V | tail -1 || true)
if [ -n "$bin" ] && [ "$pkg" = earlyoom ]; then echo "$bin"; exit 0; fi
mkdir -p "$cache"
tmp=$(mktemp -d "$cache/dl.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$(dirname "$0")/apt-lists.sh" "$pkg" || { echo "earlyoom: cannot download $pkg" >&2; exit 1; }
# _apt cannot write into root's cache: download as root, quietly.
(cd "$tmp" && { apt-get download -q "$pkg" >&2 2>/dev/null || apt-get download "$pkg" >&2; })
deb=$(ls "$tmp"/*.deb)
ver=$(dpkg-deb -f "$deb" Version)
dir="$cache/$(dpkg-deb -f "$deb" Package)_$ver"
dpkg-deb -x "$deb" "$tmp/x"
[ -x "$tmp/x/usr/bin/earlyoom" ] || { echo "earlyoom: no usr/bin/earlyoom in $(basename "$deb")" >&2; exit 1; }
rm -rf "$dir"; mkdir -p "$dir"
mv "$tmp/x/usr" "$dir/usr"; [ -d "$tmp/x/etc" ] && mv "$tmp/x/etc" "$dir/etc"
mv "$deb" "$dir/"
echo "$dir/usr/bin/earlyoom"
