#!/usr/bin/env bash
# Install Lmkd on a Debian machine: the native binary, the systemd unit and the default configuration.
#
#   deploy/install.sh [--binary PATH] [--no-start]
#
#   --binary PATH  the lmkd executable to install (default: artifacts/aot/lmkd, published first by
#                  scripts/publish-aot.sh when missing)
#   --no-start     install and enable, but do not start (or restart) the service now
#
# An existing /etc/lmkd/appsettings.json is kept: the new default goes beside it as
# appsettings.json.dist. DESTDIR=/some/dir stages everything under that directory and leaves the
# running system (and systemctl) alone. Undo with deploy/uninstall.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

binary=artifacts/aot/lmkd start=1
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary=$2; shift 2 ;;
    --no-start) start=0; shift ;;
    *) sed -n '2,13p' "$0" >&2; exit 2 ;;
  esac
done

root=${DESTDIR:-}
bin_dir=$root/usr/local/bin
etc_dir=$root/etc/lmkd
unit_dir=$root/etc/systemd/system
config=$etc_dir/appsettings.json

if [ -z "$root" ] && [ "$(id -u)" -ne 0 ]; then
  echo "install: run as root (or set DESTDIR to stage the files)" >&2
  exit 1
fi
[ -e /proc/pressure/memory ] || echo "install: warning: /proc/pressure/memory is missing: Lmkd needs PSI (a kernel with CONFIG_PSI, not booted with psi=0); the unit will not start" >&2

if [ ! -x "$binary" ]; then
  [ "$binary" = artifacts/aot/lmkd ] || { echo "install: $binary is not an executable" >&2; exit 1; }
  scripts/publish-aot.sh artifacts/aot
fi

install -d -m 0755 "$bin_dir" "$etc_dir" "$unit_dir"
# Install beside, then rename: a running lmkd keeps its old inode; a half-copied binary is never started.
install -m 0755 "$binary" "$bin_dir/lmkd.new"
mv -f "$bin_dir/lmkd.new" "$bin_dir/lmkd"

if [ -e "$config" ]; then
  install -m 0644 appsettings.json "$config.dist"
  echo "install: kept $config; the new default is $config.dist"
else
  install -m 0644 appsettings.json "$config"
fi
"$bin_dir/lmkd" check-config --config "$config"

install -m 0644 deploy/systemd/lmkd.service "$unit_dir/lmkd.service"
if command -v systemd-analyze >/dev/null; then
  if [ -z "$root" ]; then
    systemd-analyze verify "$unit_dir/lmkd.service"
  else
    # Staged: check the unit with ExecStart pointing at the staged binary.
    staged=$(mktemp -d)
    sed "s#^ExecStart=/usr/local/bin/lmkd #ExecStart=$bin_dir/lmkd #" "$unit_dir/lmkd.service" > "$staged/lmkd.service"
    systemd-analyze verify "$staged/lmkd.service"
    rm -rf "$staged"
  fi
fi

if [ -n "$root" ]; then
  echo "install: staged under $root"
  exit 0
fi
if [ ! -d /run/systemd/system ]; then
  echo "install: systemd is not running here; enable later with: systemctl enable --now lmkd"
  exit 0
fi
systemctl daemon-reload
systemctl enable lmkd.service
if [ "$start" = 1 ]; then
  systemctl restart lmkd.service
  systemctl --no-pager --lines=5 status lmkd.service || true
fi
echo "install: done. Reload the configuration with: systemctl reload lmkd"
