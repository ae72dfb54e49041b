# Sourced by the guest scripts that need the real disk (busybox sh, in /work). load_modules loads
# what Debian's stock kernel has as modules (zram, virtio-blk, ext4: modules/ORDER, dependencies
# first; the REAP_KILL kernels have them built in and no such folder) and waits for /dev/vda
# (run-in-vm --disk); mount_disk then mounts it read-only on /mnt. Each returns non-zero, having
# said why, without a disk.
load_modules() {
  if [ -f modules/ORDER ]; then
    for m in $(cat modules/ORDER); do
      gunzip -c "modules/$m.ko.gz" > "/tmp/$m.ko" && insmod "/tmp/$m.ko" || echo "insmod $m failed"
      rm -f "/tmp/$m.ko"
    done
  fi
  n=0; while [ ! -e /dev/vda ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n+1)); done
  [ -e /dev/vda ] || { echo "error=no /dev/vda (boot with run-in-vm --disk)"; return 1; }
  mkdir -p /mnt
}
mount_disk() {
  load_modules || return 1
  mount -t ext4 -o ro,noload /dev/vda /mnt || { echo "error=mount /dev/vda failed"; return 1; }
}
