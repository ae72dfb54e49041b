# Sourced by the guest scripts that need the real disk (busybox sh, in /work). mount_disk loads
# what Debian's stock kernel has as modules (zram, virtio-blk, ext4: modules/ORDER, dependencies
# first; the REAP_KILL kernel has them built in and no such folder), waits for /dev/vda (run-in-vm
# --disk) and mounts it read-only on /mnt. It returns non-zero, having said why, without a disk.
mount_disk() {
  if [ -f modules/ORDER ]; then
    for m in $(cat modules/ORDER); do
      gunzip -c "modules/$m.ko.gz" > "/tmp/$m.ko" && insmod "/tmp/$m.ko" || echo "insmod $m failed"
      rm -f "/tmp/$m.ko"
    done
  fi
  n=0; while [ ! -e /dev/vda ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n+1)); done
  [ -e /dev/vda ] || { echo "error=no /dev/vda (boot with run-in-vm --disk)"; return 1; }
  mkdir -p /mnt
  mount -t ext4 -o ro,noload /dev/vda /mnt || { echo "error=mount /dev/vda failed"; return 1; }
}
