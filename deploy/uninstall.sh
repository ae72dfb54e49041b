#!/usr/bin/env bash
# Remove what deploy/install.sh installed. The configuration in /etc/lmkd stays unless --purge.
#
#   deploy/uninstall.sh [--purge]
#
# DESTDIR works as for install.sh.
set -euo pipefail
purge=0
while [ $# -gt 0 ]; do
  case "$1" in
    --purge) purge=1; shift ;;
    *) sed -n '2,6p' "$0" >&2; exit 2 ;;
  esac
done
root=${DESTDIR:-}
if [ -z "$root" ] && [ "$(id -u)" -ne 0 ]; then
  echo "uninstall: run as root (or set DESTDIR)" >&2
  exit 1
fi

if [ -z "$root" ] && [ -d /run/systemd/system ]; then
  systemctl disable --now lmkd.service 2>/dev/null || true
fi
rm -f "$root/etc/systemd/system/lmkd.service" "$root/usr/local/bin/lmkd"
rm -rf "$root/etc/systemd/system/lmkd.service.d"
if [ -z "$root" ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl reset-failed lmkd.service 2>/dev/null || true
fi
if [ "$purge" = 1 ]; then
  rm -rf "$root/etc/lmkd"
else
  [ -d "$root/etc/lmkd" ] && echo "uninstall: kept $root/etc/lmkd (--purge removes it)"
fi
echo "uninstall: done"
