#!/bin/busybox sh
# PID 1 of the kernel-matrix guest: mounts what the kernel tests need, runs /job.sh (written by
# tests/vm/run-matrix.sh), prints its exit status on a line of its own, and powers off.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
# The initramfs is the root of the mount tree, which pivot_root (runc) cannot leave: first move
# everything onto a tmpfs and make that the root.
if [ "$1" != stage2 ]; then
  /bin/busybox mkdir -p /newroot
  /bin/busybox mount -t tmpfs -o mode=0755 root /newroot
  for entry in /*; do
    [ "$entry" = /newroot ] || /bin/busybox cp -a "$entry" /newroot/
  done
  exec /bin/busybox switch_root /newroot /init stage2
fi
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/shm /dev/mqueue /dev/pts
# / is a tmpfs already: /tmp and /run are directories in it. (A tmpfs mounted on /tmp would
# hide the test binaries of a build directory under /tmp.)
mkdir -p /tmp /run
chmod 1777 /tmp
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t mqueue mqueue /dev/mqueue
mount -t devpts devpts /dev/pts
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t tracefs tracefs /sys/kernel/tracing
mount -t debugfs debugfs /sys/kernel/debug
mount -t bpf bpf /sys/fs/bpf
ip link set lo up
hostname ipctrace-guest
rc=0
/bin/sh /job.sh || rc=$?
echo "ipctrace-guest-exit: $rc"
sync
poweroff -f
